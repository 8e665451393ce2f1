"""Admin for operators: jobs (read-only, cancellable) and users' uploaded models (deleted with their files)."""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.http import HttpRequest

from .jobs import job_cancel
from .jobs.selectors import job_input_shown
from .models import ACTIVE_STATUSES, InferenceJob, ModelVersion, UploadedModel
from .uploads import services as upload_services

SHOWN_CHARS = 2000  # of a job's input or output on its page


def _shown(value) -> str:
    text = json.dumps(value, indent=1, ensure_ascii=False)
    return text if len(text) <= SHOWN_CHARS else f"{text[:SHOWN_CHARS]}… ({len(text):,} characters in all)"


@admin.register(InferenceJob)
class InferenceJobAdmin(admin.ModelAdmin):
    list_display = ("id", "owner", "task_kind", "model_id", "status", "created_at", "queue_ms", "compute_ms",
                    "batch_size")
    list_filter = ("status", "task_kind")
    list_select_related = ("owner",)
    search_fields = ("=id", "owner__username", "model_id")
    date_hierarchy = "created_at"
    show_full_result_count = False  # no COUNT(*) of the whole table on every page
    fields = ("id", "owner", "api_key", "task_kind", "model_id", "status", "attempts", "cancel_requested",
              "created_at", "enqueued_at", "started_at", "finished_at", "queue_ms", "compute_ms", "batch_size",
              "error", "input_shown", "output_shown", "data_purged_at")
    readonly_fields = fields
    actions = ["cancel"]

    @admin.display(description="input")
    def input_shown(self, job: InferenceJob) -> str:
        return _shown(job_input_shown(job))  # images as "<image, N bytes>"

    @admin.display(description="output")
    def output_shown(self, job: InferenceJob) -> str:
        return _shown(job.output)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.action(description="Cancel the selected jobs that are queued or running")
    def cancel(self, request: HttpRequest, queryset) -> None:
        cancelled = [job_cancel(job=job) for job in queryset.filter(status__in=ACTIVE_STATUSES)]
        self.message_user(request, f"{len(cancelled)} job(s) cancelled.", messages.SUCCESS)


class ModelVersionInline(admin.TabularInline):
    model = ModelVersion
    fields = ("number", "task_kind", "family", "file_name", "size_bytes", "build_status", "build_message",
              "build_attempts", "created_at", "built_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(UploadedModel)
class UploadedModelAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "task_kind", "created_at")
    list_select_related = ("owner",)
    search_fields = ("name", "owner__username")
    fields = ("name", "owner", "task_kind", "description", "created_at")
    readonly_fields = fields
    inlines = [ModelVersionInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def delete_model(self, request: HttpRequest, obj: UploadedModel) -> None:
        upload_services.model_upload_delete(user=obj.owner, name=obj.name)  # its files too

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        for model in queryset.select_related("owner"):
            self.delete_model(request, model)
