"""Create (or reset) the demo account and issue it a fresh API key; prints both."""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.utils import timezone

from dashboard.services import api_key_create


class Command(BaseCommand):
    help = "Create or reset the demo user and print its login and a fresh API key."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="demo")

    def handle(self, *args, username: str, **options):
        User = get_user_model()
        user, _ = User.objects.get_or_create(username=username, defaults={"email": f"{username}@localhost"})
        password = secrets.token_urlsafe(12)
        user.set_password(password)
        user.save()
        issued = api_key_create(user=user, name=f"make run {timezone.now():%Y-%m-%d %H:%M}")
        self.stdout.write(f"Login: {username} / {password}")
        self.stdout.write(f"API key: {issued.plaintext}")
