"""``lacuna serve --demo``: the demo scenario's state, served, so the console is populated.

The seed's scenario (``lacuna demo``) runs once in a folder (``$LACUNA_HOME/demo-server``,
rebuilt at each start): classification, a join, an aggregate, a denied export and the
compliant alternatives, so the state database holds their audit records and lineage. Then a
pending exception is filed as the analyst, demo users get API tokens (printed), and the
server serves that folder's state, with the demo's destinations and stewards.
"""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path
from typing import TextIO

import yaml

from lacuna.server.settings import ServerSettings

DEMO_USERS = {"analyst_alice": ("analyst",), "jane": ("data_steward",),
              "carla": ("compliance_officer",), "admin": ("admin",)}


def prepare_demo(settings: ServerSettings, *, out: TextIO) -> ServerSettings:
    """Run the scenario into a fresh folder and return the settings that serve it.

    Raises:
        LacunaError: the scenario did not run as the seed describes.
    """
    from rich.console import Console

    from lacuna.config import lacuna_home
    from lacuna.demo import _demo_config
    from lacuna.demo import run as run_demo
    from lacuna.errors import LacunaError
    from lacuna.identity import UserStore

    folder = lacuna_home() / "demo-server"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    log = io.StringIO()
    if run_demo(Console(file=log, width=100), keep=folder) != 0:
        msg = f"the demo scenario did not run as expected:\n{log.getvalue()[-2000:]}"
        raise LacunaError(msg)
    # The scenario signed its records with keys in its own state folder: serve with those.
    os.environ["LACUNA_HOME"] = str(folder / ".lacuna")
    config = _demo_config(folder)
    data = config.model_dump(mode="json", exclude={"source"}, exclude_none=True)
    data["stewards"] = {"default": ["jane"]}
    data["lineage"] = {"openlineage": {"enabled": False}}
    data.pop("user", None)
    config_file = folder / "lacuna.yaml"
    config_file.write_text(yaml.safe_dump(data), encoding="utf-8")
    db = str(config.audit_url)
    settings = settings.model_copy(update={"db": db, "config": config_file})
    _pending_exception(settings, folder)
    users = UserStore(db)
    tokens = {name: users.add(name, roles=roles, replace=True)
              for name, roles in DEMO_USERS.items()}
    users.close()
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    base = f"http://{host}:{settings.port}"
    print(f"Lacuna demo server: state in {folder}", file=out)
    print(f"  console: {base}/console/   API docs: {base}/docs", file=out)
    print("  demo users (tokens are shown once; send 'Authorization: Bearer <token>'):",
          file=out)
    for name, token in tokens.items():
        print(f"    {name:<14} {','.join(DEMO_USERS[name]):<19} {token}", file=out)
    print(f"  try: curl -H 'Authorization: Bearer {tokens['carla']}' {base}/api/v1/audit",
          file=out)
    out.flush()
    return settings


def _pending_exception(settings: ServerSettings, folder: Path) -> None:
    """The analyst asks for an exception for the export the scenario denied."""
    from lacuna.exceptions import request_exception
    from lacuna.governor import Governor, build_config, scoped
    from lacuna.server.state import server_config

    config = build_config(server_config(settings), user={"id": "analyst_alice",
                                                         "role": "analyst"})
    gov = Governor(config)
    try:
        with scoped(gov):
            request_exception(
                operation={"action": "export", "source": str(folder / "customers.csv"),
                           "destination": str(folder / "Downloads" / "board_report.csv")},
                purpose="Board Q4 presentation of customer revenue by region",
                business_justification="The board pack is assembled offline on a laptop",
                approver="jane", duration_hours=2, conditions=["File will be encrypted"])
    finally:
        gov.close()
