"""Installing catalog models that live on the Hugging Face hub.

``python manage.py models pull <id>`` calls ``model_pull``. A hub model is
downloaded at its pinned revision into a hidden temporary folder next to its
install folder (``MODELS_DIR/<id>``) and renamed into place only once the
download is complete, so a failed or interrupted pull never leaves a
half-installed model that the catalog would take for an installed one.

Where the hub cannot be reached (an offline server), the pull fails within a
few seconds with one line that says why and what to do instead: copy the model
folder onto the machine.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from .catalog import ModelSpec, catalog_get, hub_install_dir

HUB_TIMEOUT_S = 5.0  # connecting to the hub and waiting for its metadata


class ModelInstallError(Exception):
    """A model that cannot be installed; the message says why and what to do instead."""


@dataclass(frozen=True)
class PullResult:
    """Where a pulled model now lies, and whether it was there already."""

    model_id: str
    path: Path
    already_installed: bool


def model_pull(*, model_id: str, endpoint: str | None = None, timeout_s: float = HUB_TIMEOUT_S) -> PullResult:
    """Install the hub model ``model_id`` at its pinned revision into ``MODELS_DIR/<id>``.

    Downloads with ``huggingface_hub.snapshot_download`` into a temporary
    folder beside the install folder, then renames it into place. A model that
    is already installed is left as it is. ``endpoint`` is a hub mirror (default:
    ``HF_ENDPOINT``, else huggingface.co). Raises ``ModelInstallError`` with a
    one-line reason for an unknown model, a model that is not a hub model, an
    unreachable hub (after at most about ``timeout_s`` seconds) or a download
    that fails.
    """
    spec = catalog_get(model_id)
    if spec is None:
        raise ModelInstallError(f"unknown model '{model_id}'; 'python manage.py models list' shows the catalog.")
    if spec.source != "hub":
        raise ModelInstallError(_not_pullable(spec))
    target = hub_install_dir(spec.id)
    if spec.installed:
        return PullResult(model_id=spec.id, path=target, already_installed=True)
    if target.exists() and any(target.iterdir()):
        raise ModelInstallError(f"{_shown(target)} exists but holds no model (no config.json); move it away and "
                                f"pull again.")

    _check_hub(spec, endpoint=endpoint, timeout_s=timeout_s)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{spec.id}.partial-", dir=target.parent))
    try:
        _download(spec, partial, endpoint=endpoint, timeout_s=timeout_s)
        if not (partial / "config.json").exists():
            raise ModelInstallError(f"{spec.hub_repo} at revision {spec.hub_revision} has no config.json; it is "
                                    f"not a model folder Forwardpass can load.")
        if target.exists():
            target.rmdir()  # empty (checked above)
        partial.rename(target)
    finally:
        if partial.exists():
            shutil.rmtree(partial, ignore_errors=True)
    return PullResult(model_id=spec.id, path=target, already_installed=False)


def _not_pullable(spec: ModelSpec) -> str:
    if spec.source == "bundled":
        return (f"'{spec.id}' is a bundled model: it ships with Forwardpass ('make install' installs it), so there "
                f"is nothing to pull.")
    if spec.source == "local":
        return f"'{spec.id}' is a local model (listed in LOCAL_MODELS_FILE), so there is nothing to pull."
    return f"'{spec.id}' is a {spec.source} model, not a hub model, so there is nothing to pull."


def _shown(path: Path) -> str:
    """``path`` relative to the project when it lies inside it (``data/models/<id>``), else absolute."""
    try:
        return str(path.resolve().relative_to(Path(settings.BASE_DIR).resolve()))
    except ValueError:
        return str(path)


def _unreachable(spec: ModelSpec, reason: str) -> ModelInstallError:
    return ModelInstallError(
        f"cannot reach the Hugging Face hub to download {spec.hub_repo}: {reason}. Copy the model folder "
        f"({spec.hub_repo} at revision {spec.hub_revision}) to {_shown(hub_install_dir(spec.id))}/ instead."
    )


def _reason(exc: BaseException) -> str:
    """The innermost useful cause of a network error, on one line."""
    import requests

    if isinstance(exc, requests.Timeout):
        return "no answer in time"
    cause: object = exc.args[0] if exc.args else exc
    inner = getattr(cause, "reason", None)  # urllib3's MaxRetryError -> NameResolutionError, ...
    text = str(inner if inner is not None else cause)
    if "): " in text and text.startswith(("HTTPSConnection", "HTTPConnection", "<urllib3")):
        text = text.split("): ", 1)[1]
    return " ".join(text.split()) or type(exc).__name__


def _check_hub(spec: ModelSpec, *, endpoint: str | None, timeout_s: float) -> None:
    """Ask the hub for the pinned revision, with a short timeout: fails fast when offline."""
    import requests
    from huggingface_hub import HfApi
    from huggingface_hub.utils import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

    try:
        HfApi(endpoint=endpoint).model_info(spec.hub_repo, revision=spec.hub_revision, timeout=timeout_s)
    except GatedRepoError as exc:
        raise ModelInstallError(f"{spec.hub_repo} is gated on the Hugging Face hub: log in with a token that has "
                                f"access (HF_TOKEN), or copy the model folder to "
                                f"{_shown(hub_install_dir(spec.id))}/.") from exc
    except RevisionNotFoundError as exc:
        raise ModelInstallError(f"the Hugging Face hub has no revision '{spec.hub_revision}' of "
                                f"{spec.hub_repo}.") from exc
    except RepositoryNotFoundError as exc:
        raise ModelInstallError(f"the Hugging Face hub has no model {spec.hub_repo}.") from exc
    except HfHubHTTPError as exc:
        raise _unreachable(spec, _reason(exc)) from exc
    except (requests.ConnectionError, requests.Timeout, OSError) as exc:
        raise _unreachable(spec, _reason(exc)) from exc


def _download(spec: ModelSpec, folder: Path, *, endpoint: str | None, timeout_s: float) -> None:
    import requests
    from huggingface_hub import snapshot_download
    from huggingface_hub.utils import HfHubHTTPError

    try:
        snapshot_download(repo_id=spec.hub_repo, revision=spec.hub_revision, local_dir=folder,
                          endpoint=endpoint, etag_timeout=timeout_s)
    except (requests.ConnectionError, requests.Timeout, HfHubHTTPError) as exc:
        raise _unreachable(spec, _reason(exc)) from exc
    except OSError as exc:
        raise ModelInstallError(f"downloading {spec.hub_repo} failed: {_reason(exc)}") from exc
