"""``lacuna policy check``: parse every file on its own, then compile the whole bundle.

Loading a bundle stops at its first error; a check reports every file that does not parse (each
with ``file:line:column``, the offending line and a caret), and, when all parse, the first
compile or metadata error of the bundle with its tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from regorus import Engine

from lacuna.errors import PolicyError
from lacuna.policy.bundle import (
    RegoModule,
    _decode,
    _parse_data,
    _read,
    add_module,
    check_functions,
    walk,
)
from lacuna.policy.compile import compile_bundle

if TYPE_CHECKING:
    from lacuna.policy.engine import PolicyEngine


@dataclass(frozen=True, slots=True)
class CheckReport:
    """What a check found: errors (empty when the bundle is fine) and the loaded engine."""

    files: int
    errors: tuple[PolicyError, ...] = ()
    engine: PolicyEngine | None = field(default=None, compare=False)

    @property
    def ok(self) -> bool:
        """Whether every file parsed and the bundle (with its tests) compiled."""
        return not self.errors


def check_bundle(root: Traversable | Path, **engine_args: Any) -> CheckReport:
    """Check the bundle at ``root``; ``engine_args`` go to :class:`PolicyEngine`.

    Never raises :class:`PolicyError`: every problem is in the report.
    """
    from lacuna.policy.engine import PolicyEngine

    if not root.is_dir():
        msg = f"policy folder {root} does not exist or is not a folder."
        return CheckReport(files=0, errors=(PolicyError(msg, path=str(root)),))
    errors: list[PolicyError] = []
    count = 0
    version = str(engine_args.get("rego_version", "auto"))
    try:
        found = list(walk(root))
    except PolicyError as exc:
        return CheckReport(files=0, errors=(exc,))
    for rel, item in found:
        count += 1
        shown = str(item)
        try:
            text = _decode(_read(item), shown)
            if rel[-1].endswith(".rego"):
                add_module(Engine(), RegoModule(path=shown, relpath="/".join(rel), source=text),
                           version)
            else:
                _parse_data(text, shown)
        except PolicyError as exc:
            errors.append(exc)
    if errors:
        return CheckReport(files=count, errors=tuple(errors))
    try:
        engine = PolicyEngine(root, **engine_args)
        compile_bundle(engine.bundle, engine.data, tests=True)
        check_functions(engine.bundle.modules)  # test files too: `lacuna policy test` runs them
    except PolicyError as exc:
        return CheckReport(files=count, errors=(exc,))
    return CheckReport(files=count, engine=engine)
