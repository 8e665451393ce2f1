"""``python manage.py models``: the model catalog on this server.

    python manage.py models list          # every model: kinds, source, installed or how to install
    python manage.py models pull <id>     # install a hub model (needs the Hugging Face hub)

Thin wrapper over :mod:`inference.catalog` and :func:`inference.model_install.model_pull`.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from inference.catalog import ModelSpec, catalog_get, catalog_models
from inference.model_install import ModelInstallError, model_pull

COLUMNS = ("ID", "TASK KINDS", "SOURCE", "INSTALLED", "TO INSTALL")


def install_how(spec: ModelSpec) -> str:
    """What to run to install ``spec`` here; empty when it is installed."""
    if spec.installed:
        return ""
    if spec.source == "hub":
        return f"python manage.py models pull {spec.id}"
    if spec.source == "bundled":
        return "make install"
    return "-"


class Command(BaseCommand):
    help = "List the model catalog, or install a hub model ('models list', 'models pull <id>')."

    def add_arguments(self, parser: Any) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="{list,pull}")
        actions.add_parser("list", help="Print every model: task kinds, source, installed, how to install.")
        pull = actions.add_parser("pull", help="Install a hub model into MODELS_DIR/<id> (needs the hub).")
        pull.add_argument("model_id", help="A catalog model id, e.g. clip-vit-base-patch32.")
        pull.add_argument("--endpoint", default=None, help="A Hugging Face hub mirror (default: HF_ENDPOINT or "
                          "https://huggingface.co).")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "list":
            self.list_models()
        else:
            self.pull_model(options["model_id"], endpoint=options["endpoint"])

    def list_models(self) -> None:
        rows = [
            (spec.id, ", ".join(spec.kinds), spec.source, "yes" if spec.installed else "no", install_how(spec))
            for spec in catalog_models() if not spec.internal
        ]
        widths = [max(len(str(row[i])) for row in (COLUMNS, *rows)) for i in range(len(COLUMNS))]
        for row in (COLUMNS, *rows):
            self.stdout.write("  ".join(value.ljust(width) for value, width in zip(row, widths, strict=True)).rstrip())

    def pull_model(self, model_id: str, *, endpoint: str | None) -> None:
        spec = catalog_get(model_id)
        if spec is not None and spec.source == "hub" and not spec.installed:
            self.stdout.write(f"pulling {spec.hub_repo} at revision {spec.hub_revision} from the Hugging Face hub...")
        try:
            result = model_pull(model_id=model_id, endpoint=endpoint)
        except ModelInstallError as exc:
            raise CommandError(str(exc)) from exc
        if result.already_installed:
            self.stdout.write(f"{result.model_id} is already installed at {result.path}.")
        else:
            self.stdout.write(self.style.SUCCESS(f"installed {result.model_id} at {result.path}."))
