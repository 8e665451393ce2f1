"""Archive safety, without a worker: every refusal happens before anything is written."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from inference.uploads.archive import UploadInvalid, unpack_upload


def _tar(tmp_path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    path = tmp_path / "upload.tar.gz"
    with tarfile.open(path, mode="w:gz") as archive:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            archive.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _file(name: str, data: bytes = b"{}") -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), data


def _special(name: str, kind: bytes, linkname: str = "") -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    return info, None


@pytest.mark.parametrize(("member", "reason"), [
    (_file("/etc/cron.d/evil"), "absolute or unsafe path"),
    (_file("model/../../evil"), "escapes the model folder"),
    (_special("weights", tarfile.LNKTYPE, "config.json"), "hard link"),
    (_special("passwd", tarfile.SYMTYPE, "/etc/passwd"), "symbolic link"),
    (_special("null", tarfile.CHRTYPE), "device file"),
    (_special("pipe", tarfile.FIFOTYPE), "device file"),
    (_file("weights/model.ckpt"), "pickle weights"),
])
def test_an_unsafe_tar_entry_is_refused_before_anything_is_written(tmp_path, member, reason):
    archive = _tar(tmp_path, [_file("config.json"), member])
    dest = tmp_path / "v1"
    with pytest.raises(UploadInvalid, match=reason):
        unpack_upload(upload=archive, file_format="tar.gz", dest=dest, max_files=10, max_unpacked=1_000_000)
    assert not [p for p in dest.rglob("*")]
    assert not (tmp_path / "evil").exists()


def test_a_zip_symlink_is_refused(tmp_path):
    path = tmp_path / "upload.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", "{}")
        link = zipfile.ZipInfo("passwd")
        link.create_system = 3
        link.external_attr = (0o120777 << 16)
        archive.writestr(link, "/etc/passwd")
    with pytest.raises(UploadInvalid, match="symbolic link"):
        unpack_upload(upload=path, file_format="zip", dest=tmp_path / "v1", max_files=10, max_unpacked=1_000)


def test_too_many_files_are_refused(tmp_path):
    archive = _tar(tmp_path, [_file(f"f{i}.json") for i in range(6)])
    with pytest.raises(UploadInvalid, match="more than 5 entries"):
        unpack_upload(upload=archive, file_format="tar.gz", dest=tmp_path / "v1", max_files=5, max_unpacked=1_000)


def test_a_file_that_is_not_gguf_is_refused(tmp_path):
    path = tmp_path / "model.gguf"
    path.write_bytes(b"\x80\x04 a pickle in disguise")
    with pytest.raises(UploadInvalid, match="not a GGUF model"):
        unpack_upload(upload=path, file_format="gguf", dest=tmp_path / "v1", max_files=1, max_unpacked=1_000)


def test_a_gguf_file_over_the_cap_is_refused_with_its_size(tmp_path):
    path = tmp_path / "model.gguf"
    path.write_bytes(b"GGUF" + b"\0" * 100)
    with pytest.raises(UploadInvalid, match="The model file is 104 bytes, more than the 50 this server allows"):
        unpack_upload(upload=path, file_format="gguf", dest=tmp_path / "v1", max_files=1, max_unpacked=50)


def test_a_gguf_file_is_kept_until_the_build_ends(tmp_path):
    path = tmp_path / "v1.upload.gguf"
    path.write_bytes(b"GGUF" + b"\1" * 100)
    model = unpack_upload(upload=path, file_format="gguf", dest=tmp_path / "v1", max_files=1, max_unpacked=1_000)
    assert model.read_bytes() == path.read_bytes()  # a retried build still finds the upload


def test_a_model_folder_inside_one_top_level_folder_is_moved_up(tmp_path):
    archive = _tar(tmp_path, [_file("my-model/config.json"), _file("my-model/tokenizer.json")])
    dest = tmp_path / "v1"
    assert unpack_upload(upload=archive, file_format="tar.gz", dest=dest, max_files=10, max_unpacked=1_000) == dest
    assert sorted(p.name for p in dest.iterdir()) == ["config.json", "tokenizer.json"]
