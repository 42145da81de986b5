"""One check of what regorus compiles but cannot evaluate, for every way a policy arrives.

regorus accepts three kinds of Rego at compile time that fail, or decide otherwise than OPA,
only when an evaluation reaches them: a variable nothing binds (:mod:`lacuna.policy.safety`),
a comprehension it never schedules (:func:`~lacuna.policy.safety.check_schedulable`), and a
call of a function that is not there for it: ``http.send`` (always undefined), one neither a
builtin nor defined, or one through an import (:mod:`lacuna.policy.capabilities`). In a bundle
each failed every decision reaching it (enforce: every such operation denied as "the policy
engine failed"); uploaded over ``PUT /v1/policies``, each was a 500 for every Data API caller.
:func:`check_evaluable` refuses all three, with file, line and the rewrite, wherever a policy
comes from: a bundle folder read (``lacuna policy check``, ``lacuna.enable()``, a server's
start and reload: :func:`lacuna.policy.bundle.read_bundle`) and an upload
(:meth:`lacuna.server.opa.OpaData.put`).
"""

from __future__ import annotations

from typing import Any

from lacuna.policy.capabilities import check_calls
from lacuna.policy.safety import check_safety, check_schedulable


def check_evaluable(ast: list[Any], only: set[str]) -> None:
    """Refuse a module of ``only`` that regorus compiles but cannot evaluate as OPA would.

    Args:
        ast: regorus's AST of every module of the set (:func:`lacuna.policy.analysis.parse`):
            the functions and rules of the other modules are defined, not unknown.
        only: the files to check (a bundle's policy files, not its ``*_test.rego``; an upload).

    Raises:
        PolicyError: ``<file>:<line>:<col>: ...``, saying what fails and how to write it.
    """
    check_safety(ast, only)
    check_schedulable(ast, only)
    check_calls(ast, only)
