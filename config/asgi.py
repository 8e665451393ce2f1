"""ASGI entry point: gunicorn runs it with uvicorn workers (see ``scripts/run.sh``).

ASGI lets a request that waits for its job await a Redis message instead of
holding a thread or a process. The handler is Django's, with request bodies
bounded while they stream in (``config/asgi_limits.py``).
"""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Each request's sync code runs on a thread of its own here: PostgreSQL connections come from a pool
# (config/settings.py, DATABASE_POOL), not one persistent connection per thread.
os.environ.setdefault("DATABASE_POOL", "1")
django.setup(set_prefix=False)  # as get_asgi_application() does; the handler's module imports models

from config.asgi_limits import BoundedBodyASGIHandler  # noqa: E402  (needs the apps loaded)

application = BoundedBodyASGIHandler()
