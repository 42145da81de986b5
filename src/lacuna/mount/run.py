"""Start and stop a governed mount.

:func:`serve` runs the file system in this process until it is unmounted (``lacuna mount
--foreground``); :func:`start` runs it in a detached child process and returns once the mount
is live (``lacuna mount``), its log in ``$LACUNA_HOME/mounts/``; :func:`unmount` ends it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from lacuna.config import Config, lacuna_home
from lacuna.errors import IntegrationError
from lacuna.mount.fs import MAX_READ
from lacuna.mount.layout import MountLayout, mount_config

if TYPE_CHECKING:
    from lacuna.mount.fs import GovernedFS

log = logging.getLogger("lacuna.mount")

# libfuse options (see docs/mount.md, "Performance"): the kernel keeps a file's pages between
# opens while its size and mtime are unchanged (auto_cache), attributes for a second, and asks
# for reads of up to 512 KiB; direct_io stays off so the page cache and read-ahead work.
FUSE_OPTIONS: dict[str, object] = {
    "auto_cache": True,
    # auto_cache compares the file's size and mtime at every open, not only once the cached
    # attributes are a second old: a file changed behind the mount's back is never served
    # from stale pages (one lstat per open, beside the open's decision).
    "ac_attr_timeout": 0.0,
    "attr_timeout": 1.0,
    "entry_timeout": 1.0,
    "default_permissions": True,
    # Read requests of at most 512 KiB: libfuse splices a reply through a pipe that must hold
    # it whole, and a pipe is capped at /proc/sys/fs/pipe-max-size (1 MiB) without
    # CAP_SYS_RESOURCE; a 1 MiB request does not fit (header pages), and libfuse then falls
    # back to pread into a fresh buffer per request (measured: twice the CPU per GiB).
    # (GovernedFS.init_with_config says the same to libfuse, which requires both.)
    "max_read": MAX_READ,
}


READ_AHEAD_KB = 1024  # the kernel's read-ahead for the mount (its default is 128 KiB)


def _tune_read_ahead(mountpoint: str, timeout: float = 30.0) -> None:
    """Best effort, once the mount is live: a larger read-ahead means larger and fewer read
    requests for the mount process (measured: about a third less CPU per GiB). Needs write
    access to /sys/class/bdi (root); otherwise the kernel's default stays."""
    deadline = time.monotonic() + timeout
    while not os.path.ismount(mountpoint):
        if time.monotonic() > deadline:
            return
        time.sleep(0.05)
    try:
        dev = os.stat(mountpoint).st_dev
        knob = Path(f"/sys/class/bdi/{os.major(dev)}:{os.minor(dev)}/read_ahead_kb")
        knob.write_text(str(READ_AHEAD_KB))
        log.info("read-ahead of %s set to %d KiB", mountpoint, READ_AHEAD_KB)
    except OSError as exc:
        log.info("read-ahead of %s left at the kernel's default (%s)", mountpoint, exc)


def fuse_missing() -> str | None:
    """Why a mount cannot work here, or None: no /dev/fuse, no fusermount3, no libfuse."""
    if not os.path.exists("/dev/fuse"):
        return "/dev/fuse does not exist (a container without FUSE, or the module is not loaded)"
    if shutil.which("fusermount3") is None:
        return "fusermount3 is not installed (apt-get install fuse3)"
    try:
        import mfusepy  # noqa: F401
    except (ImportError, OSError) as exc:  # libfuse itself missing
        return f"mfusepy cannot load libfuse ({exc}); pip install mfusepy and apt-get install fuse3"
    return None


def _check() -> None:
    missing = fuse_missing()
    if missing is not None:
        msg = f"cannot mount: {missing}."
        raise IntegrationError(msg)


def use_passthrough(mode: str, source: str) -> bool:
    """Whether to serve through the kernel session with FUSE passthrough (``mount.passthrough``
    is ``mode``): ``off`` never; ``on`` always, or an error saying why it cannot; ``auto`` when
    the probe succeeds here (:func:`lacuna.mount.kernel.probe`), logged either way."""
    if mode == "off":
        log.info("transport: libfuse (mfusepy); mount.passthrough is off")
        return False
    from lacuna.mount.kernel_dev import probe

    why = probe(source)
    if why is None:
        log.info("transport: the kernel session with FUSE passthrough (mount.passthrough: %s)",
                 mode)
        return True
    if mode == "on":
        msg = (f"cannot mount with FUSE passthrough (mount.passthrough: on): {why}. Run as root "
               "on Linux 6.9+ with CONFIG_FUSE_PASSTHROUGH=y, or set mount.passthrough to auto "
               "or off in lacuna.yaml to serve through libfuse.")
        raise IntegrationError(msg)
    log.info("transport: libfuse (mfusepy); FUSE passthrough is unavailable here: %s", why)
    return False


def serve(layout: MountLayout, config: Config) -> None:
    """Mount and serve in this process until unmounted (blocks)."""
    from lacuna.governor import Governor
    from lacuna.mount.decide import MountGovernance
    from lacuna.mount.fs import GovernedFS

    passthrough = use_passthrough(config.mount.passthrough, layout.source)
    if not passthrough:
        _check()
    gov = Governor(mount_config(config, layout))
    gov.engine  # noqa: B018 - compile the bundle now: a broken policy fails before mounting
    gov.audit  # noqa: B018 - and an audit trail that cannot open
    fs = GovernedFS(MountGovernance(gov, layout))
    log.info("governing %s at %s (outside: %s)", layout.source, layout.mountpoint,
             ", ".join(layout.outside))
    threading.Thread(target=_tune_read_ahead, args=(layout.mountpoint,), daemon=True,
                     name="lacuna-mount-readahead").start()
    try:
        if passthrough:
            _serve_kernel(fs, layout)
        else:
            _serve_libfuse(fs, layout)
    finally:
        gov.close()


def _serve_libfuse(fs: GovernedFS, layout: MountLayout) -> None:
    import mfusepy

    if os.environ.get("LACUNA_MOUNT_READ_BUF", "1") == "0":  # answer reads through Python
        fs.read_buf = None  # type: ignore[assignment,method-assign]  # (benchmarks compare)
    mfusepy.FUSE(fs, layout.mountpoint, foreground=True, fsname=f"lacuna:{layout.source}",
                 subtype="lacuna", **FUSE_OPTIONS)


def _serve_kernel(fs: GovernedFS, layout: MountLayout) -> None:
    """The kernel session, with FUSE_OPTIONS' timeouts; SIGTERM unmounts (as libfuse does)."""
    from lacuna.mount.kernel import KernelSession

    session = KernelSession(fs, layout.mountpoint, fsname=f"lacuna:{layout.source}",
                            attr_timeout=float(str(FUSE_OPTIONS["attr_timeout"])),
                            entry_timeout=float(str(FUSE_OPTIONS["entry_timeout"])))

    def stop(signum: int, frame: object) -> None:  # noqa: ARG001
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, stop)
    try:
        session.serve()
    except KeyboardInterrupt:
        log.info("stopped: %s unmounted", layout.mountpoint)


# Mounts started by this process keep running after it returns; their Popen objects are kept so
# they are not reaped (and warned about) as garbage while the mount serves.
_DETACHED: list[subprocess.Popen[bytes]] = []


def log_path(mountpoint: str) -> Path:
    key = hashlib.sha256(mountpoint.encode()).hexdigest()[:12]
    return lacuna_home() / "mounts" / f"{Path(mountpoint).name or 'root'}-{key}.log"


def start(layout: MountLayout, config_path: str | None, *, timeout: float = 30.0) -> Path:
    """Run ``lacuna mount --foreground`` detached; return its log once the mount is live."""
    _check()
    logfile = log_path(layout.mountpoint)
    logfile.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "lacuna", "mount", layout.source, layout.mountpoint,
           "--foreground", *(a for o in layout.outside for a in ("--outside", o))]
    if config_path:
        cmd += ["--config", config_path]
    with open(logfile, "ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.ismount(layout.mountpoint):
            _DETACHED.append(proc)
            return logfile
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    if proc.poll() is None:
        proc.terminate()
    tail = logfile.read_text(errors="replace").strip().splitlines()[-5:]
    msg = (f"the mount of {layout.source} at {layout.mountpoint} did not come up: "
           + (" | ".join(tail) or "no output") + f" (log: {logfile})")
    raise IntegrationError(msg)


def unmount(mountpoint: str | os.PathLike[str], *, timeout: float = 10.0) -> None:
    """Unmount a governed mount (``fusermount3 -u``); waits until it is gone."""
    path = os.path.realpath(os.fspath(mountpoint))
    if not os.path.ismount(path):
        msg = f"{path} is not mounted; nothing to unmount."
        raise IntegrationError(msg)
    tool = shutil.which("fusermount3") or shutil.which("fusermount")
    cmd = [tool, "-u", path] if tool else ["umount", path]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        msg = (f"could not unmount {path}: {result.stderr.strip() or result.stdout.strip()}. "
               "Close the programs using it (fuser -m PATH lists them) and retry.")
        raise IntegrationError(msg)
    deadline = time.monotonic() + timeout
    while os.path.ismount(path) and time.monotonic() < deadline:
        time.sleep(0.05)
