"""``lacuna policy explain``: which packages applied, how each voted, which rules fired, and why
the decision came out as it did.

:func:`explain` evaluates the input once the way a decision does, then evaluates every rule of
every voting package on its own (so it is slower than a decision: an authoring tool). A rule
*fired* when its value is defined and neither ``false`` nor empty.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lacuna.policy.analysis import rule_sites
from lacuna.policy.annotations import parse_annotations
from lacuna.policy.compile import UNDEFINED, compile_bundle
from lacuna.policy.diagnostics import diagnose
from lacuna.policy.render import relative
from lacuna.policy.unsendable import releasing_engines

if TYPE_CHECKING:
    from lacuna.model import Decision
    from lacuna.policy.compile import PolicyPackage
    from lacuna.policy.engine import PolicyEngine

_SHOWN = 160  # characters of a rule's value shown


@dataclass(frozen=True, slots=True)
class RuleTrace:
    """One rule of a package, evaluated on the input."""

    name: str
    path: str
    line: int
    value: str  # JSON, shortened; "undefined"; or "error: ..."
    fired: bool
    title: str | None = None  # from a rule-scope # METADATA annotation


@dataclass(frozen=True, slots=True)
class PackageTrace:
    """How one voting package took part."""

    package: PolicyPackage
    applies: bool
    why_applies: str
    effect: str  # allow | deny | none | n/a
    rules: tuple[RuleTrace, ...]


@dataclass(frozen=True, slots=True)
class Explanation:
    """A decision with the trace behind it."""

    decision: Decision
    packages: tuple[PackageTrace, ...]
    summary: tuple[str, ...]
    root: str = ""  # the bundle folder, to show paths relative to it


@releasing_engines
def explain(engine: PolicyEngine, doc: Mapping[str, Any]) -> Explanation:
    """Decide ``doc`` and trace every voting package's rules (see the module docstring)."""
    decision = engine.evaluate(doc)
    effects = {p.package: p.effect for p in decision.policies}
    rego = compile_bundle(engine.bundle, engine.data)
    rego.set_input_json(json.dumps(doc, default=str))
    sites: dict[tuple[str, str], tuple[str, int]] = {}
    for s in rule_sites(rego, {m.path for m in engine.bundle.policy_modules}):
        sites.setdefault((s.package, s.name), (s.path, s.line))
    titles = _rule_titles(engine)
    traces = []
    for package in engine.packages:
        applies, why = _applies(rego, package, doc.get("action"))
        rules = []
        names = sorted(package.rules - {"metadata"},
                       key=lambda n: sites.get((package.name, n), ("", 0)))
        for name in names:
            value, fired = _evaluate(rego, f"data.{package.name}.{name}")
            path, line = sites.get((package.name, name), ("", 0))
            rules.append(RuleTrace(name, path, line, value, fired,
                                   titles.get((package.name, name))))
        traces.append(PackageTrace(package, applies, why, effects.get(package.name, "n/a"),
                                   tuple(rules)))
    return Explanation(decision, tuple(traces), _summary(decision, doc), engine.bundle.root)


def _applies(rego: Any, package: PolicyPackage, action: Any) -> tuple[bool, str]:
    if package.actions is not None and action not in package.actions:
        return False, (f"metadata.actions {sorted(package.actions)} does not include "
                       f"{action!r}")
    reasons = [f"metadata.actions includes {action!r}"] if package.actions is not None else []
    if package.has_applies:
        value, _ = _evaluate(rego, f"data.{package.name}.applies")
        if value not in ("true", "false", "undefined") and not value.startswith("error: "):
            return False, (f"its applies rule is {value}, not a boolean: the decision fails "
                           "(fail closed)")
        if value != "true":
            return False, f"its applies rule is {value}"
        reasons.append("its applies rule is true")
    return True, "; ".join(reasons) or "no metadata.actions and no applies rule: every action"


def _evaluate(rego: Any, rule: str) -> tuple[str, bool]:
    try:
        text = rego.eval_rule_as_json(rule)
    except Exception as exc:  # show the error in the trace
        d = diagnose(exc)
        return f"error: {d.where}: {d.message}", False
    if text == UNDEFINED:
        return "undefined", False
    value = json.loads(text)
    fired = value not in (False, None, [], {}, "")
    compact = json.dumps(value, separators=(",", ":"), sort_keys=True)
    return (compact if len(compact) <= _SHOWN else compact[: _SHOWN - 1] + "…"), fired


def _rule_titles(engine: PolicyEngine) -> dict[tuple[str, str], str]:
    out = {}
    for m in engine.bundle.policy_modules:
        for a in parse_annotations(m.source, m.path):
            if a.rule and a.fields.get("title"):
                out[(m.package, a.rule)] = str(a.fields["title"])
    return out


def _summary(decision: Decision, doc: Mapping[str, Any]) -> tuple[str, ...]:
    if decision.engine_error:
        return (f"DENIED: the engine failed (fail closed): {decision.engine_error}",)
    votes = decision.policies
    if not votes:
        return (f"DENIED: no policy package applies to the {doc.get('action')!r} action, so "
                "the operation is denied (fail closed).",)
    deny = [p.package for p in votes if p.effect == "deny"]
    allow = [p.package for p in votes if p.effect == "allow"]
    lines = [f"{len(votes)} package(s) applied: " + ", ".join(
        f"{p.package} voted {p.effect}" for p in votes) + "."]
    if deny:
        lines.append(f"DENIED: {', '.join(deny)} voted deny. Deny overrides allow: no package"
                     + (f" ({', '.join(allow)} voted allow)" if allow else "")
                     + " can lift it.")
    elif allow:
        lines.append(f"ALLOWED: {', '.join(allow)} voted allow and no package voted deny.")
    else:
        lines.append("DENIED: no applicable package allows it and none denies it; one package "
                     "voting allow (a domain policy, say) would have been enough.")
    label = " ".join(x for x in (decision.policy_id,
                                 f"({decision.policy_title})" if decision.policy_title else None)
                     if x)
    if label:
        lines.append(f"Deciding policy: {label}" + (f", steward {decision.steward}"
                                                      if decision.steward else "") + ".")
    lines.append(f"Reasoning: {decision.reasoning}")
    return tuple(lines)


def render(explanation: Explanation, *, verbose: bool = False) -> str:
    """The explanation as text for a terminal (rules that did not fire only when ``verbose``)."""
    out = []
    for trace in explanation.packages:
        ref = trace.package.ref()
        label = " ".join(x for x in (ref.id, f"({ref.title})" if ref.title else None) if x)
        out.append(f"{trace.package.name}{'  ' + label if label else ''}")
        if not trace.applies:
            out.append(f"  does not apply: {trace.why_applies}")
            continue
        out.append(f"  applies: {trace.why_applies}")
        out.append(f"  vote: {trace.effect}")
        for rule in trace.rules:
            if not rule.fired and not verbose:
                continue
            mark = "fired" if rule.fired else "     "
            where = f"  ({relative(rule.path, explanation.root)}:{rule.line})" if rule.path else ""
            title = f"  # {rule.title}" if rule.title else ""
            out.append(f"    {mark} {rule.name} = {rule.value}{where}{title}")
    out.append("")
    out.extend(explanation.summary)
    return "\n".join(out)
