"""The task endpoints, ``POST /api/<task kind>``: one async DRF view (adrf) that waits on Redis.

DRF's checks (authentication, permission, the rate throttle) and the
submission run on the event loop's thread pool (they touch the database);
waiting for the job is awaited in the event loop, so many waiting requests
hold neither a process nor a thread.

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
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from adrf.views import APIView as AsyncAPIView
from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpResponse, StreamingHttpResponse
from django.urls import reverse
from rest_framework.exceptions import MethodNotAllowed
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request

from inference import jobs as services
from inference.errors import ApiError, Conflict, InvalidInput, JobFailed, NotFound
from inference.jobs import JobRequest
from inference.kinds.base import TaskKind
from inference.models import InferenceJob, JobStatus
from inference.registry import kind_get

from .authentication import ApiKeyAuthentication, TaskSessionAuthentication
from .errors import api_error_response
from .limits import ApiKeyRateThrottle, CallerLimits, rate_limited, rate_limits_check
from .parsing import read_body
from .serializers import job_json, json_response
from .submissions import LoopCoalescers
from .waiting import inbox_open, job_read, job_stream_events, wait_for_job

_WAIT = re.compile(r"(?:^|[,;\s])wait=(\d+(?:\.\d+)?)")


class AnswerInJson(BaseContentNegotiation):
    """The task endpoints answer JSON (or server-sent events) whatever the Accept header asks."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class TaskApi(AsyncAPIView):
    """``POST /api/<task kind>``: run a job and answer with its result (or 202).

    DRF authenticates (``x-api-key``, or the sandbox's session with its CSRF
    token), checks permission and the rate throttle, and answers every
    ``ApiError`` through ``api.errors.exception_handler``. The body is read
    by ``api.parsing.read_body`` (the task kind's fields, images as files).
    """

    http_method_names = ["post"]
    authentication_classes = [ApiKeyAuthentication, TaskSessionAuthentication]
    permission_classes = [IsAuthenticated]
    throttle_classes = [ApiKeyRateThrottle]
    content_negotiation_class = AnswerInJson
    schema = None  # documented from the task-kind declarations (api/openapi.py)

    @property
    def default_response_headers(self) -> dict[str, str]:
        return {}  # no Allow or Vary on every answer: a 405 says Allow (api.errors)

    async def async_dispatch(self, request, *args, **kwargs):
        """adrf's dispatch, with DRF's checks (database work) run by ``submit`` on the event loop's pool.

        adrf awaits ``initial()`` (authentication, permission, throttle) with
        ``sync_to_async``, which under ASGI makes a thread, and so a database
        connection, for each request; and a second trip to a thread for the
        submission cost CPU on every request (docs/perf). So ``initial()`` runs
        at the start of ``submit``, in the one trip the submission makes. A
        method other than POST is refused before anything else, as it always was.
        """
        self.args, self.kwargs = args, kwargs
        request = self.initialize_request(request, *args, **kwargs)
        self.request = request
        self.headers = self.default_response_headers
        try:
            if request.method.lower() not in self.http_method_names:
                raise MethodNotAllowed(request.method, detail=f"Use POST /api/{kwargs.get('kind_name', '')}.")
            response = await self.post(request, *args, **kwargs)
        except Exception as exc:
            response = self.handle_exception(exc)
        self.response = self.finalize_response(request, response, *args, **kwargs)
        return self.response

    def check_throttles(self, request: Request) -> None:
        """Nothing here: the rate limit (``ApiKeyRateThrottle``) is checked by ``jobs_accept`` for every
        request of a batch in one Redis round trip, after DRF's authentication and permission."""

    async def post(self, request: Request, kind_name: str) -> HttpResponse:
        kind = kind_get(kind_name)
        if kind is None or kind.internal:
            raise NotFound("unknown_task_kind", f"No task kind '{kind_name}'.")
        # Listen before submitting: the job's "done" message cannot be missed, and
        # the row need not be read before waiting.
        wait = _wait_seconds(request)
        job_id = uuid.uuid4()
        inbox = await inbox_open(job_id) if wait > 0 else None
        try:
            job = await SUBMISSIONS.submit(Submission(self, request, kind, job_id, inbox.reply_to if inbox else ""))
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

    def prepare(self, submission: Submission) -> JobRequest:
        """The job a request asks for, from its body (after DRF's checks; on the pool, in ``jobs_accept``)."""
        request, kind = submission.request, submission.kind
        data = read_body(request._request, kind)
        model_id = data.pop("model", None)
        if model_id is not None and not isinstance(model_id, str):
            raise InvalidInput("invalid", "model: must be a string (a model id)", field="model")
        if model_id is not None and ("\x00" in model_id or len(model_id) > 200):
            raise NotFound("unknown_model", "Unknown model.", field="model")
        if request.headers.get("Accept", "").startswith("text/event-stream") and kind.streams:
            data["stream"] = True
        return JobRequest(user=request.user, api_key=request.auth, kind_name=kind.name, model_id=model_id,
                          data=data, job_id=submission.job_id, reply_to=submission.reply_to)

    def refused(self, exc: ApiError) -> ApiError:
        """A refusal of the job (a limit, an input bound) as this API words it (OpenAI's renames fields)."""
        return exc


@dataclass
class Submission:
    """A task request waiting to be accepted (``jobs_accept``) with the requests that arrived with it."""

    view: TaskApi
    request: Request
    kind: TaskKind
    job_id: uuid.UUID
    reply_to: str


def jobs_accept(submissions: Sequence[Submission]) -> list[InferenceJob | BaseException]:
    """Every API's submissions (Backprop's and OpenAI's), as many as arrived together; on the pool.

    Per request, DRF's checks (authentication, permission), then the rate limit of all of them in one
    Redis round trip, then each request's body (``prepare``); then the callers' limits (the monthly
    allowance once per user, the model's queue once per model) and one ``jobs_submit`` for the jobs
    (one transaction; the in-flight cap once per user). Each submission's own outcome, in order: its
    job, or the exception refusing it, as its request alone would have had it.
    """
    outcomes: list[InferenceJob | BaseException | None] = [None] * len(submissions)
    checked: list[int] = []
    for index, submission in enumerate(submissions):
        try:
            submission.view.initial(submission.request, kind_name=submission.kind.name)
        except Exception as exc:  # noqa: BLE001 - each request's own refusal (or a database error: a 503)
            outcomes[index] = exc
        else:
            checked.append(index)
    requests: list[tuple[int, JobRequest]] = []
    allowances: dict[object, float | None] = {}
    waits = rate_limits_check([submissions[i].request for i in checked], allowances)
    for index, wait in zip(checked, waits, strict=True):
        if wait is not None:
            outcomes[index] = rate_limited(wait)
            continue
        try:
            requests.append((index, submissions[index].view.prepare(submissions[index])))
        except Exception as exc:  # noqa: BLE001
            outcomes[index] = exc
    limits = CallerLimits(allowances)
    accepted: list[tuple[int, JobRequest]] = []
    for index, job_request in requests:
        try:
            limits.check(job_request)
        except ApiError as exc:
            outcomes[index] = submissions[index].view.refused(exc)
        else:
            accepted.append((index, job_request))
    submitted = services.jobs_submit(requests=[job_request for _, job_request in accepted],
                                     max_in_flight=settings.API_MAX_JOBS_IN_FLIGHT)
    for (index, _), outcome in zip(accepted, submitted, strict=True):
        outcomes[index] = submissions[index].view.refused(outcome) if isinstance(outcome, ApiError) else outcome
    return [outcome if outcome is not None else RuntimeError("not accepted") for outcome in outcomes]


SUBMISSIONS: LoopCoalescers[Submission] = LoopCoalescers(jobs_accept)


def _wait_seconds(request: Request) -> float:
    prefer = request.headers.get("Prefer", "")
    if "respond-async" in prefer:
        return 0.0
    match = _WAIT.search(prefer)
    wait = float(match.group(1)) if match else settings.API_WAIT_DEFAULT_S
    return min(wait, settings.API_WAIT_MAX_S)


def _accepted(job: InferenceJob) -> HttpResponse:
    location = reverse("api:job-detail", args=[job.id])
    response = json_response(job_json(job), status=202)
    response["Location"] = location
    response["Retry-After"] = "1"
    return response


def job_result_response(job: InferenceJob) -> HttpResponse:
    """A finished job as the task endpoint answers it: the Backprop body, or an error."""
    if job.status == JobStatus.SUCCEEDED:
        response = json_response(job.output)
    elif job.status == JobStatus.CANCELLED:
        response = api_error_response(Conflict("job_cancelled", "The job was cancelled."))
    else:
        response = api_error_response(JobFailed("job_failed", job.error or "The job failed."))
    return job_headers(response, job)


def job_headers(response: HttpResponse, job: InferenceJob) -> HttpResponse:
    """The job's id, model and timings (queue, compute, load) as response headers."""
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


task_endpoint = TaskApi.as_view()
