"""Django's PBKDF2 hasher, counting how many passwords it checked (the live server's threads share it)."""

from __future__ import annotations

import threading

from django.contrib.auth.hashers import PBKDF2PasswordHasher


class CountingPBKDF2PasswordHasher(PBKDF2PasswordHasher):
    checks = 0
    _lock = threading.Lock()

    def verify(self, password: str, encoded: str) -> bool:
        with CountingPBKDF2PasswordHasher._lock:
            CountingPBKDF2PasswordHasher.checks += 1
        return super().verify(password, encoded)
