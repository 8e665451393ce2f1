"""Accounts use django.contrib.auth's User; API keys belong to a user."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from rest_framework_api_key.models import AbstractAPIKey, BaseAPIKeyManager


class UserAPIKeyManager(BaseAPIKeyManager):
    pass


class UserAPIKey(AbstractAPIKey):
    """An API key of one user. Only a hash of the key is stored (sha512).

    ``id`` is ``<prefix>.<hash>``; the plaintext ``<prefix>.<secret>`` is
    returned once by ``api_key_create`` and never stored or logged.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys")
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    rotated_from = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="rotated_to"
    )

    objects = UserAPIKeyManager()

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "API key"
        verbose_name_plural = "API keys"

    @property
    def state(self) -> str:
        """``active``, ``expiring`` (rotated, in its grace period), ``expired`` or ``revoked``."""
        if self.revoked:
            return "revoked"
        if self.expiry_date is not None:
            if self.expiry_date <= timezone.now():
                return "expired"
            if getattr(self, "rotated_to", None) is not None:
                return "expiring"
        return "active"

    @property
    def is_usable(self) -> bool:
        return self.state in ("active", "expiring")
