"""ASGI entry point: gunicorn runs it with uvicorn workers (see ``scripts/run.sh``).

ASGI lets a request that waits for its job await a Redis message instead of
holding a thread or a process.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_asgi_application()
