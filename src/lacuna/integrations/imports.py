"""Each library's hooks, installed when the library is imported rather than at ``enable()``.

``lacuna.enable()`` and ``lacuna.governed()`` govern polars, pyarrow, DuckDB and the DB-API
drivers (the standard library's ``sqlite3``, psycopg, psycopg2, asyncpg) along with pandas.
Importing a library's integration imports the library itself (polars and its integration alone
cost some 250 ms of CPU), and a script that uses pandas only paid for all of them at its first
``enable()``. Now:

- a library already imported (``sys.modules``) is hooked at once, as before: ``enable()``
  imports its integration, and an integration that does not import is refused there in
  ``enforce`` mode (:class:`~lacuna.errors.IntegrationError`, nothing installed) and warned
  about in ``warn``/``observe``;
- a library imported later is hooked by its import: a finder at the head of ``sys.meta_path``
  (:class:`_Finder`, put there by the first ``enable()``/``governed()``) wraps the loader of
  the library's top-level module; once that module has run, and before the ``import``
  statement (or ``from x import y``) returns, its integration is imported and the hooks that
  ``enable()`` and the open ``governed()`` blocks want are installed. The library's first use
  is governed as if it had been imported before ``enable()``. Its integration failing to
  import makes that ``import`` raise ``IntegrationError`` when an ``enforce``-mode
  ``enable()``/``governed()`` wants governance (the library stays unimported: importlib takes
  back a module whose loading raised, so each later import is refused again), and a
  ``GovernanceFailureWarning`` otherwise;
- ``importlib.reload`` of a hooked library (or one of its modules) runs its module code again,
  which binds the library's own functions over the hooks: the hooks are taken off while it
  runs and put back, around what it holds then, before ``reload`` returns. Before, a reload
  silently left ``pl.read_csv``, ``duckdb.connect``, ``sqlite3.connect`` and ``pd.read_csv``
  ungoverned until the next ``enable()``.

- a hooked library imported again as a new module (its modules taken out of ``sys.modules``)
  is one the integration's hooks do not hold: its import is refused (enforce) or warned about,
  and so is the next ``enable()``. A module loaded by hand (``module_from_spec`` and
  ``exec_module``, not through ``import``) is left to its loader: it is not the module an
  import gives. ``import lacuna.integrations.<library>`` itself imports the library from its
  first line: the library is hooked once the integration's module has run.

Once the finder is in place, a library imported while nothing is governed still gets its
integration imported (hooks not installed), so a later ``enable()`` never races an import in
another thread. Each ``enable()``/``governed()`` puts the finder first in ``sys.meta_path``
again: a finder another tool put before it would load a governed library unwrapped.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import threading
import warnings
from importlib.abc import Loader, MetaPathFinder
from types import ModuleType
from typing import TYPE_CHECKING, Any

from lacuna.errors import IntegrationError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from importlib.machinery import ModuleSpec

# the libraries governed along with pandas, each by lacuna.integrations.<name>
LIBRARIES = ("polars", "pyarrow", "duckdb", "sqlite3", "psycopg", "psycopg2", "asyncpg")
_RELOADED = ("pandas", *LIBRARIES)  # whose hooks a reload takes off and puts back

# reentrant: installing a library's hooks may import another governed library (its finder)
_LOCK = threading.RLock()
_RESOLVED: dict[str, ModuleType] = {}  # library -> its integration, imported
_MODULES: dict[str, ModuleType] = {}  # library -> the module its integration hooks
_LOADING: set[str] = set()  # libraries whose first import runs now, through the finder
_INTEGRATING: set[str] = set()  # libraries whose integration's first import runs now
_WANTED: str | None = None  # the mode of enable() while it is on
_HELD: list[str] = []  # the modes of the governed() blocks open, in every thread
_FINDER: _Finder | None = None


def integration_name(library: str) -> str:
    """The module of ``library``'s integration."""
    return f"lacuna.integrations.{library}"


class AnewError(ImportError):
    """A hooked library was imported again as a new module (its modules were taken out of
    ``sys.modules``): its integration hooks the first one, so the new one cannot be governed."""


def ungoverned_message(library: str, exc: BaseException) -> str:
    """What ``enable()`` and an import say of a library whose integration does not import."""
    if isinstance(exc, AnewError):
        return (f"{library} was imported again as a new module after Lacuna hooked it (its "
                f"modules were removed from sys.modules): Lacuna's hooks hold the first one, so "
                f"the new one's reads and writes would not be decided. Restart the Python "
                f"process, and do not remove {library} from sys.modules.")
    missing = getattr(exc, "name", None) or ""
    if missing and missing.partition(".")[0] != library:
        # what the integration needs besides the library (sqlglot for DuckDB's statements,
        # a module of Lacuna): what to install, not another version of the library
        from lacuna.errors import install_hint

        fix = f"Fix: {install_hint(missing)}."
    else:
        fix = f"Install a version of {library} this Lacuna supports, or uninstall {library}."
    return (f"{library} is installed but Lacuna cannot govern it: its integration "
            f"({integration_name(library)}) does not import ({type(exc).__name__}: {exc}). "
            f"Its reads and writes would not be decided. {fix}")


Found = list[tuple[str, ModuleType]]


def imported(mode: str, refuse: Callable[[str, ImportError, str], None]) -> Found:
    """The integrations of the libraries imported already and not hooked yet, imported now,
    before anything is installed (``refuse(library, exc, mode)`` raises in ``enforce``
    mode). Puts the finder in place first, so that a library whose import finishes meanwhile
    is hooked by its import."""
    _ensure_finder()
    found = []
    for library in LIBRARIES:
        with _LOCK:
            module = sys.modules.get(library)
            anew = library in _RESOLVED and module is not None and module is not _MODULES.get(
                library, module)
            # hooked: its integration imported, and still the one sys.modules holds
            hooked = library in _RESOLVED and sys.modules.get(
                integration_name(library)) is _RESOLVED[library]
            if not anew and (hooked or library in _LOADING or module is None):
                continue  # hooked, hooked by its import when it finishes, or not imported
        if anew:
            refuse(library, AnewError(library), mode)
            continue
        try:
            found.append((library, importlib.import_module(integration_name(library))))
        except ImportError as exc:
            refuse(library, exc, mode)
    return found


def _resolve_locked(library: str, integration: ModuleType) -> None:
    """``library`` is hooked from now on: as ``enable()`` and the open blocks want."""
    if _RESOLVED.get(library) is integration:
        return
    _RESOLVED[library] = integration
    module = sys.modules.get(library)
    if module is not None:
        _MODULES[library] = module
    if _WANTED is not None:
        integration.install()
    for _ in _HELD:
        integration.hold()


def install(mode: str, found: Found) -> None:
    """``enable()``: hook ``found`` and every library hooked already, and every library
    imported from now on."""
    global _WANTED
    with _LOCK:
        for library, integration in found:
            _resolve_locked(library, integration)
        _WANTED = mode
        for integration in list(_RESOLVED.values()):
            integration.install()


def uninstall() -> None:
    """``disable()``: unhook every library (those a ``governed()`` block holds when it exits),
    and hook none at its import any more."""
    global _WANTED
    with _LOCK:
        _WANTED = None
        integrations = {id(i): i for i in _RESOLVED.values()}
        for library in LIBRARIES:  # an integration imported by other means too
            integration = sys.modules.get(integration_name(library))
            if integration is not None:
                integrations.setdefault(id(integration), integration)
        for integration in integrations.values():
            integration.uninstall()


def hold(mode: str, found: Found) -> None:
    """A ``governed()`` block opens: hook ``found``, every library hooked already and every
    library imported while it is open; :func:`release` when it exits (not when this
    raises)."""
    with _LOCK:
        for library, integration in found:
            _resolve_locked(library, integration)
        resolved = list(_RESOLVED.values())
        _HELD.append(mode)  # first: a library hooked while these install is held for it too
        held: list[ModuleType] = []
        try:
            for integration in resolved:
                integration.hold()
                held.append(integration)
        except BaseException:
            _HELD.remove(mode)
            for integration in reversed(held):
                integration.release()
            raise


def release(mode: str) -> None:
    """A ``governed()`` block that :func:`hold` opened with ``mode`` exits."""
    with _LOCK:
        if mode in _HELD:
            _HELD.remove(mode)
        for integration in list(_RESOLVED.values()):
            integration.release()


def _loaded(library: str) -> None:
    """``library``'s top-level module has run (its first import): hook it as ``enable()``
    and the open ``governed()`` blocks want. Runs inside that import, before the ``import``
    statement returns; what it raises makes the import fail."""
    try:
        with _LOCK:
            if library in _RESOLVED:  # hooked before, and this is a new module: not hooked
                raise AnewError(library)
            if library in _INTEGRATING:  # imported by its integration's first import
                _LOADING.discard(library)  # (``import lacuna.integrations.duckdb``):
                return  # hooked when that import ends (_integrated)
        integration = importlib.import_module(integration_name(library))
    except ImportError as exc:
        with _LOCK:
            _LOADING.discard(library)
            modes = [m for m in (_WANTED, *_HELD) if m is not None]
        if not modes:
            return  # nothing governed: enable() imports it again, and refuses it there
        msg = ungoverned_message(library, exc)
        if "enforce" in modes:
            raise IntegrationError(msg) from exc
        from lacuna.governor import GovernanceFailureWarning

        warnings.warn(f"{msg} It runs ungoverned because the mode is {modes[0]!r}.",
                      GovernanceFailureWarning, stacklevel=_importer_stacklevel())
        return
    except BaseException:
        with _LOCK:
            _LOADING.discard(library)
        raise
    with _LOCK:
        _LOADING.discard(library)
        _resolve_locked(library, integration)


def _importer_stacklevel() -> int:
    """The ``stacklevel`` that points a warning at the ``import`` statement: the first frame
    outside Lacuna and importlib, counted as ``warnings.warn`` counts (it skips importlib's
    ``_bootstrap`` frames itself)."""
    frame, level = sys._getframe(1), 1
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if not module.startswith(("lacuna.", "importlib")):
            return level
        frame = frame.f_back  # type: ignore[assignment]
        if frame is not None and not _internal(frame.f_code.co_filename):
            level += 1
    return level  # pragma: no cover - an import always has an importer


def _internal(filename: str) -> bool:
    return "importlib" in filename and "_bootstrap" in filename


def _integrated(library: str, integration: ModuleType) -> None:
    """``library``'s integration was imported (by Lacuna or directly, through the finder):
    hook ``library`` from now on as ``enable()`` and the open blocks want."""
    with _LOCK:
        if sys.modules.get(library) is not None and library not in _LOADING:
            _resolve_locked(library, integration)


class _Loader(Loader):
    """A library's own loader, running :func:`_loaded` after its first import's module code,
    or its integration's ``suspend()``/``resume()`` around a reload's. The module keeps its
    own loader (``__loader__``, ``__spec__.loader``: ``importlib.resources`` reads them)."""

    def __init__(self, loader: Loader, name: str, *, reload: bool) -> None:
        self._loader = loader
        self._name = name
        self._reload = reload

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        module.__loader__ = self._loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        library = self._name.partition(".")[0]
        if self._reload:
            self._exec_reload(module, library)
            return
        if sys.modules.get(self._name) is not module:  # loaded by hand (module_from_spec and
            self._loader.exec_module(module)  # exec_module): not the library an import uses
            return
        if self._name != library:  # lacuna.integrations.<library>
            self._exec_integration(module, self._name.rpartition(".")[2])
            return
        with _LOCK:
            _LOADING.add(library)
        try:
            self._loader.exec_module(module)
        except BaseException:
            with _LOCK:
                _LOADING.discard(library)
            raise
        _loaded(library)

    def _exec_integration(self, module: ModuleType, library: str) -> None:
        with _LOCK:
            _INTEGRATING.add(library)
        try:
            self._loader.exec_module(module)
        finally:
            with _LOCK:
                _INTEGRATING.discard(library)
        _integrated(library, module)

    def _exec_reload(self, module: ModuleType, library: str) -> None:
        integration = sys.modules.get(integration_name(library))
        if integration is None:
            self._loader.exec_module(module)
            return
        integration.suspend()
        try:
            self._loader.exec_module(module)
        finally:
            integration.resume()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


class _Finder(MetaPathFinder):
    """Finds nothing itself: wraps the loader the other finders give a governed library's
    top-level module (its first import), or any of its modules being reloaded."""

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        library = fullname.partition(".")[0]
        if library == "lacuna":  # an integration's first import: hooks its library after it
            package, _, name = fullname.rpartition(".")
            if target is not None or package != "lacuna.integrations" or name not in LIBRARIES:
                return None
        elif library not in _RELOADED:
            return None
        reload = target is not None
        if not reload and library != "lacuna" and (fullname != library or library == "pandas"):
            return None  # a submodule's first import; pandas is hooked by enable() itself
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec: ModuleSpec | None = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _Loader(spec.loader, fullname, reload=reload)
        return spec


def _ensure_finder() -> None:
    global _FINDER
    with _LOCK:
        if _FINDER is None:
            _FINDER = _Finder()
        if not sys.meta_path or sys.meta_path[0] is not _FINDER:
            # first: a finder put before it would load a governed library unwrapped
            with contextlib.suppress(ValueError):
                sys.meta_path.remove(_FINDER)
            sys.meta_path.insert(0, _FINDER)
