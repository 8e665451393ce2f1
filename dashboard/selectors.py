"""Reads for the dashboard."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from .models import UserAPIKey


def api_key_list(*, user: AbstractBaseUser) -> QuerySet[UserAPIKey]:
    return UserAPIKey.objects.filter(user=user).select_related("rotated_to").order_by("-created")


def api_key_get(*, user: AbstractBaseUser, prefix: str) -> UserAPIKey:
    """A key of ``user`` by prefix; another user's key is DoesNotExist (a 404)."""
    return UserAPIKey.objects.get(user=user, prefix=prefix)
