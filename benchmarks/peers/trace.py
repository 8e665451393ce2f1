"""Where a single client's request spends its time (``make bench-peers`` environment; PEERS_TRACE=1).

Sends sequential requests to a Forwardpass stack started as in the peer run and
splits each into: before the row was inserted (``created_at``), queued (to the
claim, ``started_at``), running (to ``finished_at``) and after (the done
message and the answer), from the job rows' timestamps. Printed as medians.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402

from benchmarks.peers.load import _request, dev_comments  # noqa: E402
from benchmarks.peers.systems import HOST, Forwardpass  # noqa: E402
from dashboard.services import api_key_create  # noqa: E402
from inference.models import InferenceJob  # noqa: E402


def main() -> None:
    texts = dev_comments(ROOT.parent / "shared" / "data" / "goemotions" / "dev.tsv", 400)
    user, _ = get_user_model().objects.get_or_create(username="peers", defaults={"email": "peers@example.invalid"})
    key = api_key_create(user=user, name="trace").plaintext
    peer = Forwardpass(key, dict(os.environ))
    try:
        peer.start()
        rows = []
        for i, text in enumerate(texts[:int(os.environ.get("PEERS_TRACE_N", "200"))]):
            sent = time.time()
            status, _ = asyncio.run(_request(HOST, peer.port, peer.request(text), 60))
            answered = time.time()
            if i < 20:
                continue
            job = InferenceJob.objects.filter(owner=user).order_by("-created_at").first()
            rows.append((job.created_at.timestamp() - sent, job.started_at.timestamp() - job.created_at.timestamp(),
                         job.finished_at.timestamp() - job.started_at.timestamp(),
                         answered - job.finished_at.timestamp(), answered - sent, job.compute_ms or 0))
        names = ["to insert", "queued", "running", "after", "total", "compute_ms"]
        for n, col in zip(names, zip(*rows, strict=True), strict=True):
            scale = 1 if n == "compute_ms" else 1000
            print(f"{n:>10}: p50 {statistics.median(col) * scale:6.1f} ms  min {min(col) * scale:6.1f}")
    finally:
        peer.stop()


if __name__ == "__main__":
    main()
