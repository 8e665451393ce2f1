"""A worker's start and its first job: how long until it is ready, how long the first emotion job takes.

``BENCH_ONLY=first make bench`` starts a worker serving the emotion model alone
(threads pool, as ``make run``), once per preload setting and round, and times:

- start: from spawning ``runworker`` to its "ready." line (the consumer takes jobs from then on);
- first job: one short emotion text submitted right after "ready." (``job_submit``, as the API
  does), to its done event; with the job's recorded ``load_ms`` and ``compute_ms``.

``BENCH_FIRST_MODES`` (default ``none;served``, separated by semicolons) lists the
``WORKER_PRELOAD_MODELS`` values to compare; a value that names models is an explicit list.
``BENCH_FIRST_MODELS=all`` starts the worker without ``--models``, serving every model, as
``make run`` does. Benchmarks are not tests: nothing here fails on a time.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402

from benchmarks.harness import JobEvents, Service, p50  # noqa: E402
from benchmarks.run import EMOTION, SHORT_TEXT, wait_for_emotion_model  # noqa: E402
from inference.jobs import job_prepare, job_submit  # noqa: E402
from inference.models import InferenceJob  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
MODES = [mode.strip() for mode in os.environ.get("BENCH_FIRST_MODES", "none;served").split(";") if mode.strip()]
SERVED = os.environ.get("BENCH_FIRST_MODELS", EMOTION)
AFTER = 5  # jobs timed after the first


def start_and_first_job(user, events: JobEvents, mode: str) -> tuple[float, float, float, InferenceJob]:
    """(start seconds, first job ms, p50 ms of the next jobs, the first job's row) of a fresh worker with
    ``WORKER_PRELOAD_MODELS=mode``."""
    only = [] if SERVED == "all" else [f"--models={SERVED}"]
    worker = Service("worker-first", [sys.executable, "manage.py", "runworker", "--no-control", "--pool=threads",
                                      "--loglevel=INFO", "--hostname=first@%h", *only],
                     env={"WORKER_PRELOAD_MODELS": mode})
    started = time.perf_counter()
    worker.start()
    try:
        deadline = time.monotonic() + 300
        while not worker.log_has(b" ready."):
            if worker.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the worker did not start; see {worker.log_path}")
            time.sleep(0.02)
        start_s = time.perf_counter() - started
        submitted = time.perf_counter()
        job = job_submit(user=user, api_key=None, kind_name="emotion", model_id=EMOTION, data={"text": SHORT_TEXT})
        first_ms = (events.wait(str(job.id)) - submitted) * 1000
        first = InferenceJob.objects.get(id=job.id)
        later = []
        for _ in range(AFTER):  # the jobs after it, for comparison: what a warm job takes now
            submitted = time.perf_counter()
            job = job_submit(user=user, api_key=None, kind_name="emotion", model_id=EMOTION, data={"text": SHORT_TEXT})
            later.append((events.wait(str(job.id)) - submitted) * 1000)
        return start_s, first_ms, p50(later), first
    finally:
        worker.stop()


def main() -> None:
    user, _ = get_user_model().objects.get_or_create(username="bench", defaults={"email": "bench@example.invalid"})
    if not wait_for_emotion_model(float(os.environ.get("BENCH_WAIT_FOR_EMOTION_S", "300"))):
        raise SystemExit(f"{EMOTION} is not installed")
    job_prepare(user=user, kind_name="emotion", model_id=EMOTION, data={"text": SHORT_TEXT})  # this side's first
    events = JobEvents()  # costs (the tokenizer that counts a request's tokens) paid before any timing
    results: dict[str, list[tuple[float, float, float]]] = {mode: [] for mode in MODES}
    try:
        for round_ in range(ROUNDS):
            for mode in MODES:  # side by side, round after round, so a passing load weighs on each alike
                start_s, first_ms, later_ms, job = start_and_first_job(user, events, mode)
                results[mode].append((start_s, first_ms, later_ms))
                print(f"round {round_ + 1} WORKER_PRELOAD_MODELS={mode}: ready in {start_s:.1f} s, "
                      f"first job {first_ms:.0f} ms (load_ms {job.load_ms}, compute_ms {job.compute_ms}, "
                      f"queue_ms {job.queue_ms}), next {AFTER} jobs p50 {later_ms:.0f} ms "
                      f"(load {os.getloadavg()[0]:.1f})", flush=True)
    finally:
        events.stop()
    for mode, rows in results.items():
        name = mode.replace(",", "+")
        print(f"worker_start_s[{name}]={p50([row[0] for row in rows]):.2f} "
              f"first_emotion_job_ms[{name}]={p50([row[1] for row in rows]):.0f} "
              f"next_emotion_job_ms[{name}]={p50([row[2] for row in rows]):.0f} (p50 of {len(rows)} rounds)")


if __name__ == "__main__":
    main()
