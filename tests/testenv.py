"""Loaded by pytest before Django is configured (``-p tests.testenv``): test defaults.

Tests use Redis database 15 so they never touch the data of ``make run``.
"""

import os

os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production-" + "x" * 20)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
_redis = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
os.environ["REDIS_URL"] = _redis.rsplit("/", 1)[0] + "/15" if _redis.count("/") >= 3 else _redis + "/15"
os.environ.setdefault("SESSION_COOKIE_SECURE", "0")
os.environ.setdefault("CSRF_COOKIE_SECURE", "0")
os.environ.setdefault("SECURE_HSTS_SECONDS", "0")
os.environ.setdefault("STATIC_MANIFEST", "0")
os.environ.setdefault("DATA_DIR", os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "test"))
_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Conversions (SmolLM2's GGUF) are shared with `make run`: converted once per checkout.
os.environ.setdefault("MODEL_CACHE_DIR", os.path.join(_root, "data", "model-cache"))
os.environ.setdefault("LOCAL_MODELS_FILE", os.path.join(os.environ["DATA_DIR"], "local-models.json"))
