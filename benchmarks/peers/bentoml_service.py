"""The peer: all-MiniLM-L6-v2 served by BentoML 1.4 with adaptive batching (``make bench-peers``).

Run by ``benchmarks/peers.py`` with ``bentoml serve`` from a scratch virtualenv
(``data/peers-venv``: torch 2.13.0, BentoML, the same transformers as
Forwardpass), never imported by the product. It computes what Forwardpass's
``sentence-encoder`` family computes for ``text-vectorisation``: the bundled
model's mean-pooled, L2-normalised last hidden states, 256 tokens at most.

``POST /encode`` with ``{"texts": ["..."]}`` answers ``[[384 numbers]]``.
"""

from __future__ import annotations

import os

import bentoml
import numpy as np
import torch
from transformers import AutoModel, AutoTokenizer

MODEL_PATH = os.environ["PEER_MODEL_PATH"]
MAX_TOKENS = int(os.environ.get("PEER_MAX_TOKENS", "256"))


@bentoml.service(workers=1, traffic={"timeout": 180, "max_concurrency": 512})
class Encoder:
    def __init__(self) -> None:
        self.tokenizer = AutoTokenizer.from_pretrained(MODEL_PATH)
        self.model = AutoModel.from_pretrained(MODEL_PATH, dtype=torch.float32).eval()

    @bentoml.api(batchable=True, max_batch_size=32, max_latency_ms=60_000)
    def encode(self, texts: list[str]) -> np.ndarray:
        with torch.inference_mode():
            batch = self.tokenizer(texts, padding=True, truncation=True, max_length=MAX_TOKENS,
                                   return_tensors="pt")
            hidden = self.model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(torch.float32)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=-1).numpy()
