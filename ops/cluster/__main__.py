"""python -m ops.cluster [--keep]: the README's deployment on one machine, out of network namespaces.

A data host (PostgreSQL and Redis), a web host, two worker hosts and a client, on 10.77.0.0/24
(``ops/cluster/net.py``), each with its own processes and ``DATABASE_URL``/``REDIS_URL`` pointing across
the virtual network. From the client: the README's two seed calls, then steady load; mid-load the worker
host running an echo batch is cut off the network (``eth0`` down). Every job must end, on the other host
(or failed with a reason after its attempts); none may be lost or run twice. Needs root (``ip netns``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from ops.stack import PYTHON, ROOT, Postgres, Redis, Service, Supervisor, stop_on_sigterm, wait_until

from . import net

MODELS = "emotion-minilm-goemotions,smollm2-135m-instruct,echo"
WORKERS = ("fp-worker-1", "fp-worker-2")
ENV = {
    "JOB_HEARTBEAT_INTERVAL_S": "1",
    "JOB_HEARTBEAT_STALE_S": "8",
    "JOB_SWEEP_INTERVAL_S": "2",
    "JOB_RESEND_AFTER_S": "10",
    "API_WAIT_DEFAULT_S": "10",
    "API_RATE_LIMIT_PER_MINUTE": "0",
    "MONTHLY_COMPUTE_SECONDS": "0",
    "LOG_LEVEL": "WARNING",
    "TORCH_THREADS": "1",
}


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.cluster", description=__doc__)
    parser.add_argument("--keep", action="store_true", help="keep the folder (logs) afterwards")
    parser.add_argument("--cut-s", type=float, default=25.0, help="how long the worker host stays cut off")
    parser.add_argument("--inside", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    stop_on_sigterm()
    if args.inside:
        return inside(Path(args.inside), args.cut_s)
    if os.geteuid() != 0:
        print("make cluster needs root (ip netns).", file=sys.stderr)
        return 2
    folder = Path(tempfile.mkdtemp(prefix="forwardpass-cluster-", dir=os.environ.get("OPS_TMPDIR")))
    folder.chmod(0o755)
    log(f"network: {', '.join(f'{h} {net.address(h)}' for h in net.HOSTS)} (namespaces, bridge in {net.SWITCH})")
    net.up()
    try:
        # The driver itself runs on the client host: it reaches every host, and starts their processes
        # in their own namespaces (ip netns exec).
        driver = subprocess.Popen(net.in_host("fp-client", [PYTHON, "-m", "ops.cluster", "--inside", str(folder),
                                                             "--cut-s", str(args.cut_s)]), cwd=ROOT)
        try:
            return driver.wait()
        finally:
            if driver.poll() is None:  # stopped from outside: the driver stops the hosts' processes first
                driver.terminate()
                driver.wait(timeout=120)
    finally:
        net.down()
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            log(f"kept {folder}")


def inside(folder: Path, cut_s: float) -> int:
    data_ip, web_ip = net.address("fp-data"), net.address("fp-web")
    postgres = Postgres(folder / "postgres", 5432, host=data_ip, trust_net=f"{net.SUBNET}.0/24",
                        wrap=lambda argv: net.in_host("fp-data", argv))
    redis_server = Redis(folder / "redis", 6379, host=data_ip, wrap=lambda argv: net.in_host("fp-data", argv),
                         password=os.urandom(12).hex())
    run_log = folder / "runs.log"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PROMETHEUS_"))},
           "DJANGO_SETTINGS_MODULE": "config.settings", "PYTHONUNBUFFERED": "1", "DEBUG": "0",
           "SECRET_KEY": "cluster-" + os.urandom(16).hex(), "STATIC_MANIFEST": "0",
           "DATABASE_URL": postgres.url, "REDIS_URL": redis_server.url, "CELERY_BROKER_URL": redis_server.url,
           "ALLOWED_HOSTS": f"{web_ip},127.0.0.1", "JOB_RUN_LOG": str(run_log), **ENV}
    services: list[Service] = []
    supervisor = None
    web = None
    try:
        log("data host: PostgreSQL and Redis (append-only file)")
        postgres.start()
        redis_server.start()
        host_env = {name: {**env, "DATA_DIR": str(folder / name)} for name in ("fp-web", *WORKERS)}
        subprocess.run(net.in_host("fp-web", [PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"]), cwd=ROOT,
                       env=host_env["fp-web"], check=True, timeout=600)
        web = Service("web", net.in_host("fp-web", [str(ROOT / ".venv" / "bin" / "gunicorn"),
                                                      "config.asgi:application", "-k",
                                                      "uvicorn.workers.UvicornWorker", "--bind", f"{web_ip}:8000",
                                                      "--workers", "2", "--error-logfile", "-"]),
                      host_env["fp-web"], folder / "logs" / "web.log")
        for name in WORKERS:
            argv = [PYTHON, "manage.py", "runworker", f"--models={MODELS}", f"--hostname={name}@%h",
                    "--preload=emotion-minilm-goemotions,echo", "--loglevel=INFO"]
            services.append(Service(name, net.in_host(name, argv), host_env[name], folder / "logs" / f"{name}.log",
                                    ready_text=b" ready."))
        # The sweeper's schedule (celery beat, one in the cluster) on the data host: whichever worker host is
        # cut off, the other consumes the sweeps (fp.control) and rescues the cut host's jobs.
        beat = Service("beat", net.in_host("fp-data", [PYTHON, "-m", "celery", "-A", "config.celery:app", "beat",
                                                       f"--schedule={folder / 'celerybeat-schedule'}",
                                                       "--loglevel=INFO"]),
                       {**env, "DATA_DIR": str(folder / "fp-data")}, folder / "logs" / "beat.log")
        web.start()
        supervisor = Supervisor([*services, beat]).start()
        base = f"http://{web_ip}:8000"
        wait_until(lambda: urllib.request.urlopen(f"{base}/api/health", timeout=2).status == 200, 300, 0.5,
                   "the web host")
        wait_until(lambda: all(s.ready() for s in services), 300, 0.5, "the worker hosts")
        log(f"web host {web_ip}:8000, worker hosts {', '.join(net.address(w) for w in WORKERS)}: up")
        os.environ.update({k: v for k, v in env.items() if k != "JOB_RUN_LOG"})
        import django

        django.setup()
        return scenario(base, folder, run_log, services, supervisor, cut_s)
    finally:
        if supervisor:
            supervisor.stop()
        if web:
            web.stop()
        redis_server.stop()
        postgres.stop()


def scenario(base: str, folder: Path, run_log: Path, services: list[Service], supervisor: Supervisor,
             cut_s: float) -> int:
    import httpx
    from django.contrib.auth import get_user_model

    from dashboard.services import api_key_create
    from inference import jobs
    from ops.chaos.accounting import Row, calls_count, jobs_account, runs_read
    from ops.chaos.load import SteadyLoad

    User = get_user_model()
    users = [User.objects.create_user(username=f"cluster-{i}") for i in range(3)]
    keys = [api_key_create(user=user, name="cluster").plaintext for user in users]
    since = datetime.now(UTC)
    log("seed calls (README): POST /api/emotion, POST /api/text-generation")
    seeds = [("/api/emotion", {"text": "The service was awful, and so was the food."}),
             ("/api/text-generation", {"text": "Once upon a time", "min_length": 50, "max_length": 75,
                                       "temperature": 0.8, "top_p": 0.5})]
    for path, body in seeds:
        response = httpx.post(f"{base}{path}", json=body, headers={"x-api-key": keys[0], "Prefer": "wait=120"},
                              timeout=180)
        log(f"  {path}: {response.status_code} {response.text[:100]}")
    load = SteadyLoad(base, keys, clients=8).start()
    time.sleep(8)
    batch = [jobs.job_submit(user=users[0], api_key=None, kind_name="echo", model_id=None,
                             data={"text": f"cluster {i}", "sleep_ms": 400}, allow_internal=True) for i in range(8)]
    pid_host = {s.pid: s.name for s in services}
    deadline = time.monotonic() + 30
    victim = None
    while victim is None and time.monotonic() < deadline:
        runs = runs_read(run_log)
        running = Counter(r.pid for job in batch for r in runs.get(str(job.id), []) if r.end is None)
        victim = pid_host.get(running.most_common(1)[0][0]) if running else None
        time.sleep(0.05)
    victim = victim or WORKERS[0]
    cut_at = time.time()
    net.link(victim, "down")
    log(f"cut {victim} ({net.address(victim)}) off the network, mid-batch, for {cut_s:.0f} s")
    time.sleep(cut_s)
    load.stop()
    until = datetime.now(UTC)
    row = Row("cluster")
    calls_count(row, load.snapshot())
    ended = jobs_account(row, user_ids=[u.pk for u in users], since=since, until=until, run_log=run_log,
                         death_time=supervisor.death_time, drain_s=120,
                         client_job_ids={c.job_id for c in load.snapshot() if c.job_id})
    net.link(victim, "up")
    log(f"{victim} back on the network; waiting 10 s for its late outcomes (dropped by the claims)")
    time.sleep(10)
    runs = runs_read(run_log)
    final_host: Counter = Counter()
    after_cut: Counter = Counter()
    for job in ended:
        job_runs = sorted(runs.get(str(job.id), []), key=lambda r: r.start)
        if job_runs:
            host = pid_host.get(job_runs[-1].pid, "?")
            final_host[host] += 1
            if job_runs[-1].start > cut_at:
                after_cut[host] += 1
    from inference.models import InferenceJob

    batch_rows = list(InferenceJob.objects.filter(id__in=[j.id for j in batch]))
    cut_runs = [j for j in batch_rows if any(pid_host.get(r.pid) == victim and r.start < cut_at
                                             for r in runs.get(str(j.id), []))]
    moved = [j for j in cut_runs if any(pid_host.get(r.pid) != victim and r.start > cut_at
                                        for r in runs.get(str(j.id), []))]
    print()
    print(f"make cluster, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: data {net.address('fp-data')}, web "
          f"{net.address('fp-web')}, workers {', '.join(net.address(w) for w in WORKERS)}; cut: {victim}")
    print(f"jobs: accepted {row.accepted}, succeeded {row.succeeded}, failed {row.failed}, cancelled "
          f"{row.cancelled}, lost {row.lost}, run twice {row.run_twice}, retried {row.retried}; HTTP 5xx "
          f"{row.http_5xx}, 503 {row.http_503}, hung {row.hung}")
    print("last run of each job, by host: " + ", ".join(f"{h} {n}" for h, n in sorted(final_host.items())))
    print("runs started after the cut, by host: " + ", ".join(f"{h} {n}" for h, n in sorted(after_cut.items())))
    print(f"the echo batch ({len(batch_rows)} jobs, {dict(Counter(j.status for j in batch_rows))}): {len(cut_runs)} "
          f"were running on {victim} at the cut, {len(moved)} of them ran again on the other host")
    for why, n in row.failed_reasons.most_common(3):
        print(f"  failed: {n} x {why}")
    for note in row.notes[:5]:
        print(f"  {note}")
    ok = (row.ok and all(j.status == "succeeded" for j in batch_rows)
          and not after_cut.get(victim))
    print("RESULT: " + ("every job ended on the host that stayed up; nothing lost or run twice" if ok
                        else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
