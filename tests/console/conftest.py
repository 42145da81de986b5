"""One live governance server (a real uvicorn process) and one headless Chromium per session.

The server runs as its own process, as in production, on a state database in a temporary
folder, with four users: an analyst (alice), two data stewards (sam, sue) and a compliance
officer (carol). The test process plays the analyst's notebook: pandas under governance on the
same state database and with the server's signing key, so grants the console approves are
honoured by the analyst's export.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pytest

from live_server import free_port, wait_healthy

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-dev-shm-usage"]
STEWARDS = ("sam", "sue")
LAPTOP = {"width": 1100, "height": 700}  # small PNGs for the docs
PHONE = {"width": 390, "height": 740}


@dataclass(frozen=True)
class LiveServer:
    url: str
    folder: Path
    db: str
    signing_key: str
    tokens: dict[str, str]
    config_path: Path

    def config(self, user: str, role: str) -> dict:
        """A notebook's lacuna.yaml (as a dict) for ``user`` on this server's state."""
        return {
            "user": {"id": user, "role": role},
            "stewards": {"default": list(STEWARDS)},
            "destinations": {"unmanaged": [str(self.folder / "Downloads")]},
            "audit": {"url": self.db},
        }


LAUNCH = ("from lacuna.server.run import run; from lacuna.server.settings import load_settings;"
          " raise SystemExit(run(load_settings()))")


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    from lacuna.identity import UserStore
    from lacuna.signing import Keyring, Signer

    folder = tmp_path_factory.mktemp("console-server")
    for name in ("customers.csv", "sales.csv"):
        shutil.copy(resources.files("lacuna") / "data" / name, folder / name)
    (folder / "Downloads").mkdir()
    db = f"sqlite:///{folder / 'state.db'}"
    config_path = folder / "lacuna.yaml"
    config_path.write_text(
        "stewards:\n  default: [sam, sue]\n"
        f"destinations:\n  unmanaged: [{str(folder / 'Downloads')!r}]\n"
        f"audit:\n  url: {db!r}\n", encoding="utf-8")
    key = secrets.token_hex(32)
    users = UserStore(db, keyring=Keyring(Signer(bytes.fromhex(key))))  # the server's key
    tokens = {"alice": users.add("alice", roles=("analyst",)),
              "sam": users.add("sam", roles=("data_steward",)),
              "sue": users.add("sue", roles=("data_steward",)),
              "carol": users.add("carol", roles=("compliance_officer",))}
    users.close()
    port = free_port()
    env = {**os.environ, "LACUNA_HOME": str(folder / ".server-home"), "LACUNA_SIGNING_KEY": key,
           "LACUNA_SERVER_PORT": str(port), "LACUNA_SERVER_DB": db,
           "LACUNA_SERVER_CONFIG": str(config_path), "LACUNA_EMBEDDINGS_BUILD": "never",
           "RUST_BACKTRACE": "0"}
    log = (folder / "server.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-c", LAUNCH], env=env, cwd=folder, stdout=log,
                            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    wait_healthy(url, proc, folder / "server.log", poll=0.2)
    try:
        yield LiveServer(url=url, folder=folder, db=db, signing_key=key, tokens=tokens,
                         config_path=config_path)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (scripts/setup.sh installs it)")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install -e '.[dev]')")

    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def notebook(live_server: LiveServer, monkeypatch: pytest.MonkeyPatch):
    """Switch this process to a notebook user governed on the server's state."""

    import lacuna
    from lacuna.config import config_from_dict

    monkeypatch.setenv("LACUNA_SIGNING_KEY", live_server.signing_key)
    monkeypatch.chdir(live_server.folder)

    def as_user(user: str, role: str = "data_analyst") -> None:
        lacuna.enable(config_from_dict(live_server.config(user, role)))

    yield as_user
    lacuna.disable()


def shrink(path: Path) -> None:
    """Docs screenshots go through pngquant when it is installed (apt-get install pngquant):
    a 64-colour palette makes them a quarter of the size and they read the same."""
    import shutil

    tool = shutil.which("pngquant")
    if tool and os.environ.get("LACUNA_CONSOLE_SCREENSHOTS") == "1":
        subprocess.run([tool, "--quality=60-90", "--speed", "1", "--strip", "--force",
                        "--ext", ".png", "64", str(path)], check=True)


@pytest.fixture
def screenshots() -> Path:
    """Where page screenshots go: docs/console/ when LACUNA_CONSOLE_SCREENSHOTS=1 (to refresh
    the docs), else a temporary folder (they are still taken, so the pages must render)."""
    if os.environ.get("LACUNA_CONSOLE_SCREENSHOTS") == "1":
        out = Path(__file__).resolve().parents[2] / "docs" / "console"
    else:
        out = Path(os.environ.get("TMPDIR", "/tmp")) / f"lacuna-console-{os.getpid()}"
    out.mkdir(parents=True, exist_ok=True)
    return out
