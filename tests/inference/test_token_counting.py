"""Token bounds are checked in the web process with the model's own tokenizer, without transformers or torch.

Found by ``make bench-peers``: the first request of each web process that counted tokens imported
transformers, and with it torch (several core-seconds on the shared cores, while requests queued behind
it, and hundreds of megabytes per web process). Fast tokenizers are now read with the ``tokenizers``
library alone; these tests hold it to transformers' own counts.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from inference.catalog import catalog_models
from inference.inputs.tokens import token_counter

ROOT = Path(__file__).resolve().parents[2]

TEXTS = [
    "",
    "The service was awful, and so was the food.",
    "Ünïcödé, emoji 🙂 and [NAME] tags\twith\ttabs",
    # Longer than the 64 tokens the emotion model's tokenizer.json was saved to truncate at.
    " ".join(f"word{i}" for i in range(300)),
]


def installed_tokenizer_folders() -> list[tuple[str, Path]]:
    folders = []
    for spec in catalog_models():
        folder = spec.tokenizer_folder if spec.installed else None
        if folder is not None and (folder / "tokenizer_config.json").exists():
            folders.append((spec.id, folder))
    return folders


def test_counts_equal_transformers_own_for_every_installed_model(tiny_models):
    from transformers import AutoTokenizer

    folders = installed_tokenizer_folders()
    assert any(model_id == "tiny-emotion" for model_id, _ in folders)
    for model_id, folder in folders:
        count = token_counter(folder, "test")
        assert count is not None, model_id
        reference = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        for text in TEXTS:
            expected = len(reference(text, add_special_tokens=False)["input_ids"])
            assert count(text) == expected, (model_id, text[:40])


def test_the_emotion_models_saved_truncation_does_not_cap_a_count():
    emotion = next((spec for spec in catalog_models() if spec.id == "emotion-minilm-goemotions"), None)
    if emotion is None or not emotion.installed:
        pytest.skip("the bundled emotion model is not installed")
    count = token_counter(emotion.tokenizer_folder, emotion.revision)
    assert count is not None
    assert count(TEXTS[-1]) > 64 * 4


def test_counting_tokens_in_a_web_process_imports_neither_transformers_nor_torch():
    script = textwrap.dedent("""
        import os, sys
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        import django
        django.setup()
        import config.asgi  # the web process's application
        from inference.catalog import catalog_get
        from inference.inputs.tokens import token_counter
        spec = catalog_get("all-minilm-l6-v2")
        if spec is None or not spec.installed:
            print("skip")
            raise SystemExit(0)
        assert token_counter(spec.tokenizer_folder, spec.revision)("The service was awful.") > 3
        print(sorted(name for name in ("torch", "transformers") if name in sys.modules))
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    if done.stdout.strip() == "skip":
        pytest.skip("the bundled all-MiniLM-L6-v2 is not installed")
    assert done.stdout.strip().splitlines()[-1] == "[]"
