"""Steady load for the chaos scenarios: many async HTTP clients (httpx) calling the API, every call recorded.

Each client sends ``POST /api/emotion`` with its user's key and ``Prefer: wait=10``; a 202 (the wait ran out)
is followed by polling ``GET /api/jobs/<id>`` until the job ends. A 429 or 503 is waited out (its
``Retry-After``, at most 1 s). Nothing is retried behind the suite's back: every response is a :class:`Call`.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from dataclasses import dataclass

import httpx

TEXTS = [
    "The service was awful, and so was the food.",
    "I can't believe how kind everyone was today!",
    "This is the third time the train is late this week.",
    "What a wonderful surprise, thank you so much.",
    "I'm not sure what to think about the new policy.",
    "I miss you more than words can say.",
]
HANG_S = 35.0  # a call open longer than this hung (the longest wait asked for is 10 s, Redis timeouts 3 s)
POLL_GIVE_UP_S = 120.0


@dataclass
class Call:
    started: float
    ended: float
    method: str
    endpoint: str
    status: int  # 0: no response (timeout or connection error)
    job_id: str | None = None
    json: bool = False
    retry_after: bool = False
    note: str = ""  # "timeout", "connect", ... for status 0; a short body for 5xx

    @property
    def seconds(self) -> float:
        return self.ended - self.started


class SteadyLoad:
    """``clients`` coroutines on an event loop of their own thread, until :meth:`stop`."""

    def __init__(self, base_url: str, keys: list[str], clients: int = 12, pause_s: float = 0.1) -> None:
        self.base_url = base_url
        self.keys = keys
        self.clients = clients
        self.pause_s = pause_s
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def record(self, call: Call) -> None:
        with self._lock:
            self.calls.append(call)

    def snapshot(self) -> list[Call]:
        with self._lock:
            return list(self.calls)

    def start(self) -> SteadyLoad:
        self._stopping.clear()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), name="steady-load", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread:
            self._thread.join(timeout=POLL_GIVE_UP_S + 30)

    async def _main(self) -> None:
        # Idle connections are dropped before the server drops them (gunicorn keep-alive: 2 s), or a request
        # sent as the server closes one would fail for no fault of the stack.
        limits = httpx.Limits(max_connections=self.clients * 2, max_keepalive_connections=self.clients * 2,
                              keepalive_expiry=1.0)
        timeout = httpx.Timeout(HANG_S, connect=5.0)
        async with httpx.AsyncClient(base_url=self.base_url, timeout=timeout, limits=limits) as http:
            await asyncio.gather(*(self._client(http, index) for index in range(self.clients)))

    async def request(self, http: httpx.AsyncClient, method: str, url: str, endpoint: str,
                      **kwargs) -> tuple[Call, httpx.Response | None]:
        started = time.time()
        try:
            response = await http.request(method, url, **kwargs)
        except httpx.TimeoutException as exc:
            call = Call(started, time.time(), method, endpoint, 0, note=f"timeout ({type(exc).__name__})")
            self.record(call)
            return call, None
        except httpx.TransportError as exc:
            call = Call(started, time.time(), method, endpoint, 0, note=f"connect ({type(exc).__name__})")
            self.record(call)
            return call, None
        is_json = response.headers.get("content-type", "").startswith("application/json")
        job_id = response.headers.get("X-Job-Id")
        if job_id is None and is_json and response.status_code == 202:
            job_id = response.json().get("id")
        note = response.text[:120] if response.status_code >= 500 else ""
        call = Call(started, time.time(), method, endpoint, response.status_code, job_id, is_json,
                    "Retry-After" in response.headers, note)
        self.record(call)
        return call, response

    async def _client(self, http: httpx.AsyncClient, index: int) -> None:
        key = self.keys[index % len(self.keys)]
        headers = {"x-api-key": key, "Prefer": "wait=10"}
        rng = random.Random(index)
        await asyncio.sleep(rng.random() * 0.5)
        while not self._stopping.is_set():
            call, response = await self.request(http, "POST", "/api/emotion", "POST /api/emotion",
                                                json={"text": rng.choice(TEXTS)}, headers=headers)
            if response is None:
                await asyncio.sleep(0.2)
                continue
            if response.status_code == 202 and call.job_id:
                await self._poll(http, key, call.job_id)
            elif response.status_code in (429, 503):
                await asyncio.sleep(min(1.0, float(response.headers.get("Retry-After", "1") or 1)))
                continue
            await asyncio.sleep(self.pause_s)

    async def _poll(self, http: httpx.AsyncClient, key: str, job_id: str) -> None:
        deadline = time.time() + POLL_GIVE_UP_S
        while time.time() < deadline:
            await asyncio.sleep(0.5)
            _call, response = await self.request(http, "GET", f"/api/jobs/{job_id}", "GET /api/jobs/<id>",
                                                 headers={"x-api-key": key})
            if response is not None and response.status_code == 200:
                if response.json().get("status") in ("succeeded", "failed", "cancelled"):
                    return


async def burst(base_url: str, key: str, requests: int, texts_per_job: int) -> list[Call]:
    """``requests`` submissions at the same moment (``Prefer: respond-async``), each a list of texts."""
    recorder = SteadyLoad(base_url, [key])
    body = {"text": [TEXTS[i % len(TEXTS)] for i in range(texts_per_job)]}
    limits = httpx.Limits(max_connections=requests, max_keepalive_connections=requests)
    async with httpx.AsyncClient(base_url=base_url, timeout=httpx.Timeout(HANG_S, connect=5.0),
                                 limits=limits) as http:
        await asyncio.gather(*(recorder.request(http, "POST", "/api/emotion", "POST /api/emotion (burst)",
                                                json=body, headers={"x-api-key": key, "Prefer": "respond-async"})
                               for _ in range(requests)))
    return recorder.calls
