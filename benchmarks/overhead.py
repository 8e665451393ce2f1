"""The worker's own cost per job, without a model: echo jobs through a real worker at 32 in flight.

    scripts/bench.sh environment; BENCH_ONLY=overhead make bench

Submits ``OVERHEAD_JOBS`` (default 600) jobs of the built-in ``echo`` model
(it returns its input at once) from 32 threads, each sending its next job
when the last ended, and prints the worker's and the submitter's CPU per job
(core-ms), so what Celery, the claim, the outcome and the done event cost is
seen apart from any forward pass. Prints figures; checks nothing.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402

from benchmarks.harness import CpuMeter, JobEvents, closed_loop, start_worker  # noqa: E402
from inference.jobs import job_submit  # noqa: E402


def main() -> None:
    total = int(os.environ.get("OVERHEAD_JOBS", "600"))
    concurrency = 32
    user, _ = get_user_model().objects.get_or_create(username="bench-overhead")
    events = JobEvents()
    worker = start_worker(["echo"], models=["echo"], name="worker-echo")
    meter = CpuMeter(worker.process.pid, None)

    def one(i: int) -> None:
        job = job_submit(user=user, api_key=None, kind_name="echo", model_id="echo", data={"text": f"job {i}"},
                         allow_internal=True)
        events.wait(str(job.id))

    try:
        for i in range(20):
            one(i)
        for round_no in range(3):
            with meter.measure(total):
                rate = closed_loop(total, concurrency, one)
            print(f"round {round_no + 1}: {rate:.0f} echo jobs/s at c{concurrency}; {meter.describe()}",
                  flush=True)
    finally:
        events.stop()
        worker.stop()


if __name__ == "__main__":
    main()
