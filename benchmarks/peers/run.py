"""``make bench-peers``: Forwardpass against BentoML on the same model, texts, client and machine.

Both serve all-MiniLM-L6-v2 text vectors (``POST /api/text-vectorisation``
against BentoML's ``POST /encode`` with adaptive batching). In each round
each server is started alone, warmed with a few requests, then measured at 1,
8, 32 and 64 concurrent clients (``PEERS_SECONDS`` each, default 15) and
stopped; which server goes first alternates between rounds (``PEERS_ROUNDS``,
default 3), so a load that comes and goes weighs on both. Server CPU counts
every process of the server (web, workers, beat, Redis for Forwardpass).

Prints each system's requests/s, p50, p99 and core-ms per request (the
median over rounds), then ``peer_c32_ratio``, ``peer_c64_ratio``
(Forwardpass's throughput over BentoML's), ``peer_c1_p50_ratio``
(Forwardpass's single-client p50 over BentoML's) and ``peer_cpu_ratio``
(Forwardpass's server core-ms per request at c32 over BentoML's) as
``name=value`` lines, and plots ``docs/perf/peers.png``. Nothing here fails on
a time.
"""

from __future__ import annotations

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

from benchmarks.harness import plot_curves  # noqa: E402
from benchmarks.peers.load import dev_comments, run_level  # noqa: E402
from benchmarks.peers.systems import HOST, BentoML, Forwardpass, Peer, cpu_seconds  # noqa: E402
from dashboard.services import api_key_create  # noqa: E402
from inference.catalog import catalog_get  # noqa: E402

LEVELS = [int(x) for x in os.environ.get("PEERS_LEVELS", "1,8,32,64").split(",")]
ROUNDS = int(os.environ.get("PEERS_ROUNDS", "3"))
SECONDS = float(os.environ.get("PEERS_SECONDS", "15"))
PROFILE = os.environ.get("PEERS_PROFILE", "")  # a name: flame graphs docs/perf/profiles/<name>-<process>-c32.svg
# The levels profiled (c32: a flame graph; others: collapsed stacks) and py-spy's samples a second.
PROFILE_LEVELS = [int(x) for x in os.environ.get("PEERS_PROFILE_LEVELS", "32,64").split(",")]
PROFILE_RATE = os.environ.get("PEERS_PROFILE_RATE", "50")
DEV = Path(os.environ.get("PEERS_TEXTS", ROOT.parent / "shared" / "data" / "goemotions" / "dev.tsv"))


def profilers(peer: Peer, level: int) -> list:
    """``PEERS_PROFILE=<name>``: py-spy on each of Forwardpass's processes in the first round, at c32 a
    flame graph (docs/perf/profiles/<name>-<process>-c32.svg), at c64 collapsed stacks
    (data/peers/profiles/, for reading with a script)."""
    import subprocess

    if not PROFILE or not isinstance(peer, Forwardpass) or level not in PROFILE_LEVELS:
        return []
    spy = str(Path(sys.executable).parent / "py-spy")
    running = []
    for role, pid in peer.roles().items():
        if level == 32:
            fmt, path = "flamegraph", ROOT / "docs" / "perf" / "profiles" / f"{PROFILE}-{role}-c32.svg"
        else:
            fmt, path = "raw", Path(os.environ["DATA_DIR"]) / "profiles" / f"{PROFILE}-{role}-c{level}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        running.append(subprocess.Popen([spy, "record", "--native", "--pid", str(pid), "--rate", PROFILE_RATE,
                                         "--duration", str(int(SECONDS)), "--format", fmt, "--output", str(path)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    return running


def measure(peer: Peer, texts: list[str], offset: int) -> dict[int, dict[str, float]]:
    """One server, already started: warm it, then each level; the figures per level."""
    build = lambda i: peer.request(texts[i % len(texts)])  # noqa: E731
    run_level(HOST, peer.port, build, 4, 1.0, start_index=offset)  # warm
    warm = run_level(HOST, peer.port, build, 1, 0.5, start_index=offset)
    if warm.errors:
        print(f"  {peer.name} warm-up errors: {warm.statuses}", flush=True)
    figures: dict[int, dict[str, float]] = {}
    for level in LEVELS:
        before = cpu_seconds(peer.pids())
        load_before = os.getloadavg()[0]
        spies = profilers(peer, level) if offset == 0 else []
        result = run_level(HOST, peer.port, build, level, SECONDS, start_index=offset + level * 100_000)
        used = cpu_seconds(peer.pids()) - before
        for spy in spies:
            spy.wait(timeout=60)
        figures[level] = {"rps": result.rps, "p50": result.p50, "p99": result.percentile(0.99),
                          "cpu_ms": used * 1000 / max(result.ok, 1), "errors": float(result.errors),
                          "load": load_before}
        print(f"  {peer.name:<11} c{level:<3} {result.rps:7.1f} req/s  p50 {result.p50:7.1f} ms  "
              f"p99 {result.percentile(0.99):7.1f} ms  server {figures[level]['cpu_ms']:5.1f} core-ms/req  "
              f"errors {result.errors} {'' if not result.errors else result.statuses}  "
              f"(load {load_before:.1f})", flush=True)
    return figures


def median(rounds: list[dict[int, dict[str, float]]], level: int, key: str) -> float:
    return statistics.median(r[level][key] for r in rounds)


def main() -> None:
    texts = dev_comments(DEV)
    spec = catalog_get("all-minilm-l6-v2")
    model_path = spec.path if spec is not None else None
    venv = Path(os.environ.get("PEERS_VENV", ROOT / "data" / "peers-venv"))
    user, _ = get_user_model().objects.get_or_create(username="peers", defaults={"email": "peers@example.invalid"})
    key = api_key_create(user=user, name=f"peers {time.strftime('%Y-%m-%d %H:%M:%S')}").plaintext
    env = {k: v for k, v in os.environ.items()}
    systems: list[Peer] = [BentoML(venv, Path(str(model_path))), Forwardpass(key, env)]
    only = os.environ.get("PEERS_ONLY", "")  # one system alone (profiling, trying a setting): no ratios
    systems = [peer for peer in systems if not only or peer.name == only]
    print(f"machine: {os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.2f} at start; "
          f"{len(texts)} comments from {DEV.name}; levels {LEVELS}, {SECONDS:.0f} s each, {ROUNDS} rounds",
          flush=True)
    results: dict[str, list[dict[int, dict[str, float]]]] = {peer.name: [] for peer in systems}
    offset = 0
    for round_no in range(1, ROUNDS + 1):
        order = systems if round_no % 2 else list(reversed(systems))
        for peer in order:
            try:
                took = peer.start()
                print(f"round {round_no}: {peer.name} up in {took:.1f} s", flush=True)
                results[peer.name].append(measure(peer, texts, offset))
            finally:
                peer.stop()
        offset += 7919
    fp, bento = results.get("Forwardpass", []), results.get("BentoML", [])
    print("\nmedian over rounds       req/s     p50 ms     p99 ms   core-ms/req")
    for name, rounds in results.items():
        for level in LEVELS:
            print(f"  {name:<11} c{level:<3} {median(rounds, level, 'rps'):9.1f} {median(rounds, level, 'p50'):10.1f} "
                  f"{median(rounds, level, 'p99'):10.1f} {median(rounds, level, 'cpu_ms'):12.1f}")
    path = ROOT / "docs" / "perf" / "peers.png"
    plot_curves(LEVELS, {name: [median(rounds, level, "rps") for level in LEVELS] for name, rounds in results.items()},
                path, xlabel="concurrent clients (a new connection per request)", ylabel="requests per second",
                title="all-MiniLM-L6-v2 text vectors, GoEmotions dev comments, 2 cores")
    print(f"plot: {path.relative_to(ROOT)}")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    figures = {}
    if not fp or not bento:
        return
    for level in LEVELS:
        for name, rounds in (("fp", fp), ("bentoml", bento)):
            figures[f"{name}_c{level}_rps"] = median(rounds, level, "rps")
            figures[f"{name}_c{level}_p50_ms"] = median(rounds, level, "p50")
    if 32 in LEVELS:
        figures["peer_c32_ratio"] = median(fp, 32, "rps") / median(bento, 32, "rps")
        figures["peer_cpu_ratio"] = median(fp, 32, "cpu_ms") / median(bento, 32, "cpu_ms")
    if 64 in LEVELS:
        figures["peer_c64_ratio"] = median(fp, 64, "rps") / median(bento, 64, "rps")
    if 1 in LEVELS:
        figures["peer_c1_p50_ratio"] = median(fp, 1, "p50") / median(bento, 1, "p50")
    for name, value in figures.items():
        print(f"{name}={value:.3f}")


if __name__ == "__main__":
    main()
