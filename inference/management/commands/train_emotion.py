"""``python manage.py train_emotion``: fine-tune the GoEmotions emotion model.

Thin wrapper over :func:`inference.training.emotion.train`: one seeded command.
Checkpoints and thresholds are chosen on a validation slice of train.tsv;
dev.tsv is scored once at the end, for the log only.
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
        "Fine-tune all-MiniLM-L6-v2 on GoEmotions (28 labels, multi-label). A stratified validation slice of "
        "train.tsv picks the epoch and tunes per-label thresholds; dev.tsv is only scored at the end."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--data", type=Path, default=None, help="folder with train.tsv, labels.txt (dev.tsv)")
        parser.add_argument("--output", type=Path, default=None, help="model folder to write")
        parser.add_argument("--epochs", type=int, default=4, help="most epochs (default 4)")
        parser.add_argument("--patience", type=int, default=1, help="stop after N epochs without a validation gain")
        parser.add_argument("--val-fraction", type=float, default=0.1, help="share of train.tsv held for validation")
        parser.add_argument(
            "--pos-weight",
            choices=["sqrt", "linear", "none"],
            default="sqrt",
            help="per-label positive weight of the loss: clip(sqrt(neg/pos)) (default), clip(neg/pos) or none",
        )
        parser.add_argument("--pos-weight-max", type=float, default=10.0, help="upper clip of the positive weight")
        parser.add_argument(
            "--no-average", action="store_true", help="do not try the mean of the last two epochs' weights"
        )
        parser.add_argument(
            "--save-dtype",
            choices=["auto", "float16", "float32"],
            default="auto",
            help="weights on disk; auto: float16 unless it costs validation macro-F1",
        )
        parser.add_argument("--batch-size", type=int, default=32)
        parser.add_argument("--lr", type=float, default=1e-4)
        parser.add_argument("--max-tokens", type=int, default=64)
        parser.add_argument("--seed", type=int, default=42, help="seeds the split and the initialisation")
        parser.add_argument(
            "--order-seed", type=int, default=None, help="seeds the batch order and dropout (default: --seed)"
        )
        parser.add_argument(
            "--autocast",
            choices=["off", "bf16"],
            default="off",
            help="bf16: forward and backward in bfloat16 autocast (faster on CPUs with native bfloat16)",
        )
        parser.add_argument(
            "--members",
            type=int,
            default=1,
            help="train N runs (order seeds --order-seed, +1, ...) and store the mean of their weights, "
            "members chosen greedily on the validation slice (default 1: one run)",
        )
        parser.add_argument(
            "--members-dir",
            type=Path,
            default=None,
            help="where the members are kept (default: <output>.members); finished members are not trained again",
        )
        parser.add_argument("--limit", type=int, default=None, help="read the first N rows of train.tsv only")
        parser.add_argument(
            "--pooling",
            choices=["cls", "mean"],
            default="mean",
            help="head input: masked mean of the hidden states (default) or the [CLS] pooler",
        )
        parser.add_argument("--threads", type=int, default=2, help="torch threads")
        parser.add_argument("--log-every", type=int, default=50, help="log every N steps")
        parser.add_argument("--no-dev-score", action="store_true", help="do not score dev.tsv once the model is chosen")
        parser.add_argument(
            "--tune-only",
            action="store_true",
            help="do not train: tune the thresholds of the model in --output again on its validation slice of train",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from inference.training.emotion import (  # lazily: torch, unlike --help
            evaluate,
            retune_thresholds,
            train,
            train_soup,
        )

        data_dir: Path = options["data"] or default_data_dir()
        output_dir: Path = options["output"] or default_output_dir()
        for name in ("train.tsv", "labels.txt"):
            if not (data_dir / name).is_file():
                raise CommandError(f"{data_dir / name} not found (use --data)")

        if options["tune_only"]:
            if not (output_dir / "config.json").is_file():
                raise CommandError(f"no model at {output_dir} (use --output)")
            try:
                report = retune_thresholds(output_dir, data_dir, num_threads=options["threads"])
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
            self.stdout.write(
                self.style.SUCCESS(
                    f"re-tuned {output_dir} on its validation slice: "
                    f"val_macro_f1={report.macro_f1:.4f} val_micro_f1={report.micro_f1:.4f}"
                )
            )
            return

        if options["autocast"] == "bf16":
            from inference.runtime.loading import cpu_has_bfloat16  # lazily: it imports torch

            if not cpu_has_bfloat16():
                self.stderr.write(
                    "--autocast bf16: this CPU has no native bfloat16 (AVX512-BF16 or AMX), so autocast emulates "
                    "it, measured about 30 times slower a step than float32 (18 s against 0.6 s on a 2-core AMD "
                    "EPYC); training goes on, but use --autocast off on this machine"
                )

        def progress(message: str) -> None:
            self.stdout.write(message)
            self.stdout.flush()

        recipe = dict(
            epochs=options["epochs"],
            patience=options["patience"],
            val_fraction=options["val_fraction"],
            pos_weight=options["pos_weight"],
            pos_weight_max=options["pos_weight_max"],
            average_last=not options["no_average"],
            save_dtype=options["save_dtype"],
            batch_size=options["batch_size"],
            lr=options["lr"],
            max_tokens=options["max_tokens"],
            seed=options["seed"],
            limit=options["limit"],
            pooling=options["pooling"],
            num_threads=options["threads"],
            autocast=options["autocast"],
            log_every=options["log_every"],
            progress=progress,
        )
        try:
            if options["members"] > 1:
                members_dir = options["members_dir"] or output_dir.with_name(output_dir.name + ".members")
                result = train_soup(
                    data_dir,
                    output_dir,
                    members_dir,
                    members=options["members"],
                    first_order_seed=options["order_seed"] if options["order_seed"] is not None else options["seed"],
                    **recipe,
                )
            else:
                result = train(data_dir, output_dir, order_seed=options["order_seed"], **recipe)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if result.soup_of and len(result.soup_of) > 1:
            what = f"mean of {len(result.soup_of)} runs: {', '.join(result.soup_of)}"
        elif result.soup_of:
            what = f"run {result.soup_of[0]} alone: no mean with it scored higher"
        elif result.averaged_epochs:
            what = f"mean of epochs {result.averaged_epochs}"
        else:
            what = f"epoch {result.best_epoch}"
        self.stdout.write(
            self.style.SUCCESS(
                f"saved {result.output_dir} ({what}, {result.save_dtype}) "
                f"val_macro_f1={result.val_macro_f1:.4f} val_micro_f1={result.val_micro_f1:.4f}"
            )
        )
        dev = data_dir / "dev.tsv"
        if dev.is_file() and not options["no_dev_score"]:
            report = evaluate(output_dir, dev, num_threads=options["threads"])
            self.stdout.write(f"held-out dev (read once, after the choice): {report.summary()}")
