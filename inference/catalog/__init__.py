"""The model catalog: every model the platform knows (bundled, hub, local), installed here or not.

- ``specs``: ``ModelSpec``, one entry, and where an installed hub model lies;
- ``entries``: the catalog's models (``MODELS``), ``catalog_get`` and ``catalog_models``;
- ``local``: models installed from local folders (``LOCAL_MODELS_FILE``);
- ``install``: installing hub models (``models pull``), importing and exporting model folders.

A user's own uploaded model resolves through ``inference.jobs.selectors.model_resolve``.
"""

from .entries import MODELS, catalog_get, catalog_models
from .specs import COMMIT_HASH_RE, UPLOAD_KEY_PREFIX, ModelSpec, hub_install_dir

__all__ = ["COMMIT_HASH_RE", "MODELS", "UPLOAD_KEY_PREFIX", "ModelSpec", "catalog_get", "catalog_models",
           "hub_install_dir"]
