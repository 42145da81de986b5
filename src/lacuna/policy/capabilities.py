"""Which functions a policy may call: the embedded engine's builtins, less those it fakes.

OPA lets an operator restrict the builtins a policy may call (``capabilities``). Lacuna's
embedded engine, regorus, decides what exists, and some of what it lists it does not do:

* ``http.send`` is listed, but always undefined (no request is sent): a rule depending on its
  answer never holds, so ``deny if http.send(req).status_code != 200`` never denies, where OPA
  would have sent the request (or failed the decision). A policy may not call it
  (:data:`REFUSED`), in the bundle or uploaded; ask the service from the host instead and
  pass its answer in the input, or put it in the bundle's data.

A function that is neither a builtin nor defined by the policies (``net.lookup_ip_addr``,
``io.jwt.decode_verify``, a typo), or one called through an import (``import data.lib``,
``lib.f(x)``: OPA resolves it, regorus does not), compiles, and fails each evaluation that
reaches it (a bundle's, a denial of every decision of its package; an uploaded module's, a
500 for the Data API's callers): :func:`check_calls` refuses it too, at bundle load and upload
(:mod:`lacuna.policy.evaluable`). The clock, randomness and ``opa.runtime`` (which holds no
environment here) stay allowed; they make a bundle uncacheable (:mod:`lacuna.policy.cache`).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Mapping
from typing import Any

from lacuna.errors import PolicyError
from lacuna.policy.analysis import calls, package_of, ref_path

REFUSED: Mapping[str, str] = {
    "http.send": ("the embedded engine sends no request (http.send is always undefined, so a "
                  "rule that depends on its answer never holds: a deny that checks it never "
                  "denies). Ask the service from the host and pass its answer in the input, "
                  "or put it in the bundle's data"),
}


@functools.cache
def builtins() -> frozenset[str]:
    """The builtins the embedded engine implements (what its ``opa.runtime()`` lists)."""
    from regorus import Engine

    engine = Engine()
    engine.add_policy("capabilities.rego", "package capabilities\nb := opa.runtime().builtins\n")
    answer = json.loads(engine.eval_rule_as_json("data.capabilities.b"))
    del engine
    return frozenset(str(name) for name in answer) | {"print"}


def check_calls(ast: list[Any], only: set[str] | None = None) -> None:
    """Refuse a call of a function a policy may not call (:data:`REFUSED`), or of one that is
    neither a builtin nor defined by ``ast``'s modules (a typo, a call through an import).

    Raises:
        PolicyError: ``<file>:<line>:<col>: ...``, naming the function and what to do.
    """
    defined: set[str] = set()
    for module in ast:
        tree = module.get("ast") or {}
        package = package_of(tree)
        for rule in tree.get("rules") or ():
            head = ((rule.get("Spec") or {}).get("head") or {}).get("Func") if type(
                rule) is dict else None
            if type(head) is dict:
                defined.add(".".join([package, *ref_path(head.get("refr"))]))
    known = builtins()
    for module in ast:
        source = module.get("source") or {}
        path = str(source.get("file"))
        if only is not None and path not in only:
            continue
        tree = module.get("ast") or {}
        package = package_of(tree)
        aliases = _aliases(tree, str(source.get("contents") or ""))
        raw = str(source.get("contents") or "").encode("utf-8", "surrogatepass")
        for name, start in _calls(tree.get("rules")):
            line = raw.count(b"\n", 0, start) + 1
            column = start - raw.rfind(b"\n", 0, start)
            where = f"{path}:{line}:{column}"
            parts = name.split(".")
            if (".".join(parts[1:]) if parts[0] == "data" else f"{package}.{name}") in defined:
                continue
            if name in REFUSED:
                msg = f"{where}: a policy may not call {name}: {REFUSED[name]}."
                raise PolicyError(msg, path=path, line=line)
            if name in known:
                continue
            if parts[0] in aliases:  # OPA resolves it; regorus does not (measured)
                full = ".".join(["data", aliases[parts[0]], *parts[1:]])
                why = (f"the embedded engine does not resolve a function through an import; "
                       f"call it by its full path, {full}(...)")
            else:
                why = ("it is neither a builtin of the embedded engine nor a function of the "
                       "policies (a *_test.rego file's are loaded only to test); define it, "
                       "or call a builtin")
            msg = (f"{where}: could not find function {name}: {why} (every evaluation that "
                   "reaches the call would fail).")
            raise PolicyError(msg, path=path, line=line)


def _aliases(tree: Mapping[str, Any], contents: str) -> dict[str, str]:
    from lacuna.policy.recursion import _aliases as aliases

    return aliases(tree, contents)


def _calls(node: Any) -> Iterator[tuple[str, int]]:
    """``(function name as written, its byte offset)`` of every call under ``node``."""
    for call in calls(node):
        fcn = call.get("fcn")
        name = ".".join(ref_path(fcn))
        body: Any = next(iter(fcn.values()), None) if type(fcn) is dict else None
        span = body.get("span") if type(body) is dict else None
        if name:
            yield name, int((span or {}).get("start") or 0)
