"""OPA bundles: ``lacuna policy bundle DIR -o bundle.tar.gz`` writes one an OPA server can load.

Layout (a gzip-compressed tar, names starting with ``/`` as ``opa build`` writes them)::

    /.manifest                       {"revision": ..., "roots": ["governance", "lacuna"],
                                      "rego_version": 1,
                                      "file_rego_versions": {"/legacy/old.rego": 0},
                                      "metadata": {"lacuna": {"decision_path": ..., ...}}}
    /governance/export.rego          every policy file, as written (tests are left out)
    /lacuna/decision.rego            the generated aggregator (lacuna.policy.aggregate)
    /<key>/data.json                 the data document, one file per top-level key, including
                                     data.lacuna (the settings from lacuna.yaml)

Rego v0 files are listed in ``file_rego_versions`` so OPA 1.x parses them as v0. Serve it with
``opa run --server bundle.tar.gz`` and point ``policy.server.url`` at the server: decisions come
from ``POST /v1/data/lacuna/decision/result``.
"""

from __future__ import annotations

import io
import json
import tarfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lacuna.errors import PolicyError
from lacuna.policy.aggregate import DATA_API_PATH, FILENAME, PACKAGE

if TYPE_CHECKING:
    from lacuna.policy.engine import PolicyEngine


@dataclass(frozen=True, slots=True)
class OpaBundle:
    """An OPA bundle's contents: manifest, Rego files (path -> (source, rego version)), data."""

    manifest: Mapping[str, Any]
    modules: Mapping[str, tuple[str, int]]
    data: Mapping[str, Any]


def write_opa_bundle(engine: PolicyEngine, out: Path, *, revision: str | None = None
                     ) -> dict[str, Any]:
    """Write ``engine``'s bundle (policies, aggregator, data) as an OPA bundle to ``out``.

    Args:
        engine: a loaded engine (its bundle, data and packages).
        out: the ``.tar.gz`` file to write.
        revision: the manifest's revision; by default the bundle revision.

    Returns:
        The manifest written.

    Raises:
        PolicyError: a policy file sits where the aggregator goes, or the file cannot be written.
    """
    bundle = engine.bundle
    files: dict[str, bytes] = {}
    versions: dict[str, int] = {}
    for m in bundle.policy_modules:
        name = f"/{m.relpath}"
        if m.relpath == FILENAME or m.package == PACKAGE:
            msg = (f"{m.path}: {FILENAME} and package {PACKAGE} are reserved for the decision "
                   "aggregator Lacuna generates; rename the file or package.")
            raise PolicyError(msg, path=m.path)
        files[name] = m.source.encode("utf-8")
        if m.rego_version == "v0":
            versions[name] = 0
    files[f"/{FILENAME}"] = engine.aggregator().encode("utf-8")
    for key, value in sorted(engine.data.items()):
        files[f"/{key}/data.json"] = json.dumps(value, indent=2, sort_keys=True,
                                                default=str).encode("utf-8")
    roots = sorted({p.name.split(".")[0] for p in engine.all_packages} | set(engine.data)
                   | {"lacuna"})
    manifest: dict[str, Any] = {
        "revision": revision or engine.revision,
        "roots": roots,
        "rego_version": 1,
        "metadata": {"lacuna": {
            "decision_path": DATA_API_PATH, "content_hash": bundle.digest,
            "packages": [p.name for p in engine.packages],
        }},
    }
    if versions:
        manifest["file_rego_versions"] = versions
    files["/.manifest"] = json.dumps(manifest, indent=2, sort_keys=True).encode("utf-8")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(out, "w:gz") as tar:
            for name in sorted(files):
                info = tarfile.TarInfo(name)
                info.size = len(files[name])
                info.mtime = int(time.time())
                info.mode = 0o644
                tar.addfile(info, io.BytesIO(files[name]))
    except OSError as exc:
        msg = f"cannot write the bundle to {out} ({exc.strerror or exc}). Choose another path."
        raise PolicyError(msg, path=str(out)) from exc
    return manifest


def read_opa_bundle(path: Path) -> OpaBundle:
    """Read an OPA bundle (``.tar.gz``): its manifest, Rego files and data.

    Raises:
        PolicyError: the file is not a gzip tar, or a JSON file in it is invalid.
    """
    manifest: dict[str, Any] = {}
    sources: dict[str, str] = {}
    data: dict[str, Any] = {}
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar.getmembers():
                if not member.isfile():
                    continue
                raw = tar.extractfile(member)
                text = raw.read().decode("utf-8") if raw is not None else ""
                name = "/" + member.name.lstrip("/")
                if name == "/.manifest":
                    manifest = json.loads(text)
                elif name.endswith(".rego"):
                    sources[name] = text
                elif name.endswith("/data.json"):
                    node = data
                    for key in [k for k in name.split("/")[1:-1] if k]:
                        node = node.setdefault(key, {})
                    node.update(json.loads(text))
    except (tarfile.TarError, OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        msg = f"{path} is not a readable OPA bundle ({exc}). Build one with: lacuna policy bundle"
        raise PolicyError(msg, path=str(path)) from exc
    default = int(manifest.get("rego_version", 1))
    overrides = manifest.get("file_rego_versions") or {}
    modules = {name: (src, int(overrides.get(name, default))) for name, src in sources.items()}
    return OpaBundle(manifest=manifest, modules=modules, data=data)
