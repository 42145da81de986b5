"""IPython / Jupyter: ``%load_ext lacuna`` and the ``%lacuna`` line magic.

    %load_ext lacuna                       # govern pandas in this kernel
    %lacuna config --policy-dir policies/ --user alice --role data_analyst
    %lacuna config --policy-server http://lacuna:8181   # the seed's spelling (see below)
    %lacuna config --server http://lacuna:8181          # a Lacuna server (lacuna serve)
    %lacuna config --mode warn --environment production --purpose "Q4 churn analysis"
    %lacuna status                         # mode, user, policy bundle, audit trail
    %lacuna off | %lacuna on

``--server`` governs through a Lacuna server (decisions, audit, lineage and exceptions there; the
API token from ``$LACUNA_TOKEN``). ``--policy-server`` means the same when ``$LACUNA_TOKEN`` is
set, and otherwise an OPA server that only decides (its Data API).

A denied operation is shown as the learning moment (HTML in notebooks, rich in terminals)
instead of a traceback.
"""

from __future__ import annotations

import argparse
import os
import shlex
from typing import Any

from lacuna import api
from lacuna import governor as _governor
from lacuna.errors import GovernanceViolation, LacunaError
from lacuna.redact import redact_url


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse would call sys.exit()
        msg = f"%lacuna: {message}. Try: %lacuna config --help"
        raise LacunaError(msg)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="%lacuna", add_help=False)
    sub = parser.add_subparsers(dest="command")
    cfg = sub.add_parser("config", prog="%lacuna config", add_help=False)
    cfg.add_argument("--config", dest="config_file", help="path to a lacuna.yaml")
    cfg.add_argument("--policy-dir", help="folder of .rego policies")
    cfg.add_argument("--policy-server", help="a Lacuna server's URL when $LACUNA_TOKEN is set, "
                     "else an OPA server's (decisions over its Data API)")
    cfg.add_argument("--server", help="a Lacuna server's URL (token from $LACUNA_TOKEN)")
    cfg.add_argument("--user", help="user id")
    cfg.add_argument("--role", help="user role")
    cfg.add_argument("--department", help="user department")
    cfg.add_argument("--mode", choices=["enforce", "warn", "observe"])
    cfg.add_argument("--environment", choices=["development", "preview", "staging", "production"])
    cfg.add_argument("--purpose", help="business purpose of this session")
    cfg.add_argument("--help", action="store_true")
    for name in ("status", "on", "off"):
        sub.add_parser(name, add_help=False)
    return parser


def lacuna_magic(line: str) -> str:
    """Run one ``%lacuna`` command; returns the text to show."""
    args = _parser().parse_args(shlex.split(line) or ["status"])
    if args.command == "config":
        if args.help:
            return __doc__ or ""
        overrides: dict[str, Any] = {}
        user = {
            k: v
            for k, v in (("id", args.user), ("role", args.role), ("department", args.department))
            if v
        }
        if user:
            overrides["user"] = user
        policy: dict[str, Any] = {}
        if args.policy_dir:
            policy["dir"] = args.policy_dir
        lacuna_server = args.server or (
            args.policy_server if args.policy_server and os.environ.get("LACUNA_TOKEN") else None)
        if lacuna_server:
            overrides["server"] = {"url": lacuna_server}
        elif args.policy_server:
            policy["server"] = {"url": args.policy_server}
        if policy:
            overrides["policy"] = policy
        for key in ("mode", "environment", "purpose"):
            if getattr(args, key):
                overrides[key] = getattr(args, key)
        base = args.config_file or _governor.current().config
        _governor.configure(base, **overrides)
        api.enable()
        return status()
    if args.command == "on":
        api.enable()
    elif args.command == "off":
        api.disable()
    return status()


def status() -> str:
    gov = _governor.current()
    c = gov.config
    if c.server is not None:
        policy = f"Lacuna server {redact_url(c.server.url)} (decisions, audit, lineage, exceptions)"
    elif c.policy.server is not None:
        policy = f"OPA server {redact_url(c.policy.server.url)}"
    else:
        policy = str(c.policy.dir) if c.policy.dir else "default bundle (built in)"
    return "\n".join(
        [
            f"Lacuna: {'ON' if api.enabled() else 'OFF'} (mode {c.mode})",
            f"  user:        {c.user.id} (role {c.user.role}, clearance {c.user.clearance.value})",
            f"  environment: {c.environment}",
            f"  policies:    {policy}",
            f"  audit trail: {redact_url(c.audit_url)}",
            f"  config file: {_source(c.source)}",
        ]
    )


def _source(source: str | None) -> str:
    if not source:
        return "(embedded defaults)"
    if source.startswith("<"):  # config_from_dict's "<config>": no file behind them
        return "(none: settings given in code or by %lacuna config)"
    return source


def _show_violation(
    shell: Any, etype: Any, value: BaseException, tb: Any, tb_offset: Any = None
) -> None:
    del etype, tb, tb_offset
    assert isinstance(value, GovernanceViolation)
    try:
        from IPython.display import display

        if getattr(shell, "kernel", None) is not None:  # a notebook: HTML
            display(value)  # type: ignore[no-untyped-call]
            return
    except ImportError:  # pragma: no cover - IPython is what called us
        pass
    from rich.console import Console

    from lacuna.feedback import render_rich

    Console().print(render_rich(value.decision), soft_wrap=True)


def _magic(line: str) -> None:
    """The registered ``%lacuna``: a bad argument or setting is IPython's one-line UsageError
    (what is wrong and how to fix it), not a traceback through Lacuna's code."""
    from IPython.core.error import UsageError

    try:
        print(lacuna_magic(line))
    except LacunaError as exc:
        raise UsageError(str(exc)) from None


def load(ipython: Any) -> None:
    from IPython.core.magic import register_line_magic  # noqa: F401 - checks IPython is there

    ipython.register_magic_function(_magic, "line", "lacuna")
    ipython.set_custom_exc((GovernanceViolation,), _show_violation)
    try:  # lacuna.yaml and its policy bundle are read now: a mistake is said in one line
        api.enable()
    except LacunaError as exc:
        from IPython.core.error import UsageError

        msg = (f"{exc}\nNothing is governed yet: fix it, then run %load_ext lacuna again (or "
               "%lacuna config ... to choose other settings).")
        raise UsageError(msg) from None


def unload(ipython: Any) -> None:
    ipython.set_custom_exc((), None)
    api.disable()
