"""The load client of ``make bench-peers``: what real clients do, the same for both servers.

Each request opens a new TCP connection (``Connection: close``), posts one real
comment (the GoEmotions dev split, varying length, in a fixed order shared by
both servers) and reads the whole response (384 numbers back). ``concurrency``
clients each send their next request when the last one is answered, for
``seconds``; requests in flight at the deadline are awaited and counted.

Plain asyncio streams, not an HTTP library: the client shares the two cores
with the server under test, so it should cost as little as possible (and the
same for both).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


def dev_comments(path: Path, n: int = 3000) -> list[str]:
    """The first ``n`` comments of a GoEmotions tsv (text, label ids, id)."""
    texts = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            text = line.split("\t", 1)[0].strip()
            if text:
                texts.append(text)
            if len(texts) == n:
                break
    return texts


def post_bytes(host: str, port: int, path: str, body: dict, headers: dict[str, str]) -> bytes:
    payload = json.dumps(body).encode()
    head = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", "Content-Type: application/json",
            f"Content-Length: {len(payload)}", "Connection: close", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + payload


@dataclass
class LevelResult:
    concurrency: int
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    bytes_in: int = 0

    @property
    def ok(self) -> int:
        return self.statuses.get(200, 0)

    @property
    def errors(self) -> int:
        return sum(count for status, count in self.statuses.items() if status != 200)

    @property
    def rps(self) -> float:
        return self.ok / self.seconds if self.seconds else float("nan")

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies_ms) if self.latencies_ms else float("nan")


async def _request(host: str, port: int, data: bytes, timeout: float) -> tuple[int, int]:
    """(status, bytes read); status 0 when the connection failed or timed out."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (TimeoutError, OSError):
        return 0, 0
    try:
        writer.write(data)
        response = await asyncio.wait_for(reader.read(-1), timeout)
    except (TimeoutError, OSError):
        return 0, 0
    finally:
        writer.close()
    try:
        status = int(response.split(b" ", 2)[1])
    except (IndexError, ValueError):
        status = 0
    return status, len(response)


async def _level(host: str, port: int, build: Callable[[int], bytes], concurrency: int, seconds: float,
                 start_index: int, timeout: float) -> LevelResult:
    counter = iter(range(start_index, 10**9))
    result = LevelResult(concurrency, seconds)
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        while time.perf_counter() < deadline:
            data = build(next(counter))
            started = time.perf_counter()
            status, size = await _request(host, port, data, timeout)
            result.latencies_ms.append((time.perf_counter() - started) * 1000)
            result.statuses[status] = result.statuses.get(status, 0) + 1
            result.bytes_in += size

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    result.seconds = time.perf_counter() - started
    return result


def run_level(host: str, port: int, build: Callable[[int], bytes], concurrency: int, seconds: float,
              *, start_index: int = 0, timeout: float = 120.0) -> LevelResult:
    """``concurrency`` closed-loop clients for ``seconds``; request ``i`` is ``build(i)``."""
    return asyncio.run(_level(host, port, build, concurrency, seconds, start_index, timeout))
