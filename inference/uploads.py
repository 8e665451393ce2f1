"""Users' own uploaded models, as catalog entries (filled in by the custom-models work)."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser

from .catalog import ModelSpec


def uploaded_spec(*, model_id: str, user: AbstractBaseUser | None, include_unready: bool = False) -> ModelSpec | None:
    return None


def uploaded_specs(*, user: AbstractBaseUser) -> list[ModelSpec]:
    return []
