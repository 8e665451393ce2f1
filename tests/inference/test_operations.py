"""The operations as types: each task kind is typed against the protocol of the operation it declares,
and each model family is checked (by mypy, in ``inference/backends/conformance.py``) against the
protocols of exactly the operations it lists."""

from __future__ import annotations

import subprocess
import sys
import typing

from inference.backends import conformance
from inference.kinds.operations import OPERATIONS, Offers
from inference.registry import FAMILIES, KINDS_PACKAGE, _kinds, backend_class, kinds_discover


def _protocol(kind_class: type) -> type:
    """The type parameter P of ``class Kind(TaskKind[P])``."""
    (base,) = [base for base in getattr(kind_class, "__orig_bases__", ()) if typing.get_args(base)]
    (protocol,) = typing.get_args(base)
    return protocol


def test_every_kind_is_typed_against_the_protocol_of_its_operation():
    for kind in _kinds(kinds_discover([KINDS_PACKAGE])).values():
        protocol = _protocol(type(kind))
        # image-classification's protocol adds what it asks beyond its operation (supports)
        assert OPERATIONS[kind.operation] in protocol.__mro__, (kind.name, protocol)


def test_every_family_is_checked_against_the_protocols_of_exactly_its_operations():
    checks = {hints["backend"]: typing.get_args(hints["return"])
              for check in vars(conformance).values()
              if callable(check) and getattr(check, "__module__", None) == conformance.__name__
              for hints in [typing.get_type_hints(check)]}
    for family in FAMILIES:
        cls = backend_class(family)
        assert cls in checks, f"inference/backends/conformance.py has no check for the {family} family"
        protocols = checks[cls]
        assert protocols[0] is Offers
        assert set(protocols[1:]) == {OPERATIONS[operation] for operation in cls.operations}, family
        assert len(protocols) == len(cls.operations) + 1, family
    assert len(checks) == len(FAMILIES)


def test_the_protocols_import_without_torch():
    """The web process imports the task kinds, so their types must not bring a model library in."""
    code = ("import sys; import inference.kinds.operations; "
            "print(sorted(m for m in ('torch', 'transformers', 'PIL') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
