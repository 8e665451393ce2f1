"""``python manage.py train_emotion``: fine-tune the GoEmotions emotion model.

Thin wrapper over :func:`inference.training.emotion.train`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


def default_data_dir() -> Path:
    """``<BASE_DIR>/../shared/data/goemotions``."""
    return Path(settings.BASE_DIR).parent / "shared/data/goemotions"


def default_output_dir() -> Path:
    """``<BASE_DIR>/inference/weights/emotion-minilm-goemotions``."""
    return Path(settings.BASE_DIR) / "inference/weights/emotion-minilm-goemotions"


class Command(BaseCommand):
    help = (
        "Fine-tune all-MiniLM-L6-v2 on GoEmotions (28 labels, multi-label); tune per-label "
        "thresholds on dev and save the best epoch as a transformers folder."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--data", type=Path, default=None, help="folder with train.tsv, dev.tsv, labels.txt")
        parser.add_argument("--output", type=Path, default=None, help="model folder to write")
        parser.add_argument("--epochs", type=int, default=3)
        parser.add_argument("--batch-size", type=int, default=32)
        parser.add_argument("--lr", type=float, default=1e-4)
        parser.add_argument("--max-tokens", type=int, default=64)
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument("--limit", type=int, default=None, help="train on the first N rows only")
        parser.add_argument("--dev-limit", type=int, default=None, help="score the first N dev rows only")
        parser.add_argument(
            "--pooling",
            choices=["cls", "mean"],
            default="mean",
            help="head input: masked mean of the hidden states (default) or the [CLS] pooler",
        )
        parser.add_argument("--threads", type=int, default=2, help="torch threads")
        parser.add_argument("--log-every", type=int, default=50, help="log every N steps")
        parser.add_argument("--tune-only", action="store_true",
                            help="do not train: tune the thresholds of the model in --output on dev again")

    def handle(self, *args: Any, **options: Any) -> None:
        from inference.training.emotion import train  # lazily: training imports torch, a command's help does not

        data_dir: Path = options["data"] or default_data_dir()
        output_dir: Path = options["output"] or default_output_dir()
        for name in ("train.tsv", "dev.tsv", "labels.txt"):
            if not (data_dir / name).is_file():
                raise CommandError(f"{data_dir / name} not found (use --data)")

        if options["tune_only"]:
            from inference.training.emotion import retune_thresholds  # lazily, as train above (torch)

            report = retune_thresholds(output_dir, data_dir / "dev.tsv")
            self.stdout.write(self.style.SUCCESS(
                f"re-tuned {output_dir}: dev_macro_f1={report.macro_f1:.4f} dev_micro_f1={report.micro_f1:.4f}"))
            return

        def progress(message: str) -> None:
            self.stdout.write(message)
            self.stdout.flush()

        result = train(
            data_dir,
            output_dir,
            epochs=options["epochs"],
            batch_size=options["batch_size"],
            lr=options["lr"],
            max_tokens=options["max_tokens"],
            seed=options["seed"],
            limit=options["limit"],
            dev_limit=options["dev_limit"],
            pooling=options["pooling"],
            num_threads=options["threads"],
            log_every=options["log_every"],
            progress=progress,
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"saved {result.output_dir} (epoch {result.best_epoch}) "
                f"dev_macro_f1={result.dev_macro_f1:.4f} dev_micro_f1={result.dev_micro_f1:.4f}"
            )
        )
