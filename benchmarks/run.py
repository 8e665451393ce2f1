"""Benchmarks: the bundled models in-process, through the Celery worker, and over HTTP.

Run with ``make bench`` (``scripts/bench.sh`` sets up the environment: its own
database under ``data/bench``, Redis database 14, a generated secret). This
script starts its own worker (``manage.py runworker``, threads pool) and web
server (gunicorn + uvicorn) on loopback and stops them at the end.

Prints a throughput table for the emotion model and, last, one ``name=value``
line per figure. Benchmarks are not tests: nothing here fails on a time.
"""

from __future__ import annotations

import asyncio
import math
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402

from benchmarks.harness import (  # noqa: E402
    CpuMeter,
    JobEvents,
    closed_loop,
    free_port,
    p50,
    plot_curves,
    process_rss_mb,
    start_web,
    start_worker,
    timed,
)
from benchmarks.peers.load import dev_comments, post_bytes, run_level  # noqa: E402
from dashboard.services import api_key_create  # noqa: E402
from inference.catalog import catalog_get  # noqa: E402
from inference.jobs import job_prepare, job_submit  # noqa: E402
from inference.runtime.loading import backend_get  # noqa: E402

EMOTION = "emotion-minilm-goemotions"
VECTOR = "all-minilm-l6-v2"
SMOLLM = "smollm2-135m-instruct"
BUNDLED = [EMOTION, VECTOR, SMOLLM, "efficientnet-lite0"]
LEVELS = [1, 2, 4, 8, 16, 32, 64]
SHORT_TEXT = "Thank you so much, this made my day!"
GEN_TOKENS = 64


def texts(n: int) -> list[str]:
    return [f"{SHORT_TEXT} ({i})" for i in range(n)]


def jobs_for(concurrency: int) -> int:
    """Jobs per measurement: enough for several rounds at this concurrency, bounded."""
    return min(max(8 * concurrency, 48), 384)


def wait_for_emotion_model(timeout: float) -> bool:
    """The emotion model may be being retrained (its folder briefly missing): wait for it, bounded."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        spec = catalog_get(EMOTION)
        if spec is not None and spec.installed:
            return True
        print(f"waiting for {EMOTION} to be installed...", flush=True)
        time.sleep(10)
    return False


# -- in-process ---------------------------------------------------------------

class InProcess:
    """A task kind run straight on the loaded backend, as the worker would run one batch."""

    def __init__(self, user, kind_name: str, model_id: str, extra: dict | None = None) -> None:
        self.extra = extra or {}
        self.kind, self.spec, _ = job_prepare(user=user, kind_name=kind_name, model_id=model_id,
                                                       data={"text": SHORT_TEXT, **self.extra})
        self.backend = backend_get(self.spec)

    def inputs(self, n: int) -> list[dict]:
        return [self.kind.clean({"text": text, **self.extra}) for text in texts(n)]

    def latency_ms(self, runs: int = 30) -> float:
        one = self.inputs(1)
        return p50(timed(lambda: self.kind.run(self.backend, one), runs=runs))

    def throughput(self, batch: int, seconds: float = 2.0) -> float:
        """Items a second running ``batch`` inputs as one call, again and again for ``seconds``."""
        many = self.inputs(batch)
        self.kind.run(self.backend, many)  # warm
        started, items = time.perf_counter(), 0
        while time.perf_counter() - started < seconds:
            self.kind.run(self.backend, many)
            items += batch
        return items / (time.perf_counter() - started)


# -- through the worker ---------------------------------------------------------

class ThroughWorker:
    """Jobs submitted with ``job_submit`` (as the API does), waited for on their done events."""

    def __init__(self, user, events: JobEvents) -> None:
        self.user = user
        self.events = events

    def one(self, kind_name: str, model_id: str, data: dict) -> float:
        started = time.perf_counter()
        job = job_submit(user=self.user, api_key=None, kind_name=kind_name, model_id=model_id, data=data)
        return (self.events.wait(str(job.id)) - started) * 1000

    def latency_ms(self, kind_name: str, model_id: str, data: dict, runs: int = 30) -> float:
        return p50(timed(lambda: self.one(kind_name, model_id, data), runs=runs))

    def throughput(self, kind_name: str, model_id: str, concurrency: int, total: int | None = None) -> float:
        """Jobs a second with ``concurrency`` clients each submitting its next job when the last ends."""
        self.one(kind_name, model_id, {"text": SHORT_TEXT})  # warm
        return closed_loop(total or jobs_for(concurrency), concurrency,
                           lambda i: self.one(kind_name, model_id, {"text": f"{SHORT_TEXT} ({i})"}))


# -- over HTTP --------------------------------------------------------------------

class OverHttp:
    """POST /api/<kind> with an API key to the real server; the view waits for the job and answers 200."""

    def __init__(self, base_url: str, key: str) -> None:
        self.base_url = base_url
        self.headers = {"x-api-key": key, "Prefer": "wait=120"}
        self.errors = 0

    async def _post(self, client, kind_name: str, text: str) -> float:
        import httpx

        started = time.perf_counter()
        try:
            response = await client.post(f"/api/{kind_name}", json={"text": text}, headers=self.headers)
        except httpx.HTTPError as exc:  # counted and reported, not fatal: the other figures still come
            self.errors += 1
            if self.errors <= 3:
                print(f"HTTP error: {exc!r}", flush=True)
            return (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            self.errors += 1
            if self.errors <= 3:
                print(f"HTTP {response.status_code}: {response.text[:200]}", flush=True)
        return (time.perf_counter() - started) * 1000

    async def _throughput(self, kind_name: str, concurrency: int, total: int) -> float:
        import httpx

        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(base_url=self.base_url, timeout=180, limits=limits) as client:
            await self._post(client, kind_name, SHORT_TEXT)
            counter = iter(range(total))

            async def one_client() -> None:
                for i in counter:
                    await self._post(client, kind_name, f"{SHORT_TEXT} ({i})")

            started = time.perf_counter()
            await asyncio.gather(*(one_client() for _ in range(concurrency)))
            return total / (time.perf_counter() - started)

    def one(self, client, kind_name: str) -> float:
        started = time.perf_counter()
        response = client.post(f"/api/{kind_name}", json={"text": SHORT_TEXT}, headers=self.headers)
        if response.status_code != 200:
            self.errors += 1
        return (time.perf_counter() - started) * 1000

    def throughput(self, kind_name: str, concurrency: int, total: int | None = None) -> float:
        return asyncio.run(self._throughput(kind_name, concurrency, total or jobs_for(concurrency)))


# -- the run ------------------------------------------------------------------------

def main() -> None:
    import httpx

    figures: dict[str, float] = {}
    user, _ = get_user_model().objects.get_or_create(username="bench", defaults={"email": "bench@example.invalid"})
    key = api_key_create(user=user, name=f"bench {time.strftime('%Y-%m-%d %H:%M:%S')}").plaintext
    print(f"machine: {os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.2f} at start; "
          f"worker concurrency {settings.WORKER_CONCURRENCY}, BATCH_WAIT_MS={settings.BATCH_WAIT_MS}, "
          f"BATCH_MAX_SIZE={settings.BATCH_MAX_SIZE}", flush=True)
    emotion_ok = wait_for_emotion_model(float(os.environ.get("BENCH_WAIT_FOR_EMOTION_S", "300")))
    if not emotion_ok:
        print(f"{EMOTION} is not installed: its figures are nan", flush=True)

    # Every figure compares measurements taken side by side (in-process, then
    # through the worker, then over HTTP, round after round), so a load that
    # comes and goes on a shared machine weighs on both sides of a ratio alike.
    # The worker is idle while the in-process side runs, and the other way round.
    print("starting the worker (loading every bundled model) and the web server...", flush=True)
    events = JobEvents()
    worker = web = None
    try:
        worker = start_worker(BUNDLED)
        port = free_port()
        web = start_web(port, int(os.environ.get("BENCH_WEB_WORKERS", "1")))
        figures_rss = process_rss_mb(worker.process.pid)
        meter = CpuMeter(worker.process.pid, web.process.pid)
        through = ThroughWorker(user, events)
        http = OverHttp(f"http://127.0.0.1:{port}", key)
        if emotion_ok:
            print("emotion: latency of one short text...", flush=True)
            emotion = InProcess(user, "emotion", EMOTION)
            one = emotion.inputs(1)
            raw_ms, worker_ms, http_ms = [], [], []
            with httpx.Client(base_url=http.base_url, timeout=180) as client:
                for _ in range(3):  # warm all three paths
                    emotion.kind.run(emotion.backend, one)
                    through.one("emotion", EMOTION, {"text": SHORT_TEXT})
                    http.one(client, "emotion")
                for _ in range(30):
                    raw_ms += timed(lambda: emotion.kind.run(emotion.backend, one), runs=1, warmup=0)
                    worker_ms.append(through.one("emotion", EMOTION, {"text": SHORT_TEXT}))
                    http_ms.append(http.one(client, "emotion"))
            # On a shared machine the p50 can be far above the intrinsic cost (torch's
            # threads get descheduled mid-pass); the minimum shows the floor of each path.
            print(f"  p50: in-process {p50(raw_ms):.1f} ms, worker {p50(worker_ms):.1f} ms, "
                  f"HTTP {p50(http_ms):.1f} ms; min: {min(raw_ms):.1f} / {min(worker_ms):.1f} / "
                  f"{min(http_ms):.1f} ms", flush=True)
            figures["emotion_raw_ms"] = p50(raw_ms)
            figures["emotion_worker_ms"] = p50(worker_ms)
            figures["emotion_http_ms"] = p50(http_ms)
            figures["emotion_overhead_ms"] = figures["emotion_worker_ms"] - figures["emotion_raw_ms"]
            figures["emotion_http_overhead_ms"] = figures["emotion_http_ms"] - figures["emotion_raw_ms"]

            print("emotion: throughput against concurrency (jobs a second)", flush=True)
            inproc_curve, worker_curve, http_curve = [], [], []
            cpu_notes = []
            for level in LEVELS:
                inproc_curve.append(emotion.throughput(level))
                with meter.measure(jobs_for(level)):
                    worker_curve.append(through.throughput("emotion", EMOTION, level))
                if level == 32:
                    cpu_notes.append(f"  c32 through the worker, {meter.describe()}")
                    figures["emotion_c32_worker_cpu_ms"] = meter.last.get("worker", math.nan)
                    figures["emotion_c32_client_cpu_ms"] = meter.last.get("client", math.nan)
                with meter.measure(jobs_for(level)):
                    http_curve.append(http.throughput("emotion", level))
                if level == 32:
                    cpu_notes.append(f"  c32 over HTTP, {meter.describe()}")
                    figures["emotion_http_c32_web_cpu_ms"] = meter.last.get("web", math.nan)
                print(f"  concurrency {level:>2}: in-process batched {inproc_curve[-1]:7.1f}/s  "
                      f"worker {worker_curve[-1]:7.1f}/s  HTTP {http_curve[-1]:7.1f}/s  "
                      f"(load {os.getloadavg()[0]:.1f})", flush=True)
            for note in cpu_notes:
                print(note, flush=True)
            c32 = LEVELS.index(32)
            figures["emotion_c32_ratio"] = worker_curve[c32] / inproc_curve[c32]
            figures["emotion_c32_vs_serial"] = worker_curve[c32] / worker_curve[0]
            figures["emotion_http_c32_ratio"] = http_curve[c32] / inproc_curve[c32]
            path = ROOT / "docs" / "perf" / "throughput.png"
            plot_curves(LEVELS, {"in-process batched": inproc_curve, "through the worker": worker_curve,
                                 "HTTP (gunicorn + uvicorn)": http_curve}, path, xlabel="concurrent jobs",
                        ylabel="jobs per second", title=f"{EMOTION}: throughput vs concurrency")
            print(f"plot: {path.relative_to(ROOT)}", flush=True)
            emotion = None
        else:
            for name in ("emotion_raw_ms", "emotion_worker_ms", "emotion_http_ms", "emotion_overhead_ms",
                         "emotion_http_overhead_ms", "emotion_c32_ratio", "emotion_c32_vs_serial",
                         "emotion_http_c32_ratio"):
                figures[name] = math.nan

        print("text-vectorisation: throughput at 32 and 1...", flush=True)
        vector = InProcess(user, "text-vectorisation", VECTOR)
        vector_batched = vector.throughput(32)
        vector_c32 = through.throughput("text-vectorisation", VECTOR, 32)
        vector_c1 = through.throughput("text-vectorisation", VECTOR, 1)
        print(f"  in-process batched {vector_batched:.1f}/s  worker c32 {vector_c32:.1f}/s  "
              f"worker c1 {vector_c1:.1f}/s", flush=True)
        figures["vector_c32_ratio"] = vector_c32 / vector_batched
        figures["vector_c32_vs_serial"] = vector_c32 / vector_c1
        vector = None

        # What real clients do (the figures above keep connections, send one short text and get a small
        # result back): a new connection per request, GoEmotions dev comments of every length, all 384
        # numbers back (the load client of make bench-peers).
        print("text-vectorisation over HTTP as real clients call it (new connection, real comments)...", flush=True)
        comments = dev_comments(ROOT.parent / "shared" / "data" / "goemotions" / "dev.tsv")

        def real(i: int) -> bytes:
            return post_bytes("127.0.0.1", port, "/api/text-vectorisation", {"text": comments[i % len(comments)]},
                              {"x-api-key": key})

        run_level("127.0.0.1", port, real, 4, 1.0)  # warm
        for level in (1, 32):
            with meter.measure(1):
                result = run_level("127.0.0.1", port, real, level, 10.0, start_index=level * 1000)
            cpu = {role: ms / max(result.ok, 1) for role, ms in meter.last.items() if role != "cores_busy"}
            print(f"  c{level}: {result.rps:.1f} requests/s, p50 {result.p50:.1f} ms, p99 "
                  f"{result.percentile(0.99):.1f} ms, errors {result.errors}; core-ms per request: worker "
                  f"{cpu.get('worker', math.nan):.1f}, web {cpu.get('web', math.nan):.1f}", flush=True)
            figures[f"vector_http_real_c{level}_rps"] = result.rps
            figures[f"vector_http_real_c{level}_p50_ms"] = result.p50

        print(f"text generation: {GEN_TOKENS} greedy tokens...", flush=True)
        gen_params = {"min_length": GEN_TOKENS, "max_length": GEN_TOKENS, "do_sample": False}
        generation = InProcess(user, "text-generation", SMOLLM, gen_params)
        gen_input = generation.inputs(1)
        generation.kind.run(generation.backend, gen_input)  # warm
        through.one("text-generation", SMOLLM, {"text": SHORT_TEXT, **gen_params})
        raw_gen, worker_gen = [], []
        for _ in range(3):
            raw_gen += timed(lambda: generation.kind.run(generation.backend, gen_input), runs=1, warmup=0)
            with meter.measure(1):
                worker_gen.append(through.one("text-generation", SMOLLM, {"text": SHORT_TEXT, **gen_params}))
            print(f"  one generation through the worker, {meter.describe().replace('per job', 'in all')}",
                  flush=True)
        raw_tps, worker_tps = GEN_TOKENS / (p50(raw_gen) / 1000), GEN_TOKENS / (p50(worker_gen) / 1000)
        print(f"  in-process {raw_tps:.1f} tokens/s  worker {worker_tps:.1f} tokens/s", flush=True)
        figures["generation_tokens_ratio"] = worker_tps / raw_tps
        figures["worker_rss_mb"] = max(figures_rss, process_rss_mb(worker.process.pid))

        # The same through a worker that serves SmolLM2 alone (`runworker --models ...`): a worker
        # whose torch ran on several threads (one batcher per model) makes libgomp throttle its
        # spin-waiting, which costs token-by-token generation most (docs/perf/README.md).
        print("text generation through a worker serving it alone...", flush=True)
        worker.stop()
        worker = start_worker([SMOLLM], models=[SMOLLM], name="worker-generation")
        through.one("text-generation", SMOLLM, {"text": SHORT_TEXT, **gen_params})  # warm
        raw_gen, worker_gen = [], []
        for _ in range(3):
            raw_gen += timed(lambda: generation.kind.run(generation.backend, gen_input), runs=1, warmup=0)
            worker_gen.append(through.one("text-generation", SMOLLM, {"text": SHORT_TEXT, **gen_params}))
        raw_tps, worker_tps = GEN_TOKENS / (p50(raw_gen) / 1000), GEN_TOKENS / (p50(worker_gen) / 1000)
        print(f"  in-process {raw_tps:.1f} tokens/s  dedicated worker {worker_tps:.1f} tokens/s", flush=True)
        figures["generation_dedicated_tokens_ratio"] = worker_tps / raw_tps
        if http.errors:
            print(f"HTTP errors: {http.errors}", flush=True)
    finally:
        events.stop()
        for service in (web, worker):
            if service is not None:
                service.stop()
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    for name, value in figures.items():
        print(f"{name}={value:.3f}" if not value.is_integer() else f"{name}={value:.0f}")


if __name__ == "__main__":
    main()
