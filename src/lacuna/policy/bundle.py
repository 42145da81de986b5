"""Reading a policy bundle: a folder of ``.rego`` files and ``data.json``/``data.yaml`` documents.

* Every ``.rego`` file under the folder is read, recursively, in sorted order. Files ending in
  ``_test.rego`` are checked and kept for ``lacuna policy test`` but never reach the engine that
  makes decisions.
* **Rego v0 and v1 mix per file.** regorus's ``set_rego_v0`` is engine-wide, but it only affects
  parsing, which happens in ``add_policy``; so the loader switches it per file while adding files
  to one engine. A file's version is, first match wins: a ``# lacuna: rego.v0`` (or ``rego.v1``)
  comment in its leading comment lines; ``policy.rego_version`` when it is ``v0`` or ``v1``;
  otherwise (``auto``) v1, falling back to v0 when v1 parsing fails with regorus's
  "keyword is required" error (``allow { ... }``, ``deny[msg] { ... }``).
* ``data.json``/``data.yaml``/``data.yml`` are placed at their folder's path, as OPA bundles do:
  ``policies/governance/export/data.json`` becomes ``data.governance.export``.
* The content hash (``Bundle.digest``) is a SHA-256 over every file's relative path and bytes:
  the same files give the same hash wherever they are. The revision is the git commit when the
  folder is a clean git checkout, else derived from the hash (:mod:`lacuna.policy.revision`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

import yaml  # type: ignore[import-untyped, unused-ignore]
from regorus import Engine

from lacuna.errors import PolicyError
from lacuna.policy.analysis import parse
from lacuna.policy.diagnostics import diagnose
from lacuna.policy.evaluable import check_evaluable
from lacuna.policy.jsontext import MAX_DEPTH, too_deep
from lacuna.policy.nesting import check_nesting
from lacuna.policy.recursion import check_recursion, may_define_function
from lacuna.policy.revision import bundle_revision
from lacuna.policy.unsendable import releasing_engines

RegoVersion = Literal["v0", "v1"]
DATA_FILES = ("data.json", "data.yaml", "data.yml")
_PRAGMA = re.compile(r"^\s*#\s*lacuna:\s*rego\.(v0|v1)\b", re.IGNORECASE)
_NEEDS_V0 = "keyword is required"


@dataclass(frozen=True, slots=True, kw_only=True)
class RegoModule:
    """One ``.rego`` file of a bundle, with the Rego version it parsed as."""

    path: str  # shown in errors: the absolute path for folders on disk
    relpath: str  # relative to the bundle root, with "/"
    source: str
    package: str = ""  # e.g. "governance.export" (no "data." prefix)
    rego_version: RegoVersion = "v1"

    @property
    def is_test(self) -> bool:
        """Whether this is a test file (``*_test.rego``), kept out of decisions."""
        return self.relpath.endswith("_test.rego")


@dataclass(frozen=True, slots=True, kw_only=True)
class Bundle:
    """The checked contents of a policy folder."""

    root: str
    modules: tuple[RegoModule, ...]
    data: Mapping[str, Any] = field(default_factory=dict)
    revision: str = ""  # git commit, commit+dirty.hash, or the content hash
    digest: str = ""  # the content hash: 16 hex digits
    files: tuple[str, ...] = ()  # every file read, relative to root, with "/"

    @property
    def policy_modules(self) -> tuple[RegoModule, ...]:
        """The modules that take part in decisions (not ``*_test.rego``)."""
        return tuple(m for m in self.modules if not m.is_test)


def default_bundle_root() -> Traversable:
    """The bundle shipped inside the package: ``lacuna/policies/default/``."""
    return files("lacuna").joinpath("policies").joinpath("default")


def seed_bundle_root() -> Traversable:
    """The seed's example policies, shipped as ``lacuna/policies/examples/seed/``."""
    return files("lacuna").joinpath("policies").joinpath("examples").joinpath("seed")


def builtin(root: Traversable | Path) -> bool:
    """Whether ``root`` is one of the bundles shipped inside the package."""
    if not isinstance(root, Path):
        return True
    shipped = files("lacuna").joinpath("policies")
    if not isinstance(shipped, Path):
        return False
    try:
        root.resolve().relative_to(shipped.resolve())
    except ValueError:
        return False
    return True


@releasing_engines
def read_bundle(root: Traversable | Path, *, rego_version: str = "auto") -> Bundle:
    """Read, parse and check every file of a bundle folder.

    Args:
        root: the bundle folder (a path, or a package resource).
        rego_version: ``auto``, ``v0`` or ``v1`` (``policy.rego_version``); per-file pragmas win.

    Returns:
        The bundle, each module tagged with its package and Rego version.

    Raises:
        PolicyError: the folder is missing or holds no ``.rego`` file, or a file cannot be read
            or parsed, or a data document is invalid; the message gives path, line and column.
    """
    if not root.is_dir():
        msg = (f"policy folder {root} does not exist or is not a folder. Point policy.dir at "
               "a folder of .rego files, or remove the setting to use the default bundle.")
        raise PolicyError(msg, path=str(root))
    digest = hashlib.sha256()
    modules: list[RegoModule] = []
    data: dict[str, Any] = {}
    owners: dict[tuple[str, ...], str] = {}
    relpaths: list[str] = []
    contents: dict[str, bytes] = {}
    for rel, item in walk(root):
        relpath = "/".join(rel)
        relpaths.append(relpath)
        raw = contents[relpath] = _read(item)
        digest.update(relpath.encode() + b"\0" + raw + b"\0")
        shown = str(item)
        if rel[-1].endswith(".rego"):
            modules.append(RegoModule(path=shown, relpath=relpath, source=_decode(raw, shown)))
        else:
            doc = _parse_data(_decode(raw, shown), shown)
            _merge(data, rel[:-1], doc, shown, owners)
    if not any(not m.is_test for m in modules):
        msg = (f"policy folder {root} holds no .rego policy files. Add policies, or remove "
               "policy.dir to use the default bundle.")
        raise PolicyError(msg, path=str(root))
    parsed = _parsed(tuple(modules), rego_version)
    content_hash = digest.hexdigest()[:16]
    names = tuple(relpaths)
    on_disk = None if builtin(root) else Path(str(root))
    return Bundle(root=str(root), modules=parsed, data=data, digest=content_hash,
                  files=names, revision=bundle_revision(on_disk, content_hash, names, contents))


def content_key(parts: Iterable[str]) -> str:
    """A digest of ``parts`` in order, each with its length first: with a separator after
    each instead, one file whose text held the separator, a path, a version and more Rego
    hashed as those two files, and was handed what was kept for them (parsed modules, a
    compiled engine, an analysis). What the policy caches are keyed by."""
    digest = hashlib.sha256()
    for part in parts:
        raw = part.encode("utf-8", "surrogatepass")
        digest.update(len(raw).to_bytes(8, "big") + raw)
    return digest.hexdigest()


_K = TypeVar("_K")
_V = TypeVar("_V")


class Recent(Generic[_K, _V]):
    """A small map of what was used most recently (at most ``kept`` entries), safe across
    threads: the policy caches keyed by :func:`content_key`."""

    def __init__(self, kept: int) -> None:
        self._kept, self._lock = kept, threading.Lock()
        self._held: OrderedDict[_K, _V] = OrderedDict()

    def get(self, key: _K) -> _V | None:
        with self._lock:
            found = self._held.get(key)
            if found is not None:
                self._held.move_to_end(key)
            return found

    def __len__(self) -> int:
        return len(self._held)

    def put(self, key: _K, value: _V) -> None:
        with self._lock:
            self._held[key] = value
            while len(self._held) > self._kept:
                self._held.popitem(last=False)


# The modules of bundles parsed lately, tagged with their package and version, by what was
# parsed (each file's shown path, relative path and text, and ``rego_version``): the same files
# read again (a governor made again, a reload that found them unchanged) are not parsed again.
# Only a bundle that parsed is kept, so a file that fails fails every time it is read.
_PARSED_KEPT = 16
_PARSED: Recent[str, tuple[RegoModule, ...]] = Recent(_PARSED_KEPT)


@releasing_engines
def _parsed(modules: tuple[RegoModule, ...], rego_version: str) -> tuple[RegoModule, ...]:
    """``modules`` parsed, each tagged with its package and Rego version (:func:`add_module`).

    Raises:
        PolicyError: a file does not parse, or functions call each other in a cycle
            (:mod:`lacuna.policy.recursion`); never kept: read again, it raises again.
    """
    key = content_key((rego_version,
                       *(p for m in modules for p in (m.path, m.relpath, m.source))))
    found = _PARSED.get(key)
    if found is not None:
        return found
    checker = Engine()
    parsed: list[RegoModule] = []
    for m in modules:  # a loop: a generator's closure would keep the engine in a traceback
        parsed.append(add_module(checker, m, rego_version))
    ast = parse(checker)
    del checker  # released here, on this thread
    done = tuple(parsed)
    # a function calling itself would crash the process at evaluation; test files are checked
    # when they run (lacuna.policy.rego_tests), not on every read (the default bundle's define
    # functions: their AST costs ~7 ms)
    check_functions(m for m in done if not m.is_test)
    # an unsafe variable, a comprehension never scheduled, a call of a function that is not
    # there (regorus finds each only when it evaluates it: every decision reaching it failed,
    # denied); test files are checked when they run, as above. What they define is not there
    # either when a decision is made: a policy calling a test file's function was accepted
    policies = {m.path for m in done if not m.is_test}
    check_evaluable([m for m in ast if _file_of(m) in policies], policies)
    del ast
    _PARSED.put(key, done)
    return done


def _file_of(module: Any) -> str:
    """The file a module of regorus's AST was added as."""
    return str(((module or {}).get("source") or {}).get("file"))


@releasing_engines
def check_functions(modules: Iterable[RegoModule]) -> None:
    """Refuse functions of ``modules`` that call each other in a cycle
    (:mod:`lacuna.policy.recursion`); only the files that may define a function are parsed
    again, on an engine of their own (each was parsed once already, with its version).

    Raises:
        PolicyError: a cycle, with the file and line of one of its functions.
    """
    candidates = [m for m in modules if may_define_function(m.source)]
    if not candidates:
        return
    engine = Engine()
    for m in candidates:  # a loop: a generator's closure would keep the engine in a traceback
        _add(engine, m, m.rego_version)
    ast = parse(engine)
    del engine  # released here, on this thread
    check_recursion(ast)


@releasing_engines
def add_module(engine: Engine, module: RegoModule, rego_version: str = "auto") -> RegoModule:
    """Parse ``module`` into ``engine`` in its Rego version; return it with version and package.

    Raises:
        PolicyError: the file does not parse, or nests brackets too deeply to parse in
            reasonable time (:mod:`lacuna.policy.nesting`); with path, line and column.
    """
    forced: RegoVersion | None = "v0" if rego_version == "v0" else (
        "v1" if rego_version == "v1" else None)
    check_nesting(module.source, module.path)  # before regorus: its parse is 2**depth
    version = _declared_version(module.source) or forced
    tried: RegoVersion = version or "v1"
    try:
        package = _add(engine, module, tried)
    except Exception as exc:  # regorus raises RuntimeError; translate whatever it raises
        first = diagnose(exc)
        if version is not None or _NEEDS_V0 not in first.message:
            raise first.to_error(_parse_hint(tried, declared=version is not None)) from None
        tried = "v0"
        try:
            package = _add(engine, module, tried)
        except Exception as exc0:
            hint = (f"Parsed as Rego v0 because Rego v1 parsing failed at line {first.line} "
                    f"({first.message}). Fix the file, or declare its version in a first-line "
                    "comment: `# lacuna: rego.v1` or `# lacuna: rego.v0`.")
            raise diagnose(exc0).to_error(hint) from None
    return replace(module, package=package.removeprefix("data."), rego_version=tried)


def _add(engine: Engine, module: RegoModule, version: RegoVersion) -> str:
    engine.set_rego_v0(version == "v0")
    add: Any = engine.add_policy  # returns the package ("data.x"); the stub says None
    try:
        return str(add(module.path, module.source))
    finally:
        engine.set_rego_v0(False)


def _parse_hint(version: RegoVersion, *, declared: bool) -> str:
    how = "as declared" if declared else "by default"
    return (f"Fix the Rego syntax at that position (parsed as Rego {version} {how}; declare "
            "another version with a first-line comment `# lacuna: rego.v0` or "
            "`# lacuna: rego.v1`).")


def _declared_version(source: str) -> RegoVersion | None:
    for line in source.splitlines():
        if not line.strip():
            continue
        if not line.lstrip().startswith("#"):
            break
        m = _PRAGMA.match(line)
        if m:
            return "v0" if m.group(1).lower() == "v0" else "v1"
    if re.search(r"^\s*import\s+rego\.v1\s*$", source, re.MULTILINE):
        return "v1"
    return None


def walk(root: Traversable) -> Iterator[tuple[tuple[str, ...], Traversable]]:
    """``(relative parts, file)`` of every bundle file under ``root``, in sorted order: what
    :func:`read_bundle` reads and :class:`lacuna.policy.watch.PolicyWatcher` watches.
    Symbolically linked folders are followed, each real folder once.

    Raises:
        PolicyError: a folder cannot be listed.
    """
    return _walk(root, (), set())


def _walk(folder: Traversable, rel: tuple[str, ...],
          seen: set[str]) -> Iterator[tuple[tuple[str, ...], Traversable]]:
    if isinstance(folder, Path):
        real = os.path.realpath(folder)
        if real in seen:  # a link back to a folder already walked (a loop)
            return
        seen.add(real)
    try:
        items = sorted(folder.iterdir(), key=lambda t: t.name)
    except OSError as exc:
        msg = f"{folder}: cannot list the policy folder ({exc.strerror or exc})."
        raise PolicyError(msg, path=str(folder)) from None
    for item in items:
        if item.name.startswith(".") or item.name == "__pycache__":  # hidden, editor temp files
            continue
        if item.is_dir():
            yield from _walk(item, (*rel, item.name), seen)
        elif item.name.endswith(".rego") or item.name in DATA_FILES:
            yield (*rel, item.name), item


def _read(item: Traversable) -> bytes:
    """A bundle file's bytes; a file that cannot be read (gone, a dangling link, a folder or
    a pipe under a policy's name, no permission) is a :class:`PolicyError` naming it."""
    if isinstance(item, Path) and not item.is_file():
        what = "a dangling link" if item.is_symlink() and not item.exists() else (
            "gone" if not item.exists() else "not a regular file")
        msg = f"{item}: cannot read this policy file: it is {what}. Remove it or fix it."
        raise PolicyError(msg, path=str(item))
    try:
        return item.read_bytes()
    except OSError as exc:
        msg = f"{item}: cannot read this policy file ({exc.strerror or exc}). Fix or remove it."
        raise PolicyError(msg, path=str(item)) from None


def _decode(raw: bytes, shown: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        msg = f"{shown}: not UTF-8 text (byte {exc.start}); save the file as UTF-8."
        raise PolicyError(msg, path=shown) from None


def _parse_data(text: str, shown: str) -> Any:
    deep = (f"{shown}: nested too deeply to read (more than {MAX_DEPTH} levels of objects and "
            "arrays); flatten the data document.")
    try:
        doc = json.loads(text) if shown.endswith(".json") else yaml.safe_load(text)
        if too_deep(doc):  # also when this process's recursion limit let the reader through
            raise PolicyError(deep, path=shown)
        return doc
    except json.JSONDecodeError as exc:
        msg = f"{shown}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}. Fix the syntax there."
        raise PolicyError(msg, path=shown, line=exc.lineno, column=exc.colno) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        where = f"{shown}:{line}:{col}" if mark else shown
        msg = f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}. Fix the syntax there."
        raise PolicyError(msg, path=shown, line=line, column=col) from None
    except RecursionError:
        raise PolicyError(deep, path=shown) from None


def _merge(into: dict[str, Any], at: tuple[str, ...], doc: Any, shown: str,
           owners: dict[tuple[str, ...], str]) -> None:
    """Place ``doc`` at path ``at``; two files may not set the same key."""
    if not at and not isinstance(doc, Mapping):
        msg = f"{shown}: a data file at the bundle root must hold a mapping (an object)."
        raise PolicyError(msg, path=shown)
    if isinstance(doc, Mapping):
        for key, value in doc.items():
            _merge_value(into, (*at, str(key)), value, shown, owners)
    else:
        _merge_value(into, at, doc, shown, owners)


def _merge_value(into: dict[str, Any], at: tuple[str, ...], value: Any, shown: str,
                 owners: dict[tuple[str, ...], str]) -> None:
    node = into
    for i, key in enumerate(at[:-1]):
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            _conflict(at[: i + 1], shown, owners)
        node = child
    last = at[-1]
    if last in node:
        if isinstance(node[last], dict) and isinstance(value, Mapping):
            for key, sub in value.items():
                _merge_value(into, (*at, str(key)), sub, shown, owners)
            return
        _conflict(at, shown, owners)
    node[last] = value
    owners[at] = shown


def _conflict(at: tuple[str, ...], shown: str, owners: dict[tuple[str, ...], str]) -> None:
    other = owners.get(at, "another data file")
    msg = (f"{shown}: data.{'.'.join(at)} is already set by {other}. Keep each key in one "
           "data file.")
    raise PolicyError(msg, path=shown)
