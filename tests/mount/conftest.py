"""One governed mount per test session, served by a real `lacuna mount --foreground` process."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pytest

from lacuna.mount import fuse_missing

RESTRICTED_POLICY = """\
package governance.mount_restricted

import rego.v1

metadata := {
	"id": "T-MOUNT-1",
	"title": "Restricted Folder",
	"owner": "data-governance@example.com",
	"version": "1.0.0",
	"actions": ["read"],
}

deny contains "Files under restricted/ may be read by data stewards only" if {
	some name in input.source.names
	contains(name, "/restricted/")
	input.user.role != "data_steward"
}
"""


# Retention rules every mount's bundle carries (docs/retention.md, "Rego overrides"): data under
# an inquiry/ folder is held; a conflicting/ folder's rule fails to evaluate (kept, fail closed).
RETENTION_POLICY = """\
package governance.mount_retention

import rego.v1

retention := {"hold": true, "reason": "regulator inquiry 2026-04"} if {
	contains(input.dataset.path, "/inquiry/")
}

retention := "30d" if contains(input.dataset.path, "/conflicting/")

retention := "60d" if contains(input.dataset.path, "/conflicting/")
"""


@dataclass(frozen=True)
class Mount:
    root: Path  # the test's folder
    source: Path
    mnt: Path
    config: Path
    audit_url: str
    log: Path
    pid: int = 0  # the mount process

    def run(self, *cmd: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              cwd=self.root, check=False)

    def settled(self, name: str | None = None, timeout: float = 15) -> None:
        """Wait until the mount holds no file named ``name`` open (its backing file or its
        staged copy; no name: no file of SOURCE at all): every open of it through the mount
        has been released, and what a release
        decides is decided and recorded (the kernel's RELEASE comes after ``close`` returns,
        asynchronously; a release closes its descriptor last). Polled, never a fixed sleep."""
        deadline = time.monotonic() + timeout
        while (held := self._holding(name)) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not held, f"the mount still holds {held} open after {timeout} s"

    def _holding(self, name: str | None) -> list[str]:
        held = []
        under = str(self.source) + "/"
        for fd in Path(f"/proc/{self.pid}/fd").iterdir():
            try:
                target = os.readlink(fd).removesuffix(" (deleted)")
            except OSError:  # closed meanwhile
                continue
            if target.endswith("/" + name) if name else target.startswith(under):
                held.append(target)
        return held


def _skip_reason() -> str | None:
    missing = fuse_missing()
    if missing is None and os.geteuid() != 0 and not os.access("/dev/fuse", os.R_OK | os.W_OK):
        missing = "/dev/fuse is not accessible to this user"
    return missing


@pytest.fixture(scope="session")
def mount(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mount]:
    """The mount as configured by default (here, as root on Linux 6.9+: FUSE passthrough)."""
    yield from serve_mount(tmp_path_factory.mktemp("mount"))


@pytest.fixture(scope="session")
def libfuse_mount(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mount]:
    """The mount served by libfuse through mfusepy (``mount.passthrough: off``)."""
    yield from serve_mount(tmp_path_factory.mktemp("libfuse"), "mount: {passthrough: 'off'}\n")


@pytest.fixture(scope="session")
def plain_mount(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mount]:
    """The default mount over governed storage that is not encrypted (``storage.encrypt:
    false``): writes in place go to the backing file, passed through when the kernel can."""
    yield from serve_mount(tmp_path_factory.mktemp("plain"), "storage: {encrypt: false}\n")


def write_policies(root: Path) -> Path:
    """The mounts' policy bundle in ``root``: the default one, a restricted folder, and the
    retention rules above."""
    policies = root / "policies"
    shutil.copytree(Path(str(resources.files("lacuna") / "policies" / "default")), policies)
    (policies / "governance" / "mount_restricted.rego").write_text(RESTRICTED_POLICY)
    (policies / "governance" / "mount_retention.rego").write_text(RETENTION_POLICY)
    return policies


def serve_mount(root: Path, settings: str = "") -> Iterator[Mount]:
    """A governed mount of a fresh data folder in ``root``; ``settings``: more lacuna.yaml."""
    reason = _skip_reason()
    if reason is not None:
        pytest.skip(f"no FUSE here: {reason}")
    source, mnt = root / "data", root / "mnt"
    for folder in (source / "outbox", source / "restricted", mnt):
        folder.mkdir(parents=True)
    for name in ("customers.csv", "sales.csv"):
        shutil.copy(resources.files("lacuna") / "data" / name, source / name)
    shutil.copy(source / "customers.csv", source / "restricted" / "customers.csv")
    policies = write_policies(root)
    audit_url = f"sqlite:///{root / 'state.db'}"
    config = root / "lacuna.yaml"
    config.write_text(
        "user: {id: analyst_alice, role: data_analyst}\n"
        f"audit: {{url: '{audit_url}'}}\n"
        f"policy: {{dir: '{policies}'}}\n" + settings
    )
    log = root / "mount.log"
    env = {**os.environ, "LACUNA_HOME": str(root / "home"), "RUST_BACKTRACE": "0"}
    env.pop("LACUNA_CONFIG", None)
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "lacuna", "mount", str(source), str(mnt), "--foreground",
             "--config", str(config)],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=root)
    deadline = time.monotonic() + 60
    while not os.path.ismount(mnt):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the mount did not come up:\n{log.read_text()}")
        time.sleep(0.05)
    try:
        yield Mount(root, source, mnt, config, audit_url, log, proc.pid)
    finally:
        subprocess.run(["fusermount3", "-u", str(mnt)], check=False, capture_output=True)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            subprocess.run(["fusermount3", "-uz", str(mnt)], check=False, capture_output=True)


@dataclass(frozen=True)
class ServerMount:
    """A mount whose governor records to a live Lacuna server (``server:``)."""

    mount: Mount
    url: str
    server_config: Path  # the server's lacuna.yaml (its state database, its bundle)
    server_home: Path  # the server's LACUNA_HOME (its signing key)
    token: str  # the mount's: analyst_alice, an analyst


@pytest.fixture(scope="session")
def server_mount(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerMount]:
    """A live ``lacuna serve`` (its own state database and the mounts' bundle) and a mount
    configured with ``server:`` that governs through it."""
    from lacuna.identity import UserStore
    from live_server import free_port, wait_healthy

    if _skip_reason() is not None:
        pytest.skip(f"no FUSE here: {_skip_reason()}")
    root = tmp_path_factory.mktemp("server-mount")
    side = root / "server"
    side.mkdir()
    db = f"sqlite:///{side / 'state.db'}"
    config = side / "lacuna.yaml"
    config.write_text(
        f"audit: {{url: '{db}'}}\npolicy: {{dir: '{write_policies(side)}'}}\n"
        "lineage: {openlineage: {enabled: false}}\n"
    )
    home = side / "home"
    env = {
        **os.environ,
        "LACUNA_HOME": str(home),
        "RUST_BACKTRACE": "0",
        "LACUNA_EMBEDDINGS_BUILD": "never",
        "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src"),
    }
    env.pop("LACUNA_CONFIG", None)
    from lacuna import keyfile
    from lacuna.signing import Keyring, Signer

    keyring = Keyring(
        Signer(
            keyfile.load_or_create_key(
                home / "signing.key", what="signing key", env_name="LACUNA_SIGNING_KEY"
            )
        )
    )
    users = UserStore(db, keyring=keyring)
    token = users.add("analyst_alice", roles=("analyst",), replace=True)
    users.close()
    port = free_port()
    log = side / "server.log"
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lacuna",
                "serve",
                "--port",
                str(port),
                "--db",
                db,
                "--config",
                str(config),
                "--workers",
                "1",
            ],
            env=env,
            cwd=side,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc, log)
        client = root / "client"
        client.mkdir()
        for m in serve_mount(client, f"server: {{url: '{url}', token: '{token}'}}\n"):
            yield ServerMount(mount=m, url=url, server_config=config, server_home=home, token=token)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
