"""A local Hugging Face hub mirror for tests: a real HTTP server holding tiny models.

It speaks the parts of the hub's HTTP API that ``huggingface_hub`` (``model_info``,
``snapshot_download``, ``hf_hub_download``) uses, with the headers it reads:

- ``GET /api/models/{repo}/revision/{rev}``: JSON ``id``, ``sha`` and ``siblings``
  (``rfilename``, and with ``?blobs=1`` ``size``, ``blobId`` and for LFS files
  ``lfs`` {``sha256``, ``size``, ``pointerSize``});
- ``HEAD``/``GET /{repo}/resolve/{rev}/{filename}``: ``X-Repo-Commit``, ``ETag``
  (git blob hash) and ``Content-Length``; LFS files (``*.safetensors``, ``*.bin``)
  answer ``302`` with ``Location`` (an absolute address under ``/lfs/``),
  ``X-Linked-Etag`` (their sha256) and ``X-Linked-Size``, as the hub does;
- ``GET /lfs/{repo}/{sha256}``: the bytes, with ``Range`` support (resumed downloads);
- errors carry ``X-Error-Code`` (``RepoNotFound``, ``RevisionNotFound``, ``EntryNotFound``).

Each repo is served at one commit (also reachable as ``main``). Faults a test can
turn on: ``wrong_commit`` (resolve answers another ``X-Repo-Commit``), ``wrong_info_commit``
(model info answers another ``sha``),
``tampered`` (a file's bytes changed, same size), ``stall`` (a file's body stops
half-way until an event is set).
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

LFS_SUFFIXES = (".safetensors", ".bin", ".msgpack", ".h5")


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()  # noqa: S324 - git's object id


@dataclass
class Repo:
    repo_id: str
    sha: str
    files: dict[str, bytes]

    def sibling(self, name: str) -> dict:
        data = self.files[name]
        entry: dict = {"rfilename": name, "size": len(data), "blobId": git_blob_sha1(data)}
        if name.endswith(LFS_SUFFIXES):
            entry["lfs"] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
        return entry


@dataclass
class HubMirror:
    """The mirror's state; ``url`` is its endpoint (``HF_ENDPOINT`` / ``--endpoint``)."""

    repos: dict[str, Repo] = field(default_factory=dict)
    wrong_commit: set[str] = field(default_factory=set)  # repo ids: resolve answers another X-Repo-Commit
    wrong_info_commit: set[str] = field(default_factory=set)  # repo ids: model info answers another sha
    tampered: set[tuple[str, str]] = field(default_factory=set)  # (repo id, filename)
    stall: dict[tuple[str, str], threading.Event] = field(default_factory=dict)
    stalled: threading.Event = field(default_factory=threading.Event)  # set once a stalled body is half sent
    requests: list[str] = field(default_factory=list)
    url: str = ""
    _server: ThreadingHTTPServer | None = None

    def add(self, repo_id: str, sha: str, folder: Path, *, extra: dict[str, bytes] | None = None) -> Repo:
        files = {path.relative_to(folder).as_posix(): path.read_bytes() for path in sorted(folder.rglob("*"))
                 if path.is_file() and not path.name.startswith(".")}
        files.update(extra or {})
        self.repos[repo_id] = repo = Repo(repo_id=repo_id, sha=sha, files=files)
        return repo

    def reset_faults(self) -> None:
        self.wrong_commit.clear()
        self.wrong_info_commit.clear()
        self.tampered.clear()
        for event in self.stall.values():
            event.set()
        self.stall.clear()
        self.stalled.clear()
        self.requests.clear()

    def start(self) -> HubMirror:
        mirror = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet
                pass

            def do_HEAD(self) -> None:
                mirror._handle(self, body=False)

            def do_GET(self) -> None:
                mirror._handle(self, body=True)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.reset_faults()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # --- request handling -------------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler, *, body: bool) -> None:
        parts = urlsplit(handler.path)
        path = unquote(parts.path)
        self.requests.append(f"{handler.command} {path}")
        if path.startswith("/api/models/"):
            rest = path[len("/api/models/"):]
            repo_id, _, revision = rest.partition("/revision/")
            repo = self._repo(handler, repo_id, revision or "main")
            if repo is not None:
                with_blobs = "blobs=" in (parts.query or "")
                siblings = [repo.sibling(name) if with_blobs else {"rfilename": name} for name in repo.files]
                sha = "2" * 40 if repo.repo_id in self.wrong_info_commit else repo.sha
                self._json(handler, 200, {"id": repo.repo_id, "modelId": repo.repo_id, "sha": sha, "private": False,
                                          "siblings": siblings}, body=body)
            return
        if path.startswith("/lfs/"):
            repo_id, _, digest = path[len("/lfs/"):].rpartition("/")
            repo = self.repos.get(repo_id)
            for name, data in (repo.files.items() if repo else ()):
                if hashlib.sha256(data).hexdigest() == digest:
                    self._send_file(handler, repo, name, body=body)
                    return
            self._error(handler, 404, "EntryNotFound", "no such object", body=body)
            return
        head, sep, filename = path.lstrip("/").partition("/resolve/")
        if sep:
            revision, _, filename = filename.partition("/")
            repo = self._repo(handler, head, revision)
            if repo is None:
                return
            if filename not in repo.files:
                self._error(handler, 404, "EntryNotFound", f"{filename} does not exist", body=body,
                            commit=repo.sha)
                return
            if filename.endswith(LFS_SUFFIXES):
                data = repo.files[filename]
                handler.send_response(302)
                handler.send_header("Location", f"{self.url}/lfs/{repo.repo_id}/{hashlib.sha256(data).hexdigest()}")
                handler.send_header("X-Repo-Commit", self._commit(repo))
                handler.send_header("X-Linked-Etag", f'"{hashlib.sha256(data).hexdigest()}"')
                handler.send_header("X-Linked-Size", str(len(data)))
                handler.send_header("ETag", f'"{git_blob_sha1(data)}"')
                handler.send_header("Content-Length", "0")
                handler.end_headers()
                return
            self._send_file(handler, repo, filename, body=body, commit=self._commit(repo))
            return
        self._error(handler, 404, "", "not found", body=body)

    def _commit(self, repo: Repo) -> str:
        return "0" * 40 if repo.repo_id in self.wrong_commit else repo.sha

    def _repo(self, handler: BaseHTTPRequestHandler, repo_id: str, revision: str) -> Repo | None:
        repo = self.repos.get(repo_id)
        if repo is None:
            self._error(handler, 404, "RepoNotFound", "Repository not found", body=handler.command == "GET")
            return None
        if revision not in (repo.sha, "main"):
            self._error(handler, 404, "RevisionNotFound", f"Invalid rev id: {revision}",
                        body=handler.command == "GET")
            return None
        return repo

    def _send_file(self, handler: BaseHTTPRequestHandler, repo: Repo, name: str, *, body: bool,
                   commit: str | None = None) -> None:
        data = repo.files[name]
        if (repo.repo_id, name) in self.tampered:
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        start = 0
        ranged = handler.headers.get("Range", "")
        if ranged.startswith("bytes=") and ranged.endswith("-"):
            start = int(ranged[len("bytes="):-1])
        chunk = data[start:]
        handler.send_response(206 if start else 200)
        handler.send_header("Content-Length", str(len(chunk)))
        handler.send_header("ETag", f'"{git_blob_sha1(repo.files[name])}"')
        if commit:
            handler.send_header("X-Repo-Commit", commit)
        handler.send_header("Accept-Ranges", "bytes")
        handler.end_headers()
        if not body:
            return
        event = self.stall.get((repo.repo_id, name))
        if event is not None:
            half = len(chunk) // 2
            handler.wfile.write(chunk[:half])
            handler.wfile.flush()
            self.stalled.set()
            event.wait(120)
            return  # the connection closes short of Content-Length
        handler.wfile.write(chunk)

    def _json(self, handler: BaseHTTPRequestHandler, status: int, payload: dict, *, body: bool) -> None:
        raw = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(raw)))
        handler.end_headers()
        if body:
            handler.wfile.write(raw)

    def _error(self, handler: BaseHTTPRequestHandler, status: int, code: str, message: str, *, body: bool,
               commit: str | None = None) -> None:
        raw = json.dumps({"error": message}).encode()
        handler.send_response(status)
        if code:
            handler.send_header("X-Error-Code", code)
        handler.send_header("X-Error-Message", message)
        if commit:
            handler.send_header("X-Repo-Commit", commit)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(raw)))
        handler.end_headers()
        if body:
            handler.wfile.write(raw)


# What the mirror holds for each hub model of the catalog: a tiny model of the same architecture.
def hub_builders() -> dict[str, object]:
    from . import tinymodels

    return {
        "gpt2-medium": tinymodels.build_tiny_gpt2,
        "distilgpt2": tinymodels.build_tiny_gpt2,
        "gpt2-large": tinymodels.build_tiny_gpt2,
        "t5-base-qa-summary-emotion": tinymodels.build_tiny_t5,
        "clip-vit-base-patch32": tinymodels.build_tiny_clip,
        "bart-large-mnli": tinymodels.build_tiny_bart_mnli,
        "distilbert-base-cased-distilled-squad": tinymodels.build_tiny_distilbert_qa,
        "distilbart-cnn-12-6": tinymodels.build_tiny_bart,
    }


# Files real hub repos hold that a pull must not fetch.
NOT_FETCHED = {"README.md": b"# a model card\n", "pytorch_model.bin": b"pickled weights, never fetched",
               "flax_model.msgpack": b"flax weights, never fetched", "onnx/model.onnx": b"onnx, never fetched"}
