"""Jobs: one request to run a task kind on a model."""

from __future__ import annotations

import json
import uuid

from django.conf import settings
from django.db import models


class JobStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL_STATUSES = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)
ACTIVE_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING)


class OrderedJSONField(models.JSONField):
    """JSON kept as written: PostgreSQL's ``json`` type, not ``jsonb``, which reorders keys.

    A job's output lists probabilities highest first; ``jsonb`` would sort the
    labels alphabetically. Nothing queries inside outputs, so ``json`` loses nothing.
    """

    def db_type(self, connection):
        if connection.vendor == "postgresql":
            return "json"
        return super().db_type(connection)

    def get_db_prep_value(self, value, connection, prepared=False):
        if connection.vendor == "postgresql" and value is not None and not hasattr(value, "as_sql"):
            from psycopg.types.json import Json  # PostgreSQL's driver, installed only where it is used

            return Json(value, dumps=lambda obj: json.dumps(obj, cls=self.encoder))
        return super().get_db_prep_value(value, connection, prepared)

    def from_db_value(self, value, expression, connection):
        if value is not None and not isinstance(value, (str, bytes, bytearray)):
            return value  # psycopg already decoded the json column (keeping key order)
        return super().from_db_value(value, expression, connection)


class InferenceJob(models.Model):
    """The source of truth for a job's status and result (Celery keeps no results)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="jobs")
    api_key = models.ForeignKey(
        "dashboard.UserAPIKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs",
        help_text="The key the job was submitted with; empty for the sandbox (browser session).",
    )
    task_kind = models.CharField(max_length=40)
    model_id = models.CharField(max_length=120, help_text="The model id as the user gave it (or the default).")
    model_key = models.CharField(
        max_length=140, blank=True, default="",
        help_text="The exact model the job was accepted for, unique across owners: a catalog id, or "
                  "'upload:<version id>' for one version of a user's own model. Queues, batches, the worker's "
                  "model cache and its resolution all use it.")
    input = models.JSONField()
    status = models.CharField(max_length=12, choices=JobStatus.choices, default=JobStatus.QUEUED)
    output = OrderedJSONField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    attempts = models.PositiveSmallIntegerField(default=0)
    cancel_requested = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    enqueued_at = models.DateTimeField(null=True, blank=True, help_text="When its message was last sent.")
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(
        null=True, blank=True,
        help_text="Refreshed by the worker while it runs the job; the sweeper acts only on a stale heartbeat.")
    released_at = models.DateTimeField(
        null=True, blank=True,
        help_text="When the worker let go of the job: a job cancelled while running holds its in-flight slot "
                  "until then.")
    finished_at = models.DateTimeField(null=True, blank=True)
    queue_ms = models.PositiveIntegerField(null=True, blank=True)
    compute_ms = models.PositiveIntegerField(
        null=True, blank=True, help_text="The job's own work (its share of its batch), charged to the allowance.")
    load_ms = models.PositiveIntegerField(
        null=True, blank=True, help_text="Time the worker spent loading the model first (not charged).")
    batch_size = models.PositiveSmallIntegerField(null=True, blank=True)
    prompt_tokens = models.PositiveIntegerField(
        null=True, blank=True, help_text="Tokens the model read (generation and chat; its own tokenizer).")
    completion_tokens = models.PositiveIntegerField(
        null=True, blank=True, help_text="Tokens the model wrote (generation and chat).")
    finish_reasons = models.JSONField(
        null=True, blank=True, help_text="Why each generated sequence ended, in output order: stop or length.")
    reply_to = models.CharField(
        max_length=64, blank=True, default="",
        help_text="The Redis channel of the web process that waits for the job: its done event goes there too.")
    data_purged_at = models.DateTimeField(
        null=True, blank=True,
        help_text="When the input and the result were deleted (JOB_DATA_RETENTION_DAYS after the job ended).")

    class Meta:
        ordering = ("-created_at",)
        indexes = [
            models.Index(fields=["owner", "-created_at"]),
            models.Index(fields=["status", "started_at"]),
            models.Index(fields=["owner", "status"]),
            models.Index(fields=["finished_at"], condition=models.Q(data_purged_at__isnull=True),
                         name="job_data_kept_finished_at"),
        ]

    def __str__(self) -> str:
        return f"{self.task_kind}/{self.model_id} {self.id} ({self.status})"

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def source(self) -> str:
        return "api" if self.api_key_id else "sandbox"

    @property
    def model_identity(self) -> str:
        """What batches and locks are keyed by: ``model_key`` (rows recorded before it existed: the id
        with the owner, so two owners' jobs never share a run either way)."""
        return self.model_key or f"{self.model_id}#owner:{self.owner_id}"


class BuildStatus(models.TextChoices):
    BUILDING = "building"
    READY = "ready"
    FAILED = "failed"


class UploadedModel(models.Model):
    """A user's own model: private to its owner, served under ``name`` by the task endpoints.

    Each upload of the same name is a new ``ModelVersion``; the newest ready
    version serves.
    """

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="uploaded_models")
    name = models.CharField(max_length=100)
    task_kind = models.CharField(max_length=40, help_text="The task kind of the newest upload.")
    description = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("name",)
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="uploaded_model_owner_name")]

    def __str__(self) -> str:
        return f"{self.name} ({self.owner_id})"


class ModelVersion(models.Model):
    """One upload of an ``UploadedModel``: built (validated) on a worker, then ready or failed."""

    model = models.ForeignKey(UploadedModel, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    task_kind = models.CharField(max_length=40)
    family = models.CharField(max_length=40, blank=True, default="", help_text="Decided by the build.")
    file_name = models.CharField(max_length=255, help_text="The name of the uploaded file.")
    file_format = models.CharField(max_length=10, help_text="zip, tar.gz or gguf.")
    size_bytes = models.PositiveBigIntegerField(default=0)
    build_status = models.CharField(max_length=10, choices=BuildStatus.choices, default=BuildStatus.BUILDING)
    build_message = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    built_at = models.DateTimeField(null=True, blank=True)
    # The build's own claim, like a job's: one delivery builds at a time, and the sweeper
    # re-sends a lost message or gives a build whose worker died another attempt.
    build_enqueued_at = models.DateTimeField(null=True, blank=True)
    build_started_at = models.DateTimeField(null=True, blank=True)
    build_heartbeat_at = models.DateTimeField(null=True, blank=True,
                                              help_text="Refreshed while a worker builds the version.")
    build_attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ("-number",)
        constraints = [models.UniqueConstraint(fields=["model", "number"], name="model_version_number")]

    def __str__(self) -> str:
        return f"{self.model.name} v{self.number} ({self.build_status})"
