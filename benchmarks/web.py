"""The web tier alone: the web process's CPU per request, emotion over HTTP at 32 concurrent clients.

``make bench`` measures everything (four models, every concurrency level); this
measures only its ``emotion_http_c32_web_cpu_ms`` figure, a few rounds side by
side, for changes to the request path (``BENCH_ONLY=web make bench``). It starts
a worker serving the emotion model alone and the web server, as run.py does.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402

from benchmarks.harness import CpuMeter, free_port, start_web, start_worker  # noqa: E402
from benchmarks.run import EMOTION, OverHttp, jobs_for, wait_for_emotion_model  # noqa: E402
from dashboard.services import api_key_create  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
CONCURRENCY = 32


def main() -> None:
    import httpx

    user, _ = get_user_model().objects.get_or_create(username="bench", defaults={"email": "bench@example.invalid"})
    key = api_key_create(user=user, name=f"bench web {time.strftime('%Y-%m-%d %H:%M:%S')}").plaintext
    if not wait_for_emotion_model(float(os.environ.get("BENCH_WAIT_FOR_EMOTION_S", "300"))):
        raise SystemExit(f"{EMOTION} is not installed")
    worker = web = None
    web_ms, rates = [], []
    try:
        worker = start_worker([EMOTION], models=[EMOTION])
        port = free_port()
        web = start_web(port, int(os.environ.get("BENCH_WEB_WORKERS", "1")))
        meter = CpuMeter(worker.process.pid, web.process.pid)
        http = OverHttp(f"http://127.0.0.1:{port}", key)
        with httpx.Client(base_url=http.base_url, timeout=180) as client:
            for _ in range(5):
                http.one(client, "emotion")
        http.throughput("emotion", CONCURRENCY)  # warm the web process's paths and pools
        for round_ in range(ROUNDS):
            with meter.measure(jobs_for(CONCURRENCY)):
                rates.append(http.throughput("emotion", CONCURRENCY))
            web_ms.append(meter.last.get("web", float("nan")))
            print(f"round {round_ + 1}: {rates[-1]:.1f} requests/s, {meter.describe()} "
                  f"(load {os.getloadavg()[0]:.1f})", flush=True)
        if http.errors:
            print(f"HTTP errors: {http.errors}", flush=True)
    finally:
        for service in (web, worker):
            if service is not None:
                service.stop()
    print(f"emotion_http_c32_web_cpu_ms={min(web_ms):.3f} (min of {ROUNDS}; all: "
          f"{', '.join(f'{ms:.2f}' for ms in web_ms)})")
    print(f"emotion_http_c32_rps={max(rates):.1f}")


if __name__ == "__main__":
    main()
