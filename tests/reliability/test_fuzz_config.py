"""Fuzzing the configuration loader (hypothesis): whatever the file holds, loading it either
returns a Config or raises ConfigError, quickly. Figures go to docs/reliability.md.

Examples go through ``parse_yaml`` and ``config_from_dict`` in memory, exactly what
``load_config`` runs on a file's text (reading the file: tests/test_config_hostile.py)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lacuna.config import Config, config_from_dict, parse_yaml
from lacuna.errors import ConfigError

pytestmark = pytest.mark.reliability

SETTINGS = settings(max_examples=300, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
STRUCTURED = settings(SETTINGS, max_examples=120)  # hypothesis spends ~0.1 s building each
FOLDER = tempfile.TemporaryDirectory(prefix="lacuna-fuzz-config-")

# Real keys, so examples get past "unknown setting" into the validators.
KEYS = [
    "mode", "environment", "purpose", "user", "id", "role", "clearance", "department",
    "attributes", "policy", "dir", "rego_version", "server", "url", "path", "timeout_ms",
    "retries", "headers", "decision_log", "type", "batch_size", "watch", "classification",
    "sample_rows", "k_anonymity", "personal_tags", "mapping", "pii", "tier", "tags",
    "critical_tier", "sensitive_terms", "term", "path_rules", "pattern", "source", "cascade",
    "cache", "destinations", "governed", "unmanaged", "internal_hosts", "audit", "anonymize",
    "key_env", "stewards", "default", "policies", "domains", "docs_url", "enabled", "layers",
]
TOKENS = [
    "enforce", "observe", "warn", "production", "PUBLIC", "INTERNAL", "PROPRIETARY", "pii",
    "~/Downloads", "s3://b/", "sqlite:///x.db", "&a", "*a", "<<", "!!binary", "!!python/none",
    "\"\\U0011FFFF\"", "\"\\x00\"", "2026-13-01", "1e309", ".nan", "-.inf", "0x", "~", "null",
    "[", "]", "{", "}", ":", "- ", "? ", "|", ">", "#", "'", "\"", "\t", "\n", "  ", "%YAML 1.1",
    "---", "...", "\ufeff", "\x85", "\u2028", "~nobody-here/x", "\x1f", "a\x00b",
]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
    st.sampled_from(TOKENS), st.sampled_from(KEYS),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), inner, max_size=5),
    ),
    max_leaves=15,
)
documents = st.dictionaries(st.sampled_from(KEYS), values, max_size=6)

FIGURES: dict[str, int] = {"examples": 0, "loaded": 0, "config_errors": 0, "crashes": 0}
SLOWEST: list[float] = [0.0]


def _load(text: str) -> None:
    """Load ``text`` as lacuna.yaml: a Config or a ConfigError; anything else is a crash."""
    FIGURES["examples"] += 1
    path = Path(FOLDER.name) / "lacuna.yaml"
    started = time.perf_counter()
    message = ""
    try:  # what load_config does once it has read the file's text
        raw, lines = parse_yaml(text, str(path))
        assert isinstance(config_from_dict(raw, source=path, lines=lines), Config)
        FIGURES["loaded"] += 1
    except ConfigError as exc:
        FIGURES["config_errors"] += 1
        message = str(exc)
    except Exception:
        FIGURES["crashes"] += 1
        raise
    finally:
        SLOWEST[0] = max(SLOWEST[0], time.perf_counter() - started)
    assert not message or str(path) in message  # every error names the file


def _dump(doc: Any) -> str:
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


@SETTINGS
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=300))
def test_any_text(text: str) -> None:
    _load(text)


@SETTINGS
@given(st.lists(st.sampled_from(TOKENS + KEYS + [": ", "\n  ", "\n- "]), max_size=60))
def test_yaml_shaped_noise(pieces: list[str]) -> None:
    _load("".join(pieces))


@STRUCTURED
@given(documents)
def test_structured_documents(doc: dict[str, Any]) -> None:
    _load(_dump(doc))


@STRUCTURED
@given(documents, st.data())
def test_structured_documents_with_a_hostile_edit(doc: dict[str, Any], data: Any) -> None:
    lines = _dump(doc).splitlines() or ["mode: enforce"]
    at = data.draw(st.integers(0, len(lines) - 1))
    edit = data.draw(st.sampled_from(["duplicate", "alias", "escape", "deep", "token"]))
    if edit == "duplicate":
        lines.insert(at, lines[at])
    elif edit == "alias":
        lines = ["base: &a [1, 2]", *lines, "user: {attributes: {x: *a}}"]
    elif edit == "escape":
        lines.insert(at, 'purpose: "\\U0011FFFF"')
    elif edit == "deep":
        lines.append("user: {attributes: " + "[" * 40 + "]" * 40 + "}")
    else:
        lines[at] += data.draw(st.sampled_from(TOKENS))
    _load("\n".join(lines) + "\n")


def test_figures_for_the_docs() -> None:
    """Runs last in this file: the figures docs/reliability.md reports (printed with -s)."""
    print(f"\nconfig fuzz: {FIGURES['examples']} examples, {FIGURES['loaded']} loaded, "
          f"{FIGURES['config_errors']} ConfigError, {FIGURES['crashes']} crashes, "
          f"slowest load {SLOWEST[0] * 1000:.0f} ms")
    assert FIGURES["crashes"] == 0
    assert SLOWEST[0] < 5.0
