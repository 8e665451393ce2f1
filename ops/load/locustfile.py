"""Locust users for ``make load``: mixed traffic over three public task kinds on the bundled models.

Each simulated client takes one of the users' keys (``LOAD_KEYS_FILE``) and calls, weighted:
emotion (sync, and async: ``Prefer: respond-async`` then polling the job), text-vectorisation (sync),
text-generation with a small ``max_length`` (sync, and streamed as server-sent events). Every response's
status is counted by request name and written to ``LOAD_STATUS_FILE`` when Locust quits.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections import Counter

from locust import HttpUser, between, events, task

KEYS = json.loads(open(os.environ["LOAD_KEYS_FILE"]).read())  # noqa: SIM115 - read once at import
TEXTS = [
    "The service was awful, and so was the food.",
    "I can't believe how kind everyone was today!",
    "This is the third time the train is late this week.",
    "What a wonderful surprise, thank you so much.",
    "Once upon a time, in a village by the sea,",
]
TERMINAL = ("succeeded", "failed", "cancelled")
STATUSES: Counter = Counter()


@events.request.add_listener
def _count(request_type, name, response_time, response_length, response=None, exception=None, **_):
    if request_type in ("ASYNC", "SSE"):  # this file's own end-to-end timings, not HTTP responses
        return
    status = getattr(response, "status_code", 0) or 0
    STATUSES[f"{name}|{status}"] += 1


@events.quitting.add_listener
def _write(environment, **_):
    path = os.environ.get("LOAD_STATUS_FILE")
    if path:
        with open(path, "w") as out:
            json.dump(dict(STATUSES), out)


class ApiClient(HttpUser):
    wait_time = between(0.5, 1.5)

    def on_start(self) -> None:
        self.client.headers["x-api-key"] = random.choice(KEYS)
        self.rng = random.Random()

    def _sync(self, path: str, body: dict, name: str) -> None:
        with self.client.post(path, json=body, name=name, catch_response=True) as response:
            if response.status_code == 200:
                response.success()
            elif response.status_code == 202:  # the wait ran out: follow the job
                response.success()
                self._follow(response.json()["id"])
            else:
                response.failure(f"{response.status_code}")

    def _follow(self, job_id: str) -> str:
        deadline = time.time() + 120
        while time.time() < deadline:
            time.sleep(0.25)
            with self.client.get(f"/api/jobs/{job_id}", name="GET /api/jobs/<id>", catch_response=True) as response:
                if response.status_code != 200:
                    response.failure(f"{response.status_code}")
                    continue
                response.success()
                status = response.json()["status"]
                if status in TERMINAL:
                    return status
        return "timeout"

    @task(5)
    def emotion_sync(self) -> None:
        self._sync("/api/emotion", {"text": self.rng.choice(TEXTS)}, "POST /api/emotion")

    @task(3)
    def vectors_sync(self) -> None:
        self._sync("/api/text-vectorisation", {"text": self.rng.choice(TEXTS)}, "POST /api/text-vectorisation")

    @task(2)
    def emotion_async(self) -> None:
        started = time.perf_counter()
        with self.client.post("/api/emotion", json={"text": self.rng.choice(TEXTS)},
                              headers={"Prefer": "respond-async"}, name="POST /api/emotion (async submit)",
                              catch_response=True) as response:
            if response.status_code != 202:
                response.failure(f"{response.status_code}")
                return
            response.success()
            job_id = response.json()["id"]
        status = self._follow(job_id)
        events.request.fire(request_type="ASYNC", name="emotion async: submit to result",
                            response_time=(time.perf_counter() - started) * 1000, response_length=0,
                            exception=None if status == "succeeded" else RuntimeError(status), context={})

    @task(1)
    def generation_sync(self) -> None:
        self._sync("/api/text-generation", {"text": self.rng.choice(TEXTS), "max_length": 8, "min_length": 1},
                   "POST /api/text-generation")

    @task(1)
    def generation_stream(self) -> None:
        body = {"text": self.rng.choice(TEXTS), "max_length": 8, "min_length": 1, "stream": True}
        started = time.perf_counter()
        with self.client.post("/api/text-generation", json=body, stream=True, catch_response=True,
                              name="POST /api/text-generation (stream)") as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code}")
                return
            events_seen = []
            for line in response.iter_lines(decode_unicode=True):
                if line.startswith("event: "):
                    events_seen.append(line[7:])
                    if line[7:] in ("done", "error"):
                        break
            if events_seen[-1:] == ["done"]:
                response.success()
            else:
                response.failure(f"stream ended with {events_seen[-1:] or 'nothing'}")
        events.request.fire(request_type="SSE", name="text-generation stream: to done",
                            response_time=(time.perf_counter() - started) * 1000, response_length=0,
                            exception=None, context={})
