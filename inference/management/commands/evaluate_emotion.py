"""``python manage.py evaluate_emotion PATH.tsv``: score the emotion model.

Thin wrapper over :func:`inference.training.emotion.evaluate`. Prints a
per-label table (precision, recall, F1, support, how often predicted; labels
never predicted are marked), a ``never predicted: ...`` line, the figures of
the answers ``POST /api/emotion`` gives (``neutral`` only alone, the top label
when none passes), then as the last line ``macro_f1=0.xxxx micro_f1=0.xxxx``
(every label over its threshold: the model's figure).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from inference.management.commands.train_emotion import default_output_dir


class Command(BaseCommand):
    help = "Per-label precision/recall/F1 and macro/micro F1 of the emotion model on a GoEmotions tsv."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("tsv", type=Path, help="text<TAB>label ids<TAB>comment id, no header")
        parser.add_argument("--model", type=Path, default=None, help="trained model folder")
        parser.add_argument(
            "--threshold", type=float, default=None, help="one threshold for all labels instead of the tuned ones"
        )
        parser.add_argument("--limit", type=int, default=None, help="first N rows only")
        parser.add_argument("--threads", type=int, default=2, help="torch threads")

    def handle(self, *args: Any, **options: Any) -> None:
        from inference.training.emotion import evaluate  # lazily: training imports torch, a command's help does not

        model_dir: Path = options["model"] or default_output_dir()
        tsv: Path = options["tsv"]
        if not (model_dir / "config.json").is_file():
            raise CommandError(f"no model at {model_dir} (train it with train_emotion or use --model)")
        if not tsv.is_file():
            raise CommandError(f"{tsv} not found")
        report = evaluate(
            model_dir, tsv, thresholds=options["threshold"], limit=options["limit"], num_threads=options["threads"]
        )
        self.stdout.write(report.table())
        self.stdout.write(f"never predicted: {', '.join(report.never_predicted()) or 'none'}")
        self.stdout.write(
            f"examples={report.n_examples} micro_precision={report.micro_precision:.4f} "
            f"micro_recall={report.micro_recall:.4f}"
        )
        if report.served is not None:
            self.stdout.write(
                f"as /api/emotion answers (neutral only when no other emotion passes, the top label when none "
                f"does): {report.served.summary()}"
            )
        self.stdout.write(report.summary())
