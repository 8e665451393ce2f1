"""The ``/v1`` endpoints: OpenAI's shapes over the same jobs, keys, limits and usage as ``/api``.

Each call is a job of a task kind (``translate`` says which and how its parameters are named), submitted
through ``api.task_views.jobs_accept`` like any other: the same rate throttle, allowance, queue and in-flight
limits, the same jobs list. Errors come in OpenAI's shape because ``api.errors`` answers every error under
``/v1/`` in it. A call waits for its job (OpenAI's API has no 202); a stream, or a wait, that the client
leaves cancels the job.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import datetime
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpResponse, StreamingHttpResponse
from rest_framework.request import Request
from rest_framework.response import Response

from inference import jobs as services
from inference.catalog import ModelSpec
from inference.errors import ApiError, Conflict, InvalidInput, JobFailed, NotFound, Unavailable
from inference.inputs.tokens import token_counter
from inference.jobs import JobRequest
from inference.jobs.selectors import model_list, model_resolve
from inference.models import InferenceJob, JobStatus
from inference.registry import kind_get, public_kinds

from ..apis import ApiView
from ..serializers import json_response
from ..task_views import SUBMISSIONS, Submission, TaskApi, job_headers
from ..waiting import inbox_open, job_stream_events, run_sync, wait_for_job
from . import translate


def _refused(exc: translate.RequestRefused) -> ApiError:
    details = {exc.param: [exc.message]} if exc.param else None
    if exc.code == "unsupported_parameter":
        return InvalidInput("unsupported_parameter", exc.message, field=exc.param, details=details)
    return InvalidInput("invalid", exc.message, field=exc.param, details=details)


def _json_body(request: Request) -> Any:
    raw = request._request.body
    if not raw:
        raise InvalidInput("invalid", "The request body must be a JSON object.")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise InvalidInput("malformed_json", f"The body is not valid JSON: {exc}") from exc


def _endpoints(spec: ModelSpec) -> list[str]:
    return [kind.openai.path for kind in public_kinds() if kind.openai is not None and kind.name in spec.kinds]


def _created(spec: ModelSpec) -> int:
    """When the model came to this server: its upload, else its files (0 when not installed)."""
    uploaded = spec.options.get("upload", {}).get("created_at")
    if uploaded:
        return int(datetime.fromisoformat(uploaded).timestamp())
    path = spec.path if spec.installed else None
    return int(path.stat().st_mtime) if path is not None and path.exists() else 0


def model_object(spec: ModelSpec) -> dict[str, Any]:
    return {"id": spec.id, "object": "model", "created": _created(spec),
            "owned_by": "you" if spec.source == "uploaded" else "forwardpass", "endpoints": _endpoints(spec),
            "task_kinds": list(spec.kinds), "installed": spec.installed}


class ModelListApi(ApiView):
    """``GET /v1/models``: the catalog and the caller's own models, as OpenAI lists models."""

    schema = None  # documented in api/openapi.py

    def get(self, request: Request) -> Response:
        return Response({"object": "list", "data": [model_object(spec) for spec in model_list(user=request.user)]})


class ModelDetailApi(ApiView):
    schema = None

    def get(self, request: Request, model_id: str) -> Response:
        spec = model_resolve(model_id=model_id, user=request.user)
        if spec is None or spec.internal:
            raise NotFound("unknown_model", f"The model '{model_id}' does not exist.", field="model")
        return Response(model_object(spec))


class OpenAIApi(TaskApi):
    """A ``/v1`` endpoint served by one task kind: the same authentication, throttle and submission as
    Backprop's task endpoints; subclasses translate the request and the answer."""

    kind_name: str = ""

    async def post(self, request: Request, **kwargs: Any) -> HttpResponse:
        kind = kind_get(self.kind_name)
        job_id = uuid.uuid4()
        created = int(time.time())
        inbox = await inbox_open(job_id)
        try:
            job = await SUBMISSIONS.submit(Submission(self, request, kind, job_id, inbox.reply_to))
            context = self.context
            if job.input.get("stream"):
                response = StreamingHttpResponse(self.stream(job, created, context), content_type="text/event-stream")
                response["Cache-Control"] = "no-cache"
                response["X-Accel-Buffering"] = "no"
                response["X-Job-Id"] = str(job.id)
                return response
            try:
                ended = await wait_for_job(job.id, inbox, timeout=settings.JOB_HARD_TIME_LIMIT_S + 30)
            except asyncio.CancelledError:  # the client went away: nobody wants the answer
                await sync_to_async(services.job_cancel)(job=job)
                raise
        finally:
            await inbox.close()
        if ended is None:
            raise Unavailable("job_timeout", "The job did not finish in time; it goes on and can be fetched "
                              f"as /api/jobs/{job.id}.", retry_after=5)
        if ended.status == JobStatus.CANCELLED:
            raise Conflict("job_cancelled", "The job was cancelled.")
        if ended.status != JobStatus.SUCCEEDED:
            raise JobFailed("job_failed", ended.error or "The job failed.")
        # On the pool, not the event loop: counting an embedding request's tokens is CPU work.
        body = await run_sync(self.answer)(ended, created, context)
        return job_headers(json_response(body), ended)

    def prepare(self, submission: Submission) -> JobRequest:
        """The job an OpenAI request asks for (after DRF's checks; on the pool, in ``jobs_accept``)."""
        request, kind = submission.request, submission.kind
        try:
            model_id, data, context = self.translate(_json_body(request))
        except translate.RequestRefused as exc:
            raise _refused(exc) from exc
        spec = model_resolve(model_id=model_id, user=request.user)
        if spec is None or spec.internal:
            raise NotFound("unknown_model", f"The model '{model_id}' does not exist.", field="model")
        if kind.name not in spec.kinds:
            endpoints = ", ".join(_endpoints(spec)) or "no /v1 endpoint"
            raise InvalidInput("model_not_supported", f"The model '{model_id}' does not serve {kind.openai.path} "
                               f"(it serves {endpoints}).", field="model")
        self.context = {**context, "spec": spec}
        return JobRequest(user=request.user, api_key=request.auth, kind_name=kind.name, model_id=model_id,
                          data=data, job_id=submission.job_id, reply_to=submission.reply_to)

    def refused(self, exc: ApiError) -> ApiError:
        """A bound of the kind, named as OpenAI names the parameter."""
        if exc.field:
            name = self.kind_openai_name(exc.field.split("[")[0])
            exc.field = name
            exc.details = {name: next(iter(exc.details.values()))} if exc.details else None
        return exc

    def kind_openai_name(self, name: str) -> str:
        kind = kind_get(self.kind_name)
        return kind.openai.openai_name(name) if kind is not None and kind.openai is not None else name

    def translate(self, body: Any) -> tuple[str, dict[str, Any], dict[str, Any]]:
        raise NotImplementedError

    def answer(self, job: InferenceJob, created: int, context: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    async def stream(self, job: InferenceJob, created: int, context: dict[str, Any]):
        """OpenAI's server-sent events: ``data: {chunk}`` as text is written, the final chunk, ``data: [DONE]``.

        A client that closes the connection cancels the job.
        """
        finished = False
        try:
            sent = ""
            first = True
            async for message in job_stream_events(job.id, timeout=settings.JOB_HARD_TIME_LIMIT_S + 30):
                if message["event"] == "text":
                    text = message.get("output", "")
                    delta = text[len(sent):] if text.startswith(sent) else text
                    sent = text
                    if delta or first:
                        yield _event(self.delta_chunk(job, created, delta, first))
                        first = False
                elif message["event"] == "done":
                    finished = True
                    ended: InferenceJob = message["job"]
                    if ended.status != JobStatus.SUCCEEDED:
                        error = translate.stream_error(ended.error or ended.status, ended.status)
                        yield _event(error)
                    else:
                        for chunk in self.final_chunks(ended, created, context, sent, first):
                            yield _event(chunk)
                    yield b"data: [DONE]\n\n"
                    return
            yield _event(translate.stream_error("The job did not finish in time.", "timeout"))
            yield b"data: [DONE]\n\n"
        finally:
            if not finished:
                await sync_to_async(services.job_cancel)(job=job)

    def delta_chunk(self, job: InferenceJob, created: int, delta: str, first: bool) -> dict[str, Any]:
        raise NotImplementedError

    def final_chunks(self, job: InferenceJob, created: int, context: dict[str, Any], sent: str, first: bool):
        raise NotImplementedError


def _event(data: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(data)}\n\n".encode()


class ChatCompletionsApi(OpenAIApi):
    """``POST /v1/chat/completions``: a ``chat`` job."""

    kind_name = "chat"

    def translate(self, body: Any) -> tuple[str, dict[str, Any], dict[str, Any]]:
        model_id, data, stream, include_usage = translate.chat_request(body)
        if stream:
            data["stream"] = True
        return model_id, data, {"include_usage": include_usage}

    def answer(self, job: InferenceJob, created: int, context: dict[str, Any]) -> dict[str, Any]:
        return translate.chat_response(job, created)

    def delta_chunk(self, job: InferenceJob, created: int, delta: str, first: bool) -> dict[str, Any]:
        content: dict[str, Any] = {"role": "assistant", "content": delta} if first else {"content": delta}
        return translate.chat_chunk(job.id, created, job.model_id, [translate.chat_delta(0, content)])

    def final_chunks(self, job: InferenceJob, created: int, context: dict[str, Any], sent: str, first: bool):
        choices = job.output["choices"]
        for index, choice in enumerate(choices):
            content = choice["message"]["content"]
            if index == 0 and not first:
                # What the stream has not said yet (the final text is stripped; the stream was not).
                rest = content[len(sent.strip()):] if content.startswith(sent.strip()) else ""
                if rest:
                    yield translate.chat_chunk(job.id, created, job.model_id,
                                               [translate.chat_delta(0, {"content": rest})])
            else:
                yield translate.chat_chunk(job.id, created, job.model_id,
                                           [translate.chat_delta(index, {"role": "assistant", "content": content})])
            yield translate.chat_chunk(job.id, created, job.model_id,
                                       [translate.chat_delta(index, {}, choice["finish_reason"])])
        if context["include_usage"]:
            yield translate.chat_chunk(job.id, created, job.model_id, [], usage=job.output["usage"])


class CompletionsApi(OpenAIApi):
    """``POST /v1/completions``: a ``text-generation`` job (only the new text comes back)."""

    kind_name = "text-generation"

    def translate(self, body: Any) -> tuple[str, dict[str, Any], dict[str, Any]]:
        model_id, data, prompts, stream, include_usage = translate.completion_request(body)
        if stream:
            data["stream"] = True
        return model_id, data, {"prompts": prompts, "include_usage": include_usage}

    def answer(self, job: InferenceJob, created: int, context: dict[str, Any]) -> dict[str, Any]:
        return translate.completion_response(job, context["prompts"], created)

    def delta_chunk(self, job: InferenceJob, created: int, delta: str, first: bool) -> dict[str, Any]:
        # The stream's first text starts with the prompt (Backprop's output does): only what follows is new.
        text = delta.removeprefix(job.input["text"]) if first else delta
        return translate.completion_chunk(job.id, created, job.model_id, text, None)

    def final_chunks(self, job: InferenceJob, created: int, context: dict[str, Any], sent: str, first: bool):
        whole = translate.completion_response(job, context["prompts"], created)
        choice = whole["choices"][0]
        said = sent.removeprefix(context["prompts"][0])
        rest = choice["text"][len(said):] if choice["text"].startswith(said) else ""
        yield translate.completion_chunk(job.id, created, job.model_id, rest, choice["finish_reason"])
        if context["include_usage"]:
            yield translate.completion_chunk(job.id, created, job.model_id, "", None, usage=whole["usage"])


class EmbeddingsApi(OpenAIApi):
    """``POST /v1/embeddings``: a ``text-vectorisation`` job; tokens counted with the model's tokenizer."""

    kind_name = "text-vectorisation"

    def translate(self, body: Any) -> tuple[str, dict[str, Any], dict[str, Any]]:
        model_id, data, texts, encoding, dimensions = translate.embedding_request(body)
        return model_id, data, {"texts": texts, "encoding": encoding, "dimensions": dimensions}

    def answer(self, job: InferenceJob, created: int, context: dict[str, Any]) -> dict[str, Any]:
        size = len(job.output["vector"][0] if isinstance(job.output["vector"][0], list) else job.output["vector"])
        if context["dimensions"] not in (None, size):  # known once the model ran: none of ours can shorten
            raise InvalidInput("unsupported_parameter", f"dimensions: the model '{job.model_id}' gives vectors of "
                               f"{size} numbers and cannot shorten them; leave dimensions out.", field="dimensions")
        count = token_counter(context["spec"].tokenizer_folder, context["spec"].revision)
        tokens = sum(count(text) for text in context["texts"]) if count is not None else 0
        return translate.embedding_response(job, context["encoding"], tokens)
