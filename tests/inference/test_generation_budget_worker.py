"""Generation batches are formed by a token budget: a real threads worker never runs more new tokens at once."""

import pytest

from inference.models import JobStatus

from ..conftest import wait_for_job
from ..workers import Worker, flush_queues
from .test_batching import submit

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def budget_worker(celery_worker, tiny_models):
    """A threads worker with a wide gathering window and a 200-token generation budget a batch."""
    celery_worker.stop()
    flush_queues()
    worker = Worker(name="budget", pool="threads", concurrency=32,
                    extra_env={"BATCH_WAIT_MS": "300", "BATCH_MAX_SIZE": "32", "GENERATION_BATCH_TOKEN_BUDGET": "200",
                               "WORKER_PRELOAD_MODELS": "tiny-gpt2"}).start()
    yield worker
    worker.stop()
    celery_worker.start()


def test_generation_batches_keep_the_token_budget(budget_worker, user):
    # each job: 2 texts × 1 sequence × 50 new tokens = 100; the budget fits two jobs a batch
    jobs = [submit(user, "text-generation", "tiny-gpt2", text=[f"Once {i}", f"Then {i}"], min_length=1,
                   max_length=50, do_sample=False) for i in range(8)]
    done = [wait_for_job(job.id) for job in jobs]
    assert all(job.status == JobStatus.SUCCEEDED for job in done), [job.error for job in done]
    sizes = [job.batch_size for job in done]
    assert max(sizes) == 2, sizes  # they did share, and no batch passed 200 tokens
