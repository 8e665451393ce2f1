"""Running one scenario: steady load, the fault, the drain, the accounting; and the table."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ops.stack import Stack

from .accounting import TERMINAL, Row, calls_count, db_retry, jobs_account
from .load import SteadyLoad


@dataclass
class Outcome:
    """What a scenario's fault did: when it began and when it was lifted, and its own checks."""

    fault_at: float
    restored_at: float
    checks: list[tuple[bool, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    recover_from: float | None = None  # recovery measured from here (default fault_at)
    extra_calls: list = field(default_factory=list)  # calls the scenario made itself (a burst)


@dataclass
class Context:
    stack: Stack
    keys: list[str]  # the steady load's users' keys
    user_ids: list[int]  # every user of the suite (load, burst, echo)
    echo_user: object
    burst_key: str
    long: bool
    log: Callable[[str], None]
    load: SteadyLoad | None = None

    def scale(self, seconds: float) -> float:
        return seconds * (4 if self.long else 1)

    def echo_submit(self, count: int, **data) -> list:
        """``count`` echo jobs of the suite's own (the internal kind: not reachable through the API)."""
        from inference import jobs as services

        def submit(index: int):
            return services.job_submit(user=self.echo_user, api_key=None, kind_name="echo", model_id=None,
                                       data={"text": f"chaos {index}", **data}, allow_internal=True)

        return [db_retry(lambda index=index: submit(index)) for index in range(count)]

    def jobs_wait(self, jobs: list, timeout: float) -> list:
        """The jobs once they all ended (or as they are after ``timeout``)."""
        from inference.models import InferenceJob

        ids = [job.id for job in jobs]
        deadline = time.monotonic() + timeout
        while True:
            rows = db_retry(lambda: list(InferenceJob.objects.filter(id__in=ids)))
            if all(row.status in TERMINAL for row in rows) or time.monotonic() > deadline:
                return rows
            time.sleep(0.5)

    def worker_running(self, jobs: list, timeout: float = 30) -> int | None:
        """The pid of the worker that runs most of ``jobs`` (from the run log), once they run."""
        from collections import Counter

        from .accounting import runs_read

        ids = {str(job.id) for job in jobs}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            runs = runs_read(self.stack.run_log)
            running = Counter(run.pid for job_id in ids for run in runs.get(job_id, []) if run.end is None)
            if running:
                return running.most_common(1)[0][0]
            time.sleep(0.05)
        return None

    def worker_of(self, pid: int):
        return next(worker for worker in self.stack.workers if worker.pid == pid)

    def restarted(self, workers: list, starts_before: list[int], timeout: float = 300) -> float:
        """When every one of ``workers`` was started again by the supervisor and said ready."""
        from ops.stack import wait_until

        wait_until(lambda: all(len(w.starts) > n and w.ready() for w, n in zip(workers, starts_before,
                                                                                 strict=True)),
                   timeout, 0.1, "the supervisor to restart the workers")
        return time.time()

    def metric(self, name: str, labels: str = "") -> float:
        """A counter summed over processes, from ``GET /metrics`` (loopback: no token needed)."""
        try:
            text = urllib.request.urlopen(f"{self.stack.base_url}/metrics", timeout=5).read().decode()
        except OSError:
            return float("nan")
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name) and (not labels or labels in line) and not line.startswith("#"):
                total += float(line.rsplit(" ", 1)[1])
        return total


class Scenario:
    name = ""
    title = ""
    warmup_s = 4.0
    cooldown_s = 4.0
    drain_s = 90.0

    def run(self, ctx: Context) -> Outcome:
        raise NotImplementedError


def _first_ok_after(calls, moment: float) -> float | None:
    times = [call.ended for call in calls if call.started >= moment and call.status == 200]
    return min(times) if times else None


def scenario_run(scenario: Scenario, ctx: Context) -> Row:
    """Steady load, then the scenario's fault, then the drain; the row of the table."""
    row = Row(scenario.name)
    ctx.log(f"--- {scenario.name}: {scenario.title}")
    ctx.stack.wait_workers_ready(300)
    since = datetime.now(UTC)
    sweeper_before = {action: ctx.metric("forwardpass_sweeper_actions_total", f'action="{action}"')
                      for action in ("requeued", "failed", "resent")}
    load = ctx.load = SteadyLoad(ctx.stack.base_url, ctx.keys).start()
    try:
        time.sleep(ctx.scale(scenario.warmup_s))
        outcome = scenario.run(ctx)
        time.sleep(ctx.scale(scenario.cooldown_s))
    finally:
        load.stop()
    until = datetime.now(UTC)
    calls = load.snapshot() + outcome.extra_calls
    calls_count(row, calls)
    client_ids = {call.job_id for call in calls if call.job_id}
    jobs = jobs_account(row, user_ids=ctx.user_ids, since=since, until=until, run_log=ctx.stack.run_log,
                        death_time=ctx.stack.supervisor.death_time, drain_s=scenario.drain_s,
                        client_job_ids=client_ids)
    # Recovery: the stack serves again, and every job in flight when the fault began has ended.
    start = outcome.recover_from or outcome.fault_at
    in_flight_end = [job.finished_at.timestamp() for job in jobs
                     if job.created_at.timestamp() < start and job.finished_at
                     and job.finished_at.timestamp() > start]
    first_ok = _first_ok_after(calls, outcome.restored_at)
    ends = [t for t in [first_ok, *in_flight_end] if t is not None]
    row.recover_s = max(ends) - start if ends else None
    for ok, text in outcome.checks:
        if not ok:
            row.problems.append(text)
    row.notes.extend(outcome.notes)
    sweeper = {action: ctx.metric("forwardpass_sweeper_actions_total", f'action="{action}"') - before
               for action, before in sweeper_before.items()}
    row.notes.append("sweeper (from /metrics): " + ", ".join(f"{k} {v:.0f}" for k, v in sweeper.items()))
    ctx.log(f"    {scenario.name}: {row.accepted} accepted, {row.calls} calls, "
            f"{'ok' if row.ok else 'PROBLEMS: ' + '; '.join(row.problems)}")
    return row


COLUMNS = ("scenario", "accepted", "succeeded", "failed", "cancelled", "lost", "run twice", "retried", "5xx",
           "503 (JSON)", "429", "hung", "recover s")


def table(rows: list[Row]) -> str:
    lines = []
    data = [[r.scenario, r.accepted, r.succeeded, r.failed, r.cancelled, r.lost, r.run_twice, r.retried, r.http_5xx,
             r.http_503, r.http_429, r.hung, "-" if r.recover_s is None else f"{r.recover_s:.1f}"] for r in rows]
    widths = [max(len(str(x)) for x in column) for column in zip(COLUMNS, *data, strict=True)]
    lines.append(" | ".join(str(c).ljust(w) for c, w in zip(COLUMNS, widths, strict=True)))
    lines.append("-|-".join("-" * w for w in widths))
    for values in data:
        lines.append(" | ".join(str(v).rjust(w) if i else str(v).ljust(w)
                                for i, (v, w) in enumerate(zip(values, widths, strict=True))))
    lines.append("")
    for r in rows:
        if r.failed_reasons:
            lines.append(f"{r.scenario}: failed: " + "; ".join(f"{n} x {why}" for why, n in
                                                                r.failed_reasons.most_common(4)))
        for note in r.notes:
            lines.append(f"{r.scenario}: {note}")
        for problem in r.problems:
            lines.append(f"{r.scenario}: PROBLEM: {problem}")
    return "\n".join(lines)
