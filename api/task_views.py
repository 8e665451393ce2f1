"""The task endpoints, ``POST /api/<task kind>``: async views that wait on Redis.

Authentication, validation and submission run in a worker thread (they touch
the database); waiting for the job is awaited in the event loop, so many
waiting requests hold neither a process nor a thread.

Waiting: by default up to ``API_WAIT_DEFAULT_S``, then 202 with the job's
``Location``. ``Prefer: wait=N`` sets the wait (at most ``API_WAIT_MAX_S``);
``Prefer: respond-async`` answers 202 at once. text-generation streams
server-sent events with ``"stream": true`` or ``Accept: text/event-stream``;
closing the connection cancels the job.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions

from inference import jobs as services
from inference.models import InferenceJob, JobStatus
from inference.registry import kind_get

from .authentication import INVALID_KEY_MESSAGE, ApiKeyAuthentication
from .errors import error_response
from .limits import LimitExceeded, allowance_check, queue_depth_check, rate_limit_check
from .parsing import BodyError, read_body
from .serializers import job_json
from .waiting import inbox_open, job_read, job_stream_events, run_sync, wait_for_job

_WAIT = re.compile(r"(?:^|[,;\s])wait=(\d+(?:\.\d+)?)")


@dataclass
class Submitted:
    job: InferenceJob | None = None
    error: HttpResponse | None = None


def _unauthorized() -> JsonResponse:
    return error_response(401, "invalid_api_key", INVALID_KEY_MESSAGE,
                          headers={"WWW-Authenticate": 'ApiKey header="x-api-key"'})


def _authenticate(request: HttpRequest) -> tuple[Any, Any] | HttpResponse:
    """(user, api key) from x-api-key, or (user, None) from the sandbox's session (CSRF-checked)."""
    if request.META.get("HTTP_X_API_KEY"):
        try:
            found = ApiKeyAuthentication().authenticate(request)
        except exceptions.AuthenticationFailed:
            return _unauthorized()
        if found:
            return found
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        check = CsrfViewMiddleware(lambda r: None)
        check.process_request(request)
        rejected = check.process_view(request, None, (), {})
        if rejected is not None:
            return error_response(403, "csrf_failed", "The sandbox session needs a CSRF token (X-CSRFToken header).")
        return user, None
    return _unauthorized()


def _submit(request: HttpRequest, kind_name: str, job_id: uuid.UUID | None = None) -> Submitted:
    kind = kind_get(kind_name)
    if kind is None or kind.internal:
        return Submitted(error=error_response(404, "unknown_task_kind", f"No task kind '{kind_name}'."))
    auth = _authenticate(request)
    if isinstance(auth, HttpResponse):
        return Submitted(error=auth)
    user, api_key = auth
    try:
        rate_limit_check(subject=f"key:{api_key.prefix}" if api_key else f"user:{user.pk}")
        data = read_body(request, kind)
        model_id = data.pop("model", None)
        if model_id is not None and not isinstance(model_id, str):
            raise BodyError(400, "invalid", "model: must be a string (a model id)", field="model")
        if model_id is not None and ("\x00" in model_id or len(model_id) > 200):
            raise BodyError(404, "unknown_model", "Unknown model.", field="model")
        if request.headers.get("Accept", "").startswith("text/event-stream") and kind.streams:
            data["stream"] = True
        allowance_check(user=user)
        queue_depth_check(model_id=model_id or kind.default_model, user=user)
        job = services.job_submit(user=user, api_key=api_key, kind_name=kind.name, model_id=model_id, data=data,
                                  max_in_flight=settings.API_MAX_JOBS_IN_FLIGHT, job_id=job_id)
    except BodyError as exc:
        fields = {exc.field: [exc.message]} if exc.field else None
        return Submitted(error=error_response(exc.status, exc.code, exc.message, fields=fields))
    except LimitExceeded as exc:
        return Submitted(error=error_response(exc.status, exc.code, exc.message,
                                              headers={"Retry-After": str(exc.retry_after)}))
    except services.JobRejected as exc:
        fields = {exc.field: [exc.message]} if exc.field else None
        return Submitted(error=error_response(exc.status, exc.code, exc.message, fields=fields, headers=exc.headers))
    return Submitted(job=job)


def _wait_seconds(request: HttpRequest) -> float:
    prefer = request.headers.get("Prefer", "")
    if "respond-async" in prefer:
        return 0.0
    match = _WAIT.search(prefer)
    wait = float(match.group(1)) if match else settings.API_WAIT_DEFAULT_S
    return min(wait, settings.API_WAIT_MAX_S)


def _accepted(job: InferenceJob) -> JsonResponse:
    location = reverse("api:job-detail", args=[job.id])
    response = JsonResponse(job_json(job), status=202)
    response["Location"] = location
    response["Retry-After"] = "1"
    return response


def job_result_response(job: InferenceJob) -> JsonResponse:
    """A finished job as the task endpoint answers it: the Backprop body, or an error."""
    if job.status == JobStatus.SUCCEEDED:
        response = JsonResponse(job.output, status=200)
    elif job.status == JobStatus.CANCELLED:
        response = error_response(409, "job_cancelled", "The job was cancelled.")
    else:
        response = error_response(422, "job_failed", job.error or "The job failed.")
    response["X-Job-Id"] = str(job.id)
    response["X-Model"] = job.model_id
    if job.queue_ms is not None:
        response["X-Queue-Ms"] = str(job.queue_ms)
    if job.compute_ms is not None:
        response["X-Compute-Ms"] = str(job.compute_ms)
    if job.load_ms:
        response["X-Load-Ms"] = str(job.load_ms)  # the model was loaded for this job (not charged)
    return response


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


async def _stream(job: InferenceJob):
    """Server-sent events: ``job``, then ``text`` as it is written, then ``done`` (or ``error``)."""
    finished = False
    try:
        yield _sse("job", {"id": str(job.id), "status": job.status, "model": job.model_id})
        previous = ""
        async for message in job_stream_events(job.id, timeout=settings.JOB_HARD_TIME_LIMIT_S + 30):
            if message["event"] == "text":
                text = message.get("output", "")
                yield _sse("text", {"delta": text[len(previous):] if text.startswith(previous) else text,
                                    "output": text})
                previous = text
            elif message["event"] == "done":
                finished = True
                ended: InferenceJob = message["job"]
                if ended.status == JobStatus.SUCCEEDED:
                    yield _sse("done", {**ended.output, "id": str(ended.id), "compute_ms": ended.compute_ms,
                                        "queue_ms": ended.queue_ms, "load_ms": ended.load_ms})
                else:
                    yield _sse("error", {"id": str(ended.id), "status": ended.status,
                                         "message": ended.error or ended.status})
                return
        yield _sse("error", {"id": str(job.id), "status": "timeout", "message": "The job did not finish in time."})
    finally:
        if not finished:
            # The client went away (or the wait timed out): stop generating for nobody.
            await sync_to_async(services.job_cancel)(job=job)


@csrf_exempt
async def task_endpoint(request: HttpRequest, kind_name: str) -> HttpResponse:
    """``POST /api/<task kind>``: run a job and answer with its result (or 202)."""
    if request.method != "POST":
        response = error_response(405, "method_not_allowed", f"Use POST /api/{kind_name}.")
        response["Allow"] = "POST"
        return response
    # Listen before submitting: the job's "done" message cannot be missed, and
    # the row need not be read before waiting.
    wait = _wait_seconds(request)
    job_id = uuid.uuid4()
    inbox = await inbox_open(job_id) if wait > 0 else None
    try:
        submitted = await run_sync(_submit)(request, kind_name, job_id)
        if submitted.error is not None:
            return submitted.error
        job = submitted.job
        if job.input.get("stream"):
            # The stream is read later, possibly on another event loop (Django's test
            # client), so it listens on its own connection and reads the row first.
            response = StreamingHttpResponse(_stream(job), content_type="text/event-stream")
            response["Cache-Control"] = "no-cache"
            response["X-Accel-Buffering"] = "no"
            response["X-Job-Id"] = str(job.id)
            return response
        if inbox is None:
            return _accepted(job)
        # A client that leaves cancels this wait, not the job: it can be fetched by id.
        ended = await wait_for_job(job.id, inbox, timeout=wait)
    finally:
        if inbox is not None:
            await inbox.close()
    if ended is None:
        return _accepted(await job_read(job.id))
    return job_result_response(ended)
