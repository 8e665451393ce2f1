"""What ``make chaos`` found and needed, tested in the ordinary suite (docs/chaos.md).

- a job retried after its worker died runs alone, so a poison job cannot take its batch mates down on
  every attempt (they would all fail after JOB_MAX_ATTEMPTS with it);
- ... and runs in a child process of its worker, so the jobs in flight in the worker process a poison job
  killed once lose no more attempts with it, and the worker lives on;
- echo's ``crash`` input (the poison job) is refused unless ECHO_CRASH_ENABLED is on;
- the run log (JOB_RUN_LOG) has a start and an end line for each job's run, with its attempt and pid.
"""

from __future__ import annotations

import os
import time

import pytest
from django.db import transaction

from api.errors import error_status
from inference import jobs as services
from inference.errors import ApiError
from inference.models import InferenceJob, JobStatus

from ..workers import Worker, flush_queues

pytestmark = pytest.mark.django_db(transaction=True)


def echo(user, **data) -> InferenceJob:
    return services.job_submit(user=user, api_key=None, kind_name="echo", model_id=None,
                               data={"text": "hello", **data}, allow_internal=True)


def as_if_its_worker_died(job: InferenceJob) -> None:
    """What the sweeper leaves after a worker died running the job: queued again, one attempt counted."""
    InferenceJob.objects.filter(id=job.id).update(attempts=1)


def test_a_job_whose_worker_died_runs_alone_and_the_others_share_a_batch(user):
    # Run here before the submission commits: a session worker started by an earlier test never sees them.
    with transaction.atomic():
        fresh = [echo(user, text=f"fresh {i}") for i in range(3)]
        retried = echo(user, text="retried")
        as_if_its_worker_died(retried)
        services.jobs_run(job_ids=[job.id for job in [*fresh, retried]])
    retried.refresh_from_db()
    assert retried.status == JobStatus.SUCCEEDED and retried.attempts == 2
    assert retried.batch_size == 1
    for job in fresh:
        job.refresh_from_db()
        assert job.status == JobStatus.SUCCEEDED and job.output == {"output": job.input["text"]}
        assert job.batch_size == 3


def test_the_crash_input_is_refused_unless_fault_testing_turns_it_on(user, settings):
    settings.ECHO_CRASH_ENABLED = False
    with pytest.raises(ApiError) as refused:
        echo(user, crash=True)
    assert error_status(refused.value) == 400 and refused.value.field == "crash"
    settings.ECHO_CRASH_ENABLED = True
    assert echo(user, crash=True).input["crash"] is True  # accepted (not run here: it would kill pytest)


def test_the_run_log_has_a_start_and_an_end_for_each_run(user, settings, tmp_path):
    settings.JOB_RUN_LOG = str(tmp_path / "runs.log")
    with transaction.atomic():  # run here, before a session worker could take them
        jobs = [echo(user, text=f"logged {i}") for i in range(2)]
        services.jobs_run(job_ids=[job.id for job in jobs])
    lines = [line.split() for line in (tmp_path / "runs.log").read_text().splitlines()]
    assert sorted((event, job_id) for event, job_id, *_ in lines) == sorted(
        (event, str(job.id)) for job in jobs for event in ("start", "end"))
    assert {(attempt, pid) for _e, _j, attempt, pid, _t in lines} == {("1", str(os.getpid()))}
    starts = {job_id: float(t) for event, job_id, _a, _p, t in lines if event == "start"}
    ends = {job_id: float(t) for event, job_id, _a, _p, t in lines if event == "end"}
    assert all(starts[job_id] <= ends[job_id] for job_id in starts)


def test_a_database_that_does_not_answer_makes_an_api_call_503_json_not_500(api_client):
    """PostgreSQL restarting (``make chaos``'s postgres-restart) answered 500 HTML-less errors before."""
    from django.db import connection

    saved = dict(connection.settings_dict)
    connection.close()
    if connection.vendor == "sqlite":
        connection.settings_dict["NAME"] = "/nonexistent-folder/db.sqlite3"
    else:
        connection.settings_dict["PORT"] = "1"  # nothing listens there: connection refused
    try:
        response = api_client.post("/api/emotion", {"text": "hello"}, format="json")
    finally:
        connection.close()
        connection.settings_dict.update(saved)
    assert response.status_code == 503
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["error"]["code"] == "service_unavailable"
    assert "database" in response.json()["error"]["message"]
    assert response["Retry-After"] == "5"


# Seconds of work on tiny-gpt2 (512 steps of 4 beams for 8 texts: GENERATION_MAX_TOKENS_PER_REQUEST), still
# running when the poison job, started after it, kills their process.
LONG_GENERATION = {"text": ["Once upon a time"] * 8, "min_length": 512, "max_length": 512, "num_beams": 4,
                   "do_sample": False}


def _runs(path) -> list[tuple[str, str, int, int]]:
    """(event, job id, attempt, pid) of each line of the run log."""
    lines = [line.split() for line in path.read_text().splitlines()] if path.exists() else []
    return [(event, job_id, int(attempt), int(pid)) for event, job_id, attempt, pid, _t in lines]


def _wait(predicate, what: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout} s"
        time.sleep(0.05)
    return value


def test_a_poison_job_is_charged_alone_and_its_worker_survives_its_retries(celery_worker, tiny_models, user,
                                                                            settings, tmp_path):
    """make chaos (poison-job): every job in flight in the worker process that a poison job killed lost an
    attempt each time, so an ordinary job failed after JOB_MAX_ATTEMPTS with the poison. Its first attempt
    still kills the worker (nobody knows yet), but a job claimed again runs in a child process of its own:
    the poison job fails alone, the job that shared its process then succeeds, and the worker lives on."""
    settings.ECHO_CRASH_ENABLED = True
    settings.JOB_HEARTBEAT_STALE_S = 3  # the sweeper below finds the dead worker's jobs in seconds
    run_log = tmp_path / "runs.log"
    env = {"ECHO_CRASH_ENABLED": "1", "JOB_HEARTBEAT_INTERVAL_S": "0.3", "JOB_RUN_LOG": str(run_log),
           "WORKER_PRELOAD_MODELS": "tiny-gpt2", "BATCH_WAIT_MS": "50"}
    celery_worker.stop()  # only this test's workers take the jobs
    flush_queues()
    workers: list[Worker] = []

    def start() -> Worker:  # what a supervisor (systemd's Restart=always) does
        workers.append(Worker(name=f"poisoned-{len(workers)}", pool="threads", concurrency=8,
                              extra_env=env).start(timeout=120))
        return workers[-1]

    try:
        start()
        innocent = services.job_submit(user=user, api_key=None, kind_name="text-generation", model_id="tiny-gpt2",
                                       data=LONG_GENERATION)
        _wait(lambda: InferenceJob.objects.filter(id=innocent.id, status=JobStatus.RUNNING).exists(),
              "the generation starting")
        poison = echo(user, crash=True, sleep_ms=200)  # another batch (another model), same process
        _wait(lambda: workers[0].process.poll() is not None, "the poison job killing its worker")
        survivor = start()
        fresh = echo(user, text="fresh")  # a first attempt: runs in the worker process itself, batched
        deadline = time.monotonic() + 300
        while not all(InferenceJob.objects.get(id=job.id).is_terminal for job in (innocent, poison, fresh)):
            assert time.monotonic() < deadline, "the jobs did not end"
            services.jobs_sweep()  # the sweeper: jobs whose worker died go back to their queue, or fail
            if workers[-1].process.poll() is not None:
                start()  # it died again (on each of the poison job's attempts, before the fix)
            time.sleep(0.3)
        survived = survivor.process.poll() is None
    finally:
        for worker in workers:
            worker.kill()
        celery_worker.start()
    innocent, poison, fresh = (InferenceJob.objects.get(id=job.id) for job in (innocent, poison, fresh))
    assert (innocent.status, innocent.error) == (JobStatus.SUCCEEDED, ""), innocent.error
    assert innocent.attempts == 2  # charged once: the first death, when nobody could know
    assert (poison.status, poison.attempts) == (JobStatus.FAILED, settings.JOB_MAX_ATTEMPTS)
    assert poison.error == (f"The job failed after {settings.JOB_MAX_ATTEMPTS} attempts: "
                            "the worker running it stopped before it finished.")
    assert (fresh.status, fresh.attempts, fresh.output) == (JobStatus.SUCCEEDED, 1, {"output": "fresh"})
    assert survived and len(workers) == 2, f"{len(workers) - 1} worker deaths"
    starts = [(job_id, attempt, pid) for event, job_id, attempt, pid in _runs(run_log) if event == "start"]
    pid = survivor.process.pid
    assert (str(fresh.id), 1, pid) in starts  # a first attempt keeps the fast path
    retried = [(job_id, run_pid) for job_id, attempt, run_pid in starts if attempt > 1]
    assert sorted(job_id for job_id, _ in retried) == sorted([str(innocent.id), str(poison.id), str(poison.id)])
    assert all(run_pid != pid for _, run_pid in retried)  # each retry ran in a child process
