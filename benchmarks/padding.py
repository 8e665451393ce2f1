"""Length grouping against one padded batch: core-ms per text for all-MiniLM-L6-v2 on GoEmotions dev.

    .venv/bin/python benchmarks/padding.py [threads]

Batches of 32 (and 8) real comments drawn at random (seeded), run through the
sentence encoder's forward pass as one batch padded to its longest text, then
through ``length_grouped_rows`` at several ``PADDING_WASTE`` settings. CPU time
of this process (``time.process_time``), median of the draws; one torch thread
by default so that spin-waiting does not count.
Prints figures; checks nothing.
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from pathlib import Path

import torch
from transformers import AutoModel, AutoTokenizer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.peers.load import dev_comments  # noqa: E402
from inference.backends import bundled, text  # noqa: E402


def main() -> None:
    torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
    folder = bundled.minilm_dir()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder).eval()
    texts = dev_comments(ROOT.parent / "shared" / "data" / "goemotions" / "dev.tsv")
    device = torch.device("cpu")

    def run(batch):
        return text.mean_pool(model(**batch).last_hidden_state, batch["attention_mask"])

    def one_batch(sample):
        batch = tokenizer(sample, padding=True, truncation=True, max_length=256, return_tensors="pt")
        return run(dict(batch))

    def grouped(sample):
        return text.length_grouped_rows(tokenizer, sample, batch_size=32, max_length=256, device=device, run=run)

    settings = [None, 1.15, 1.3, 1.5, 2.0]
    for size in (32, 8):
        draws = [random.Random(seed).sample(texts, size) for seed in range(25)]
        for waste in settings:
            if waste is not None:
                text.PADDING_WASTE = waste
            fn = one_batch if waste is None else grouped
            with torch.inference_mode():
                fn(draws[0])
                cpu = []
                for sample in draws:
                    started = time.process_time()
                    fn(sample)
                    cpu.append((time.process_time() - started) * 1000 / size)
            label = "one padded batch" if waste is None else f"groups: waste {waste}"
            print(f"batch {size:>2}  {label:<28} {statistics.median(cpu):6.2f} core-ms/text", flush=True)


if __name__ == "__main__":
    main()
