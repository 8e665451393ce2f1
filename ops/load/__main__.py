"""python -m ops.load [--long] [--users 50] [--minutes 2]: a Locust soak on a stack of the suite's own.

Prints throughput, p50/p95/p99 per endpoint, errors by status, the jobs' accounting from the database
(accepted == succeeded + failed + cancelled) and the memory (RSS) of every process at the start and the end.
Exits non-zero on a 5xx, a lost job, or a job run twice.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime

from ops.stack import ROOT, Stack, StackConfig, stop_on_sigterm

LOAD_ENV = {
    "API_RATE_LIMIT_PER_MINUTE": "0",
    "MONTHLY_COMPUTE_SECONDS": "0",
}
USERS = 5


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.load", description=__doc__)
    parser.add_argument("--long", action="store_true", default=os.environ.get("LOAD_LONG") == "1",
                        help="10 minutes (LOAD_LONG=1)")
    parser.add_argument("--users", type=int, default=int(os.environ.get("LOAD_USERS", 50)), help="Locust clients")
    parser.add_argument("--minutes", type=float, default=None)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)
    minutes = args.minutes or (10 if args.long else 2)

    config = StackConfig(name="load", pg_port=int(os.environ.get("LOAD_PG_PORT", 5441)),
                         redis_port=int(os.environ.get("LOAD_REDIS_PORT", 6441)),
                         web_port=int(os.environ.get("LOAD_WEB_PORT", 8441)),
                         workers=[("worker-small", "emotion-minilm-goemotions,all-minilm-l6-v2"),
                                  ("worker-generation", "smollm2-135m-instruct")],
                         extra_env=LOAD_ENV, keep=args.keep)
    stop_on_sigterm()
    stack = Stack(config)
    log(f"stack in {stack.folder} (PostgreSQL :{config.pg_port}, Redis :{config.redis_port}, web "
        f":{config.web_port}; workers: {', '.join(f'{n} ({m})' for n, m in config.workers)})")
    try:
        stack.start_data()
        stack.setup_django()
        keys, user_ids = _users()
        stack.start_processes()
        _warm(stack, keys[0])
        memory_start = stack.memory()
        since = datetime.now(UTC)
        log(f"locust: {args.users} clients for {minutes:g} min")
        stats, statuses = _locust(stack, keys, args.users, minutes)
        until = datetime.now(UTC)
        memory_end = stack.memory()
        from ops.chaos.accounting import Row, jobs_account

        row = Row("load")
        jobs_account(row, user_ids=user_ids, since=since, until=until, run_log=stack.run_log,
                     death_time=stack.supervisor.death_time, drain_s=120, client_job_ids=set())
        deaths = list(stack.supervisor.deaths)
    finally:
        log("stopping the stack")
        stack.stop()
    print()
    print(f"make load{' --long' if args.long else ''}: {args.users} clients, {minutes:g} min, "
          f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.2f} (the load client runs on the same CPUs)")
    print(_stats_table(stats, minutes))
    print()
    print("responses by status: " + ", ".join(f"{name} {status}: {n}" for (name, status), n in sorted(
        statuses.items())))
    errors = Counter()
    for (_name, status), n in statuses.items():
        if status != 200 and status != 202:
            errors[status] += n
    print("errors by status: " + (", ".join(f"{status or 'no response'}: {n}" for status, n in sorted(
        errors.items())) or "none"))
    balanced = row.accepted == row.succeeded + row.failed + row.cancelled
    print(f"jobs (from the database): accepted {row.accepted} = succeeded {row.succeeded} + failed {row.failed} "
          f"+ cancelled {row.cancelled}: {'yes' if balanced else 'NO'}; lost {row.lost}; run twice "
          f"{row.run_twice}; retried {row.retried}")
    for why, n in row.failed_reasons.most_common(5):
        print(f"  failed: {n} x {why}")
    print("memory (RSS) start -> end:")
    for role in sorted(set(memory_start) | set(memory_end)):
        n0, rss0 = memory_start.get(role, (0, 0))
        n1, rss1 = memory_end.get(role, (0, 0))
        print(f"  {role:18} {n0:2} proc {rss0 / 2**20:7.0f} MB -> {n1:2} proc {rss1 / 2**20:7.0f} MB "
              f"({(rss1 - rss0) / 2**20:+.0f} MB)")
    if deaths:
        print(f"worker deaths: {deaths}")
    server_errors = sum(n for status, n in errors.items() if status >= 500 or status == 0)
    ok = balanced and not row.lost and not row.run_twice and not server_errors and not deaths
    print("RESULT: " + ("passed" if ok else f"FAILED (5xx or no response: {server_errors}, lost {row.lost}, run "
                                             f"twice {row.run_twice}, balanced {balanced}, deaths {len(deaths)})"))
    return 0 if ok else 1


def _users() -> tuple[list[str], list[int]]:
    from django.contrib.auth import get_user_model

    from dashboard.services import api_key_create

    User = get_user_model()
    users = [User.objects.create_user(username=f"load-{i}") for i in range(USERS)]
    return [api_key_create(user=user, name="load").plaintext for user in users], [user.pk for user in users]


def _warm(stack: Stack, key: str) -> None:
    """One call of each kind, so the start's memory is the warm stack's, not the cold one's."""
    import httpx

    for path, body in (("/api/emotion", {"text": "hello"}), ("/api/text-vectorisation", {"text": "hello"}),
                       ("/api/text-generation", {"text": "hello", "max_length": 4, "min_length": 1})):
        response = httpx.post(f"{stack.base_url}{path}", json=body, headers={"x-api-key": key}, timeout=120)
        if response.status_code != 200:
            raise RuntimeError(f"warm-up {path}: {response.status_code} {response.text[:200]}")


def _locust(stack: Stack, keys: list[str], users: int, minutes: float):
    keys_file = stack.folder / "keys.json"
    keys_file.write_text(json.dumps(keys))
    status_file = stack.folder / "statuses.json"
    prefix = stack.folder / "locust"
    env = {**os.environ, "LOAD_KEYS_FILE": str(keys_file), "LOAD_STATUS_FILE": str(status_file)}
    command = [str(ROOT / ".venv" / "bin" / "locust"), "-f", str(ROOT / "ops" / "load" / "locustfile.py"),
               "--headless", "-u", str(users), "-r", str(max(1, users // 10)), "-t", f"{int(minutes * 60)}s",
               "-H", stack.base_url, "--csv", str(prefix), "--only-summary", "--loglevel", "WARNING",
               "--stop-timeout", "60", "--exit-code-on-error", "0"]
    with open(stack.logs / "locust.log", "wb") as out:
        subprocess.run(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, check=False,
                       timeout=minutes * 60 + 180)
    with open(f"{prefix}_stats.csv") as stats_file:
        stats = list(csv.DictReader(stats_file))
    statuses: Counter = Counter()
    if status_file.exists():
        for key, n in json.loads(status_file.read_text()).items():
            name, _, status = key.rpartition("|")
            statuses[(name, int(status))] += n
    return stats, statuses


def _stats_table(stats: list[dict], minutes: float) -> str:
    header = ("endpoint", "requests", "failures", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms")
    rows = [(s["Name"] if s["Name"] != "Aggregated" else "all", s["Request Count"], s["Failure Count"],
             f"{float(s['Requests/s']):.1f}", s["50%"], s["95%"], s["99%"], f"{float(s['Max Response Time']):.0f}")
            for s in stats]
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows, strict=True)]
    lines = [" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)),
             "-|-".join("-" * w for w in widths)]
    for row in rows:
        lines.append(" | ".join(str(v).rjust(w) if i else str(v).ljust(w)
                                for i, (v, w) in enumerate(zip(row, widths, strict=True))))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
