"""Admin for operators: users' API keys, seen by prefix, revoked with the same service as the dashboard.

Keys are created by their owners in the dashboard (the plaintext is shown to
them once), not here; the admin never sees or stores a plaintext key.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpRequest
from rest_framework_api_key.admin import APIKeyModelAdmin

from . import services
from .models import UserAPIKey


@admin.register(UserAPIKey)
class UserAPIKeyAdmin(APIKeyModelAdmin):
    list_display = ("prefix", "name", "user", "created", "last_used_at", "expiry_date", "revoked")
    list_filter = ("revoked", "created")
    list_select_related = ("user",)
    search_fields = ("name", "prefix", "user__username", "user__email")
    fields = ("prefix", "name", "user", "created", "last_used_at", "expiry_date", "revoked", "revoked_at",
              "rotated_from")
    readonly_fields = ("prefix", "user", "created", "last_used_at", "revoked", "revoked_at", "rotated_from")
    actions = ["revoke"]

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return self.readonly_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Revoke the selected keys (final)")
    def revoke(self, request: HttpRequest, queryset) -> None:
        keys = [key for key in queryset if not key.revoked]
        for key in keys:
            services.api_key_revoke(api_key=key)
        self.message_user(request, f"{len(keys)} key(s) revoked.", messages.SUCCESS)
