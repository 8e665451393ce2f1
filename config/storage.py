"""Static files storage: whitenoise's compressed manifest, also hashing the sandbox's ES module imports."""

from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticFilesStorage(CompressedManifestStaticFilesStorage):
    """``collectstatic`` rewrites ``import ... from "./form.js";`` to the hashed name, as it does CSS urls,
    so a page's modules come from one release (each hashed file is cached for good)."""

    support_js_module_import_aggregation = True
