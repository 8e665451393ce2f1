"""Several jobs submitted in one call (``jobs_submit``): each keeps its own outcome, limits count across them,
and the jobs of one queue travel in one message that a worker runs as one batch."""

from __future__ import annotations

import pytest
import redis

from inference.catalog import catalog_get
from inference.errors import InvalidInput, LimitReached, NotFound
from inference.jobs import JobRequest, jobs_submit
from inference.models import InferenceJob, JobStatus

from ..conftest import wait_for_job
from ..ops.conftest import redis_server, use_broker  # noqa: F401 - fixtures: a broker no worker reads

pytestmark = pytest.mark.django_db(transaction=True)


def emotion(user, text: str, **extra) -> JobRequest:
    return JobRequest(user=user, api_key=None, kind_name="emotion", model_id="tiny-emotion",
                      data={"text": text, **extra})


def test_each_request_gets_its_own_outcome_and_the_in_flight_cap_counts_across_them(
        user, other_user, tiny_models, redis_server, use_broker):  # noqa: F811
    broker_server = redis_server()
    use_broker(broker_server.url)
    requests = [emotion(user, "one"), emotion(user, "two"), emotion(user, "three"),
                emotion(other_user, "another user's"), emotion(user, ""),  # an empty text: refused alone
                JobRequest(user=user, api_key=None, kind_name="emotion", model_id="no-such-model", data={"text": "x"}),
                emotion(user, "four")]
    outcomes = jobs_submit(requests=requests, max_in_flight=2)
    first, second, third, others, empty, unknown, fourth = outcomes
    assert isinstance(first, InferenceJob) and first.input["text"] == "one" and first.owner == user
    assert isinstance(second, InferenceJob) and second.input["text"] == "two"
    assert isinstance(third, LimitReached) and third.code == "too_many_jobs"  # the cap of 2, counted across
    assert isinstance(fourth, LimitReached)
    assert isinstance(others, InferenceJob) and others.owner == other_user  # another user has a cap of their own
    assert isinstance(empty, InvalidInput) and empty.field == "text"
    assert isinstance(unknown, NotFound) and unknown.code == "unknown_model"
    queued = InferenceJob.objects.filter(status=JobStatus.QUEUED)
    assert sorted(job.input["text"] for job in queued) == ["another user's", "one", "two"]
    # The three jobs of one queue left as one message.
    assert redis.Redis.from_url(broker_server.url).llen(catalog_get("tiny-emotion").queue) == 1


def test_a_message_of_several_jobs_runs_them_in_one_batch_each_with_its_own_result(celery_worker, user):
    texts = ["I love it", "I hate it", "meh", "what a day"]
    jobs = jobs_submit(requests=[emotion(user, text, scores=True) for text in texts])
    done = [wait_for_job(job.id) for job in jobs]
    assert [job.status for job in done] == [JobStatus.SUCCEEDED] * 4, [job.error for job in done]
    assert {job.batch_size for job in done} == {4}
    assert len({job.started_at for job in done}) == 1  # one claim, one forward pass
    assert all(set(job.output) == {"emotion", "scores"} for job in done)
    # Each result is its own input's: scored alone, each text gets the scores it got in the batch.
    from tests.inference.test_batching import emotion_alone

    for text, job in zip(texts, done, strict=True):
        assert job.output["scores"] == pytest.approx(emotion_alone(text)["scores"], abs=2e-4)


def test_rows_written_and_claimed_by_the_job_statements_read_as_the_orm_reads_them(
        user, tiny_models, redis_server, use_broker):  # noqa: F811
    """``jobs_insert`` writes what ``bulk_create`` would, and the claim's ``RETURNING`` rows come back as the
    ORM reads them (dates aware, the id a UUID, the input decoded JSON), each field equal to a fresh read."""
    from django.utils import timezone

    from inference.jobs.execute import job_claim_batch

    use_broker(redis_server().url)
    [job] = jobs_submit(requests=[emotion(user, "naïve café ☕ \"quoted\"", scores=True)], max_in_flight=None)
    assert isinstance(job, InferenceJob)
    stored = InferenceJob.objects.get(id=job.id)
    fields = [field.attname for field in InferenceJob._meta.concrete_fields]
    assert {name: getattr(stored, name) for name in fields} == {name: getattr(job, name) for name in fields}
    assert stored.created_at is not None and stored.status == JobStatus.QUEUED
    [claimed] = job_claim_batch(job_ids=[job.id], now=timezone.now())
    fresh = InferenceJob.objects.get(id=job.id)
    assert fresh.status == JobStatus.RUNNING and fresh.attempts == 1
    assert {name: getattr(claimed, name) for name in fields} == {name: getattr(fresh, name) for name in fields}
    assert claimed.input["text"] == "naïve café ☕ \"quoted\"" and claimed.started_at.tzinfo is not None
    assert job_claim_batch(job_ids=[job.id], now=timezone.now()) == []  # claimed once
