"""The embedded policy engine: a Rego bundle compiled once, asked once per operation.

``PolicyEngine`` reads and compiles the bundle when it is built (so a broken policy fails at
start-up with file and line) and then answers :meth:`PolicyEngine.decide` with a
:class:`~lacuna.model.Decision`, following the protocol in :mod:`lacuna.policy.decide`.

regorus engines cannot cross threads (the binding is ``unsendable``): each thread that decides
gets its own engine, compiled from the same checked bundle on its first decision.

The engine adds one data document of its own, ``data.lacuna``, from the configuration, so that
policies can refer to configured places instead of hard-coding them::

    data.lacuna.governed_roots   destinations.governed   ("/governed/workspace/", ...)
    data.lacuna.unmanaged        destinations.unmanaged
    data.lacuna.internal_hosts   destinations.internal_hosts
    data.lacuna.internal_buckets destinations.internal_buckets
    data.lacuna.docs_url         docs_url

``data.lacuna`` is reserved: a bundle's own ``lacuna`` data is merged under these keys.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lacuna.policy.bundle import Bundle, RegoModule, default_bundle_root, read_bundle
from lacuna.policy.compile import PolicyPackage, compile_bundle, policy_packages
from lacuna.policy.decide import decide, engine_failure
from lacuna.policy.inputs import build_input
from lacuna.policy.rego_tests import RegoTestResult, run_tests

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

    from regorus import Engine

    from lacuna.config import Config
    from lacuna.model import Decision, Operation


class PolicyEngine:
    """Rego policies evaluated in-process with regorus.

    Args:
        root: the bundle folder; ``None`` for the default bundle shipped with Lacuna.
        settings: the ``data.lacuna`` document (see the module docstring).
        rego_version: ``auto`` (per file), ``v0`` or ``v1``.
        docs_url: documentation base; a policy's link is this plus its id.

    Raises:
        PolicyError: the bundle is missing, a file does not parse or compile, or metadata is
            malformed; the message names the file, line and column.

    Example:
        >>> from lacuna.config import Config
        >>> engine = PolicyEngine.from_config(Config())
        >>> [p.name for p in engine.packages]
        ['governance.baseline', 'governance.export']
    """

    def __init__(
        self,
        root: Traversable | str | os.PathLike[str] | None = None,
        *,
        settings: Mapping[str, Any] | None = None,
        rego_version: str = "auto",
        docs_url: str | None = None,
    ) -> None:
        if isinstance(root, str | os.PathLike):
            root = Path(root).expanduser()
        self._bundle = read_bundle(root if root is not None else default_bundle_root(),
                                   rego_version=rego_version)
        own = self._bundle.data.get("lacuna")
        lacuna = {**(own if isinstance(own, Mapping) else {}), **(settings or {})}
        self._data: dict[str, Any] = {**self._bundle.data, "lacuna": lacuna}
        self.docs_url = docs_url
        self._local = threading.local()
        self._packages = policy_packages(self._engine(), self._bundle)

    @classmethod
    def from_config(cls, config: Config) -> PolicyEngine:
        """The engine for ``config.policy`` (its ``dir``, or the default bundle).

        Raises:
            PolicyError: as for the constructor.
        """
        d = config.destinations
        settings = {
            "governed_roots": list(d.governed),
            "unmanaged": list(d.unmanaged),
            "internal_hosts": list(d.internal_hosts),
            "internal_buckets": list(d.internal_buckets),
            "docs_url": config.docs_url,
        }
        root = config.policy.dir.expanduser() if config.policy.dir is not None else None
        return cls(root, settings=settings, rego_version=config.policy.rego_version,
                   docs_url=config.docs_url)

    @property
    def revision(self) -> str:
        """The bundle's content hash (16 hex digits of SHA-256 over paths and bytes)."""
        return self._bundle.revision

    @property
    def packages(self) -> tuple[PolicyPackage, ...]:
        """The policy packages that vote, sorted by name, with their metadata."""
        return self._packages

    @property
    def modules(self) -> tuple[RegoModule, ...]:
        """Every loaded ``.rego`` file, test files included, with its package and version."""
        return self._bundle.modules

    @property
    def bundle(self) -> Bundle:
        """The checked bundle this engine was built from."""
        return self._bundle

    def decide(
        self,
        operation: Operation,
        *,
        exception_approved: bool = False,
        exception_approver_role: str | None = None,
    ) -> Decision:
        """Decide one operation. Never raises: an engine failure is a fail-closed denial.

        Args:
            operation: the operation to decide.
            exception_approved: a verified exception grant covers this operation.
            exception_approver_role: the role that approved the grant.

        Returns:
            The decision, explained (reasoning, why, alternatives, policy, steward, docs).
        """
        started = time.perf_counter()
        try:
            doc = build_input(operation, exception_approved=exception_approved,
                              exception_approver_role=exception_approver_role)
            engine = self._engine()
        except Exception as exc:  # fail closed: a bad operation or a thread's engine build
            failed = engine_failure(exc, "the policy input", operation.id, self.revision, started)
            return replace(failed, operation=operation)
        return decide(engine, self._packages, doc, operation_id=operation.id,
                      revision=self.revision, docs_url=self.docs_url, started=started,
                      operation=operation)

    def evaluate(self, doc: Mapping[str, Any], *, operation_id: str = "") -> Decision:
        """Decide a raw policy input document (the shape :func:`build_input` returns).

        For ``lacuna policy eval``, a remote caller, or a benchmark. Never raises.
        """
        started = time.perf_counter()
        try:
            engine = self._engine()
        except Exception as exc:  # pragma: no cover - the bundle compiled in __init__
            return engine_failure(exc, "the bundle", operation_id, self.revision, started)
        return decide(engine, self._packages, doc, operation_id=operation_id,
                      revision=self.revision, docs_url=self.docs_url, started=started)

    def run_tests(self) -> tuple[RegoTestResult, ...]:
        """Run the bundle's ``test_*`` rules (see :mod:`lacuna.policy.rego_tests`).

        Raises:
            PolicyError: the bundle with its test files does not compile.
        """
        return run_tests(self._bundle, self._data)

    def _engine(self) -> Engine:
        engine: Engine | None = getattr(self._local, "engine", None)
        if engine is None:
            engine = compile_bundle(self._bundle, self._data)
            self._local.engine = engine
        return engine

    def __repr__(self) -> str:
        return (f"PolicyEngine(root={self._bundle.root!r}, revision={self.revision!r}, "
                f"packages={[p.name for p in self._packages]!r})")
