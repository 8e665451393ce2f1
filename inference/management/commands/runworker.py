"""Start a Celery worker for chosen models (all of them by default).

    python manage.py runworker                      # every model, plus control jobs
    python manage.py runworker --models smollm2-135m-instruct,all-minilm-l6-v2
    python manage.py runworker --beat               # also run the periodic sweeper
    python manage.py runworker --pool prefork --concurrency 2   # one job per process, no batching

By default the worker uses Celery's threads pool with ``WORKER_CONCURRENCY``
jobs in flight, so concurrent jobs for one model share a forward pass (see
``inference/runtime/batching.py``). Celery's soft and hard time limits do not apply to
the threads pool; a job that hangs is re-queued or failed by the sweeper after
``JOB_HARD_TIME_LIMIT_S``, and its late outcome, if any, is dropped.

Each catalog model (or model group) has its own queue, ``fp.model.<id>``; a
worker started with ``--models`` consumes only those queues.

Warm start: before it takes a job, a worker loads the models it serves and runs
one tiny input through each (``inference/jobs/warm.py``), so its first requests
pay no load; it says "ready." once they are warm, and ``GET /api/health`` lists
them as warm. Which models, ``WORKER_PRELOAD_MODELS`` (or ``--preload``):
``served`` (the default): every installed catalog model whose queue it consumes,
so ``--models`` narrows it too; ``none``: nothing (each model loads on its first
job); or comma-separated model ids. Users' uploaded models load on their first job.
"""

from __future__ import annotations

import os
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from config.celery import app
from inference.catalog import catalog_get, catalog_models


def worker_queues(model_ids: list[str] | None, *, control: bool) -> list[str]:
    specs = catalog_models() if not model_ids else [catalog_get(m) for m in model_ids]
    missing = [m for m, s in zip(model_ids or [], specs, strict=False) if s is None]
    if missing:
        raise CommandError(f"unknown model(s): {', '.join(missing)}")
    queues = {spec.queue for spec in specs if spec is not None}
    if not model_ids:
        queues.add("fp.model.uploads")
    if control:
        queues.update({"fp.control", "fp.default"})
    return sorted(queues)


def omp_wait_policy_set() -> None:
    """Make torch's OpenMP threads sleep, not spin, while they wait (``WORKER_OMP_WAIT_POLICY``).

    GNU OpenMP's threads spin between parallel regions by default. A worker shares its cores with
    Celery's threads and, on a small host, the web server; a spinning thread then takes the core its
    partner needs and each waits for the other at every step. Measured on 2 cores with one of them busy
    (docs/perf/README.md): all-MiniLM-L6-v2 on 16 comments took 1,400 ms (52 core-ms a text) spinning,
    142 ms (8.5) with PASSIVE; SmolLM2 generated 3.2 tokens/s spinning, 12.8 with PASSIVE. libgomp reads
    the variable when torch is first imported, so it is set before that (an operator's own
    OMP_WAIT_POLICY is kept).
    """
    policy = settings.WORKER_OMP_WAIT_POLICY
    if policy and "OMP_WAIT_POLICY" not in os.environ:
        if "torch" in sys.modules:  # pragma: no cover - a guard against an import moved earlier
            raise CommandError("torch was imported before runworker could set OMP_WAIT_POLICY")
        os.environ["OMP_WAIT_POLICY"] = policy


class Command(BaseCommand):
    help = "Start a Celery worker serving the chosen models (all by default)."

    def add_arguments(self, parser):
        parser.add_argument("--models", default="", help="Comma-separated model ids (default: all).")
        parser.add_argument("--no-control", action="store_true", help="Do not consume control jobs (sweeper).")
        parser.add_argument("--beat", action="store_true", help="Also run the periodic sweeper (one per cluster).")
        parser.add_argument("--concurrency", type=int, default=None,
                            help="Jobs in flight (default: WORKER_CONCURRENCY with threads, 1 otherwise).")
        parser.add_argument("--pool", default=None, choices=["prefork", "threads", "solo"],
                            help="threads (default, WORKER_POOL): jobs share batches; prefork: one job per process.")
        parser.add_argument("--hostname", default="")
        parser.add_argument("--loglevel", default="INFO")
        parser.add_argument("--preload", default="",
                            help="Models to load before taking jobs: served, none or model ids "
                                 "(default: WORKER_PRELOAD_MODELS, served).")

    def handle(self, *args, **options):
        omp_wait_policy_set()
        model_ids = [m.strip() for m in options["models"].split(",") if m.strip()] or None
        queues = worker_queues(model_ids, control=not options["no_control"])
        pool = options["pool"] or settings.WORKER_POOL
        concurrency = options["concurrency"] or (settings.WORKER_CONCURRENCY if pool == "threads" else 1)
        argv = [
            "worker",
            f"--loglevel={options['loglevel']}",
            f"--pool={pool}",
            f"--concurrency={concurrency}",
            f"--queues={','.join(queues)}",
            "--without-gossip",
            "--without-mingle",
        ]
        if options["hostname"]:
            argv.append(f"--hostname={options['hostname']}")
        if options["beat"]:
            argv.append("--beat")
            argv.append(f"--schedule={settings.DATA_DIR / 'celerybeat-schedule'}")
        if options["preload"]:
            settings.WORKER_PRELOAD_MODELS = [m.strip() for m in options["preload"].split(",") if m.strip()]
        self.stdout.write(f"worker queues: {', '.join(queues)}")
        app.worker_main(argv)
