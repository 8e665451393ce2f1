"""The API docs pages: Swagger UI and ReDoc from local static files, and the schema they read."""

import re

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

_TAG_URLS = re.compile(r"<(?:script|link|img)\b[^>]*\b(?:src|href)\s*=\s*[\"']([^\"']+)", re.I)


@pytest.mark.parametrize("path", ["/api/docs", "/api/redoc"])
def test_docs_pages_use_only_local_static_files(path):
    response = Client().get(path)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    urls = _TAG_URLS.findall(html)
    assert urls, "expected the page to load its UI from static files"
    assert not [url for url in urls if re.match(r"^(https?:)?//", url)], urls
    assert "/static/" in html
    assert not re.search(r"https?://(cdn|unpkg|fastly)\.", html)


def test_schema_lists_every_task_endpoint_and_the_error_shape():
    response = Client().get("/api/schema", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    schema = response.json()
    from inference.registry import public_kinds

    for kind in public_kinds():
        operation = schema["paths"][f"/api/{kind.name}"]["post"]
        assert {"200", "202", "400", "404", "429"} <= set(operation["responses"])
    assert "Error" in schema["components"]["schemas"]
    assert schema["components"]["securitySchemes"]["ApiKeyAuth"]["name"] == "x-api-key"


def test_schema_documents_the_paginated_job_list():
    schema = Client().get("/api/schema", HTTP_ACCEPT="application/json").json()
    response = schema["paths"]["/api/jobs"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    page = schema["components"]["schemas"][response["$ref"].rsplit("/", 1)[1]]
    assert set(page["properties"]) == {"count", "next", "previous", "results"}
    names = {p["name"] for p in schema["paths"]["/api/jobs"]["get"]["parameters"]}
    assert {"limit", "offset", "status", "task"} <= names


def test_schema_documents_the_health_report_with_its_warm_models():
    schema = Client().get("/api/schema", HTTP_ACCEPT="application/json").json()
    responses = schema["paths"]["/api/health"]["get"]["responses"]
    for status in ("200", "503"):
        ref = responses[status]["content"]["application/json"]["schema"]["$ref"]
        properties = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]["properties"]
        assert {"status", "checks", "models", "workers", "warnings"} <= set(properties)
        assert properties["models"]["additionalProperties"]["enum"] == ["warm", "cold"]
        assert properties["workers"]["type"] == "integer"
