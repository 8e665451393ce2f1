"""Where a process's busy samples went, from py-spy's collapsed stacks (``make bench-peers`` with PEERS_PROFILE).

    .venv/bin/python benchmarks/peers/stacks.py data/peers/profiles/<name>-worker-c64.txt [N]

Drops the samples of threads that were waiting (the deepest Python frame is a
lock, condition, queue, selector or sleep, and no native frame below it is
torch's or the tokenizer's), then prints each Python function's share of the
busy samples, inclusive, the ``N`` largest (default 60).
"""

from __future__ import annotations

import re
import sys
from collections import Counter

WAITING = ("Condition.wait", "Event.wait", "_worker (concurrent/futures/thread.py", "EpollSelector.select",
           "select (selectors", "SimpleQueue.get", "Queue.get", "Thread.join", "_wait_for_tstate_lock",
           "Semaphore.acquire", "sleep", "run_forever")
WORKING_NATIVE = ("libtorch", "tokenizers", "mkl", "gomp")


def main() -> None:
    path, top = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 60
    total = busy = 0
    inclusive: Counter[str] = Counter()
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            stack, _, count = line.rstrip().rpartition(" ")
            if not stack:
                continue
            samples = int(count)
            total += samples
            frames = stack.split(";")
            python = [frame for frame in frames if ".py:" in frame]
            deepest = python[-1] if python else ""
            below = frames[frames.index(deepest) + 1:] if deepest else frames
            waiting = not python or any(name in deepest for name in WAITING)
            if waiting and not any(lib in frame for frame in below for lib in WORKING_NATIVE):
                continue
            busy += samples
            for name in {re.sub(r":\d+\)", ")", frame) for frame in python}:
                inclusive[name] += samples
    print(f"{busy} busy samples of {total}")
    for name, samples in inclusive.most_common(top):
        print(f"{100 * samples / max(busy, 1):5.1f}%  {name[:140]}")


if __name__ == "__main__":
    main()
