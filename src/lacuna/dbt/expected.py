"""A node's config as the project's files set it, resolved the way dbt-core 1.11 does.

dbt resolves a node's config in this order, later wins
(``BaseContextConfigGenerator.calculate_node_config`` in ``dbt/context/context_config.py``):

1. ``dbt_project.yml``: the node kind's section (``models:``, ``seeds:``, ``snapshots:``,
   ``sources:``), at each level of the node's fqn from the top (the section, the package, its
   folders, the node): ``+key`` entries, and plain keys whose value is not a mapping (a mapping
   is a sub-folder, so ``meta: {...}`` without ``+`` sets nothing);
2. the node's properties YAML entry: its ``config:`` with a top-level ``meta:`` moved into it
   (``normalize_meta_attribute``), a version's ``config`` deep-merged over the model's, a source
   table's over its source's;
3. the ``{{ config(...) }}`` calls of the SQL file (``dbt.config(...)`` in a Python model);
4. for a node of an installed package, the root project's ``dbt_project.yml`` levels again.

``meta`` merges shallowly (a later ``meta.lacuna`` replaces an earlier one whole), ``tags``
append, every other key is replaced (``MergeBehavior`` in ``dbt_common/contracts/config/
base.py``). A value only dbt can compute is :data:`UNKNOWN`: Jinja in a YAML or
``dbt_project.yml`` value (dbt renders both), a ``config()`` argument that is not a literal, a
``config()`` call Lacuna cannot read, or Jinja that names the key outside one.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lacuna.dbt.properties import has_jinja

# the config keys Lacuna compares (a snapshot's legacy target_schema/target_database name its
# relation verbatim)
TRACKED = ("meta", "tags", "enabled", "alias", "schema", "database", "target_schema",
           "target_database")
# Jinja outside a config() call that names a key may set it (an attribute, ``model.tags``, or
# a quoted name, ``config.get('meta')``, reads it)
_WORDS = {k: re.compile(rf"(?<![.'\"])\b{k}\b") for k in ("meta", "tags", "enabled")}
# adapters' names for schema and database (``translate_aliases``: BigQuery, Databricks)
_ALIASES = {"dataset": "schema", "project": "database", "catalog": "database"}
_HOOKS = frozenset({"pre-hook", "post-hook", "pre_hook", "post_hook"})
# a statement opening a block whose body runs only sometimes (a config() in it is conditional)
_OPENS = re.compile(r"(if|for|macro|call|filter)\b")
_CLOSES = re.compile(r"end(if|for|macro|call|filter)\b")


class _Unknown:
    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()  # a value only dbt can compute (it renders Jinja)


@dataclass(frozen=True, slots=True)
class Ref:
    """A ``ref('name')`` (``source`` is ``None``) or ``source('source', 'name')`` in a file;
    ``ref('package', 'name', v=2)`` names the ``package`` and the ``version`` (as dbt formats
    it into the node's ``name.v2`` lookup key)."""

    name: str
    source: str | None = None
    package: str | None = None
    version: str | None = None


@dataclass(frozen=True, slots=True)
class Scan:
    """What a model's or snapshot's file says, read once.

    ``parts``: the file's text with each ``ref``/``source`` as a :class:`Ref` and each
    ``config()`` and comment as ``""``; ``None`` when it has other Jinja (only dbt compiles it).
    ``refs``: every ``ref``/``source``; ``None`` when other Jinja could add one.
    """

    parts: tuple[str | Ref, ...] | None = None
    refs: tuple[Ref, ...] | None = ()
    config: Mapping[str, Any] = field(default_factory=dict)
    # why nothing of the file can be read without dbt ("a {% raw %} block"), else ""
    opaque: str = ""


_OPEN = re.compile(r"\{[{%#]")
_CLOSE = {"{{": "}}", "{%": "%}"}
_PAIRS = {"(": ")", "[": "]", "{": "}"}
_NESTS = re.compile(r"[{}]")  # a brace inside a tag may hide its end: walk it
_REF = re.compile(r"""ref\(\s*(['"])([\w.-]+)\1\s*\)""")
_SOURCE = re.compile(r"""source\(\s*(['"])([\w.-]+)\1\s*,\s*(['"])([\w.-]+)\3\s*\)""")
_CALL = re.compile(r"\bconfig\s*\(")
_BLOCK = re.compile(r"(snapshot\s+\w+|endsnapshot)")
# Jinja's raw block: its text is not Jinja, so a config() or ref() in it is not one, and
# one outside it may look like text to a lexer that does not know raw
_RAW = re.compile(r"\{%[-+]?\s*raw\s*[-+]?%\}")
RAW = "a {% raw %} block"


def _tokens(text: str) -> Iterator[tuple[int, int, str, str]]:
    """``(start, end, opener, inner)`` of each Jinja tag; an expression or statement ends at
    the first closer outside strings and brackets, as Jinja's lexer balances them."""
    pos = 0
    while (found := _OPEN.search(text, pos)) is not None:
        start, opener = found.start(), found.group(0)
        if opener == "{#":
            end = text.find("#}", start + 2)
            end = len(text) if end < 0 else end + 2
            yield start, end, opener, ""
            pos = end
            continue
        closer, depth, quote, i = _CLOSE[opener], 0, "", start + 2
        end = text.find(closer, i)
        if end >= 0 and not _NESTS.search(text, i, end):  # the common case: no brackets
            yield start, end + 2, opener, text[i:end].strip("-+ \t\r\n")
            pos = end + 2
            continue
        while i < len(text):
            c = text[i]
            if quote:
                if c == "\\":
                    i += 1
                elif c == quote:
                    quote = ""
            elif c in "'\"":
                quote = c
            elif depth == 0 and text.startswith(closer, i):
                break
            elif c in _PAIRS:
                depth += 1
            elif c in ")]}" and depth:
                depth -= 1
            i += 1
        end = min(i + 2, len(text))
        yield start, end, opener, text[start + 2 : i].strip("-+ \t\r\n")
        pos = end


def scan_sql(text: str) -> Scan:
    """Read a SQL file's ``ref``/``source`` and ``config()`` calls (see :class:`Scan`)."""
    if _RAW.search(text):
        return Scan(None, None, dict.fromkeys(TRACKED, UNKNOWN), RAW)
    parts: list[str | Ref] | None = []
    refs: list[Ref] | None = []
    calls: list[Mapping[str, Any]] = []
    unknown: set[str] = set()
    pos = depth = 0
    trim = False  # the tag before ended with "-": Jinja strips the whitespace after it
    for start, end, opener, inner in _tokens(text):
        if parts is not None:
            before = text[pos:start].lstrip() if trim else text[pos:start]
            parts.append(before.rstrip() if text.startswith("-", start + 2) else before)
        trim = text.startswith("-", end - 3)
        pos = end
        if opener == "{#":
            continue
        if opener == "{{" and (ref := _REF.fullmatch(inner)) is not None:
            found: Ref | None = Ref(ref.group(2))
        elif opener == "{{" and (src := _SOURCE.fullmatch(inner)) is not None:
            found = Ref(src.group(4), src.group(2))
        elif opener == "{{" and inner.startswith("ref("):
            found = ref_call(inner)  # ref('m', v=2), ref('package', 'm')
        else:
            found = None
        if found is not None:
            if refs is not None:
                refs.append(found)
            if parts is not None:
                parts.append(found)
            continue
        if opener == "{{" and _CALL.match(inner) and (call := _config_call(inner)) is not None:
            # inside {% if %} or {% for %} it may or may not run: its keys are dbt's to know
            calls.append(dict.fromkeys(call, UNKNOWN) if depth else call)
            if parts is not None:
                parts.append("")
            continue
        if opener == "{%":
            depth += 1 if _OPENS.match(inner) else -1 if _CLOSES.match(inner) and depth else 0
        parts = None  # any other Jinja: only dbt compiles it
        if not (opener == "{%" and _BLOCK.fullmatch(inner)):
            refs = None  # it may ref() anything
        # Jinja Lacuna does not read that names a config key may set it
        unknown |= {k for k, word in _WORDS.items() if word.search(inner)}
        if _CALL.search(inner):
            unknown |= set(TRACKED)
    if parts is not None:
        parts.append(text[pos:].lstrip() if trim else text[pos:])
    config = merge_calls(calls)
    config.update(dict.fromkeys(unknown, UNKNOWN))
    return Scan(
        None if parts is None else tuple(parts), None if refs is None else tuple(refs), config
    )


def scan_python(text: str) -> Scan:
    """A Python model's ``dbt.config(...)``, ``dbt.ref(...)`` and ``dbt.source(...)`` calls."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return Scan(None, None, dict.fromkeys(TRACKED, UNKNOWN))
    refs: list[Ref] | None = []
    calls: list[Mapping[str, Any]] = []
    for node in ast.walk(tree):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
        ):
            continue
        attr = node.func.attr
        if attr == "config":
            calls.append(_keywords(node) or dict.fromkeys(TRACKED, UNKNOWN))
        elif attr in ("ref", "source") and refs is not None:
            found = _ref(attr, node)
            if found is None:
                refs = None
            else:
                refs.append(found)
    return Scan(None, None if refs is None else tuple(refs), merge_calls(calls))


def ref_call(expression: str) -> Ref | None:
    """``ref(...)``/``source(...)`` with literal arguments as a :class:`Ref` (dbt's
    ``statically_parse_ref_or_source``); ``None`` for anything else."""
    try:
        call = ast.parse(expression.strip(), mode="eval").body
    except SyntaxError:
        return None
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)):
        return None
    return _ref(call.func.id, call)


def _ref(kind: str, call: ast.Call) -> Ref | None:
    args = [_literal(a) for a in call.args]
    keywords = {kw.arg: _literal(kw.value) for kw in call.keywords}
    if not all(isinstance(a, str) for a in args):
        return None
    if kind == "source":
        return Ref(args[1], args[0]) if len(args) == 2 and not keywords else None
    if kind != "ref" or not 1 <= len(args) <= 2 or None in keywords \
            or set(keywords) - {"v", "version"} or len(keywords) > 1:
        return None
    version = next(iter(keywords.values()), None)
    if version is not None and (isinstance(version, bool)
                                or not isinstance(version, str | int | float)):
        return None
    return Ref(args[-1], package=args[0] if len(args) == 2 else None,
               version=None if version is None else str(version))


def _config_call(inner: str) -> dict[str, Any] | None:
    """The keywords of ``config(...)`` (a value that is not a literal: :data:`UNKNOWN`);
    ``None`` when it is not one call Lacuna can read."""
    try:
        call = ast.parse(inner, mode="eval").body
    except SyntaxError:
        return None
    if not (
        isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "config"
    ):
        return None
    return _keywords(call)


def _keywords(call: ast.Call) -> dict[str, Any] | None:
    out: dict[str, Any] = {}
    if call.args:  # config({'materialized': 'table'}): dbt takes one mapping
        if len(call.args) != 1 or call.keywords or not isinstance(call.args[0], ast.Dict):
            return None
        value = _literal(call.args[0])
        return value if isinstance(value, dict) else None
    for kw in call.keywords:
        if kw.arg is None:  # config(**opts)
            return None
        out[kw.arg] = _literal(kw.value)
    return out


_NAMES = {"true": True, "True": True, "false": False, "False": False, "none": None, "None": None}


def _literal(node: ast.expr) -> Any:
    """A Jinja/Python literal's value, or :data:`UNKNOWN`."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name) and node.id in _NAMES:
        return _NAMES[node.id]
    if isinstance(node, ast.List | ast.Tuple):
        items = [_literal(e) for e in node.elts]
        return UNKNOWN if any(i is UNKNOWN for i in items) else items
    if isinstance(node, ast.Dict):
        keys = [None if k is None else _literal(k) for k in node.keys]
        values = [_literal(v) for v in node.values]
        if any(not isinstance(k, str) for k in keys) or any(v is UNKNOWN for v in values):
            return UNKNOWN
        return dict(zip(keys, values, strict=True))
    return UNKNOWN


def merge_calls(calls: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Several ``config()`` calls as one (dbt's ``merge_config_dicts``)."""
    out: dict[str, Any] = {}
    for call in calls:
        for key, value in call.items():
            name = _ALIASES.get(key, key)
            if name in TRACKED:
                out[name] = _merged(name, out.get(name), value, name in out)
            elif key in _HOOKS and value:
                out["hooks"] = True
    return out


def _merged(key: str, old: Any, new: Any, had: bool) -> Any:
    if new is UNKNOWN or (had and old is UNKNOWN):
        return UNKNOWN
    if key == "tags":
        return [*(_listify(old) if had else []), *_listify(new)]
    if key == "meta":
        if not isinstance(new, Mapping):
            return UNKNOWN
        return {**(old if had and isinstance(old, Mapping) else {}), **new}
    return new


def _listify(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


# -- resolving ---------------------------------------------------------------------------------


@dataclass(slots=True)
class Resolved:
    """A node's config keys (:data:`TRACKED`) and what set each last, for messages (for meta,
    per top-level key: ``meta.lacuna``)."""

    values: dict[str, Any] = field(default_factory=dict)
    where: dict[str, str] = field(default_factory=dict)
    hooks: bool = False  # dbt renders hooks at parse time: their ref()s join depends_on

    def apply(self, partial: Mapping[str, Any], where: str) -> None:
        """Apply one level of config (rendered by dbt: a value with Jinja is UNKNOWN)."""
        if not partial:
            return
        self.hooks = self.hooks or bool(partial.get("hooks")) or any(partial.get(k) for k in _HOOKS)
        partial = {_ALIASES.get(k, k): v for k, v in partial.items()}
        for key in TRACKED:
            if key not in partial:
                continue
            value = partial[key]
            if key == "meta" and isinstance(value, Mapping):
                value = {k: _rendered(v) for k, v in value.items()}
                for k in value:
                    self.where[f"meta.{k}"] = where
            elif has_jinja(value):
                value = UNKNOWN
            self.values[key] = _merged(key, self.values.get(key), value, key in self.values)
            self.where[key] = where

    def at(self, key: str) -> str:
        """What set ``key`` last (``meta.lacuna.tier``: what set ``meta.lacuna``); ``""``
        when nothing did."""
        parts = key.split(".")
        for n in range(len(parts), min(2, len(parts)) - 1, -1):
            if found := self.where.get(".".join(parts[:n])):
                return found
        return ""


def _rendered(value: Any) -> Any:
    """A meta value, Jinja (rendered by dbt) made UNKNOWN; a namespace (``lacuna:``) key by
    key, so Jinja in a key classification does not read changes nothing."""
    if isinstance(value, Mapping):
        return {k: UNKNOWN if has_jinja(v) else v for k, v in value.items()}
    return UNKNOWN if has_jinja(value) else value


def project_levels(
    config: Mapping[str, Any], section: str, fqn: Sequence[str]
) -> Iterator[tuple[dict[str, Any], str]]:
    """The config each level of ``dbt_project.yml``'s ``section`` gives a node (dbt's
    ``fqn_search`` and ``_project_configs``), with where it is."""
    level = config.get(section)
    path = [section]
    for part in ("", *fqn):
        if part:
            level = level.get(part) if isinstance(level, Mapping) else None
            path.append(part)
        if not isinstance(level, Mapping):
            return
        out: dict[str, Any] = {}
        for key, value in level.items():
            if not isinstance(key, str):
                continue
            if key.startswith("+"):
                out[key[1:].strip()] = value
            elif not isinstance(value, Mapping):
                out[key] = value
        if out:
            yield out, f"dbt_project.yml ({': '.join(path)})"


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """dbt's ``deep_merge``: mappings merged key by key, anything else replaced."""
    out = dict(base)
    for key, value in over.items():
        old = out.get(key)
        out[key] = (
            deep_merge(old, value)
            if isinstance(old, Mapping) and isinstance(value, Mapping)
            else value
        )
    return out
