"""Installing catalog models that live on the Hugging Face hub.

``python manage.py models pull <id>`` calls ``model_pull``. A hub model is
downloaded at its pinned revision into a hidden temporary folder next to its
install folder (``MODELS_DIR/<id>``) and renamed into place only once the
download is complete, so a failed or interrupted pull never leaves a
half-installed model that the catalog would take for an installed one.

Where the hub cannot be reached (an offline server), the pull fails within a
few seconds with one line that says why and what to do instead: copy the model
folder onto the machine.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from django.conf import settings

from ..uploads.archive import UploadInvalid, archive_format, check_folder, copy_folder, unpack_upload
from .entries import catalog_get
from .specs import COMMIT_HASH_RE as COMMIT_HASH
from .specs import ModelSpec, hub_install_dir

HUB_TIMEOUT_S = 5.0  # connecting to the hub and waiting for its metadata


class ModelInstallError(Exception):
    """A model that cannot be installed; the message says why and what to do instead."""


@dataclass(frozen=True)
class PullResult:
    """Where a pulled model now lies, and whether it was there already."""

    model_id: str
    path: Path
    already_installed: bool


def model_pull(*, model_id: str, endpoint: str | None = None, timeout_s: float = HUB_TIMEOUT_S) -> PullResult:
    """Install the hub model ``model_id`` at its pinned revision into ``MODELS_DIR/<id>``.

    Asks the hub for the revision's file list (with sizes and hashes), downloads
    the files the loaders read (config, tokenizer, safetensors weights) with
    ``huggingface_hub.snapshot_download`` into a temporary folder beside the
    install folder, checks every file against the revision (its commit, size and
    sha256 / git blob hash), then renames the folder into place. A model that is
    already installed is left as it is. ``endpoint`` is a hub mirror (default:
    ``HF_ENDPOINT``, else huggingface.co). Raises ``ModelInstallError`` with a
    one-line reason for an unknown model, a model that is not a hub model, an
    unreachable hub (after at most about ``timeout_s`` seconds), a revision the
    hub does not have, a file that does not match the revision, or a download
    that fails. Pulls of one model are serialised by a lock file; a pull that was
    killed leaves only a hidden partial folder, removed by the next pull.
    """
    spec = catalog_get(model_id)
    if spec is None:
        raise ModelInstallError(f"unknown model '{model_id}'; 'python manage.py models list' shows the catalog.")
    if spec.source != "hub":
        raise ModelInstallError(_not_pullable(spec))
    target = hub_install_dir(spec.id)
    if spec.installed:
        return PullResult(model_id=spec.id, path=target, already_installed=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    with install_lock(spec.id):
        if spec.installed:  # another pull finished while this one waited
            return PullResult(model_id=spec.id, path=target, already_installed=True)
        if target.exists() and any(target.iterdir()):
            raise ModelInstallError(f"{_shown(target)} exists but holds no model (no config.json); move it away "
                                    f"and pull again.")
        info = _check_hub(spec, endpoint=endpoint, timeout_s=timeout_s)
        files = _files_to_fetch(spec, info)
        partial = new_partial_dir(spec.id)
        try:
            _download(spec, info.sha, files, partial, endpoint=endpoint, timeout_s=timeout_s)
            _verify_download(spec, info, files, partial)
            install_folder(partial, target)
        finally:
            if partial.exists():
                shutil.rmtree(partial, ignore_errors=True)
    return PullResult(model_id=spec.id, path=target, already_installed=False)


# --- installing a folder atomically (shared by pull and import) ------------------------------------------


@contextmanager
def install_lock(model_id: str) -> Iterator[None]:
    """Hold ``MODELS_DIR/.<id>.lock`` (an flock, freed when the process dies); clear stale partial folders."""
    root = Path(settings.MODELS_DIR)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".{model_id}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for stale in root.glob(f".{model_id}.partial-*"):  # left by a pull or import that was killed
            shutil.rmtree(stale, ignore_errors=True)
        yield


def new_partial_dir(model_id: str) -> Path:
    """A hidden temporary folder beside ``MODELS_DIR/<id>`` (same file system, so the rename is atomic)."""
    return Path(tempfile.mkdtemp(prefix=f".{model_id}.partial-", dir=settings.MODELS_DIR))


def install_folder(partial: Path, target: Path) -> None:
    """Rename the complete folder ``partial`` to ``target`` (absent or empty), dropping download bookkeeping."""
    shutil.rmtree(partial / ".cache", ignore_errors=True)  # huggingface_hub's per-file download metadata
    if target.exists():
        target.rmdir()  # empty (checked by the caller)
    partial.rename(target)


def _not_pullable(spec: ModelSpec) -> str:
    if spec.source == "bundled":
        return (f"'{spec.id}' is a bundled model: it ships with Forwardpass ('make install' installs it), so there "
                f"is nothing to pull.")
    if spec.source == "local":
        return f"'{spec.id}' is a local model (listed in LOCAL_MODELS_FILE), so there is nothing to pull."
    return f"'{spec.id}' is a {spec.source} model, not a hub model, so there is nothing to pull."


def _shown(path: Path) -> str:
    """``path`` relative to the project when it lies inside it (``data/models/<id>``), else absolute."""
    try:
        return str(path.resolve().relative_to(Path(settings.BASE_DIR).resolve()))
    except ValueError:
        return str(path)


def _unreachable(spec: ModelSpec, reason: str) -> ModelInstallError:
    return ModelInstallError(
        f"cannot reach the Hugging Face hub to download {spec.hub_repo}: {reason}. Copy the model folder "
        f"({spec.hub_repo} at revision {spec.hub_revision}) to {_shown(hub_install_dir(spec.id))}/ instead."
    )


def _reason(exc: BaseException) -> str:
    """The innermost useful cause of a network error, on one line."""
    if isinstance(exc, requests.Timeout):
        return "no answer in time"
    cause: object = exc.args[0] if exc.args else exc
    inner = getattr(cause, "reason", None)  # urllib3's MaxRetryError -> NameResolutionError, ...
    text = str(inner if inner is not None else cause)
    if "): " in text and text.startswith(("HTTPSConnection", "HTTPConnection", "<urllib3")):
        text = text.split("): ", 1)[1]
    return " ".join(text.split()) or type(exc).__name__


def _check_hub(spec: ModelSpec, *, endpoint: str | None, timeout_s: float) -> Any:
    """Ask the hub for the pinned revision and its files, with a short timeout: fails fast when offline.

    Returns the ``ModelInfo`` (with ``files_metadata``); refuses an answer for another commit than the one pinned.
    """
    # huggingface_hub lazily, here and below: only pulling needs it (it reads HF_* settings once, at import).
    from huggingface_hub import HfApi
    from huggingface_hub.utils import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

    try:
        info = HfApi(endpoint=endpoint).model_info(spec.hub_repo, revision=spec.hub_revision, timeout=timeout_s,
                                                   files_metadata=True)
    except GatedRepoError as exc:
        raise ModelInstallError(f"{spec.hub_repo} is gated on the Hugging Face hub: log in with a token that has "
                                f"access (HF_TOKEN), or copy the model folder to "
                                f"{_shown(hub_install_dir(spec.id))}/.") from exc
    except RevisionNotFoundError as exc:
        raise ModelInstallError(f"the Hugging Face hub has no revision '{spec.hub_revision}' of "
                                f"{spec.hub_repo}.") from exc
    except RepositoryNotFoundError as exc:
        raise ModelInstallError(f"the Hugging Face hub has no model {spec.hub_repo}.") from exc
    except HfHubHTTPError as exc:
        raise _unreachable(spec, _reason(exc)) from exc
    except (requests.ConnectionError, requests.Timeout, OSError) as exc:
        raise _unreachable(spec, _reason(exc)) from exc
    sha = getattr(info, "sha", None) or ""
    if not COMMIT_HASH.fullmatch(sha):
        raise ModelInstallError(f"the hub's answer for {spec.hub_repo} at revision {spec.hub_revision} names no "
                                f"commit; is the endpoint a Hugging Face hub?")
    if COMMIT_HASH.fullmatch(spec.hub_revision) and sha != spec.hub_revision:
        raise ModelInstallError(f"asked for {spec.hub_repo} at revision {spec.hub_revision}, the hub answered with "
                                f"commit {sha}; nothing was installed.")
    return info


# Files the loaders read: configuration, tokenizer, image processor, and the weights (safetensors; a
# revision without any falls back to pytorch_model.bin, which transformers reads with weights_only).
_FETCHED = re.compile(r"[^/]+\.(json|txt|model|safetensors)")


def _files_to_fetch(spec: ModelSpec, info: Any) -> list[Any]:
    siblings = [sibling for sibling in (info.siblings or []) if _FETCHED.fullmatch(sibling.rfilename)]
    names = {sibling.rfilename for sibling in siblings}
    if "config.json" not in names:
        raise ModelInstallError(f"{spec.hub_repo} at revision {spec.hub_revision} has no config.json; it is "
                                f"not a model folder Forwardpass can load.")
    if not any(name.endswith(".safetensors") for name in names):
        fallback = [sibling for sibling in (info.siblings or []) if sibling.rfilename == "pytorch_model.bin"]
        if not fallback:
            raise ModelInstallError(f"{spec.hub_repo} at revision {spec.hub_revision} has no safetensors weights "
                                    f"(nor pytorch_model.bin); Forwardpass cannot load it.")
        siblings += fallback
    return siblings


def _git_blob_sha1(path: Path) -> str:
    digest = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())  # noqa: S324 - git's object id, not security
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _verify_download(spec: ModelSpec, info: Any, files: list[Any], folder: Path) -> None:
    """Every file is there, came from the revision's commit, and has the size and hash the revision lists."""
    from huggingface_hub._local_folder import read_download_metadata  # lazily, as in _check_hub

    for sibling in files:
        name = sibling.rfilename
        path = folder / name
        problem = ""
        metadata = read_download_metadata(folder, name)
        if not path.is_file():
            problem = "is missing"
        elif metadata is not None and metadata.commit_hash != info.sha:
            problem = f"came from commit {metadata.commit_hash}"
        elif sibling.size is not None and path.stat().st_size != sibling.size:
            problem = f"has {path.stat().st_size} bytes, the revision lists {sibling.size}"
        elif sibling.lfs is not None and _sha256(path) != sibling.lfs.sha256:
            problem = "does not have the sha256 the revision lists"
        elif sibling.lfs is None and sibling.blob_id and _git_blob_sha1(path) != sibling.blob_id:
            problem = "does not have the git hash the revision lists"
        if problem:
            raise ModelInstallError(f"{name} of {spec.hub_repo} {problem}, not what revision {info.sha} holds; "
                                    f"refused, nothing was installed.")


def _download(spec: ModelSpec, commit: str, files: list[Any], folder: Path, *, endpoint: str | None,
              timeout_s: float) -> None:
    """Fetch ``files`` at ``commit`` (the one the hub resolved the pinned revision to) into ``folder``."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.utils import HfHubHTTPError, RevisionNotFoundError

    try:
        snapshot_download(repo_id=spec.hub_repo, revision=commit, local_dir=folder, endpoint=endpoint,
                          etag_timeout=timeout_s, allow_patterns=[sibling.rfilename for sibling in files],
                          cache_dir=folder / ".cache" / "hub")
    except RevisionNotFoundError as exc:
        raise ModelInstallError(f"the Hugging Face hub has no revision '{commit}' of {spec.hub_repo}.") from exc
    except (requests.ConnectionError, requests.Timeout, HfHubHTTPError) as exc:
        raise _unreachable(spec, _reason(exc)) from exc
    except OSError as exc:
        raise ModelInstallError(f"downloading {spec.hub_repo} failed: {_reason(exc)}") from exc


# --- servers without a hub: import and export -------------------------------------------------------------


def _hub_spec(model_id: str) -> ModelSpec:
    spec = catalog_get(model_id)
    if spec is None:
        raise ModelInstallError(f"unknown model '{model_id}'; 'python manage.py models list' shows the catalog.")
    if spec.source != "hub":
        raise ModelInstallError(_not_pullable(spec).replace("to pull", "to import"))
    return spec


def model_import(*, model_id: str, source: Path) -> Path:
    """Install the hub model ``model_id`` from ``source`` (a model folder, or a .zip / .tar.gz of one).

    Checked as an upload is (``inference.uploads.archive``): no absolute paths, ``..`` or links, no
    pickle weights, safetensors present, the same size caps, and a config whose architecture serves
    every task kind of the model. Unpacked into a hidden folder beside ``MODELS_DIR/<id>`` and renamed
    into place only when every check passed. Returns the install folder.
    """
    spec = _hub_spec(model_id)
    source = Path(source)
    target = hub_install_dir(spec.id)
    if spec.installed:
        raise ModelInstallError(f"{spec.id} is already installed at {_shown(target)}; remove that folder to "
                                f"import it again.")
    if not source.exists():
        raise ModelInstallError(f"{source} does not exist.")
    file_format = None if source.is_dir() else archive_format(source.name)
    if not source.is_dir() and file_format not in ("zip", "tar.gz"):
        raise ModelInstallError(f"{source} is neither a model folder nor a .zip / .tar.gz archive of one.")
    Path(settings.MODELS_DIR).mkdir(parents=True, exist_ok=True)
    with install_lock(spec.id):
        if target.exists() and any(target.iterdir()):
            raise ModelInstallError(f"{_shown(target)} exists but holds no model (no config.json); move it away "
                                    f"and import again.")
        partial = new_partial_dir(spec.id)
        caps = {"max_files": settings.UPLOAD_MAX_FILES, "max_unpacked": settings.UPLOAD_MAX_UNPACKED_BYTES}
        try:
            if file_format is None:
                folder = copy_folder(source=source, dest=partial, **caps)
            else:
                folder = unpack_upload(upload=source, file_format=file_format, dest=partial, **caps)
            for kind in spec.kinds:
                check_folder(folder, kind)
            install_folder(partial, target)
        except UploadInvalid as exc:
            raise ModelInstallError(f"{source} cannot be imported as {spec.id}: {exc} Nothing was installed.") from exc
        finally:
            if partial.exists():
                shutil.rmtree(partial, ignore_errors=True)
    return target


def model_export(*, model_id: str, dest: Path) -> Path:
    """Write the installed hub model ``model_id`` to ``dest`` (.tar.gz, .tgz or .zip), for ``models import``
    on a server without a hub. Written beside ``dest`` and renamed, so a failed export leaves no archive."""
    spec = _hub_spec(model_id)
    dest = Path(dest)
    if not spec.installed or spec.path is None:
        raise ModelInstallError(f"{spec.id} is not installed here, so there is nothing to export; "
                                f"'python manage.py models pull {spec.id}' installs it where the hub is reachable.")
    lowered = dest.name.lower()
    if not lowered.endswith((".tar.gz", ".tgz", ".zip")):
        raise ModelInstallError(f"{dest}: the archive's name must end in .tar.gz, .tgz or .zip.")
    if dest.exists():
        raise ModelInstallError(f"{dest} exists; choose another name.")
    files = sorted(p for p in spec.path.rglob("*") if p.is_file() and not p.relative_to(spec.path).parts[0]
                   .startswith("."))
    dest.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{dest.name}.partial-", dir=dest.parent)
    os.close(handle)
    try:
        if lowered.endswith(".zip"):
            with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                for path in files:
                    archive.write(path, f"{spec.id}/{path.relative_to(spec.path).as_posix()}")
        else:
            with tarfile.open(temporary, "w:gz") as archive:
                for path in files:
                    archive.add(path, f"{spec.id}/{path.relative_to(spec.path).as_posix()}", recursive=False)
        os.replace(temporary, dest)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return dest
