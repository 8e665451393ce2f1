"""python -m ops.chaos [--long] [--only worker-kill,...] [--keep]: see docs/chaos.md."""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime

from ops.stack import Stack, StackConfig, stop_on_sigterm

CHAOS_ENV = {
    # Faster recovery than production's defaults, so a scenario fits in seconds (docs/chaos.md).
    "JOB_HEARTBEAT_INTERVAL_S": "1",
    "JOB_HEARTBEAT_STALE_S": "8",
    "JOB_SWEEP_INTERVAL_S": "2",
    "JOB_RESEND_AFTER_S": "10",
    "API_WAIT_DEFAULT_S": "10",
    "API_MAX_JOBS_IN_FLIGHT": "16",
    "API_RATE_LIMIT_PER_MINUTE": "0",
    "MONTHLY_COMPUTE_SECONDS": "0",
    "ECHO_CRASH_ENABLED": "1",
}
MODELS = "emotion-minilm-goemotions,echo"


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.chaos", description=__doc__)
    parser.add_argument("--long", action="store_true", default=os.environ.get("CHAOS_LONG") == "1",
                        help="longer faults, repeated (CHAOS_LONG=1)")
    parser.add_argument("--only", default="", help="comma-separated scenario names")
    parser.add_argument("--keep", action="store_true", help="keep the stack's folder (logs) afterwards")
    args = parser.parse_args(argv)

    config = StackConfig(name="chaos", pg_port=int(os.environ.get("CHAOS_PG_PORT", 5440)),
                         redis_port=int(os.environ.get("CHAOS_REDIS_PORT", 6440)),
                         web_port=int(os.environ.get("CHAOS_WEB_PORT", 8440)),
                         workers=[("worker-1", MODELS), ("worker-2", MODELS)], extra_env=CHAOS_ENV, keep=args.keep)
    stop_on_sigterm()
    stack = Stack(config)
    started = time.monotonic()
    log(f"stack in {stack.folder} (PostgreSQL :{config.pg_port}, Redis :{config.redis_port} with AOF, "
        f"web :{config.web_port}, 2 workers)")
    try:
        stack.start_data()
        stack.setup_django()
        from .core import Context, scenario_run, table
        from .scenarios import SCENARIOS

        ctx = _context(stack, args.long)
        stack.start_processes()
        log(f"stack up in {time.monotonic() - started:.0f} s")
        chosen = [name for name in args.only.split(",") if name]
        scenarios = [cls() for cls in SCENARIOS if not chosen or cls.name in chosen]
        rows = []
        for scenario in scenarios:
            ctx = Context(**{**ctx.__dict__, "load": None})
            rows.append(scenario_run(scenario, ctx))
        memory = stack.memory()
    finally:
        log("stopping the stack")
        stack.stop()
    print()
    print(f"make chaos{' --long' if args.long else ''}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}, {time.monotonic() - started:.0f} s")
    print(table(rows))
    print("memory at the end: " + ", ".join(f"{role} {n} proc {rss / 2**20:.0f} MB"
                                           for role, (n, rss) in memory.items()))
    failed = [row.scenario for row in rows if not row.ok]
    print("RESULT: " + ("every scenario passed" if not failed else f"FAILED: {', '.join(failed)}"))
    return 1 if failed else 0


def _context(stack: Stack, long: bool):
    from django.contrib.auth import get_user_model

    from dashboard.services import api_key_create

    from .core import Context

    User = get_user_model()
    load_users = [User.objects.create_user(username=f"chaos-load-{i}") for i in range(4)]
    burst_user = User.objects.create_user(username="chaos-burst")
    echo_user = User.objects.create_user(username="chaos-echo")
    keys = [api_key_create(user=user, name="chaos").plaintext for user in load_users]
    return Context(stack=stack, keys=keys, user_ids=[u.pk for u in (*load_users, burst_user, echo_user)],
                   echo_user=echo_user, burst_key=api_key_create(user=burst_user, name="chaos").plaintext,
                   long=long, log=log)


if __name__ == "__main__":
    sys.exit(main())
