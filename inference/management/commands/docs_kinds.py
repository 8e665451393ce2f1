"""``python manage.py docs_kinds``: README.md's list of task kinds, written from the kinds' declarations.

The list sits between ``<!-- kinds:start -->`` and ``<!-- kinds:end -->``; everything else in the file
is left as it is. ``--check`` changes nothing and fails when the list is stale (the tests run it), so
a kind added, renamed or changed shows up in the README or the suite says so.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from inference.kinds.base import TaskKind
from inference.registry import public_kinds

START = "<!-- kinds:start -->"
END = "<!-- kinds:end -->"


def _inputs(kind: TaskKind) -> str:
    """The required inputs, and how many optional parameters there are."""
    required = [f"`{p.name}`{' (or a list)' if p.name in kind.item_params else ''}" for p in kind.params if p.required]
    options = [p for p in kind.params if not p.required and not p.ui.get("hidden")]
    count = f"{len(options)} option{'s' if len(options) != 1 else ''}" if options else ""
    return " + ".join(part for part in (", ".join(required), count) if part)


def _summary(kind: TaskKind) -> str:
    """The description's first sentence, up to a colon."""
    first = kind.description.split(". ")[0].split(": ")[0].rstrip(".")
    return first.replace("|", "\\|") + "."


def kinds_markdown() -> str:
    """The README's block: one row per public task kind, in the registry's order."""
    lines = [
        START,
        "<!-- generated from inference/kinds/ by `python manage.py docs_kinds`; edit the declarations, not this -->",
        "",
        "| Task kind | What it does | Inputs | Default model | Answers |",
        "|---|---|---|---|---|",
    ]
    for kind in public_kinds():
        answers = ", ".join(f"`{name}`" for name in kind.response_schema.get("properties", {}))
        if kind.streams:
            answers += "; streams"
        lines.append(f"| `{kind.name}` | {_summary(kind)} | {_inputs(kind)} | `{kind.default_model}` | {answers} |")
    lines.append(END)
    return "\n".join(lines)


def readme_with_kinds(text: str) -> str:
    """``text`` with its kinds block replaced by the current one."""
    if text.count(START) != 1 or text.count(END) != 1 or text.index(START) > text.index(END):
        raise CommandError(f"README.md needs one {START} ... {END} block for the list of task kinds")
    before, rest = text.split(START, 1)
    _, after = rest.split(END, 1)
    return before + kinds_markdown() + after


class Command(BaseCommand):
    help = "Write README.md's list of task kinds from their declarations (--check: fail if it is stale)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--check", action="store_true", help="Change nothing; fail if the list is stale.")
        parser.add_argument("--file", type=Path, default=Path(settings.BASE_DIR) / "README.md",
                            help="The README to write (default: the checkout's README.md).")

    def handle(self, *args, check: bool, file: Path, **options) -> None:
        text = file.read_text()
        updated = readme_with_kinds(text)
        if check:
            if updated != text:
                raise CommandError(f"{file.name}'s list of task kinds is stale: run 'python manage.py docs_kinds'")
            self.stdout.write(f"{file.name}'s list of task kinds is up to date.")
            return
        if updated != text:
            file.write_text(updated)
        self.stdout.write(f"{file.name}: {len(public_kinds())} task kinds listed.")
