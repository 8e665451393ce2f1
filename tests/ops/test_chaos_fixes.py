"""What ``make chaos`` found and needed, tested in the ordinary suite (docs/chaos.md).

- a job retried after its worker died runs alone, so a poison job cannot take its batch mates down on
  every attempt (they would all fail after JOB_MAX_ATTEMPTS with it);
- echo's ``crash`` input (the poison job) is refused unless ECHO_CRASH_ENABLED is on;
- the run log (JOB_RUN_LOG) has a start and an end line for each job's run, with its attempt and pid.
"""

from __future__ import annotations

import os

import pytest
from django.db import transaction

from api.errors import error_status
from inference import jobs as services
from inference.errors import ApiError
from inference.models import InferenceJob, JobStatus

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
