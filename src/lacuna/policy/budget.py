"""A time budget for embedded policy evaluation, enforced on a worker process Lacuna can stop.

regorus has no instruction or time limit, and it holds the GIL while it evaluates, so a slow
comprehension cannot be interrupted from a thread of the same process. A decision that must be
bounded is therefore evaluated by an :class:`IsolatedEvaluator`: a worker process
(``_rego_worker.py``, plain regorus, no Lacuna import, starts in well under a second) holding
the bundle plus its generated aggregator (:mod:`lacuna.policy.aggregate`, the same protocol in
Rego that a remote OPA server runs), asked over a pipe. When it does not answer within the
budget it is killed (a new one starts on the next decision) and the decision is denied with
:class:`BudgetExceeded`, which names the budget and the time taken.

How :class:`~lacuna.policy.engine.PolicyEngine` uses it (``policy.isolation``):

* ``auto`` (default): decisions run in-process (tens of microseconds); one whose evaluation
  takes more than ``policy.eval_budget_ms`` of CPU time (:func:`policy_cpu`) moves that
  bundle to the worker, which decides it again within the budget: a slow policy is denied
  there, stopped at the budget, and costs at most one overrun, then the budget; a one-off
  overrun that was not the policy's (a CPU the hypervisor took away) costs one worker's
  start, not a wrong denial.
* ``process``: every uncached decision runs on the worker: a hard bound from the first decision
  (a few hundred microseconds more per decision).
* ``none``: in-process only; an overrun is still denied when it ends.

The CPU time counted is the evaluating thread's (:func:`policy_cpu`), less what the garbage
collector spent in that thread meanwhile: a full collection of a large heap, started by
whatever allocation happened to cross the threshold during the decision, is not the policy's
cost (a long test session denied an allowed write for 1.6 s of it).
"""

from __future__ import annotations

import gc
import os
import select
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from lacuna.errors import PolicyError
from lacuna.policy._rego_worker import receive, send
from lacuna.policy.aggregate import RULE, aggregator_source

if TYPE_CHECKING:
    from lacuna.policy.bundle import Bundle
    from lacuna.policy.compile import PolicyPackage

ISOLATION_MODES = ("auto", "process", "none")
MAX_BUDGET_MS = 600_000  # ten minutes: past that a budget is no bound (and past the OS's timers)
_STARTUP_S = 30.0  # starting a worker: python + regorus + compiling the bundle
_WORKER = Path(__file__).with_name("_rego_worker.py")


_collector = threading.local()  # per thread: CPU time spent collecting, and when this one began


def _on_collection(phase: str, _info: Mapping[str, Any]) -> None:
    """``gc.callbacks`` hook: add each collection's CPU time to its thread's total (a
    collection runs on the thread whose allocation started it, holding the GIL)."""
    now = time.thread_time()
    if phase == "start":
        _collector.began = now
    else:
        _collector.spent = getattr(_collector, "spent", 0.0) + now - getattr(
            _collector, "began", now)


def policy_cpu() -> float:
    """This thread's CPU time (seconds), less what the garbage collector spent in it: the
    clock an in-process evaluation's budget is measured on (differences only)."""
    return time.thread_time() - getattr(_collector, "spent", 0.0)


# once per process (a reloaded module replaces its earlier hook)
gc.callbacks[:] = [c for c in gc.callbacks if (getattr(c, "__module__", None),
                   getattr(c, "__qualname__", None)) != (__name__, "_on_collection")]
gc.callbacks.append(_on_collection)


class BudgetExceeded(PolicyError):
    """A decision's evaluation took longer than its budget (and was stopped, or discarded)."""

    def __init__(self, budget_ms: float, took_ms: float, *, stopped: bool) -> None:
        self.budget_ms, self.took_ms, self.stopped = budget_ms, took_ms, stopped
        # stopped: the worker's wall clock; not stopped: the evaluating thread's CPU time
        how = f"stopped after {took_ms:.0f} ms" if stopped else f"took {took_ms:.0f} ms of CPU"
        super().__init__(
            f"policy evaluation exceeded its {budget_ms:.0f} ms budget ({how}); make the slow "
            "rule cheaper (`lacuna policy check` times each rule on a sample input) or raise "
            "policy.eval_budget_ms")


class Retired(PolicyError):
    """The evaluator was closed (its set replaced) before this request reached its worker:
    ask the current one. A closed evaluator never starts a worker again; it did, for a
    request that took it just before an upload replaced it, and that worker ran until the
    server exited."""


class IsolatedEvaluator:
    """One worker process holding a compiled bundle; :meth:`collect` with a budget.

    Thread-safe: callers take turns (one worker, one decision at a time). Once
    :meth:`close` d, it answers nothing (:class:`Retired`).
    """

    def __init__(self, bundle: Bundle, data: Mapping[str, Any],
                 packages: Sequence[PolicyPackage]) -> None:
        modules = [[m.path, m.source, m.rego_version] for m in bundle.policy_modules]
        modules.append(["lacuna/decision.rego", aggregator_source(packages, bundle.revision),
                        "v1"])
        self._setup = {"modules": modules, "data": dict(data), "rule": RULE}
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._closed = False

    def collect(self, doc: Mapping[str, Any], budget_s: float) -> dict[str, Any]:
        """The aggregator's decision for ``doc`` (what :func:`.decide.collect` returns).

        Raises:
            BudgetExceeded: no answer within the budget (the worker was killed).
            PolicyError: the policy failed in the worker, or the worker could not start.
        """
        result = self.eval_rule(doc, None, budget_s)
        if not isinstance(result, dict):
            msg = f"the aggregator returned {type(result).__name__}, not a decision"
            raise PolicyError(msg)
        return result

    @classmethod
    def of_modules(cls, modules: Sequence[tuple[str, str, str]],
                   data: Mapping[str, Any]) -> IsolatedEvaluator:
        """A worker holding exactly ``modules`` (``(path, source, "v0"|"v1")``) and ``data``:
        the OPA API's set, its uploaded modules beside the bundle and its aggregator."""
        evaluator = cls.__new__(cls)
        evaluator._setup = {"modules": [list(m) for m in modules], "data": dict(data),
                            "rule": RULE}
        evaluator._lock = threading.Lock()
        evaluator._process = None
        evaluator._closed = False
        return evaluator

    def spare(self) -> IsolatedEvaluator:
        """Another evaluator of the same modules and data, its worker not started yet."""
        evaluator = type(self).__new__(type(self))
        evaluator._setup = self._setup  # never changed after __init__: shared, not copied
        evaluator._lock = threading.Lock()
        evaluator._process = None
        evaluator._closed = False
        return evaluator

    @property
    def running(self) -> bool:
        """Whether its worker process is up (one stopped at the budget starts on next use)."""
        process = self._process
        return process is not None and process.poll() is None

    def eval_rule(self, doc: Mapping[str, Any], rule: str | None, budget_s: float) -> Any:
        """The value of ``rule`` (``data.pkg.name``; ``None``: the decision) for ``doc``.

        Raises:
            BudgetExceeded: no answer within the budget (the worker was killed).
            PolicyError: the policy failed in the worker, or the worker could not start.
        """
        return self._ask({"input": doc, "rule": rule}, budget_s).get("result")

    def eval_query(self, doc: Any, query: str, budget_s: float) -> tuple[bool, Any]:
        """``(defined, value)`` of ``query`` (a document: ``data["pkg"]``, ``data``) for
        ``doc``.

        Raises:
            BudgetExceeded: no answer within the budget (the worker was killed).
            PolicyError: the policy failed in the worker, or the worker could not start.
        """
        answer = self._ask({"input": doc, "query": query}, budget_s)
        return answer.get("defined") is True, answer.get("result")

    def _ask(self, request: Mapping[str, Any], budget_s: float) -> dict[str, Any]:
        with self._lock:
            process = self._ensure()
            stdin, stdout = _pipes(process)
            started = time.monotonic()
            try:
                send(stdin, request)
                ready, _, _ = select.select([stdout], [], [], budget_s)
                if not ready:
                    self._stop()
                    took = (time.monotonic() - started) * 1000
                    raise BudgetExceeded(budget_s * 1000, took, stopped=True)
                answer = _receive(stdout)
            except (OSError, EOFError, ValueError) as exc:
                self._stop()
                msg = f"the policy worker process failed while deciding ({exc or 'EOF'})"
                raise PolicyError(msg) from None
        if "error" in answer:
            raise PolicyError(str(answer["error"]))
        return answer

    def start(self) -> None:
        """Start the worker now, if it is not running (else the next call starts it).

        Raises:
            PolicyError: the worker could not start.
        """
        with self._lock:
            self._ensure()

    def _ensure(self) -> subprocess.Popen[bytes]:
        if self._closed:
            msg = "the policy set this request began with was replaced; ask again"
            raise Retired(msg)
        if self._process is not None and self._process.poll() is None:
            return self._process
        self._stop()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        process = subprocess.Popen([sys.executable, str(_WORKER)], stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, env=env)
        stdin, stdout = _pipes(process)
        try:
            send(stdin, self._setup)
            ready, _, _ = select.select([stdout], [], [], _STARTUP_S)
            answer = _receive(stdout) if ready else {"error": "no answer"}
        except (OSError, EOFError, ValueError) as exc:
            answer = {"error": str(exc) or type(exc).__name__}
        if not answer.get("ready"):
            _kill(process)
            msg = f"the policy worker process did not start: {answer.get('error')}"
            raise PolicyError(msg)
        self._process = process
        return process

    def _stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            _kill(process)

    def close(self) -> None:
        """Stop the worker process, for good: a request holding this evaluator gets
        :class:`Retired`, rather than a worker started again that nothing would stop."""
        self._closed = True  # before the lock: a request waiting for it must not start one
        with self._lock:
            self._stop()


def _pipes(process: subprocess.Popen[bytes]) -> tuple[IO[bytes], IO[bytes]]:
    if process.stdin is None or process.stdout is None:  # pragma: no cover - always piped
        msg = "the policy worker process has no pipes"
        raise PolicyError(msg)
    return process.stdin, process.stdout


def _kill(process: subprocess.Popen[bytes]) -> None:
    process.kill()
    process.wait(5)
    for stream in (process.stdin, process.stdout):
        if stream is not None:
            stream.close()


def _receive(stream: IO[bytes]) -> dict[str, Any]:
    answer = receive(stream)  # the worker's framing, one definition (lacuna.policy._rego_worker)
    if not isinstance(answer, dict):
        msg = "the worker's answer is not an object"
        raise ValueError(msg)
    return answer


@dataclass(frozen=True, slots=True)
class RuleTiming:
    """How long one rule took on one sample input (``stopped``: killed at ``limit_ms``)."""

    rule: str
    sample: str
    ms: float
    stopped: bool


SAMPLE_INPUTS: dict[str, dict[str, Any]] = {
    "read of customer PII": {
        "action": "read", "environment": "development", "environment_category": "non_production",
        "source": {"classification": "PROPRIETARY", "tags": ["PII", "GDPR"],
                   "columns": {"email": {"classification": "pii", "sensitivity": "high",
                                         "pii_type": "email"}},
                   "pii_columns": ["email"], "pii_types": ["email"],
                   "names": ["customers.csv"], "created_at": "2025-01-15T09:30:00+00:00"},
        "destination": None, "lineage": ["customers.csv"], "purpose": None,
        "user": {"id": "alice", "role": "data_analyst", "clearance": "INTERNAL",
                 "department": None, "attributes": {}},
        "exception_id": None, "exception_approved": False, "exception_approver_role": None,
        "context": {"method": "read_csv", "call": "pandas.read_csv", "variable": "df",
                    "code_location": "analysis.py:3"},
    },
}
SAMPLE_INPUTS["export of customer PII to Downloads"] = {
    **SAMPLE_INPUTS["read of customer PII"], "action": "export",
    "destination": {"uri": "file:///home/alice/Downloads/out.csv", "type": "file",
                    "scope": "external", "encrypted": False, "managed": False,
                    "classification_support": False, "path": "/home/alice/Downloads/out.csv",
                    "path_prefix": "~/Downloads"},
    "context": {"method": "to_csv", "call": "pandas.DataFrame.to_csv", "variable": "df",
                "code_location": "analysis.py:12"},
}


def time_rules(bundle: Bundle, data: Mapping[str, Any], packages: Sequence[PolicyPackage],
               samples: Mapping[str, Mapping[str, Any]], *, limit_s: float) -> list[RuleTiming]:
    """Time every rule of every voting package on each sample input, on a worker process.

    A rule still running at ``limit_s`` is stopped (the worker is replaced) and reported with
    ``stopped=True``. Errors are not this function's business (the decision reports them).
    """
    evaluator = IsolatedEvaluator(bundle, data, packages)
    out: list[RuleTiming] = []
    try:
        for label, doc in samples.items():
            for package in packages:
                for rule in sorted(package.rules):
                    ref = f"data.{package.name}.{rule}"
                    evaluator.start()  # not timed: a stopped rule's worker is replaced
                    started = time.monotonic()
                    try:
                        evaluator.eval_rule(doc, ref, limit_s)
                    except BudgetExceeded:
                        out.append(RuleTiming(ref, label, limit_s * 1000, True))
                        continue
                    except PolicyError:
                        pass
                    out.append(RuleTiming(ref, label, (time.monotonic() - started) * 1000,
                                          False))
    finally:
        evaluator.close()
    return out
