"""The sandbox pages through the Django test client: generated from each task kind's declaration."""

from __future__ import annotations

import html

import pytest

from inference.registry import public_kinds

KINDS = [kind.name for kind in public_kinds()]


@pytest.fixture
def signed_in(client, user):
    client.force_login(user)
    return client


def test_sandbox_needs_login(client, db):
    response = client.get("/sandbox/emotion/")
    assert response.status_code == 302
    assert "/login/" in response["Location"]


def test_sandbox_index_redirects_to_emotion(signed_in):
    response = signed_in.get("/sandbox/")
    assert response.status_code == 302
    assert response["Location"] == "/sandbox/emotion/"


@pytest.mark.parametrize("kind_name", KINDS)
def test_kind_page_has_a_field_and_help_per_visible_param(signed_in, kind_name):
    from inference.registry import kind_get

    kind = kind_get(kind_name)
    response = signed_in.get(f"/sandbox/{kind_name}/")
    assert response.status_code == 200
    page = html.unescape(response.content.decode())
    for p in kind.params:
        if p.ui.get("hidden"):
            assert f'name="{p.name}"' not in page
            continue
        assert f'id="f-{p.name}"' in page and f'name="{p.name}"' in page, p.name
        assert f'<label for="f-{p.name}"' in page or f'<label class="sb-check" for="f-{p.name}"' in page, p.name
        assert p.help in page and p.bounds_text() in page, p.name
    assert f'href="/sandbox/{kind_name}/reference/"' in page
    declaration = response.context["declaration"]
    assert declaration["default_model"] == kind.default_model
    assert declaration["example"] == kind.example


def test_text_generation_form_groups_length_and_hides_advanced(signed_in):
    page = signed_in.get("/sandbox/text-generation/").content.decode()
    assert 'data-group="length"' in page
    advanced = page[page.index('class="sb-advanced"'):page.index("</details>", page.index('class="sb-advanced"'))]
    assert 'name="seed"' in advanced and 'name="temperature"' not in advanced
    assert 'value="1.0"' in page  # the defaults are shown


def test_models_listed_with_install_hint(signed_in):
    response = signed_in.get("/sandbox/text-generation/")
    choices = response.context["choices"]
    assert any(c.spec.id == "smollm2-135m-instruct" for c in choices)
    missing = [c for c in choices if not c.spec.installed]
    page = html.unescape(response.content.decode())
    for choice in missing:
        assert choice.spec.install_hint in page


def test_uploaded_or_unknown_model_falls_back_to_default(signed_in):
    response = signed_in.get("/sandbox/emotion/?model=no-such-model")
    assert response.status_code == 200
    assert response.context["model"].id == "emotion-minilm-goemotions"
    assert "no-such-model" in response.content.decode()


def test_keys_offered_by_name_and_prefix_only(signed_in, issued_key):
    page = signed_in.get("/sandbox/emotion/").content.decode()
    assert issued_key.api_key.prefix in page and "test key" in page
    assert issued_key.plaintext not in page


@pytest.mark.parametrize("kind_name", KINDS)
def test_reference_page(signed_in, kind_name):
    from inference.registry import kind_get

    kind = kind_get(kind_name)
    response = signed_in.get(f"/sandbox/{kind_name}/reference/")
    assert response.status_code == 200
    page = html.unescape(response.content.decode())
    for p in kind.params:
        assert f'data-param="{p.name}"' in page
        assert p.bounds_text() in page
    for name in kind.response_schema["properties"]:
        assert f"<code>{name}</code>" in page
    assert "invalid_api_key" in page


def test_unknown_and_internal_kinds_are_404(signed_in):
    assert signed_in.get("/sandbox/no-such-kind/").status_code == 404
    assert signed_in.get("/sandbox/echo/").status_code == 404
    assert signed_in.get("/sandbox/no-such-kind/reference/").status_code == 404


def test_unknown_job_is_404(signed_in):
    import uuid

    assert signed_in.get(f"/sandbox/jobs/{uuid.uuid4()}/").status_code == 404
