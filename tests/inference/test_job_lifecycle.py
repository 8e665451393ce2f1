"""Cancel stops work, long jobs run once, deadlines hold, a stopping worker hands its jobs back, and a
cold start is not billed: each through a real worker on the real database and Redis."""

from __future__ import annotations

import time

import pytest
from django.utils import timezone

from dashboard.selectors import usage_total
from inference.jobs import job_cancel, job_submit, jobs_sweep
from inference.models import InferenceJob, JobStatus

from ..conftest import wait_for_job
from ..workers import Worker, flush_queues

pytestmark = pytest.mark.django_db(transaction=True)

LONG_GENERATION = {"text": ["Once upon a time"] * 4, "min_length": 512, "max_length": 512, "do_sample": False}


def submit(user, kind: str, model: str | None, **data) -> InferenceJob:
    return job_submit(user=user, api_key=None, kind_name=kind, model_id=model, data=data,
                               allow_internal=True)


def wait_for(predicate, *, timeout: float = 60.0, what: str = "the condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what} did not happen within {timeout} s")


def wait_until_running(job: InferenceJob) -> InferenceJob:
    return wait_for(lambda: InferenceJob.objects.filter(id=job.id, status=JobStatus.RUNNING).first(),
                    what=f"job {job.id} starting")


@pytest.fixture
def own_worker(celery_worker):
    """Start workers of a test's own (the session's worker steps aside); all are stopped afterwards."""
    celery_worker.stop()
    flush_queues()
    started: list[Worker] = []

    def start(name: str, **env: str) -> Worker:
        worker = Worker(name=name, pool="threads", concurrency=8,
                        extra_env={"BATCH_WAIT_MS": "300", **env}).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.kill()
    celery_worker.start()


def test_cancelling_a_running_generation_stops_it_and_charges_what_it_used(own_worker, tiny_models, user):
    own_worker("generation", WORKER_PRELOAD_MODELS="tiny-gpt2")
    full = wait_for_job(submit(user, "text-generation", "tiny-gpt2", **LONG_GENERATION).id, timeout=180)
    assert full.status == JobStatus.SUCCEEDED and full.compute_ms > 0

    job = submit(user, "text-generation", "tiny-gpt2", **LONG_GENERATION)
    wait_until_running(job)
    time.sleep(full.compute_ms / 1000 / 10)
    job_cancel(job=job)
    released = wait_for(lambda: InferenceJob.objects.filter(id=job.id, released_at__isnull=False).first(),
                        timeout=120, what="the worker letting go of the cancelled job")
    assert released.status == JobStatus.CANCELLED and released.output is None
    assert not InferenceJob.objects.filter(owner=user, status__in=(JobStatus.QUEUED, JobStatus.RUNNING)).exists()
    # The generation stopped between tokens: it used a fraction of what the whole job takes,
    # and that fraction is recorded and charged.
    assert 0 < released.compute_ms < full.compute_ms / 2, (released.compute_ms, full.compute_ms)
    month = usage_total(user=user, since=timezone.now().replace(day=1, hour=0, minute=0, second=0))
    assert month["compute_seconds"] == pytest.approx((full.compute_ms + released.compute_ms) / 1000, abs=0.002)


def test_a_cancelled_job_in_a_running_batch_keeps_its_slot_until_the_batch_ends(own_worker, user):
    from inference.jobs.selectors import jobs_in_flight

    jobs = [submit(user, "echo", None, text=f"job {i}", sleep_ms=1000) for i in range(6)]
    own_worker("batch", BATCH_WAIT_MS="500")  # the jobs arriving while the first runs share a batch

    def running_batch():
        rows = list(InferenceJob.objects.filter(owner=user, status=JobStatus.RUNNING))
        starts = [row.started_at for row in rows]
        return next((row for row in rows if starts.count(row.started_at) > 1), None)

    running = wait_for(running_batch, what="a batch of several jobs running")
    job_cancel(job=running)
    time.sleep(0.3)
    # The batch goes on for the jobs still wanted; the cancelled one still holds a worker.
    held = InferenceJob.objects.get(id=running.id)
    assert held.status == JobStatus.CANCELLED and held.released_at is None
    assert jobs_in_flight(user=user) == InferenceJob.objects.filter(
        owner=user, status__in=(JobStatus.QUEUED, JobStatus.RUNNING)).count() + 1
    for job in jobs:
        if job.id != running.id:
            assert wait_for_job(job.id).status == JobStatus.SUCCEEDED
    cancelled = InferenceJob.objects.get(id=running.id)
    assert cancelled.status == JobStatus.CANCELLED and cancelled.output is None
    assert cancelled.released_at is not None and cancelled.compute_ms > 0
    assert jobs_in_flight(user=user) == 0


def test_a_job_longer_than_the_old_limit_runs_exactly_once(own_worker, user, settings):
    own_worker("long", JOB_HEARTBEAT_INTERVAL_S="0.3")
    settings.JOB_HARD_TIME_LIMIT_S = 0  # the old sweeper re-queued whatever ran longer than this (+5 s)
    settings.JOB_HEARTBEAT_STALE_S = 2
    job = submit(user, "echo", None, text="slow and steady", sleep_ms=7000)
    wait_until_running(job)
    swept = {"requeued": 0, "failed": 0}
    while not InferenceJob.objects.get(id=job.id).is_terminal:
        counts = jobs_sweep()
        swept = {key: swept[key] + counts[key] for key in swept}
        time.sleep(0.3)
    job = InferenceJob.objects.get(id=job.id)
    assert swept == {"requeued": 0, "failed": 0}
    assert (job.status, job.attempts, job.output) == (JobStatus.SUCCEEDED, 1, {"output": "slow and steady"})


def test_a_job_past_its_deadline_is_stopped_and_fails_with_a_reason(own_worker, user):
    own_worker("deadline", JOB_SOFT_TIME_LIMIT_S="2")
    started = time.monotonic()
    job = wait_for_job(submit(user, "echo", None, text="too slow", sleep_ms=60_000).id)
    assert time.monotonic() - started < 30  # stopped at its deadline, not after its minute
    assert job.status == JobStatus.FAILED
    assert "longer than the limit of 2 s" in job.error


def test_a_stopping_worker_hands_its_running_jobs_back(own_worker, user):
    doomed = own_worker("stopping")
    job = submit(user, "echo", None, text="handed back", sleep_ms=8000)
    wait_until_running(job)
    stopped_at = time.monotonic()
    doomed.stop()  # SIGTERM: a warm shutdown
    assert time.monotonic() - stopped_at < 6  # it did not wait for the job's 8 s
    back = InferenceJob.objects.get(id=job.id)
    assert (back.status, back.attempts, back.started_at) == (JobStatus.QUEUED, 0, None)
    own_worker("successor")
    job = wait_for_job(job.id)
    assert (job.status, job.attempts, job.output) == (JobStatus.SUCCEEDED, 1, {"output": "handed back"})


def test_loading_the_model_is_recorded_apart_and_not_charged(own_worker, tiny_models, user, api_client):
    own_worker("cold")  # a fresh process: nothing loaded
    cold = api_client.post("/api/emotion", {"text": "first", "model": "tiny-emotion"}, format="json")
    warm = api_client.post("/api/emotion", {"text": "second", "model": "tiny-emotion"}, format="json")
    assert cold.status_code == warm.status_code == 200
    assert int(cold["X-Load-Ms"]) > 0 and "X-Load-Ms" not in warm
    first = InferenceJob.objects.get(id=cold["X-Job-Id"])
    assert first.load_ms == int(cold["X-Load-Ms"])
    assert first.compute_ms < first.load_ms  # loading a model costs more than one tiny forward pass
    body = api_client.get(f"/api/jobs/{first.id}").json()
    assert (body["load_ms"], body["compute_ms"]) == (first.load_ms, first.compute_ms)
    month = usage_total(user=user, since=timezone.now().replace(day=1, hour=0, minute=0, second=0))
    assert month["load_seconds"] == pytest.approx(first.load_ms / 1000, abs=0.002)
    assert month["compute_seconds"] < month["load_seconds"]


def test_a_database_connection_lost_mid_job_is_retried_not_forgotten(own_worker, user):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("kills the worker's PostgreSQL connections (CI runs the suite on PostgreSQL)")
    own_worker("db-fault", JOB_HEARTBEAT_INTERVAL_S="0.2")
    job = submit(user, "echo", None, text="survives", sleep_ms=1500)
    wait_until_running(job)
    with connection.cursor() as cursor:  # the server drops every other connection of this database
        cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                       "WHERE datname = current_database() AND pid <> pg_backend_pid()")
    job = wait_for_job(job.id, timeout=30)
    assert (job.status, job.attempts, job.output) == (JobStatus.SUCCEEDED, 1, {"output": "survives"})
    # The worker goes on serving.
    assert wait_for_job(submit(user, "echo", None, text="after").id).status == JobStatus.SUCCEEDED


def _run_starts(path) -> list[tuple[str, int]]:
    """(job id, pid) of each run the run log saw start."""
    lines = [line.split() for line in path.read_text().splitlines()] if path.exists() else []
    return [(job_id, int(pid)) for event, job_id, _attempt, pid, _t in lines if event == "start"]


def as_if_their_worker_died(jobs: list[InferenceJob]) -> None:
    """Queued again after their worker died running them: one attempt counted (what the sweeper leaves)."""
    InferenceJob.objects.filter(id__in=[job.id for job in jobs]).update(attempts=1)


def test_retried_jobs_in_their_own_process_still_end_once_cancelled_or_past_their_deadline(own_worker, user,
                                                                                            tmp_path):
    """A job claimed again after its worker died runs in the worker's child process (one at a time); cancelled
    while it runs, cancelled while it waits its turn, or past its deadline, each ends once, with its reason."""
    from inference.jobs.selectors import jobs_in_flight

    run_log = tmp_path / "runs.log"
    jobs = [submit(user, "echo", None, text=f"retried {i}", sleep_ms=120_000) for i in range(3)]
    as_if_their_worker_died(jobs)
    worker = own_worker("quarantined", JOB_SOFT_TIME_LIMIT_S="25", JOB_RUN_LOG=str(run_log))
    first = wait_for(lambda: _run_starts(run_log), timeout=120, what="the first retried job starting")[0]
    running = next(job for job in jobs if str(job.id) == first[0])
    waiting, slow = (job for job in jobs if job.id != running.id)
    assert first[1] != worker.process.pid  # it runs in a process of its own
    job_cancel(job=waiting)  # its turn has not come: it never runs
    time.sleep(0.5)
    job_cancel(job=running)  # stops between two of its sleeps, in the child process
    slow = wait_for_job(slow.id, timeout=120)
    assert slow.status == JobStatus.FAILED and "longer than the limit of 25 s" in slow.error
    assert slow.attempts == 2 and slow.released_at is not None
    running = wait_for(lambda: InferenceJob.objects.filter(id=running.id, released_at__isnull=False).first(),
                       what="the cancelled job's release")
    assert (running.status, running.output, running.attempts) == (JobStatus.CANCELLED, None, 2)
    assert running.compute_ms > 0  # what it used is charged
    waiting = InferenceJob.objects.get(id=waiting.id)
    assert waiting.status == JobStatus.CANCELLED and waiting.released_at is not None
    starts = [job_id for job_id, _pid in _run_starts(run_log)]
    assert sorted(starts) == sorted([str(running.id), str(slow.id)])  # each ran once, the waiting one never
    assert jobs_in_flight(user=user) == 0


def test_a_retried_job_that_outlives_the_hard_limit_is_killed_and_fails(own_worker, user):
    """The soft deadline is the job's own to notice; a child process still busy after JOB_HARD_TIME_LIMIT_S
    is killed, and its job fails with that reason (the worker's next retried job gets a new child)."""
    stuck, after = submit(user, "echo", None, text="stuck", sleep_ms=60_000), submit(user, "echo", None, text="next")
    as_if_their_worker_died([stuck, after])
    own_worker("hard-limit", JOB_SOFT_TIME_LIMIT_S="120", JOB_HARD_TIME_LIMIT_S="5")
    stuck = wait_for_job(stuck.id, timeout=120)
    assert stuck.status == JobStatus.FAILED
    assert stuck.error == "The job took longer than the limit of 5 s and was stopped (JOB_HARD_TIME_LIMIT_S)."
    after = wait_for_job(after.id, timeout=120)
    assert (after.status, after.attempts, after.output) == (JobStatus.SUCCEEDED, 2, {"output": "next"})


def test_a_stopping_worker_hands_back_the_retried_job_running_in_its_own_process(own_worker, user, tmp_path):
    """A warm shutdown (SIGTERM to the worker's process group) is not a crash: the child process running a
    retried job is stopped, and the job goes back to its queue without losing an attempt."""
    run_log = tmp_path / "runs.log"
    job = submit(user, "echo", None, text="handed back again", sleep_ms=8000)
    as_if_their_worker_died([job])
    doomed = own_worker("stopping-quarantine", JOB_RUN_LOG=str(run_log))
    wait_for(lambda: _run_starts(run_log), timeout=120, what="the retried job starting in its own process")
    stopped_at = time.monotonic()
    doomed.stop()
    assert time.monotonic() - stopped_at < 6  # it did not wait for the job's 8 s
    back = InferenceJob.objects.get(id=job.id)
    assert (back.status, back.attempts, back.started_at) == (JobStatus.QUEUED, 1, None)
    own_worker("successor-quarantine")
    job = wait_for_job(job.id, timeout=120)
    assert (job.status, job.attempts, job.output) == (JobStatus.SUCCEEDED, 2, {"output": "handed back again"})
