"""The Celery app. Workers start with ``python manage.py runworker``.

Settings come from Django's settings (``CELERY_*``); task modules are found in
the installed apps (``inference/tasks.py``).
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("forwardpass")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
