"""Checks on an uploaded model's files, run on a worker: archive safety, then the model's config.

Archive safety comes first and writes nothing until every entry's header has
been checked: no absolute paths or ``..``, no links or device files, no
pickle weights, at most ``UPLOAD_MAX_FILES`` entries and
``UPLOAD_MAX_UNPACKED_BYTES`` declared. Extraction then counts the bytes it
actually writes (a zip can lie about its sizes) and stops at the same cap.
Members are streamed one by one into the version's folder; ``extractall`` is
never used.

Then the config loads (``AutoConfig``, local files only, no remote code) and
its architecture belongs to a family that serves the task kind; the build
(``inference.uploads.build``) then runs the kind's example input through the
model. Nothing is unpickled or executed.
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import IO, Any

PICKLE_SUFFIXES = (".bin", ".pt", ".pkl", ".ckpt", ".pth", ".pickle", ".joblib")
ARCHIVE_FORMATS = {".zip": "zip", ".tar.gz": "tar.gz", ".tgz": "tar.gz", ".gguf": "gguf"}
GGUF_FILE = "model.gguf"

# Which model families may serve each task kind (the first is preferred).
KIND_FAMILIES: dict[str, tuple[str, ...]] = {
    "emotion": ("sequence-classifier",),
    "text-classification": ("nli", "sentence-encoder"),
    "text-vectorisation": ("sentence-encoder",),
    "text-generation": ("causal-lm", "seq2seq"),
    "chat": ("causal-lm",),
    "qa": ("extractive-qa", "causal-lm", "seq2seq"),
    "summarisation": ("seq2seq", "causal-lm"),
    "image-classification": ("clip",),
    "image-vectorisation": ("clip",),
    "image-text-vectorisation": ("clip",),
}

PICKLE_HINT = (
    "Weights in pickle formats (.bin, .pt, .pkl, .ckpt, .pth) are refused because loading them can run code. "
    "Convert them to safetensors: load the model in transformers and save it with "
    "model.save_pretrained(path, safe_serialization=True), then upload that folder."
)


class UploadInvalid(Exception):
    """An upload that cannot become a model; the message says what was wrong, for its owner."""


def archive_format(file_name: str) -> str | None:
    """``zip``, ``tar.gz`` or ``gguf`` from the file name; None for anything else."""
    lowered = file_name.lower()
    for suffix, fmt in ARCHIVE_FORMATS.items():
        if lowered.endswith(suffix):
            return fmt
    return None


def is_pickle_name(name: str) -> bool:
    return name.lower().endswith(PICKLE_SUFFIXES)


# -- archive safety ----------------------------------------------------------------------------------------------

def _safe_relative(name: str) -> PurePosixPath:
    """The member's path inside the folder; refuses absolute paths, drive letters and ``..``."""
    if "\\" in name or name.startswith("/") or (len(name) > 1 and name[1] == ":") or "\x00" in name:
        raise UploadInvalid(f"The archive entry '{name}' has an absolute or unsafe path; "
                            "entries must stay inside the model folder.")
    parts = [part for part in PurePosixPath(name).parts if part not in ("", ".")]
    if ".." in parts:
        raise UploadInvalid(f"The archive entry '{name}' escapes the model folder ('..' in its path).")
    return PurePosixPath(*parts) if parts else PurePosixPath(".")


class _Entry:
    def __init__(self, path: PurePosixPath, is_dir: bool, size: int, opener) -> None:
        self.path, self.is_dir, self.size, self.open = path, is_dir, size, opener


def _zip_entries(archive: zipfile.ZipFile) -> Iterator[_Entry]:
    for info in archive.infolist():
        # Unix file types live in the high bits (create_system 3); many writers leave them 0 (a plain file).
        mode = stat.S_IFMT(info.external_attr >> 16) if info.create_system == 3 else 0
        if stat.S_ISLNK(mode):
            raise UploadInvalid(f"The archive entry '{info.filename}' is a symbolic link; links are refused.")
        if mode and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            raise UploadInvalid(f"The archive entry '{info.filename}' is not a regular file or folder.")
        yield _Entry(_safe_relative(info.filename), info.is_dir(), info.file_size,
                     lambda info=info: archive.open(info))


def _tar_entries(archive: tarfile.TarFile) -> Iterator[_Entry]:
    for member in archive:
        if member.issym() or member.islnk():
            link = "symbolic" if member.issym() else "hard"
            raise UploadInvalid(f"The archive entry '{member.name}' is a link ({link} link); links are refused.")
        if not (member.isfile() or member.isdir()):
            raise UploadInvalid(f"The archive entry '{member.name}' is a device file, FIFO or other special file; "
                                "only regular files and folders are allowed.")
        yield _Entry(_safe_relative(member.name), member.isdir(), member.size,
                     lambda member=member: archive.extractfile(member))


def _check_entries(entries: Iterator[_Entry], *, max_files: int, max_unpacked: int) -> list[_Entry]:
    """Every header checked before anything is written."""
    checked: list[_Entry] = []
    declared = 0
    for entry in entries:
        checked.append(entry)
        if len(checked) > max_files:
            raise UploadInvalid(f"The archive has more than {max_files:,} entries, the most allowed.")
        if entry.is_dir:
            continue
        if is_pickle_name(entry.path.name):
            raise UploadInvalid(f"'{entry.path}' holds pickle weights. {PICKLE_HINT}")
        declared += entry.size
        if declared > max_unpacked:
            raise UploadInvalid(f"The archive unpacks to more than {max_unpacked:,} bytes, the most allowed.")
    return checked


def _copy_counted(source: IO[bytes], target: Path, *, written: int, max_unpacked: int) -> int:
    with open(target, "xb") as out:
        while chunk := source.read(1 << 20):
            written += len(chunk)
            if written > max_unpacked:
                raise UploadInvalid(f"The archive unpacks to more than {max_unpacked:,} bytes, the most allowed "
                                    "(its entries declare less than they hold).")
            out.write(chunk)
    return written


def unpack_upload(*, upload: Path, file_format: str, dest: Path, max_files: int, max_unpacked: int) -> Path:
    """Unpack ``upload`` into the empty folder ``dest``; returns the model's path (a folder or a .gguf file).

    Raises ``UploadInvalid``; the caller removes ``dest`` then.
    """
    dest.mkdir(parents=True, exist_ok=True)
    if file_format == "gguf":
        with open(upload, "rb") as source:
            if source.read(4) != b"GGUF":
                raise UploadInvalid("The file is not a GGUF model (it does not start with the GGUF magic bytes).")
        size = upload.stat().st_size
        if size > max_unpacked:
            raise UploadInvalid(f"The model file is {size:,} bytes, more than the {max_unpacked:,} this server allows.")
        try:  # the upload stays until the build succeeds (a retried build needs it): a link, not a copy
            os.link(upload, dest / GGUF_FILE)
        except OSError:
            shutil.copyfile(upload, dest / GGUF_FILE)
        return dest / GGUF_FILE
    try:
        if file_format == "zip":
            with zipfile.ZipFile(upload) as archive:
                _write_entries(_check_entries(_zip_entries(archive), max_files=max_files, max_unpacked=max_unpacked),
                               dest, max_unpacked)
        else:
            with tarfile.open(upload, mode="r:gz") as archive:
                _write_entries(_check_entries(_tar_entries(archive), max_files=max_files, max_unpacked=max_unpacked),
                               dest, max_unpacked)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, zipfile.LargeZipFile) as exc:
        if isinstance(exc, FileExistsError):
            raise UploadInvalid("The archive holds the same file twice.") from exc
        raise UploadInvalid(f"The file is not a readable {file_format} archive ({exc}).") from exc
    return _model_root(dest)


def _folder_entries(source: Path) -> Iterator[_Entry]:
    """A model folder's files as archive entries (``huggingface_hub``'s ``.cache`` bookkeeping left out)."""
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        if relative.parts[0] == ".cache":
            continue
        mode = path.lstat().st_mode
        if stat.S_ISLNK(mode):
            raise UploadInvalid(f"'{relative}' is a symbolic link; links are refused.")
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            raise UploadInvalid(f"'{relative}' is a device file, FIFO or other special file; only regular files "
                                "and folders are allowed.")
        yield _Entry(_safe_relative(relative.as_posix()), stat.S_ISDIR(mode), path.stat().st_size,
                     lambda path=path: open(path, "rb"))


def copy_folder(*, source: Path, dest: Path, max_files: int, max_unpacked: int) -> Path:
    """Copy the model folder ``source`` into the empty folder ``dest`` with the checks an archive gets
    (no links or special files, no pickle weights, the same caps); returns the model's folder."""
    dest.mkdir(parents=True, exist_ok=True)
    _write_entries(_check_entries(_folder_entries(source), max_files=max_files, max_unpacked=max_unpacked),
                   dest, max_unpacked)
    return _model_root(dest)


def _write_entries(entries: list[_Entry], dest: Path, max_unpacked: int) -> None:
    root = dest.resolve()
    written = 0
    for entry in entries:
        target = (root / entry.path).resolve()
        if target != root and root not in target.parents:  # belt and braces over _safe_relative
            raise UploadInvalid(f"The archive entry '{entry.path}' escapes the model folder.")
        if entry.is_dir:
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with entry.open() as source:
            written = _copy_counted(source, target, written=written, max_unpacked=max_unpacked)


def _model_root(dest: Path) -> Path:
    """Moves a single top-level folder's contents up, so ``config.json`` sits in ``dest``."""
    if (dest / "config.json").exists():
        return dest
    children = [child for child in dest.iterdir() if child.name != "__MACOSX"]
    if len(children) == 1 and children[0].is_dir() and (children[0] / "config.json").exists():
        inner = children[0]
        for item in inner.iterdir():
            shutil.move(str(item), dest / item.name)
        inner.rmdir()
        return dest
    raise UploadInvalid("The archive has no config.json at its top level (or in one top-level folder): "
                        "upload a transformers model folder saved with save_pretrained.")


# -- build checks ------------------------------------------------------------------------------------------------

def family_of(config: Any, folder: Path) -> str | None:
    """The model family of a transformers config, from ``architectures`` and ``model_type``."""
    architectures = list(getattr(config, "architectures", None) or [])
    model_type = getattr(config, "model_type", "") or ""
    if model_type == "clip" or "CLIPModel" in architectures:
        return "clip"
    for arch in architectures:
        if arch.endswith("ForSequenceClassification"):
            labels = {str(label).lower() for label in (getattr(config, "id2label", None) or {}).values()}
            return "nli" if "entailment" in labels else "sequence-classifier"
        if arch.endswith("ForQuestionAnswering"):
            return "extractive-qa"
        if arch.endswith("ForConditionalGeneration") or getattr(config, "is_encoder_decoder", False):
            return "seq2seq"
        if arch.endswith(("ForCausalLM", "LMHeadModel")):
            return "causal-lm"
        if arch.endswith("Model") and not arch.endswith(("PreTrainedModel",)):
            return "sentence-encoder"
    if not architectures and (folder / "modules.json").exists():
        return "sentence-encoder"
    return None


def check_folder(folder: Path, kind_name: str) -> str:
    """Config loads, weights are safetensors, the architecture fits ``kind_name``; returns the family."""
    from transformers import AutoConfig  # lazily: the web process imports this module and never transformers

    if not any(folder.rglob("*.safetensors")):
        raise UploadInvalid("No safetensors weights (*.safetensors) found in the model folder. "
                            "Save the model with model.save_pretrained(path, safe_serialization=True).")
    try:
        config = AutoConfig.from_pretrained(folder, local_files_only=True, trust_remote_code=False)
    except Exception as exc:  # noqa: BLE001 - any failure is the upload's, reported to its owner
        raise UploadInvalid(f"config.json could not be loaded: {exc}") from exc
    family = family_of(config, folder)
    allowed = KIND_FAMILIES.get(kind_name, ())
    architecture = ", ".join(getattr(config, "architectures", None) or []) or getattr(config, "model_type", "?")
    if family is None:
        raise UploadInvalid(f"The architecture {architecture} is not one this platform can serve.")
    if family not in allowed:
        raise UploadInvalid(f"The architecture {architecture} (a {family} model) cannot serve the task kind "
                            f"{kind_name}; it needs a {' or '.join(allowed)} model.")
    return family
