"""Suggested alternatives that work: built for this frame and configuration, checked before shown.

A policy names the *kinds* of alternative that apply to a denial (``{"kind": "anonymize",
"title": ...}``, see ``governance/export_alternatives.rego``); :func:`complete` turns each kind
into code for the operation at hand and dry-runs it through the same policy engine before it is
shown. A kind whose check fails is dropped, or replaced by what to configure:

- ``anonymize``: the columns to treat are found by dry-running anonymize → re-classify → decide
  for the destination the printed code writes to. Every column that keeps the data above what
  the destination accepts is listed (a FINANCIAL column keeps a frame INTERNAL, not only PII),
  and no column that is not needed. If anonymizing every sensitive column still leaves the export
  denied (a table-level floor, a policy that denies anyway), the alternative is not shown; nor
  when a needed one is the written index or header (``(index)``, ``(column labels)``: labels,
  which ``anonymize`` does not rewrite).
- ``governed_location``: the first configured governed root (``destinations.governed``) of the
  target's kind that exists, is writable, and where the same write would be allowed. Roots
  Lacuna cannot check from here (object stores, URLs) are not named. When none qualifies, the
  alternative says how to configure one instead.
- ``exception``: ``lacuna.request_exception(...)`` for the same data and destination, addressed
  to the policy's ``approver`` (else the steward); not shown when there is no destination.

Code is in the language of the call that was denied: a host that is not pandas (a governed SQL
statement) sets :data:`HOST` while the Governor decides, and its ``build`` renders every kind
(SQL for the same database, checked the way that host would check it); kinds it cannot render
are dropped, never shown as pandas code. Otherwise code is plain Python that runs as printed
in the user's namespace: the data under the name the user gave it, ``import lacuna`` first
unless the caller already has the module under some name (then that name is used), and no
decoration inside code lines; a denied pyspark ``df.write.csv(path)`` gets pyspark writes.
Other alternatives (free-form ``{title, code, note}`` from a policy) are shown as the policy
wrote them.
"""

from __future__ import annotations

import json
import logging
import os
import posixpath
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, replace
from types import FrameType
from typing import TYPE_CHECKING, Any, Protocol

from lacuna.model import Alternative, ColumnClass, Decision, Operation, Tier

if TYPE_CHECKING:
    from lacuna.config import Config
    from lacuna.model import Classification, Destination

log = logging.getLogger(__name__)

# Writers that take the target as their only required argument: ``data.writer(path)`` runs.
PATH_WRITERS = frozenset({
    "to_csv", "to_parquet", "to_json", "to_excel", "to_feather", "to_pickle", "to_orc",
    "to_stata", "to_xml", "to_html", "to_latex", "to_markdown", "to_string",
})
# pyspark DataFrameWriter methods that take the path as their only required argument (not
# ``save``: without the user's ``format`` it would write another format)
SPARK_WRITERS = frozenset({"parquet", "csv", "json", "orc", "text", "xml"})
SPARK_WRITER_PREFIX = "spark.DataFrameWriter."
DEFAULT_VARIABLE = "df"
_INTERNAL = ("lacuna.", "pandas.", "numpy.", "pyarrow.")

Decide = Callable[[Operation], Decision]


class Host(Protocol):
    """Renders alternatives for operations of a host that is not pandas (e.g. a SQL hook)."""

    def handles(self, operation: Operation) -> bool: ...

    def key(self) -> str: ...

    def build(self, alt: Alternative, decision: Decision, ctx: Context) -> Alternative | None: ...


HOST: ContextVar[Host | None] = ContextVar("lacuna_alternatives_host", default=None)


def host_for(operation: Operation) -> Host | None:
    """The host rendering alternatives for ``operation`` in this context, if any."""
    host = HOST.get()
    return host if host is not None and host.handles(operation) else None


@dataclass(frozen=True, slots=True)
class Context:
    """What the code is built from: names the user's code knows, and how to check a variant."""

    operation: Operation
    config: Config
    decide: Decide  # a dry run: no audit record, no decision log
    destination: Callable[[str], Destination]
    lacuna: str = "lacuna"  # the caller's name for the lacuna module
    import_line: str = "import lacuna"  # "" when the caller already has it

    @property
    def variable(self) -> str:
        return self.operation.variable or DEFAULT_VARIABLE

    @property
    def writer(self) -> str | None:
        method = self.operation.method.rsplit(".", 1)[-1]
        return method if method in PATH_WRITERS else None

    @property
    def spark_writer(self) -> str | None:
        """``write.csv`` for a denied ``df.write.csv(path)``: PySpark code writes as pyspark."""
        method = self.operation.method
        if not method.startswith(SPARK_WRITER_PREFIX):
            return None
        name = method.removeprefix(SPARK_WRITER_PREFIX)
        return f"write.{name}" if name in SPARK_WRITERS else None

    @property
    def spark(self) -> bool:
        return self.operation.method.startswith("spark.")

    @property
    def target(self) -> str | None:
        d = self.operation.destination
        return d.uri if d is not None and d.uri else None

    def code(self, *lines: str, uses_lacuna: bool = True) -> str:
        head = [self.import_line] if uses_lacuna and self.import_line else []
        return "\n".join([*head, *lines])

    def allowed(self, **changes: Any) -> bool:
        """Whether the operation with ``changes`` would be allowed (fails closed on errors)."""
        try:
            op = replace(self.operation, exception_id=None, **changes)
            return self.decide(op).allowed
        except Exception as exc:  # a variant that cannot be decided is not suggested
            log.debug("alternative check failed: %s", exc)
            return False


def complete(decision: Decision, ctx: Context) -> Decision:
    """``decision`` with every alternative of a known kind built and checked (module docstring).

    Never raises: a kind that cannot be built is left out, and the failure is logged.
    """
    if decision.allowed or not any(a.kind for a in decision.alternatives):
        return decision
    out: list[Alternative] = []
    host = host_for(ctx.operation)
    for alt in decision.alternatives:
        builder = (host.build if host is not None else BUILDERS.get(alt.kind)) if alt.kind \
            else None
        if builder is None:
            out.append(alt)
            continue
        try:
            built = builder(alt, decision, ctx)
        except Exception as exc:
            log.error("could not build the %r alternative; not shown: %s", alt.kind, exc)
            continue
        if built is not None:
            out.append(built)
    return replace(decision, alternatives=tuple(out))


# -- anonymize first -------------------------------------------------------------------------


def sensitive_columns(c: Classification, config: Config) -> list[str]:
    """Columns that can hold a table above PUBLIC, most restrictive first."""
    cc = config.classification

    def tier(col: ColumnClass) -> Tier:
        return cc.tier_for(col.classification, col.sensitivity)

    found = [(name, col) for name, col in c.columns.items()
             if col.is_personal or tier(col) > Tier.PUBLIC]
    found.sort(key=lambda item: (not item[1].is_personal, -tier(item[1]).rank,
                                 -item[1].sensitivity.rank))
    return [name for name, _ in found]


def columns_to_anonymize(
    ctx: Context, destination: Destination | None, *, strategy: str = "hash"
) -> list[str] | None:
    """The columns whose anonymization makes the export allowed, or ``None`` if none does.

    Starts from every sensitive column; if that is not enough, anonymizing cannot help. Then
    drops, least restrictive first, every column the export is allowed without. ``hash`` output
    is a pseudonym (an ``identifier``), the most restrictive class of the default strategies.
    """
    from lacuna.anonymize.api import reclassify

    source = ctx.operation.classification
    chosen = sensitive_columns(source, ctx.config)
    if not chosen:
        return None

    def passes(columns: Sequence[str]) -> bool:
        after = reclassify(source, list(columns), strategy, ctx.config)
        return ctx.allowed(classification=after, destination=destination)

    if not passes(chosen):
        return None
    for name in reversed(list(chosen)):
        fewer = [c for c in chosen if c != name]
        if fewer and passes(fewer):
            chosen = fewer
    return chosen


def _has_quasi_identifier(source: Classification, columns: Sequence[str]) -> bool:
    from lacuna.privacy import QUASI_TYPES

    return any((col := source.columns.get(c)) is not None and col.is_personal
               and col.pii_type in QUASI_TYPES for c in columns)


def anonymized_target(target: str) -> str:
    """``~/Downloads/customers.csv`` → ``~/Downloads/customers_anon.csv`` (query dropped)."""
    path = target.split("?", 1)[0].split("#", 1)[0]
    head, tail = path.rsplit("/", 1) if "/" in path else ("", path)
    stem, dot, ext = tail.rpartition(".")
    name = f"{stem}_anon.{ext}" if dot and stem else f"{tail}_anon"
    return f"{head}/{name}" if "/" in path else name


# What a writer writes besides the columns, classified under these names
# (:func:`lacuna.lineage.frames.with_index`, :func:`~lacuna.lineage.frames.with_header`),
# and a column whose label is a value, named by position (:mod:`lacuna.classify.header`).
_STRUCTURE = re.compile(r"\((?:(?:index|column labels)(?: level \d+)?|column \d+)\)")


def _anonymize(alt: Alternative, _decision: Decision, ctx: Context) -> Alternative | None:
    var = ctx.variable
    target = ctx.target
    writer = ctx.writer or ctx.spark_writer
    new_target = anonymized_target(target) if target and writer else None
    destination = ctx.destination(new_target) if new_target else ctx.operation.destination
    strategy = "hash"  # pseudonyms; when identifiers are restricted too, only redact helps
    columns = columns_to_anonymize(ctx, destination)
    if columns is None:
        strategy = "redact"
        columns = columns_to_anonymize(ctx, destination, strategy=strategy)
    if columns is None or any(_STRUCTURE.fullmatch(c) for c in columns):
        return None
    listed = ", ".join(repr(c) for c in columns)
    data = f"{var}.to_frame()" if ".Series." in ctx.operation.method else var
    if _has_quasi_identifier(ctx.operation.classification, columns):
        if ctx.spark:  # lacuna.privacy generalises pandas frames only: no code that fails
            return None
        # anonymous only when k-anonymous: generalise the quasi-identifiers first (lacuna.privacy)
        data = f"{ctx.lacuna}.privacy.report({data}).generalize({data})"
    how = "" if strategy == "hash" else f", strategy={strategy!r}"
    lines = [f"anon_{var} = {ctx.lacuna}.anonymize({data}, columns=[{listed}]{how})"]
    if new_target:
        lines.append(f"anon_{var}.{writer}({json.dumps(new_target)})")
    return replace(alt, code=ctx.code(*lines))


# -- use a governed location -------------------------------------------------------------------


def _is_url(text: str) -> bool:
    return "://" in text


def writable_root(root: str) -> bool:
    """A local governed root that exists and that this process can write to."""
    if _is_url(root) and not root.startswith("file://"):
        return False  # object stores and URLs cannot be checked from here
    path = os.path.expanduser(root[7:] if root.startswith("file://") else root)
    return os.path.isdir(path) and os.access(path, os.W_OK | os.X_OK)


def _governed(alt: Alternative, _decision: Decision, ctx: Context) -> Alternative | None:
    d = ctx.operation.destination
    target = ctx.target
    if d is None or target is None or d.type.value == "database":
        return None
    name = posixpath.basename(target.split("?", 1)[0].split("#", 1)[0].rstrip("/"))
    roots = [r for r in ctx.config.destinations.governed if r.strip()]
    for root in roots:
        if not writable_root(root):
            continue
        path = f"{root.rstrip('/')}/{name}" if name else root
        if not ctx.allowed(destination=ctx.destination(path)):
            continue
        writer = ctx.writer or ctx.spark_writer
        if writer is None:
            return replace(alt, title=f"{alt.title}: {path}")
        code = ctx.code(f"{ctx.variable}.{writer}({json.dumps(path)})", uses_lacuna=False)
        return replace(alt, code=code)
    configured = ", ".join(roots) or "none"
    return replace(
        alt,
        title=f"{alt.title}: none is set up here",
        code=None,
        note=("add a folder that is encrypted, access-logged and writable for you under "
              f"destinations.governed in lacuna.yaml (configured: {configured}; none exists and "
              "is writable here), or ask your data steward which one to use"),
    )


# -- request an exception ----------------------------------------------------------------------


def _exception(alt: Alternative, decision: Decision, ctx: Context) -> Alternative | None:
    target = ctx.target
    approver = dict(alt.params).get("approver") or decision.steward
    if target is None or not approver:
        return None
    purpose = ctx.operation.purpose or "Describe the business need"
    code = ctx.code(
        f"{ctx.lacuna}.request_exception(",
        f"    data={ctx.variable},",
        f"    destination={json.dumps(target)},",
        f"    purpose={json.dumps(purpose)},",
        f"    approver={json.dumps(approver)}",
        ")",
    )
    return replace(alt, code=code)


Builder = Callable[[Alternative, Decision, Context], "Alternative | None"]
BUILDERS: Mapping[str, Builder] = {
    "anonymize": _anonymize,
    "governed_location": _governed,
    "exception": _exception,
}


# -- the caller's names ------------------------------------------------------------------------


def caller_frame(start: FrameType | None = None) -> FrameType | None:
    """The innermost frame of the user's code (not Lacuna's, pandas', numpy's or pyarrow's)."""
    frame: FrameType | None = start if start is not None else sys._getframe(1)
    while frame is not None:
        module = str(frame.f_globals.get("__name__", ""))
        if not (module.startswith(_INTERNAL) or module in ("lacuna", "pandas")):
            return frame
        frame = frame.f_back
    return None


def lacuna_name(frame: FrameType | None) -> str | None:
    """The name ``frame``'s code knows the lacuna module by (``lacuna`` preferred), if any."""
    if frame is None:
        return None
    module = sys.modules.get("lacuna")
    scopes = (frame.f_locals, frame.f_globals)
    if any(scope.get("lacuna") is module for scope in scopes):
        return "lacuna"
    for scope in scopes:
        for name, value in scope.items():
            if value is module and name.isidentifier() and not name.startswith("_"):
                return name
    return None


def context_for(operation: Operation, config: Config, decide: Decide,
                destination: Callable[[str], Destination],
                frame: FrameType | None = None, *, local: bool = True) -> Context:
    """A :class:`Context` for ``operation``, with the caller's name for lacuna from ``frame``
    (by default the innermost frame outside Lacuna and pandas). Not ``local`` (a server
    deciding for a client, whose code is not on this stack): ``lacuna``, imported, without
    walking the stack (the server's own frames never name the module)."""
    name = lacuna_name(frame if frame is not None else caller_frame()) if local else None
    return Context(operation=operation, config=config, decide=decide, destination=destination,
                   lacuna=name or "lacuna", import_line="" if name else "import lacuna")


# -- memo ------------------------------------------------------------------------------------


class Memo:
    """Checked alternatives remembered for ``ttl_s`` seconds, so a burst of the same denial
    (a retried export, a server answering many clients) builds and dry-runs them once.

    The key is everything the alternatives are built from: the policy revision, the decision's
    policy and alternative kinds, the operation as the policy sees it (user, action, data,
    destination, purpose, environment) with the variable and writer the code names, and the
    caller's name for ``lacuna``. What the key cannot see is the filesystem around governed
    roots (a root created or made read-only) and the configuration object; the short time to
    live bounds how long a change there takes to show, and a new ``Config`` starts afresh.
    """

    def __init__(self, ttl_s: float = 1.0, size: int = 1024) -> None:
        import threading
        from collections import OrderedDict

        self.ttl_s = ttl_s
        self.size = size
        self._entries: OrderedDict[str, tuple[float, tuple[Alternative, ...]]] = OrderedDict()
        self._lock = threading.Lock()
        self._config_id: int | None = None

    @staticmethod
    def key(decision: Decision, ctx: Context, revision: str) -> str | None:
        """The memo key, or ``None`` when the operation cannot be keyed (never remembered)."""
        from lacuna.policy.inputs import build_input
        from lacuna.policy.jsontext import dumps_sorted

        op = ctx.operation
        if op.exception_id:  # a grant can change between two calls: never remembered
            return None
        try:
            # The input without where in the user's code it happened (the operation's id
            # and time are not in it): build_input's dicts are fresh, so set in place rather
            # than copying the operation (the same text, cheaper).
            doc = build_input(op)
            doc["context"]["code_location"] = None
            doc.pop("time", None)
            return dumps_sorted({
                "revision": revision, "policy": decision.policy_id, "input": doc,
                "kinds": [[a.kind, a.title, a.code, a.note, dict(a.params)]
                          for a in decision.alternatives],
                "variable": op.variable, "method": op.method, "lacuna": ctx.lacuna,
                "import": ctx.import_line, "target": ctx.target,
                "host": host.key() if (host := host_for(op)) is not None else None})
        except Exception:  # an input that does not serialize: not remembered
            return None

    def complete(self, decision: Decision, ctx: Context, revision: str) -> Decision:
        """:func:`complete`, remembered (see the class docstring)."""
        import time

        key = self.key(decision, ctx, revision)
        if key is None:
            return complete(decision, ctx)
        now = time.monotonic()
        with self._lock:
            if self._config_id != id(ctx.config):
                self._entries.clear()
                self._config_id = id(ctx.config)
            hit = self._entries.get(key)
            if hit is not None and hit[0] > now:
                return decision.evolve(alternatives=hit[1])
        done = complete(decision, ctx)
        with self._lock:
            self._entries[key] = (now + self.ttl_s, done.alternatives)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return done
