"""The sandbox in a real browser: sign up, keys, every output kind, the request view and its snippets."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import expect

from dashboard.services import api_key_create

from .conftest import log_in, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]

RUN_TIMEOUT = 90_000  # ms: the first job of a model loads it in the worker
SHARED_IMAGES = Path(__file__).resolve().parents[3] / "shared" / "data" / "images"  # README.md there


def run_and_wait(page, selector: str):
    page.click("#run")
    expect(page.locator("#progress")).to_have_text(re.compile(r"Done|Failed"), timeout=RUN_TIMEOUT)
    return page.locator(selector)


def test_sign_up_create_key_and_run_emotion_with_the_shipped_model(page, live_server):
    page.goto("/signup/")
    page.fill("#id_username", "carol")
    page.fill("#id_email", "carol@example.com")
    page.fill("#id_password1", "a-long-pass-phrase-42")
    page.fill("#id_password2", "a-long-pass-phrase-42")
    page.click("button[type=submit]")
    page.wait_for_url("**/welcome/")

    page.goto("/keys/")
    page.fill("#id_name", "laptop")
    page.click("button:has-text('Create key')")
    expect(page.get_by_test_id("new-key")).to_have_text(re.compile(r"^\w+\.\w+$"))
    screenshot(page, "keys")

    page.goto("/sandbox/")
    page.wait_for_url("**/sandbox/emotion/")
    expect(page.get_by_test_id("model-name")).to_have_text("Emotion (MiniLM, GoEmotions)")
    page.click("#use-example")
    expect(page.locator("#f-text")).to_have_value("The service was awful, and so was the food.")
    chips = run_and_wait(page, "[data-testid=label-chip]")
    expect(chips.first).to_be_visible()
    assert re.search(r"\d\.\d\d", chips.first.inner_text()), "the chip shows its score"
    screenshot(page, "sandbox-emotion")

    page.goto("/usage/")
    screenshot(page, "usage")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/sandbox/emotion/")
    screenshot(page, "sandbox-emotion-phone")


def test_request_view_follows_the_form_and_its_snippets_run(page, live_server, user, tiny_models, tmp_path):
    issued = api_key_create(user=user, name="ci")
    log_in(page, user)
    page.goto("/sandbox/text-generation/?model=tiny-gpt2")
    page.click("#use-example")

    page.click("#toggle-request")
    snippet = page.locator("#snippet")
    expect(snippet).to_contain_text('"model": "tiny-gpt2"')
    assert "temperature" not in snippet.inner_text()  # defaults are left out
    page.click("#back-to-form")
    page.fill("#f-temperature", "0.7")
    page.fill("#f-max_length", "12")
    page.click("#toggle-request")
    expect(snippet).to_contain_text('"temperature": 0.7')
    page.select_option("#req-key", label=f"ci ({issued.api_key.prefix}…)")
    expect(snippet).to_contain_text(f"{issued.api_key.prefix}.********")
    page.select_option("#req-key", value="")
    screenshot(page, "request-view-curl")
    for tab in ("python", "js"):
        page.click(f"#tab-{tab}")
        expect(snippet).to_contain_text('"temperature"')
    screenshot(page, "request-view-js")
    page.click("#tab-curl")

    command = snippet.get_attribute("data-full")
    assert command.startswith("curl -X POST '" + live_server.url + "/api/text-generation'")
    command = command.replace("your-api-key", issued.plaintext)
    done = subprocess.run(["bash", "-c", command + " -s --max-time 90"], capture_output=True, text=True, timeout=120)
    body = json.loads(done.stdout)
    assert isinstance(body["output"], str) and body["output"].startswith("Once upon a time")

    # The Python and JavaScript snippets run as shown too (with the key filled in).
    page.click("#tab-python")
    program = snippet.get_attribute("data-full").replace("your-api-key", issued.plaintext)
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120)
    assert re.search(r"""^\{'output': ['"]Once upon a time""", done.stdout), done.stderr  # the printed dict
    page.click("#tab-js")
    script = tmp_path / "snippet.mjs"  # a module: the snippet awaits at its top level
    script.write_text(snippet.get_attribute("data-full").replace("your-api-key", issued.plaintext))
    done = subprocess.run(["node", str(script)], capture_output=True, text=True, timeout=120)
    assert re.search(r"""^\{\s*output: ['"`]Once upon a time""", done.stdout), done.stderr  # the logged object


def test_image_classification_shows_probability_bars(page, live_server, user, tiny_models, tmp_path):
    from PIL import Image

    photo = tmp_path / "square.png"
    Image.new("RGB", (64, 48), (200, 120, 40)).save(photo)
    log_in(page, user)
    page.goto("/sandbox/image-classification/?model=tiny-clip")
    page.set_input_files("#f-image", str(photo))
    expect(page.locator(".sb-preview")).to_be_visible()
    page.fill("#f-labels", "cat, dog, car")
    bars = run_and_wait(page, "[data-testid=probability-bar]")
    expect(bars).to_have_count(3)
    values = [float(v.rstrip("%")) for v in page.locator(".sb-bar-value").all_inner_texts()]
    assert values == sorted(values, reverse=True) and abs(sum(values) - 100) < 1
    screenshot(page, "sandbox-image-classification")

    page.click("#use-example")  # the example photo and labels
    expect(page.locator("#f-labels")).to_have_value("cat, dog, car")
    expect(page.locator(".sb-preview")).to_have_attribute("src", re.compile(r"^data:image/png;base64,"))


def test_text_generation_with_parameters(page, live_server, user, tiny_models):
    log_in(page, user)
    page.goto("/sandbox/text-generation/?model=tiny-gpt2")
    page.click("#use-example")
    page.fill("#f-min_length", "4")
    page.fill("#f-max_length", "8")
    page.fill("#f-top_k", "50")
    page.fill("#f-temperature", "0.9")
    generations = run_and_wait(page, "[data-testid=generation]")  # streamed: one generation, no beams
    expect(generations).to_have_count(1)
    assert generations.first.inner_text().startswith("Once upon a time")
    screenshot(page, "sandbox-text-generation")

    page.fill("#f-num_generations", "2")
    generations = run_and_wait(page, "[data-testid=generation]")
    expect(generations).to_have_count(2)

    page.click("#reset")
    expect(page.locator("#f-temperature")).to_have_value(re.compile(r"^1(\.0)?$"))
    expect(page.locator("#f-text")).to_have_value("")


def test_the_declared_range_sliders_never_cross(page, live_server, user):
    from inference.registry import kind_get

    [declared] = kind_get("text-generation").ranges
    log_in(page, user)
    page.goto("/sandbox/text-generation/")
    out = page.locator(f"[data-range-out={declared.name}]")
    expect(out).to_have_text(f"10 to 20 {declared.unit}")
    high = page.locator(f"[data-slider-for={declared.high}]")
    high.evaluate("node => { node.value = '4'; node.dispatchEvent(new Event('input', { bubbles: true })); }")
    expect(page.locator(f"#f-{declared.low}")).to_have_value("4")  # pushed down with it
    expect(out).to_have_text(f"4 to 4 {declared.unit}")
    page.click("#toggle-request")
    expect(page.locator("#snippet")).to_contain_text(f'"{declared.low}": 4')


def test_invalid_input_shows_a_readable_error(page, live_server, user, tiny_models):
    log_in(page, user)
    page.goto("/sandbox/text-classification/?model=tiny-encoder")
    page.fill("#f-text", "Spain won the final.")
    error = run_and_wait(page, ".sb-error")
    expect(error).to_contain_text("labels")
    text = error.inner_text()
    assert "Traceback" not in text and "{" not in text
    expect(page.locator("#f-labels")).to_have_attribute("aria-invalid", "true")
    screenshot(page, "sandbox-text-classification-error")


def test_every_kind_page_loads_without_script_errors(page, live_server, user):
    from inference.registry import public_kinds

    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in(page, user)
    for kind in public_kinds():
        page.goto(f"/sandbox/{kind.name}/")
        page.click("#use-example")
        page.click("#toggle-request")
        expect(page.locator("#snippet")).to_contain_text(f"/api/{kind.name}")
        page.click("#back-to-form")
        screenshot(page, f"sandbox-{kind.name}-example")
        page.click(f"a[href='/sandbox/{kind.name}/reference/']")
        expect(page.locator("h1")).to_have_text(f"{kind.title} reference")
    screenshot(page, "reference-image-text-vectorisation")
    assert errors == []


# The tutorial's image-classification step: a photo and bird labels, of which ImageNet has only some.
TUTORIAL_LABELS = "crow, falcon, eagle, raven, pigeon, cardinal, bluejay, robin, sparrow"
MATCHED = {"eagle", "bluejay", "robin"}  # tests/inference/test_backends_vision.py: the classes ImageNet has
UNMATCHED = ["crow", "falcon", "raven", "pigeon", "cardinal", "sparrow"]


@pytest.mark.bundled
def test_image_classification_names_the_labels_no_imagenet_class_matches(page, live_server, user):
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in(page, user)
    page.goto("/sandbox/image-classification/")
    expect(page.get_by_test_id("model-name")).to_have_text("EfficientNet-Lite0 (ImageNet-1k)")
    page.set_input_files("#f-image", str(SHARED_IMAGES / "chelsea.png"))
    expect(page.locator(".sb-preview")).to_be_visible()
    page.fill("#f-labels", TUTORIAL_LABELS)
    bars = run_and_wait(page, "[data-testid=probability-bar]")

    assert page.locator(".sb-error").all_inner_texts() == []  # the run has ended (Done or Failed)
    expect(page.locator("#progress")).to_have_text(re.compile(r"^Done"))
    expect(bars).to_have_count(len(MATCHED))
    assert set(page.locator(".sb-bar-label").all_inner_texts()) == MATCHED
    values = [float(v.rstrip("%")) for v in page.locator(".sb-bar-value").all_inner_texts()]
    assert values == sorted(values, reverse=True) and abs(sum(values) - 100) < 1
    unmatched = page.get_by_test_id("unmatched")
    expect(unmatched).to_have_count(1)
    for label in UNMATCHED:
        expect(unmatched).to_contain_text(label)
    for label in MATCHED:
        expect(unmatched).not_to_contain_text(label)
    screenshot(page, "sandbox-image-classification-unmatched")

    # A list of images answers a list per image (probabilities and unmatched alike): one chart each,
    # each naming its own unmatched labels. The sandbox form sends one image; the API's answer for two
    # is drawn by the same renderer.
    photos = ["data:image/png;base64," + base64.b64encode((SHARED_IMAGES / name).read_bytes()).decode()
              for name in ("chelsea.png", "coffee.png")]
    result = page.evaluate("""async ([images, labels]) => {
        const token = document.cookie.match(/(?:^|;\\s*)csrftoken=([^;]+)/)[1];
        const response = await fetch("/api/image-classification", {method: "POST", credentials: "same-origin",
            headers: {"Content-Type": "application/json", "X-CSRFToken": token, "Prefer": "wait=90"},
            body: JSON.stringify({image: images, labels})});
        return await response.json();
    }""", [photos, TUTORIAL_LABELS])
    assert isinstance(result["probabilities"], list) and len(result["probabilities"]) == 2
    assert result["unmatched"] == [UNMATCHED, UNMATCHED]
    page.evaluate("""async (result) => {
        const { render } = await import("/static/sandbox/renderers.js");
        const decl = JSON.parse(document.getElementById("kind-declaration").textContent);
        document.getElementById("output").replaceChildren(...render(decl, result));
    }""", result)
    expect(page.locator(".sb-bars")).to_have_count(2)
    expect(page.get_by_test_id("unmatched")).to_have_count(2)
    expect(page.get_by_test_id("unmatched").nth(1)).to_contain_text("sparrow")
    assert errors == []
