"""A live governance server for the session (uvicorn in a subprocess on a free loopback port),
and an in-process app for the fast tests. Users: ana (analyst), jane and joe (data_steward),
carla (compliance_officer), root (admin)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from lacuna import keyfile
from lacuna.identity import UserStore
from lacuna.signing import Keyring, Signer
from live_server import free_port, wait_healthy

SRC = Path(__file__).resolve().parents[2] / "src"
USERS = {"ana": ("analyst",), "jane": ("data_steward",), "joe": ("data_steward",),
         "carla": ("compliance_officer",), "root": ("admin",)}


@dataclass
class Live:
    url: str
    port: int
    root: Path
    db: str
    config: Path
    env: dict[str, str]
    tokens: dict[str, str]
    proc: subprocess.Popen[bytes]
    log: Path

    def headers(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def stop(self) -> int:
        """SIGTERM, then wait; the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def server_files(root: Path) -> tuple[str, Path, dict[str, str]]:
    """A state database, a lacuna.yaml (stewards, a governed folder, an unmanaged Downloads)
    and the environment for server and clients."""
    (root / "governed").mkdir(parents=True, exist_ok=True)
    (root / "Downloads").mkdir(exist_ok=True)
    config = root / "lacuna.yaml"
    config.write_text(yaml.safe_dump({
        "stewards": {"default": ["jane", "joe"]},
        "destinations": {"governed": [f"{root / 'governed'}/"],
                         "unmanaged": [str(root / "Downloads")]},
        "lineage": {"openlineage": {"enabled": False}},
    }), encoding="utf-8")
    env = {**os.environ, "LACUNA_HOME": str(root / "home"), "PYTHONPATH": str(SRC),
           "RUST_BACKTRACE": "0", "LACUNA_EMBEDDINGS_BUILD": "never"}
    env.pop("LACUNA_CONFIG", None)
    return f"sqlite:///{root / 'state.db'}", config, env


def home_keyring(home: Path) -> Keyring:
    """The signing keys of a process whose LACUNA_HOME is ``home`` (its key made if new)."""
    return Keyring(Signer(keyfile.load_or_create_key(home / "signing.key", what="signing key",
                                                     env_name="LACUNA_SIGNING_KEY")))


def start_server(root: Path, *, tokens: dict[str, str] | None = None, workers: int = 1,
                 extra_env: dict[str, str] | None = None) -> Live:
    db, config, env = server_files(root)
    env.update(extra_env or {})
    if tokens is None:  # signed with the server's key (its LACUNA_HOME's), as the CLI would
        users = UserStore(db, keyring=home_keyring(root / "home"))
        tokens = {name: users.add(name, roles=roles, replace=True)
                  for name, roles in USERS.items()}
        users.close()
    port = free_port()
    log = root / f"server-{port}.log"
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "lacuna", "serve", "--port", str(port), "--db", db,
             "--config", str(config), "--workers", str(workers)],
            env=env, cwd=root, stdout=subprocess.DEVNULL, stderr=err)
    url = f"http://127.0.0.1:{port}"
    wait_healthy(url, proc, log, workers=workers)
    return Live(url=url, port=port, root=root, db=db, config=config, env=env, tokens=tokens,
                proc=proc, log=log)


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    server = start_server(tmp_path_factory.mktemp("live"))
    yield server
    server.stop()


@dataclass
class InProcess:
    app: Any
    client: Any
    state: Any
    tokens: dict[str, str]

    def headers(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}


def in_process_app(db: str, config: Path, **settings: Any) -> Any:
    """The server app on the state database ``db`` with the Lacuna config ``config`` (its
    audit trail pointed at ``db``), as ``create_app`` builds it for ``lacuna serve``;
    ``settings`` are server settings over the defaults."""
    from lacuna.config import load_config
    from lacuna.server.app import create_app
    from lacuna.server.settings import load_settings

    cfg = load_config(config)
    return create_app(load_settings(environ={}, db=db, config=config, **settings),
                      config=cfg.model_copy(
                          update={"audit": cfg.audit.model_copy(update={"url": db})}))


@pytest.fixture(scope="module")
def app_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcess]:
    """The app in this process (FastAPI's TestClient), on its own state database, served as
    ``lacuna serve`` serves it (``app`` is the FastAPI app, ``client`` calls the outer lane)."""
    from fastapi.testclient import TestClient

    from lacuna.server.outer import serving

    root = tmp_path_factory.mktemp("app")
    db, config, _ = server_files(root)
    old = os.environ.get("LACUNA_HOME")
    os.environ["LACUNA_HOME"] = str(root / "home")
    # Refusals recorded one by one without a budget: the route walk audits every 401/403
    # (tests/server/test_refusals.py tests the budget)
    app = in_process_app(db, config, max_body_bytes=64 * 1024, log_json=True,
                         audit_refusals_burst=1_000_000)
    state = app.state.lacuna
    tokens = {name: state.users.add(name, roles=roles) for name, roles in USERS.items()}
    with TestClient(serving(app)) as client:  # what uvicorn serves: the outer lane first
        yield InProcess(app=app, client=client, state=state, tokens=tokens)
    if old is None:
        os.environ.pop("LACUNA_HOME", None)
    else:
        os.environ["LACUNA_HOME"] = old


@dataclass
class WithIdp(InProcess):
    """:class:`InProcess` with an OIDC issuer (:meth:`jwt` mints its tokens) and a wider
    steward list: ``jane``, ``joe``, ``carla`` (a compliance officer), ``dan`` (an analyst)
    and ``kim`` (no local user: a steward who signs in through the issuer)."""

    key: Any
    root: Path

    def jwt(self, name: str, *roles: str) -> dict[str, str]:
        """The headers of a bearer JWT from the issuer naming ``name`` with ``roles``."""
        import time

        import jwt

        now = int(time.time())
        token = jwt.encode({"iss": "https://idp.example.com/", "aud": "lacuna", "iat": now,
                            "exp": now + 300, "preferred_username": name,
                            "roles": list(roles)}, self.key, algorithm="RS256",
                           headers={"kid": "k1"})
        return {"Authorization": f"Bearer {token}"}


IDP_STEWARDS = ["jane", "joe", "carla", "dan", "kim"]


@pytest.fixture(scope="module")
def idp_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WithIdp]:
    """The app in this process as :func:`app_client` builds it, with an OIDC issuer (a JWKS
    file of a key made here) and :data:`IDP_STEWARDS` as the default stewards; the local
    users of :data:`USERS` and ``dan`` (analyst)."""
    import json

    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa
    from fastapi.testclient import TestClient

    from lacuna.server.outer import serving

    root = tmp_path_factory.mktemp("idp")
    db, config, _ = server_files(root)
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    data["stewards"] = {"default": IDP_STEWARDS}
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update(kid="k1", use="sig", alg="RS256")
    (root / "jwks.json").write_text(json.dumps({"keys": [jwk]}), encoding="utf-8")
    old = os.environ.get("LACUNA_HOME")
    os.environ["LACUNA_HOME"] = str(root / "home")
    app = in_process_app(db, config, log_json=True, audit_refusals_burst=1_000_000,
                         oidc={"issuer": "https://idp.example.com/", "audience": "lacuna",
                               "jwks_file": str(root / "jwks.json"),
                               "name_claim": "preferred_username"})
    state = app.state.lacuna
    tokens = {name: state.users.add(name, roles=roles)
              for name, roles in {**USERS, "dan": ("analyst",)}.items()}
    with TestClient(serving(app)) as client:
        yield WithIdp(app=app, client=client, state=state, tokens=tokens, key=key, root=root)
    if old is None:
        os.environ.pop("LACUNA_HOME", None)
    else:
        os.environ["LACUNA_HOME"] = old
