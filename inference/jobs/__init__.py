"""Jobs: the engine's face to the apps. Submit, run, recover, read.

- ``submit``: validate a request, record the job, enqueue its Celery task (web side);
- ``routing``: a job's route, sent with its message for the worker's batcher;
- ``execute``: claim, run and record jobs on a worker, alone or in batches;
- ``outcomes``: write each job's outcome once, under its claim, and publish it;
- ``quarantine``: a job claimed again after its worker died runs in a child process of its own;
- ``control``: when a running batch stops (cancelled, past its deadline, worker stopping);
- ``recovery``: re-queue or fail, cancel, and the sweeper that rescues jobs whose worker died;
- ``retention``: a finished job's input and result are deleted after ``JOB_DATA_RETENTION_DAYS``;
- ``selectors``: reads: resolving a model (the catalog's or the user's own), listing jobs;
- ``events``: job events and cancel flags over Redis.

The Celery tasks (``inference/tasks.py``) are thin and call these; the database
row is the source of truth. Users' own models are ``inference.uploads``.
"""

from .execute import (
    TRANSIENT_ERRORS,
    JobCancelled,
    job_claim,
    job_claim_batch,
    job_run,
    job_stream_callback,
    jobs_run,
)
from .outcomes import DB_ERRORS, jobs_finish
from .recovery import job_cancel, job_requeue_or_fail, jobs_hand_back, jobs_resend, jobs_sweep
from .retention import jobs_purge_data
from .submit import RUN_JOB, RUN_JOBS, JobRequest, job_enqueue, job_prepare, job_submit, jobs_submit

__all__ = [
    "DB_ERRORS",
    "TRANSIENT_ERRORS",
    "JobCancelled",
    "RUN_JOB",
    "RUN_JOBS",
    "JobRequest",
    "job_cancel",
    "job_claim",
    "job_claim_batch",
    "job_enqueue",
    "job_prepare",
    "job_requeue_or_fail",
    "job_run",
    "job_stream_callback",
    "job_submit",
    "jobs_finish",
    "jobs_hand_back",
    "jobs_resend",
    "jobs_purge_data",
    "jobs_run",
    "jobs_submit",
    "jobs_sweep",
]
