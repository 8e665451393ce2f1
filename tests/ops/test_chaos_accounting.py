"""The chaos suite's verdicts (ops/chaos/accounting.py): a retry after a worker's death is not a job run
twice; two runs at once, two runs under one claim, or a run after the job ended are."""

from __future__ import annotations

from ops.chaos.accounting import Run, run_twice_check, runs_read


def no_deaths(pid: int) -> float | None:
    return None


def test_a_run_cut_short_by_its_workers_death_then_retried_is_not_run_twice():
    runs = [Run("j", 1, 100, start=10.0), Run("j", 2, 200, start=20.0, end=21.0)]
    assert run_twice_check(runs, finished_at=21.1, death_time={100: 12.0}.get) == ""


def test_two_runs_at_the_same_time_are_run_twice():
    runs = [Run("j", 1, 100, start=10.0, end=30.0), Run("j", 2, 200, start=20.0, end=21.0)]
    assert run_twice_check(runs, finished_at=21.1, death_time=no_deaths) == "two runs at the same time"


def test_a_run_still_going_when_its_worker_died_late_overlaps_the_retry():
    runs = [Run("j", 1, 100, start=10.0), Run("j", 2, 200, start=20.0, end=21.0)]
    assert run_twice_check(runs, finished_at=21.1, death_time={100: 25.0}.get) == "two runs at the same time"


def test_two_runs_under_one_claim_and_a_run_after_the_end_are_run_twice():
    same_claim = [Run("j", 1, 100, start=10.0, end=11.0), Run("j", 1, 200, start=12.0, end=13.0)]
    assert run_twice_check(same_claim, finished_at=13.1, death_time=no_deaths) == "two runs under one claim"
    late = [Run("j", 1, 100, start=10.0, end=11.0), Run("j", 2, 100, start=15.0, end=16.0)]
    assert run_twice_check(late, finished_at=11.1, death_time=no_deaths) == "a run after the job ended"


def test_the_run_log_is_read_into_runs(tmp_path):
    log = tmp_path / "runs.log"
    log.write_text("start a 1 7 1.5\nstart b 1 7 1.5\nend a 1 7 2.5\nstart b 2 8 9.0\nend b 2 8 9.5\n")
    runs = runs_read(log)
    assert [(r.attempt, r.pid, r.start, r.end) for r in runs["a"]] == [(1, 7, 1.5, 2.5)]
    assert [(r.attempt, r.pid, r.start, r.end) for r in runs["b"]] == [(1, 7, 1.5, None), (2, 8, 9.0, 9.5)]


def test_a_run_whose_quarantine_process_died_ends_at_its_died_line(tmp_path):
    """A retried job's child process (inference.jobs.quarantine) dies unseen by any supervisor: its worker
    writes ``died``, so the run ends there and the next attempt is a retry, not a job run twice."""
    log = tmp_path / "runs.log"
    log.write_text("start p 2 31 10.0\ndied p 2 31 10.5\nstart p 3 32 18.0\ndied p 3 32 18.2\n")
    runs = runs_read(log)["p"]
    assert [(r.attempt, r.pid, r.start, r.end) for r in runs] == [(2, 31, 10.0, 10.5), (3, 32, 18.0, 18.2)]
    assert run_twice_check(runs, finished_at=18.3, death_time=no_deaths) == ""
