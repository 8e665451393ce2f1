"""Request bodies are bounded while they stream in, against a live ASGI server and a raw socket client.

Django's own ASGI handler writes the whole body to a temporary file before any
view runs; these tests send more than the limit (or a huge ``Content-Length``
and a few bytes) and expect the refusal before the body is sent, with nothing
written to the server's disk (its ``/proc/<pid>/io`` write count).

The server runs with small limits (1 MB for every request, 5 MB uploads) so
that "past the limit" is quick to send; it is a subprocess on the test
database, so the rows it must see are committed (``transaction=True``).
"""

from __future__ import annotations

import json
import re
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from dashboard.services import api_key_create

from .conftest import LiveServer

pytestmark = pytest.mark.django_db(transaction=True)

API_LIMIT = 1_000_000
UPLOAD_LIMIT = 5_000_000
SENT_TOTAL = 50_000_000  # what a client tries to send; the refusal must come long before it is all sent
CHUNK = 64 * 1024


@pytest.fixture(scope="module")
def bounded_server(django_db_setup, django_db_blocker, tiny_models):
    server = LiveServer(extra_env={"API_MAX_BODY_BYTES": str(API_LIMIT), "UPLOAD_MAX_BYTES": str(UPLOAD_LIMIT),
                                   "API_RATE_LIMIT_PER_MINUTE": "100000"}, name="uvicorn-body-limits")
    yield server
    server.stop()


@pytest.fixture
def key(user) -> str:
    return api_key_create(user=user, name="body limits").plaintext


class Answer:
    def __init__(self, raw: bytes, body_sent: int, seconds: float) -> None:
        head, _, self.content = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        if self.headers.get("transfer-encoding") == "chunked":
            self.content = _unchunk(self.content)
        self.body_sent, self.seconds = body_sent, seconds

    def json(self) -> dict:
        return json.loads(self.content)


def _unchunk(data: bytes) -> bytes:
    out = b""
    while data:
        size, _, rest = data.partition(b"\r\n")
        if not int(size, 16):
            break
        out, data = out + rest[: int(size, 16)], rest[int(size, 16) + 2:]
    return out


def _complete(raw: bytes) -> bool:
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        return False
    length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    if length:
        return len(body) >= int(length.group(1))
    return b"chunked" in head.lower() and body.endswith(b"0\r\n\r\n")


def _post(server: LiveServer, path: str, headers: dict[str, str], body: Iterator[bytes],
          timeout: float = 10.0) -> Answer:
    """Send the head, then the body as fast as the server takes it, reading all the while.

    Returns the answer and how many body bytes had gone out when it was complete.
    """
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=timeout)
    started = time.monotonic()
    try:
        sock.sendall(head.encode() + b"\r\n")
        sock.setblocking(False)
        raw, sent, pending, sending = b"", 0, b"", True
        while time.monotonic() - started < timeout:
            if sending and not pending:
                pending = next(body, b"")
                sending = bool(pending)
            readable, writable, _ = select.select([sock], [sock] if sending else [], [], 0.5)
            if readable:
                try:
                    data = sock.recv(1 << 16)
                except ConnectionResetError:
                    data = b""
                raw += data
                if _complete(raw) or not data:
                    break
            elif writable:
                try:
                    written = sock.send(pending)
                except (BrokenPipeError, ConnectionResetError):
                    sending = False  # the server closed: it read no more
                    continue
                sent, pending = sent + written, pending[written:]
        assert raw, f"no answer in {timeout} s after sending {sent:,} body bytes"
        return Answer(raw, sent, time.monotonic() - started)
    finally:
        sock.close()


def _raw(total: int) -> Iterator[bytes]:
    for start in range(0, total, CHUNK):
        yield b"x" * min(CHUNK, total - start)


def _chunked(total: int) -> Iterator[bytes]:
    for piece in _raw(total):
        yield b"%x\r\n" % len(piece) + piece + b"\r\n"
    yield b"0\r\n\r\n"


def _written(server: LiveServer) -> int:
    """Bytes the server process has written (files, sockets, logs) so far."""
    io = Path(f"/proc/{server.process.pid}/io").read_text()
    return int(re.search(r"wchar: (\d+)", io).group(1))


def _assert_error(answer: Answer, status: int, code: str) -> dict:
    assert answer.status == status, answer.content[:300]
    assert answer.headers["content-type"] == "application/json"
    body = answer.json()
    assert body["error"]["status"] == status and body["error"]["code"] == code, body
    assert body["request_id"] and body["request_id"] == answer.headers["x-request-id"]
    return body["error"]


def test_a_content_length_over_the_limit_is_413_at_once(bounded_server, key):
    answer = _post(bounded_server, "/api/emotion",
                   {"x-api-key": key, "Content-Type": "application/json", "Content-Length": "2000000000"},
                   iter([b'{"text": "']), timeout=5)
    error = _assert_error(answer, 413, "payload_too_large")
    assert "2,000,000,000" in error["message"] and f"{API_LIMIT:,}" in error["message"]
    assert answer.seconds < 3
    assert answer.headers["connection"] == "close"


def test_a_chunked_body_past_the_limit_is_cut_with_413(bounded_server, key):
    written = _written(bounded_server)
    answer = _post(bounded_server, "/api/emotion",
                   {"x-api-key": key, "Content-Type": "application/json", "Transfer-Encoding": "chunked"},
                   _chunked(SENT_TOTAL))
    error = _assert_error(answer, 413, "payload_too_large")
    assert f"{API_LIMIT:,}" in error["message"]
    assert answer.body_sent < SENT_TOTAL // 4, f"{answer.body_sent:,} bytes sent before the answer"
    # At most the limit was spooled (in memory below FILE_UPLOAD_MAX_MEMORY_SIZE), not the 50 MB sent.
    assert _written(bounded_server) - written < API_LIMIT + 500_000


def test_no_key_is_401_before_the_body_arrives(bounded_server):
    # Within the limit, so only the missing key refuses it; the rest of the body never comes.
    answer = _post(bounded_server, "/api/emotion", {"Content-Type": "application/json",
                                                    "Content-Length": str(API_LIMIT)}, iter([b"x" * 1000]), timeout=5)
    error = _assert_error(answer, 401, "invalid_api_key")
    assert answer.seconds < 3
    assert "x-api-key" in answer.headers["www-authenticate"]
    # The same body as the API's own 401 for a missing key.
    assert error == requests.get(f"{bounded_server.url}/api/me", timeout=10).json()["error"]


def test_no_key_with_a_large_chunked_body_is_401_without_reading_it(bounded_server):
    written = _written(bounded_server)
    answer = _post(bounded_server, "/api/emotion", {"Content-Type": "application/json",
                                                    "Transfer-Encoding": "chunked"}, _chunked(SENT_TOTAL))
    _assert_error(answer, 401, "invalid_api_key")
    assert answer.body_sent < SENT_TOTAL // 4, f"{answer.body_sent:,} bytes sent before the answer"
    assert _written(bounded_server) - written < 200_000  # nothing of the body went to disk


def test_uploads_have_their_own_larger_limit(bounded_server, key):
    fields = (b'--b\r\nContent-Disposition: form-data; name="name"\r\n\r\nbig-model\r\n'
              b'--b\r\nContent-Disposition: form-data; name="task"\r\n\r\nno-such-kind\r\n'
              b'--b\r\nContent-Disposition: form-data; name="file"; filename="model.zip"\r\n\r\n')
    size = 2 * API_LIMIT  # over the limit of every other request, within the upload's
    body = fields + b"z" * size + b"\r\n--b--\r\n"
    headers = {"x-api-key": key, "Content-Type": "multipart/form-data; boundary=b", "Content-Length": str(len(body))}
    answer = _post(bounded_server, "/api/models", headers, iter([body]))
    assert "task" in _assert_error(answer, 400, "invalid")["fields"]  # read, and checked field by field

    too_large = {**headers, "Content-Length": str(UPLOAD_LIMIT + API_LIMIT + 1)}
    answer = _post(bounded_server, "/api/models", too_large, iter([fields]), timeout=5)
    assert f"{UPLOAD_LIMIT + API_LIMIT:,}" in _assert_error(answer, 413, "payload_too_large")["message"]

    page = _post(bounded_server, "/models/", {"Content-Type": "multipart/form-data; boundary=b",
                                              "Content-Length": str(UPLOAD_LIMIT * 10)}, iter([fields]), timeout=5)
    assert page.status == 413 and "limit" in page.content.decode()


def test_bodies_within_the_limit_are_served_as_before(bounded_server, key, user):
    answer = _post(bounded_server, "/api/emotion",
                   {"x-api-key": key, "Content-Type": "application/json", "Transfer-Encoding": "chunked"},
                   _chunked_json({"text": "hi", "model": "no-such-model"}))
    assert "no-such-model" in _assert_error(answer, 404, "unknown_model")["message"]
    assert answer.headers.get("connection") != "close"

    # A session cookie (the sandbox) is let through to the view, which checks it (and its CSRF token).
    browser = requests.Session()
    login = browser.get(f"{bounded_server.url}/login/", timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text).group(1)
    browser.post(f"{bounded_server.url}/login/", timeout=10,
                 data={"username": user.username, "password": "s3cret-pass-word", "csrfmiddlewaretoken": token})
    refused = browser.post(f"{bounded_server.url}/api/emotion", json={"text": "hi"}, timeout=10)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf_failed"

    # Endpoints anyone may call are not refused for a missing key.
    assert requests.post(f"{bounded_server.url}/api/health", data=b"x" * 1000, timeout=10).status_code == 405


def _chunked_json(value: dict) -> Iterator[bytes]:
    raw = json.dumps(value).encode()
    yield b"%x\r\n" % len(raw) + raw + b"\r\n0\r\n\r\n"
