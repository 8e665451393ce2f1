"""Loaded by pytest before Django is configured (``-p tests.testenv``): test defaults.

Each test run takes a free slot (a Redis database and a data folder, guarded by
a file lock), so runs side by side on one machine never share a database or a
queue, and never touch the data of ``make run`` (Redis db 0, data/).
"""

import fcntl
import os

_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.makedirs(os.path.join(_root, "data"), exist_ok=True)

_slot_lock = None
for _db in (15, 13, 12, 11, 10, 9, 8, 7):  # 14 is the benchmarks'
    _handle = open(os.path.join(_root, "data", f".test-slot-{_db}.lock"), "w")
    try:
        fcntl.flock(_handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        _handle.close()
        continue
    _slot_lock = _handle  # held until the run ends
    break
else:
    raise RuntimeError("no free test slot: 8 test runs are already going on")

os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production-" + "x" * 20)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
_redis = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
_base = _redis.rsplit("/", 1)[0] if _redis.count("/") >= 3 else _redis
os.environ["REDIS_URL"] = f"{_base}/{_db}"
os.environ.setdefault("SESSION_COOKIE_SECURE", "0")
os.environ.setdefault("CSRF_COOKIE_SECURE", "0")
os.environ.setdefault("SECURE_HSTS_SECONDS", "0")
os.environ.setdefault("STATIC_MANIFEST", "0")
os.environ["DATA_DIR"] = os.path.join(_root, "data", f"test-{_db}")
if "DATABASE_URL" in os.environ and _db != 15:
    # PostgreSQL: a test database of its own for this slot (pytest-django adds "test_").
    _url = os.environ["DATABASE_URL"]
    os.environ["DATABASE_URL"] = f"{_url.rsplit('/', 1)[0]}/{_url.rsplit('/', 1)[1]}_{_db}"
# Conversions (SmolLM2's GGUF) are shared with `make run`: converted once per checkout.
os.environ.setdefault("MODEL_CACHE_DIR", os.path.join(_root, "data", "model-cache"))
os.environ["LOCAL_MODELS_FILE"] = os.path.join(os.environ["DATA_DIR"], "local-models.json")
# The tests' workers load a model on its first job, as they did before warm start, unless a test asks
# (WORKER_PRELOAD_MODELS): many tests restart the session worker, which serves every model.
os.environ.setdefault("WORKER_PRELOAD_MODELS", "none")
# Tiny models run faster on one thread than fighting over two cores.
os.environ.setdefault("TORCH_THREADS", "1")
