"""Retention overrides from the policy bundle: a ``retention`` rule in any Rego package.

The rule sees one governed item as ``input`` and may return a duration (the item's maximum
retention) or an object::

    package governance.retention
    import rego.v1

    retention := {"hold": true, "reason": "litigation 2026-17"} if {
        startswith(input.dataset.path, "/governed/workspace/legal/")
    }
    retention := "90d" if "TEMP" in input.dataset.tags

An object may carry ``min`` and ``max`` (durations: ``7y``, ``18m``, ``90d`` or days),
``on_expiry`` (``delete`` or ``archive``), ``hold`` (true: a legal hold) and ``reason``.
The input is ``{"dataset": {path, kind, tier, tags, written_at, written_by, age_days},
"now": ISO-8601}``, and ``data.lacuna`` is the same document decisions see.

Evaluation uses the real regorus engine on the configured bundle (``policy.dir`` or the
default one). Fail closed: a rule that errors or returns something malformed makes the item
*kept* with the error as its reason, never deleted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lacuna.errors import PolicyError
from lacuna.policy.unsendable import releasing_engines
from lacuna.retention.settings import Duration

if TYPE_CHECKING:
    from regorus import Engine

    from lacuna.config import Config

RULE = "retention"


@dataclass(frozen=True, slots=True, kw_only=True)
class Override:
    """What one package's ``retention`` rule said for one item."""

    package: str
    min: Duration | None = None
    max: Duration | None = None
    on_expiry: str | None = None
    hold: bool = False
    reason: str = ""


class RetentionRules:
    """The bundle's ``retention`` rules, compiled once (one engine, used on one thread)."""

    @releasing_engines
    def __init__(self, config: Config) -> None:
        from lacuna.policy.bundle import default_bundle_root, read_bundle
        from lacuna.policy.compile import all_packages, compile_bundle
        from lacuna.policy.engine import settings_from_config

        root: Any = (config.policy.dir.expanduser() if config.policy.dir is not None
                     else default_bundle_root())
        bundle = read_bundle(root, rego_version=config.policy.rego_version)
        own = bundle.data.get("lacuna")
        data = {**bundle.data, "lacuna": {**(own if isinstance(own, Mapping) else {}),
                                          **settings_from_config(config)}}
        self._engine: Engine = compile_bundle(bundle, data)
        self.packages = tuple(p.name for p in all_packages(self._engine, bundle)
                              if RULE in p.rules)
        self.revision = bundle.revision

    def evaluate(self, doc: Mapping[str, Any]) -> tuple[Override, ...]:
        """Every package's answer for the item ``doc`` (undefined answers are left out).

        Raises:
            PolicyError: a rule failed to evaluate or returned a malformed value; the message
                names the package and what was wrong.
        """
        from lacuna.policy.compile import UNDEFINED
        from lacuna.policy.jsontext import dumps

        if not self.packages:
            return ()
        import json

        self._engine.set_input_json(dumps(doc))
        out = []
        for package in self.packages:
            ref = f"data.{package}.{RULE}"
            try:
                text = self._engine.eval_rule_as_json(ref)
            except Exception as exc:  # regorus raises RuntimeError: conflicts, builtins
                detail = str(exc).split("\nStack backtrace")[0]
                msg = f"{ref} failed to evaluate: {detail}"
                raise PolicyError(msg) from None
            if text == UNDEFINED:
                continue
            out.append(parse_answer(package, json.loads(text)))
        return tuple(out)


def parse_answer(package: str, value: Any) -> Override:
    """A rule's value as an :class:`Override`.

    Raises:
        PolicyError: not a duration, nor an object of ``min``/``max``/``on_expiry``/``hold``/
            ``reason``.
    """
    where = f"data.{package}.{RULE}"
    try:
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            return Override(package=package, max=Duration.parse(value))
        if not isinstance(value, Mapping):
            msg = f"expected a duration or an object, got {type(value).__name__}"
            raise ValueError(msg)
        unknown = set(value) - {"min", "max", "on_expiry", "hold", "reason"}
        if unknown:
            msg = (f"unknown key(s) {', '.join(sorted(unknown))}; expected min, max, "
                   "on_expiry, hold, reason")
            raise ValueError(msg)
        expiry = value.get("on_expiry")
        if expiry not in (None, "delete", "archive"):
            msg = f"on_expiry must be 'delete' or 'archive', got {expiry!r}"
            raise ValueError(msg)
        hold = value.get("hold", False)
        if not isinstance(hold, bool):
            msg = f"hold must be true or false, got {hold!r}"
            raise ValueError(msg)
        return Override(
            package=package,
            min=Duration.parse(value["min"]) if value.get("min") is not None else None,
            max=Duration.parse(value["max"]) if value.get("max") is not None else None,
            on_expiry=expiry, hold=hold, reason=str(value.get("reason") or ""))
    except ValueError as exc:
        msg = f"{where} returned {value!r}: {exc}. Fix the rule (see docs/retention.md)."
        raise PolicyError(msg) from None


__all__ = ["RULE", "Override", "RetentionRules", "parse_answer"]
