"""Forwardpass settings, driven by environment variables.

Embedded defaults need no configuration: SQLite in ``data/`` inside the
checkout and Redis at ``redis://127.0.0.1:6379/0``. Every variable a user may
change is listed in ``.env.example``. With ``DEBUG`` off (the default) a
missing ``SECRET_KEY`` stops startup, unless ``DATA_DIR/secret_key`` (written by
``make run``) holds one.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
DATA_DIR = Path(env.str("DATA_DIR", default=str(BASE_DIR / "data")))
DATA_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="")
# The embedded default: 'make run' keeps a generated secret in DATA_DIR/secret_key; management commands run
# in the same checkout (models list, evaluate_emotion, ...) use it too. Without it (or SECRET_KEY) startup stops.
_SECRET_KEY_FILE = DATA_DIR / "secret_key"
if not SECRET_KEY and _SECRET_KEY_FILE.is_file():
    SECRET_KEY = _SECRET_KEY_FILE.read_text(encoding="utf-8").strip()
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set the SECRET_KEY environment variable "
            "(for example: export SECRET_KEY=$(python -c 'import secrets; print(secrets.token_urlsafe(50))')), "
            "or set DEBUG=1 for local development. 'make run' generates one and keeps it in data/secret_key."
        )
    SECRET_KEY = "insecure-development-key-only-used-with-DEBUG-on"

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_api_key",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "dashboard",
    "inference",
    "api",
    "sandbox",
]

MIDDLEWARE = [
    # config.middleware.Async*: Django's own, with hooks on the event loop under ASGI unless they do I/O.
    "config.metrics.RequestMetricsMiddleware",  # first: counts every request with its final status
    "api.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "api.middleware.BodyRefusedMiddleware",  # a body refused unread by config/asgi_limits.py: 413 or 401
    "config.middleware.StaticFilesMiddleware",  # WhiteNoise, async-capable
    "config.middleware.AsyncSessionMiddleware",
    "config.middleware.AsyncCommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "config.middleware.AsyncAuthenticationMiddleware",
    "config.middleware.AsyncMessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

# Database: SQLite in data/ by default, PostgreSQL (or any URL) via DATABASE_URL.
SQLITE_PATH = DATA_DIR / "db.sqlite3"
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{SQLITE_PATH}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Django's SQLite backend with writers queued on a file lock (config/sqlite/base.py).
    DATABASES["default"]["ENGINE"] = "config.sqlite"
    # WAL lets the web process read while a worker writes; IMMEDIATE avoids
    # lock upgrades failing under concurrent writers.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not memory, so a Celery worker process can open the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test-db.sqlite3")}
# Persistent connections (per thread) for both: opening one per job cost a worker
# more than the job's queries (SQLite runs its PRAGMAs on every new connection).
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# The web server (config/asgi.py turns DATABASE_POOL on) takes PostgreSQL connections from a pool instead:
# under ASGI Django runs each request's sync code on a thread made for that request, and a persistent
# connection stayed open after its thread ended (make load: 190 PostgreSQL backends after 2 minutes, past
# PostgreSQL's default max_connections of 100). Django's docs: no persistent connections under ASGI; a pool.
# Workers, whose threads live long, keep persistent connections.
DATABASE_POOL = env.bool("DATABASE_POOL", default=False)
if DATABASE_POOL and DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 2, "max_size": env.int("DATABASE_POOL_MAX_SIZE", default=20), "timeout": 10}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "fp",
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "dashboard:login"
LOGIN_REDIRECT_URL = "dashboard:home"
LOGOUT_REDIRECT_URL = "dashboard:login"

EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="forwardpass@localhost")

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(DATA_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "config.storage.StaticFilesStorage"
                    if env.bool("STATIC_MANIFEST", default=not DEBUG)
                    else "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Without collected files (tests, development), serve straight from static/.
WHITENOISE_USE_FINDERS = STORAGES["staticfiles"]["BACKEND"] != "config.storage.StaticFilesStorage"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(DATA_DIR / "media")))

# Security: production-grade unless DEBUG is on.
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
if not SECURE_SSL_REDIRECT:
    # The embedded default serves plain HTTP on 127.0.0.1; behind a TLS proxy set
    # SECURE_SSL_REDIRECT=1. Silenced so `check --deploy` stays quiet either way.
    SILENCED_SYSTEM_CHECKS = ["security.W008"]

# Web security (dashboard: logins, password resets, headers) ----------------------------------------------
# Logins: django-axes on every login page (the site's and /admin/login/), failures kept in the database.
# LOGIN_FAILURE_LIMIT failures in a row for one account, or from one address, refuse that account or
# address (429 page) for LOGIN_LOCKOUT_S; a successful login clears the count. Attempts in flight count
# too (dashboard/login_throttle.py), so parallel guesses cannot pass the limit.
INSTALLED_APPS += ["axes", "csp"]
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
LOGIN_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=25)
LOGIN_LOCKOUT_S = env.int("LOGIN_LOCKOUT_S", default=900)
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(seconds=LOGIN_LOCKOUT_S)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # each alone locks
AXES_RESET_ON_SUCCESS = True
AXES_HANDLER = "dashboard.login_throttle.AtomicDatabaseHandler"
AXES_LOCKOUT_TEMPLATE = "dashboard/locked_out.html"
AXES_HTTP_RESPONSE_CODE = 429
AXES_VERBOSE = False
AXES_CLIENT_IP_CALLABLE = "dashboard.login_throttle.client_address"  # X-Forwarded-For behind BEHIND_TLS_PROXY
# Password-reset e-mails: at most this many requests per e-mail address and per client address in
# PASSWORD_RESET_WINDOW_S (Redis counters); more are answered 429 and send nothing.
PASSWORD_RESET_LIMIT_PER_EMAIL = env.int("PASSWORD_RESET_LIMIT_PER_EMAIL", default=3)
PASSWORD_RESET_LIMIT_PER_ADDRESS = env.int("PASSWORD_RESET_LIMIT_PER_ADDRESS", default=10)
PASSWORD_RESET_WINDOW_S = env.int("PASSWORD_RESET_WINDOW_S", default=3600)
# Content-Security-Policy (django-csp) on every page: scripts and styles from our own static files only,
# no inline script. The API docs pages (Swagger UI, ReDoc) add inline styles (api/urls.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "worker-src": ["'self'", "blob:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}
# Innermost: the CSP header; axes' lockout page (its middleware last, as axes asks), the login slots around it.
MIDDLEWARE += ["config.middleware.AsyncCSPMiddleware", "dashboard.login_throttle.LoginSlotsMiddleware",
               "axes.middleware.AxesMiddleware"]
# Behind a TLS-terminating proxy that sets X-Forwarded-Proto (and strips it from clients) and appends the
# client's address to X-Forwarded-For, set BEHIND_TLS_PROXY=1: Django then sees HTTPS requests as secure,
# and login and reset throttling key on the address the proxy appended. Off, both headers are ignored:
# a client could otherwise claim HTTPS on a plain-HTTP site, or any address.
BEHIND_TLS_PROXY = env.bool("BEHIND_TLS_PROXY", default=False)
if BEHIND_TLS_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# ---------------------------------------------------------------------------------------- end web security

# REST framework: x-api-key authentication, one JSON error shape.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["api.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "api.parsing.JSONParser",  # DRF's, with deeply nested JSON a 400 (not a 500)
        "rest_framework.parsers.MultiPartParser",
        "rest_framework.parsers.FormParser",
    ],
    "EXCEPTION_HANDLER": "api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Forwardpass API",
    "DESCRIPTION": "Backprop-compatible inference API. Authenticate with the x-api-key header.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "api.openapi.add_task_endpoints",
                             "api.openapi.add_openai_endpoints"],
    # Two choice sets are called "status": a job's and the health check's.
    "ENUM_NAME_OVERRIDES": {"JobStatusEnum": "inference.models.JobStatus", "HealthStatusEnum": ["ok", "failing"]},
}
API_KEY_CUSTOM_HEADER = "HTTP_X_API_KEY"
# Seconds an API key's row is reused by a web process before it is read again (api/authentication.py):
# a key revoked elsewhere stops within this time; 0 reads it on every request.
API_KEY_CACHE_S = env.float("API_KEY_CACHE_S", default=1.0)

# Celery: the broker is Redis; the database row is the source of truth for a
# job, so task results are not stored.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "fp.default"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# Jobs: limits and the sweeper that rescues jobs whose worker died.
JOB_SOFT_TIME_LIMIT_S = env.int("JOB_SOFT_TIME_LIMIT_S", default=120)
JOB_HARD_TIME_LIMIT_S = env.int("JOB_HARD_TIME_LIMIT_S", default=150)
JOB_MAX_ATTEMPTS = env.int("JOB_MAX_ATTEMPTS", default=3)
# A job claimed again after its worker died runs in a child process of the worker's own (threads pool), so a
# job that kills its process (a poison input) fails alone after its attempts (inference/jobs/quarantine.py).
JOB_ISOLATE_RETRIES = env.bool("JOB_ISOLATE_RETRIES", default=True)
JOB_SWEEP_INTERVAL_S = env.int("JOB_SWEEP_INTERVAL_S", default=30)
JOB_QUEUED_TIMEOUT_S = env.int("JOB_QUEUED_TIMEOUT_S", default=3600)
JOB_RESEND_AFTER_S = env.int("JOB_RESEND_AFTER_S", default=600)
# Running jobs and builds: the worker refreshes a heartbeat every JOB_HEARTBEAT_INTERVAL_S; the sweeper
# re-queues (or fails) one whose heartbeat is older than JOB_HEARTBEAT_STALE_S, never one still running.
# A job's deadline is JOB_SOFT_TIME_LIMIT_S after it started: generation stops there and the job fails.
JOB_HEARTBEAT_INTERVAL_S = env.float("JOB_HEARTBEAT_INTERVAL_S", default=5.0)
JOB_HEARTBEAT_STALE_S = env.float("JOB_HEARTBEAT_STALE_S", default=30.0)
# How often a running generation looks for its cancellation (one Redis round trip for the whole batch).
JOB_CANCEL_CHECK_INTERVAL_S = env.float("JOB_CANCEL_CHECK_INTERVAL_S", default=0.1)
# A database error while claiming a job or writing its outcome is retried this many times (then the
# message is retried by Celery, or the sweeper finds the job by its stale heartbeat).
JOB_DB_RETRIES = env.int("JOB_DB_RETRIES", default=4)
# A finished job's input and result are deleted this many days after it ended (0: kept for ever);
# the row stays for usage. Checked hourly.
JOB_DATA_RETENTION_DAYS = env.int("JOB_DATA_RETENTION_DAYS", default=30)
# Fault testing (make chaos, ops/chaos/): JOB_RUN_LOG names a file where every worker appends one line when it
# starts running a job and one when the forward pass ends (job id, attempt, pid, time), so a job run twice
# can be seen; ECHO_CRASH_ENABLED lets the internal echo kind's "crash" input kill its worker (a poison job).
# Both off by default; echo is never reachable through the API or the sandbox anyway.
JOB_RUN_LOG = env.str("JOB_RUN_LOG", default="")
ECHO_CRASH_ENABLED = env.bool("ECHO_CRASH_ENABLED", default=False)
CELERY_TASK_SOFT_TIME_LIMIT = JOB_SOFT_TIME_LIMIT_S
CELERY_TASK_TIME_LIMIT = JOB_HARD_TIME_LIMIT_S
# A message not acknowledged within this time goes back to the queue; the
# conditional claim makes such a redelivery harmless.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": JOB_HARD_TIME_LIMIT_S + 60}
CELERY_BEAT_SCHEDULE = {
    "sweep-stale-jobs": {
        "task": "inference.tasks.sweep_jobs",
        "schedule": timedelta(seconds=JOB_SWEEP_INTERVAL_S),
        "options": {"queue": "fp.control"},
    },
    "purge-old-job-data": {
        "task": "inference.tasks.purge_job_data",
        "schedule": timedelta(hours=1),
        "options": {"queue": "fp.control"},
    },
    "sweep-stale-model-builds": {
        "task": "inference.tasks.sweep_model_builds",
        "schedule": timedelta(seconds=JOB_SWEEP_INTERVAL_S),
        "options": {"queue": "fp.control"},
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.request": {"level": "ERROR"},
        # Celery's "Task ... received" / "succeeded" lines, two a job: off unless asked for.
        "celery.app.trace": {"level": env.str("CELERY_TASK_LOG_LEVEL", default="WARNING")},
        "celery.worker.strategy": {"level": env.str("CELERY_TASK_LOG_LEVEL", default="WARNING")},
    },
}

# Models: where hub models are installed, where conversions are cached, how many stay loaded.
MODELS_DIR = Path(env.str("MODELS_DIR", default=str(DATA_DIR / "models")))
MODEL_CACHE_DIR = Path(env.str("MODEL_CACHE_DIR", default=str(DATA_DIR / "model-cache")))
MODEL_CACHE_BUDGET_MB = env.int("MODEL_CACHE_BUDGET_MB", default=4096)
INFERENCE_DEVICE = env.str("INFERENCE_DEVICE", default="auto")
# Precision on the CPU: auto (bfloat16 for the text encoders and classifiers when the CPU has native
# bfloat16, AVX512-BF16 or AMX; float32 otherwise), float32, or bfloat16 (every family).
INFERENCE_CPU_DTYPE = env.str("INFERENCE_CPU_DTYPE", default="auto")
if INFERENCE_CPU_DTYPE not in ("auto", "float32", "bfloat16"):
    raise ImproperlyConfigured(f"INFERENCE_CPU_DTYPE must be auto, float32 or bfloat16, not {INFERENCE_CPU_DTYPE!r}")
# Models a worker loads (and runs one tiny input through) before it takes a job, so its first jobs are
# warm (inference/jobs/warm.py): "served", every installed catalog model whose queue it consumes (the
# default, also when empty); "none"; or comma-separated model ids ("served" among them adds those).
WORKER_PRELOAD_MODELS = env.list("WORKER_PRELOAD_MODELS", default=["served"])

# Inputs: image limits (bytes before decoding, pixels read from the header).
MAX_IMAGE_BYTES = env.int("MAX_IMAGE_BYTES", default=8_000_000)
MAX_IMAGE_PIXELS = env.int("MAX_IMAGE_PIXELS", default=40_000_000)
# A JSON list of model folders installed on this machine by hand (see inference/catalog/local.py).
LOCAL_MODELS_FILE = env.str("LOCAL_MODELS_FILE", default="")
# Task kinds beyond inference/kinds/: modules or packages (comma-separated dotted names) whose TaskKind
# subclasses the registry adds after the tree's own (inference/registry.py).
TASK_KIND_MODULES = env.list("TASK_KIND_MODULES", default=[])

# API: waiting, bodies, limits, allowance.
API_WAIT_DEFAULT_S = env.float("API_WAIT_DEFAULT_S", default=30.0)  # then 202 with the job's Location
API_WAIT_MAX_S = env.float("API_WAIT_MAX_S", default=120.0)  # most a "Prefer: wait=N" may ask
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=12_000_000)
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BODY_BYTES
API_RATE_LIMIT_PER_MINUTE = env.int("API_RATE_LIMIT_PER_MINUTE", default=600)  # per key (or sandbox user)
API_MAX_JOBS_IN_FLIGHT = env.int("API_MAX_JOBS_IN_FLIGHT", default=64)  # per user, queued + running
API_MAX_QUEUED_PER_MODEL = env.int("API_MAX_QUEUED_PER_MODEL", default=2000)  # then 503 Retry-After
MONTHLY_COMPUTE_SECONDS = env.int("MONTHLY_COMPUTE_SECONDS", default=1000)  # per user; 0: unlimited
ALLOWANCE_CACHE_S = env.int("ALLOWANCE_CACHE_S", default=10)  # the month's sum is reused this long
# Threads torch uses in a worker process (0: torch's default, one per core).
TORCH_THREADS = env.int("TORCH_THREADS", default=0)
# OpenMP's waiting in a worker (runworker sets OMP_WAIT_POLICY unless it is set): PASSIVE (sleep) or ACTIVE
# (spin); "" leaves libgomp's default. See inference/management/commands/runworker.py for the figures.
WORKER_OMP_WAIT_POLICY = env.str("WORKER_OMP_WAIT_POLICY", default="PASSIVE")

# Uploaded models (MEDIA_ROOT/models/<user id>/<name>/v<N>/): the upload file, its entries, its unpacked size.
UPLOAD_MAX_BYTES = env.int("UPLOAD_MAX_BYTES", default=2_000_000_000)
UPLOAD_MAX_FILES = env.int("UPLOAD_MAX_FILES", default=200)
UPLOAD_MAX_UNPACKED_BYTES = env.int("UPLOAD_MAX_UNPACKED_BYTES", default=4_000_000_000)
# A build (unpack, check, run the example) is stopped after these limits; a build whose worker died
# is tried again up to UPLOAD_BUILD_MAX_ATTEMPTS times. A build message unanswered for
# UPLOAD_BUILD_RESEND_AFTER_S is sent again, and one no worker took within
# UPLOAD_BUILD_QUEUED_TIMEOUT_S fails with a reason (``sweep_model_builds``, beside the job sweeper).
UPLOAD_BUILD_SOFT_TIME_LIMIT_S = env.int("UPLOAD_BUILD_SOFT_TIME_LIMIT_S", default=600)
UPLOAD_BUILD_HARD_TIME_LIMIT_S = env.int("UPLOAD_BUILD_HARD_TIME_LIMIT_S", default=660)
UPLOAD_BUILD_MAX_ATTEMPTS = env.int("UPLOAD_BUILD_MAX_ATTEMPTS", default=2)
UPLOAD_BUILD_RESEND_AFTER_S = env.int("UPLOAD_BUILD_RESEND_AFTER_S", default=600)
UPLOAD_BUILD_QUEUED_TIMEOUT_S = env.int("UPLOAD_BUILD_QUEUED_TIMEOUT_S", default=3600)

# Request bodies and upload storage (config/asgi_limits.py, inference/uploads/services.py). A body is
# bounded while it streams in, before Django spools it: API_MAX_BODY_BYTES for every request, the upload
# endpoints UPLOAD_MAX_BYTES plus their form fields; a body over it is refused with 413 unread, and one
# sent to an API endpoint without a key or session with 401. The files of a user's uploaded models
# (building or ready versions) may take at most UPLOAD_STORAGE_QUOTA_BYTES (0: unlimited).
UPLOAD_STORAGE_QUOTA_BYTES = env.int("UPLOAD_STORAGE_QUOTA_BYTES", default=10_000_000_000)

# Batching in workers (inference/runtime/batching.py): concurrent jobs for one model and
# task kind run as one forward pass. A worker gathers jobs for at most
# BATCH_WAIT_MS after the first arrives, up to BATCH_MAX_SIZE jobs a batch.
BATCH_WAIT_MS = env.int("BATCH_WAIT_MS", default=5)
BATCH_MAX_SIZE = env.int("BATCH_MAX_SIZE", default=32)
# Jobs a worker process has in flight with the threads pool (runworker's default),
# so that many can share a batch. Celery's time limits do not apply to the threads
# pool: a hung job is left to the sweeper after JOB_HARD_TIME_LIMIT_S.
WORKER_CONCURRENCY = env.int("WORKER_CONCURRENCY", default=32)
WORKER_POOL = env.str("WORKER_POOL", default="threads")

# Generation cost (inference/kinds/text_generation.py, Batcher._take in
# inference/runtime/batching.py): one request may ask for at most
# GENERATION_MAX_TOKENS_PER_REQUEST new tokens, counted as texts × the larger of
# num_beams and num_generations × max_length (else 400 naming the bound and the
# cost); a worker stops adding jobs to a generation batch once their summed
# cost would pass GENERATION_BATCH_TOKEN_BUDGET (a batch always takes one job).
GENERATION_MAX_TOKENS_PER_REQUEST = env.int("GENERATION_MAX_TOKENS_PER_REQUEST", default=16_384)
GENERATION_BATCH_TOKEN_BUDGET = env.int("GENERATION_BATCH_TOKEN_BUDGET", default=32_768)
# Operations: Redis clients and the broker (inference/jobs/events.py, api/waiting.py, api/health.py,
# config/celery.py, scripts/run.sh). Every Redis client connects and reads within these bounds, so
# a frozen or unreachable Redis is an error (503 under /api/), never a hang.
REDIS_CONNECT_TIMEOUT_S = env.float("REDIS_CONNECT_TIMEOUT_S", default=2.0)
REDIS_SOCKET_TIMEOUT_S = env.float("REDIS_SOCKET_TIMEOUT_S", default=3.0)
CACHES["default"]["OPTIONS"] = {"socket_connect_timeout": REDIS_CONNECT_TIMEOUT_S,
                                "socket_timeout": REDIS_SOCKET_TIMEOUT_S}
# The broker and a result backend, if one is set: kombu's BRPOP waits 1 s, well under the socket timeout.
CELERY_BROKER_TRANSPORT_OPTIONS.update({
    "socket_connect_timeout": REDIS_CONNECT_TIMEOUT_S,
    "socket_timeout": REDIS_SOCKET_TIMEOUT_S,
    "socket_keepalive": True,
    "health_check_interval": 25,
})
CELERY_BROKER_CONNECTION_TIMEOUT = REDIS_CONNECT_TIMEOUT_S
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = REDIS_CONNECT_TIMEOUT_S
CELERY_REDIS_SOCKET_TIMEOUT = REDIS_SOCKET_TIMEOUT_S
# Sending a job's message: one more try after a failure, not three (each may wait a socket timeout).
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2,
                                    "interval_max": 0.2}

# Metrics (config/metrics.py, inference/metrics.py): GET /metrics in Prometheus's text format. With
# METRICS_TOKEN set it asks for "Authorization: Bearer <token>"; unset, it answers only requests from a
# loopback address that came through no proxy. PROMETHEUS_MULTIPROC_DIR (prometheus-client's own variable,
# read from the environment by every process) makes the web and worker processes share their samples
# through files there, so one scrape sees them all; 'make run' sets it to data/prometheus and empties it
# at start. Unset, each process reports only its own.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
PROMETHEUS_MULTIPROC_DIR = env.str("PROMETHEUS_MULTIPROC_DIR", default="")
if PROMETHEUS_MULTIPROC_DIR:
    Path(PROMETHEUS_MULTIPROC_DIR).mkdir(parents=True, exist_ok=True)
else:
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)  # set but empty would write files to the working dir
