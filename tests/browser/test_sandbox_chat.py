"""The sandbox's chat view in a real browser: a conversation with a tiny chat model through the real worker."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from inference.models import InferenceJob

from .conftest import log_in, screenshot
from .test_sandbox import RUN_TIMEOUT

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker")]


def test_a_conversation_streams_its_answers_and_goes_on(page, live_server, user, tiny_models):
    log_in(page, user)
    page.goto("/sandbox/chat/?model=tiny-chat")
    page.click("#use-example")
    expect(page.locator("#f-messages-system")).to_have_value(re.compile("helpful assistant"))
    expect(page.locator("#f-messages")).to_have_value("What is the capital of France?")
    page.fill("#f-max_tokens", "6")

    page.click("#run")
    expect(page.locator("#progress")).to_have_text(re.compile(r"Done|Failed"), timeout=RUN_TIMEOUT)
    expect(page.locator("#progress")).to_have_text(re.compile("Done"))
    expect(page.locator("[data-testid=chat-answer]")).to_have_count(1)
    expect(page.locator("[data-testid=chat-usage]")).to_contain_text("prompt tokens")
    first = InferenceJob.objects.get(task_kind="chat")
    assert first.input["stream"] is True  # one choice: the answer streamed in
    answer = first.output["choices"][0]["message"]["content"]

    # The conversation goes on: the question and the answer are turns now, and the next message is empty.
    expect(page.locator("[data-testid=chat-user]")).to_have_text(re.compile("capital of France"))
    expect(page.locator("[data-testid=chat-assistant]")).to_have_count(1)
    expect(page.locator("#f-messages")).to_have_value("")
    page.fill("#f-messages", "And of Italy?")
    page.click("#run")
    expect(page.locator("#progress")).to_have_text(re.compile(r"Done|Failed"), timeout=RUN_TIMEOUT)
    second = InferenceJob.objects.filter(task_kind="chat").order_by("-created_at").first()
    assert second.input["messages"] == [
        {"role": "system", "content": first.input["messages"][0]["content"]},
        {"role": "user", "content": "What is the capital of France?"},
        {"role": "assistant", "content": answer},
        {"role": "user", "content": "And of Italy?"},
    ]
    expect(page.locator("[data-testid=chat-user]")).to_have_count(2)
    screenshot(page, "sandbox-chat")

    page.click("[data-chat-clear]")
    expect(page.locator("[data-testid=chat-user]")).to_have_count(0)


def test_the_chat_request_view_offers_the_openai_sdk(page, live_server, user, tiny_models):
    import subprocess
    import sys

    from dashboard.services import api_key_create

    issued = api_key_create(user=user, name="chat sdk")
    log_in(page, user)
    page.goto("/sandbox/chat/")
    page.click("#use-example")
    page.fill("#f-messages", "Once upon a time")
    page.click("#toggle-request")
    page.click("#tab-openai-python")
    snippet = page.locator("#snippet")
    expect(snippet).to_contain_text("from openai import OpenAI")
    expect(snippet).to_contain_text(f'base_url="{live_server.url}/v1"')
    expect(snippet).to_contain_text("client.chat.completions.create(")
    expect(snippet).to_contain_text('model="smollm2-135m-instruct"')
    expect(page.locator("#req-url")).to_have_text(f"{live_server.url}/v1/chat/completions")
    page.goto("/sandbox/chat/?model=tiny-chat")  # another model: the snippet follows it
    page.click("#use-example")
    page.fill("#f-messages", "Once upon a time")
    page.fill("#f-max_tokens", "5")
    page.click("#toggle-request")
    page.click("#tab-openai-python")
    expect(snippet).to_contain_text('model="tiny-chat"')
    program = snippet.get_attribute("data-full").replace("your-api-key", issued.plaintext)
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr  # print(response.choices[0].message.content)
    job = InferenceJob.objects.filter(task_kind="chat").latest("created_at")
    assert job.input["messages"][-1] == {"role": "user", "content": "Once upon a time"}
    assert done.stdout.strip() == job.output["choices"][0]["message"]["content"].strip()
    page.click("#tab-openai-js")
    expect(snippet).to_contain_text('import OpenAI from "openai"')
    expect(snippet).to_contain_text("console.log(response.choices[0].message.content)")


def test_the_openai_sdk_snippets_run_as_shown(page, live_server, user, tiny_models, tmp_path):
    """Text vectorisation's request view offers the OpenAI SDK call; both languages' snippets run as shown."""
    import json
    import subprocess
    import sys

    from dashboard.services import api_key_create

    issued = api_key_create(user=user, name="sdk")
    log_in(page, user)
    page.goto("/sandbox/text-vectorisation/?model=tiny-encoder")
    page.click("#use-example")
    page.click("#toggle-request")
    snippet = page.locator("#snippet")
    page.click("#tab-openai-python")
    expect(snippet).to_contain_text("client.embeddings.create(")
    expect(snippet).to_contain_text('model="tiny-encoder"')
    program = snippet.get_attribute("data-full").replace("your-api-key", issued.plaintext)
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)  # print(response.data[0].embedding): a list of floats
    assert len(printed) > 8 and all(isinstance(x, float) for x in printed)

    page.click("#tab-openai-js")
    installed = subprocess.run(["npm", "install", "--silent", "--no-audit", "--no-fund", "openai@6"], cwd=tmp_path,
                               capture_output=True, text=True, timeout=300)
    if installed.returncode != 0:
        pytest.skip(f"the openai npm package did not install here: {installed.stderr[-300:]}")
    script = tmp_path / "snippet.mjs"  # beside node_modules, so `import OpenAI from "openai"` resolves
    script.write_text(snippet.get_attribute("data-full").replace("your-api-key", issued.plaintext))
    done = subprocess.run(["node", str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.lstrip().startswith("[") and len(done.stdout.split(",")) > 8
