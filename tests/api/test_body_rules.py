"""The ASGI handler's early 401 (``config/asgi_limits.py``) matches what every API endpoint answers without a key."""

import uuid

import pytest
from django.urls import URLPattern, get_resolver, reverse
from rest_framework.test import APIClient

from config.asgi_limits import body_rule

pytestmark = pytest.mark.django_db


def _api_paths() -> list[str]:
    """Every named endpoint under /api/ (task endpoints included), with sample arguments."""
    samples = {"job_id": uuid.uuid4(), "kind_name": "emotion", "model_id": "tiny-emotion"}
    api = next(p for p in get_resolver().url_patterns if getattr(p, "namespace", None) == "api")
    paths = []
    for pattern in api.url_patterns:
        if isinstance(pattern, URLPattern) and pattern.name:
            kwargs = {name: samples[name] for name in pattern.pattern.regex.groupindex}
            paths.append(reverse(f"api:{pattern.name}", kwargs=kwargs))
    return paths


@pytest.mark.parametrize("path", _api_paths())
def test_a_body_is_refused_early_exactly_where_the_endpoint_answers_401(path):
    answered = APIClient().post(path, {"text": "hi"}, format="json").status_code
    assert body_rule(path).needs_key == (answered == 401), (path, answered)


def test_unknown_api_paths_and_pages_need_no_key():
    assert not body_rule("/api/no/such/endpoint").needs_key
    assert not body_rule("/login/").needs_key
