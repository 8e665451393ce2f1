"""Reads for users' own uploaded models, as catalog entries (``ModelSpec``).

An uploaded model is private: it resolves only for its owner; for anyone
else it is exactly like an unknown id. It serves from its newest ready
version; the spec's ``revision`` is that version's number, so a worker's
model cache loads a new version once it is ready (with the row's primary key,
so two users' models of one name, or a name deleted and uploaded again, never
share a cache entry).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser

from ..catalog import UPLOAD_KEY_PREFIX, ModelSpec
from ..models import BuildStatus, ModelVersion, UploadedModel
from .paths import version_model_path, version_revision

UPLOADS_QUEUE_GROUP = "uploads"


def upload_status(model: UploadedModel, latest: ModelVersion | None, serving: ModelVersion | None) -> dict[str, Any]:
    """The build fields of the API's model body (Backprop's ``build_status`` and ``build_message``)."""
    return {
        "build_status": latest.build_status if latest else None,
        "build_message": latest.build_message if latest else "",
        "version": latest.number if latest else None,
        "serving_version": serving.number if serving else None,
        "created_at": model.created_at.isoformat(),
    }


def _spec(model: UploadedModel, latest: ModelVersion | None, serving: ModelVersion | None) -> ModelSpec:
    shown = serving or latest
    path = version_model_path(shown) if shown else None
    return ModelSpec(
        id=model.name, name=model.name, family=(shown.family if shown else "") or "",
        kinds=(shown.task_kind,) if shown else (model.task_kind,),
        description=model.description or "Your own uploaded model.", source="uploaded",
        locate=(lambda: path) if serving is not None else None,
        revision=version_revision(shown) if shown else "0", owner_id=model.owner_id, queue_group=UPLOADS_QUEUE_GROUP,
        version_id=serving.pk if serving is not None else None,
        options={"upload": upload_status(model, latest, serving)},
    )


def _versions(model: UploadedModel) -> tuple[ModelVersion | None, ModelVersion | None]:
    versions = list(model.versions.all())  # newest first
    latest = versions[0] if versions else None
    serving = next((v for v in versions if v.build_status == BuildStatus.READY), None)
    return latest, serving


def uploaded_spec(*, model_id: str, user: AbstractBaseUser | None, include_unready: bool = False) -> ModelSpec | None:
    """``user``'s own model ``model_id`` as it serves now; None for anyone else's or an unknown one.

    Without ``include_unready``, a model with no ready version is None too.
    """
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    model = UploadedModel.objects.filter(owner=user, name=model_id).prefetch_related("versions").first()
    if model is None:
        return None
    latest, serving = _versions(model)
    if serving is None and not include_unready:
        return None
    return _spec(model, latest, serving)


def uploaded_spec_by_key(*, key: str, owner_id: int) -> ModelSpec | None:
    """The exact version a job was accepted for (``upload:<version id>``), served by it even when a newer
    version is ready; None when that version is gone or not ready, or belongs to someone other than
    ``owner_id`` (the job's own owner, never another job's)."""
    try:
        version_id = int(key.removeprefix(UPLOAD_KEY_PREFIX))
    except ValueError:
        return None
    version = ModelVersion.objects.select_related("model").filter(
        pk=version_id, model__owner_id=owner_id, build_status=BuildStatus.READY).first()
    if version is None:
        return None
    latest = ModelVersion.objects.filter(model=version.model).order_by("-number").first()
    return _spec(version.model, latest, version)


def uploaded_specs(*, user: AbstractBaseUser) -> list[ModelSpec]:
    """``user``'s models with a ready version, by name."""
    if not getattr(user, "is_authenticated", False):
        return []
    specs = []
    for model in UploadedModel.objects.filter(owner=user).prefetch_related("versions"):
        latest, serving = _versions(model)
        if serving is not None:
            specs.append(_spec(model, latest, serving))
    return specs


def uploaded_models(*, user: AbstractBaseUser) -> list[tuple[UploadedModel, ModelVersion | None, ModelVersion | None]]:
    """Every model of ``user`` (ready or not) with its newest and its serving version, for the dashboard."""
    return [(model, *_versions(model)) for model in
            UploadedModel.objects.filter(owner=user).prefetch_related("versions")]
