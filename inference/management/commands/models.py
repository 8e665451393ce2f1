"""``python manage.py models``: the model catalog on this server.

    python manage.py models list          # every model: kinds, source, installed or how to install
    python manage.py models pull <id>     # install a hub model (needs the Hugging Face hub)
    python manage.py models import <id> PATH  # install a hub model from a folder / .zip / .tar.gz (no hub)
    python manage.py models export <id> PATH  # write an installed hub model to a .tar.gz / .zip

Thin wrapper over :mod:`inference.catalog` and :mod:`inference.catalog.install`.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from inference.catalog import ModelSpec, catalog_get, catalog_models
from inference.catalog.install import ModelInstallError, model_export, model_import, model_pull

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
    help = ("List the model catalog, install a hub model from the hub or from a copied folder or archive, or "
            "export one ('models list', 'models pull <id>', 'models import <id> PATH', 'models export <id> PATH').")

    def add_arguments(self, parser: Any) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="{list,pull,import,export}")
        actions.add_parser("list", help="Print every model: task kinds, source, installed, how to install.")
        pull = actions.add_parser("pull", help="Install a hub model into MODELS_DIR/<id> (needs the hub).")
        pull.add_argument("model_id", help="A catalog model id, e.g. clip-vit-base-patch32.")
        pull.add_argument("--endpoint", default=None, help="A Hugging Face hub mirror (default: HF_ENDPOINT or "
                          "https://huggingface.co).")
        imported = actions.add_parser("import", help="Install a hub model from a folder or archive copied here.")
        imported.add_argument("model_id", help="A catalog hub model id.")
        imported.add_argument("path", help="A model folder (what 'models pull' or 'huggingface-cli download' "
                              "fetched) or a .zip / .tar.gz of one (what 'models export' writes).")
        exported = actions.add_parser("export", help="Write an installed hub model to an archive for 'import'.")
        exported.add_argument("model_id", help="A catalog hub model id, installed here.")
        exported.add_argument("path", help="The archive to write: .tar.gz, .tgz or .zip.")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "list":
            self.list_models()
        elif action == "pull":
            self.pull_model(options["model_id"], endpoint=options["endpoint"])
        else:
            try:
                if action == "import":
                    path = model_import(model_id=options["model_id"], source=options["path"])
                    self.stdout.write(self.style.SUCCESS(f"installed {options['model_id']} at {path}."))
                else:
                    path = model_export(model_id=options["model_id"], dest=options["path"])
                    self.stdout.write(self.style.SUCCESS(f"wrote {options['model_id']} to {path}; copy it to the "
                                                         f"other server and run 'python manage.py models import "
                                                         f"{options['model_id']} {path.name}' there."))
            except ModelInstallError as exc:
                raise CommandError(str(exc)) from exc

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
