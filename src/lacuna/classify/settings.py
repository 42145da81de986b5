"""Settings of the classification cascade (layers 2 and 3, routing, cache), validated at the edge.

They live under ``classification:`` in ``lacuna.yaml``::

    classification:
      cascade:
        thresholds: {heuristic: 0.8, embedding: 0.75}   # below: ask the next layer
        embeddings: {enabled: auto, runtime: static, examples: [my_examples.tsv]}
        llm: {url: http://127.0.0.1:8080/v1, model: local, timeout_ms: 200}
      cache: {enabled: true, size: 65536, files: 512}

:func:`from_config` reads ``classification.cascade`` and ``classification.cache`` when the
configuration has them (a dict or a model) and uses the defaults below otherwise, so the cascade
works with any :class:`~lacuna.config.ClassificationConfig`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from lacuna.config import lacuna_home
from lacuna.sections import Origin, Section, validate_section


class Thresholds(Section):
    """A layer's answer stands when its confidence is at least its threshold."""

    heuristic: float = Field(default=0.8, ge=0, le=1)
    embedding: float = Field(default=0.75, ge=0, le=1)


class EmbeddingSettings(Section):
    """Layer 2: nearest labelled examples by sentence embedding (``lacuna[embeddings]``)."""

    enabled: bool | Literal["auto"] = "auto"  # auto: on when the extra is installed
    runtime: Literal["static", "full"] = "static"  # static: distilled token vectors (fast)
    model: str = "all-MiniLM-L6-v2"
    examples: tuple[Path, ...] = ()  # extra labelled examples: TSV text<TAB>class<TAB>type
    neighbours: int = Field(default=5, ge=1, le=50)


class LlmSettings(Section):
    """Layer 3: an OpenAI-compatible chat endpoint; off unless ``url`` is set."""

    url: str | None = None  # e.g. http://127.0.0.1:8080/v1
    model: str = "local"
    timeout_ms: int = Field(default=200, ge=1, le=120_000)  # per call
    total_ms: int = Field(default=1000, ge=1, le=600_000)  # per classification, all calls
    send_samples: bool = False  # raw sample values leave the process only when True
    api_key_env: str | None = None  # the environment variable holding the API key
    breaker_failures: int = Field(default=3, ge=1)  # consecutive failures that open it
    breaker_reset_s: float = Field(default=30.0, ge=0)  # then one trial call


class CascadeSettings(Section):
    """Routing between the layers."""

    thresholds: Thresholds = Field(default_factory=Thresholds)
    embeddings: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    llm: LlmSettings = Field(default_factory=LlmSettings)


class CacheSettings(Section):
    """The (name, value-shape) cache of layer-2/3 answers: in memory and in the state store."""

    enabled: bool = True
    url: str | None = None  # SQLAlchemy URL; None: the state store (audit.url / LACUNA_HOME)
    size: int = Field(default=65536, ge=0, le=10_000_000)  # answers kept in memory (0: none)
    files: int = Field(default=512, ge=0, le=1_000_000)  # whole-file classifications in memory


class ClassifySettings(Section):
    """Everything the cascade reads, in one object."""

    cascade: CascadeSettings = Field(default_factory=CascadeSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    state_url: str | None = None  # the state store's URL, when the whole Config was given

    @property
    def cache_url(self) -> str:
        """Where the persistent cache lives."""
        return self.cache.url or self.state_url or f"sqlite:///{lacuna_home() / 'audit.db'}"


def from_config(config: Any = None, *, origin: Origin | None = None) -> ClassifySettings:
    """Read the cascade settings from a ``Config``, a ``ClassificationConfig`` or a mapping.

    Args:
        config: ``lacuna.Config`` (its ``classification`` and ``audit_url`` are used), a
            ``ClassificationConfig``, a mapping shaped like the ``classification:`` section, an
            existing ``ClassifySettings``, or ``None`` for the defaults.
        origin: the file the settings came from and its key lines (for the error message).

    Returns:
        The validated settings; absent keys take their defaults.

    Raises:
        ConfigError: a key is unknown or a value is invalid; the message names the key.

    Example:
        >>> from_config({"cascade": {"llm": {"timeout_ms": 500}}}).cascade.llm.timeout_ms
        500
    """
    if isinstance(config, ClassifySettings):
        return config
    state_url = None
    if config is not None and hasattr(config, "classification"):
        state_url = getattr(config, "audit_url", None)
        config = config.classification
    if config is None:
        raw: dict[str, Any] = {}
    elif isinstance(config, Mapping):
        raw = {k: config[k] for k in ("cascade", "cache") if k in config}
    else:
        raw = {k: getattr(config, k) for k in ("cascade", "cache") if hasattr(config, k)}
    raw = {k: _plain(v) for k, v in raw.items() if v is not None}
    return validate_section(ClassifySettings, {**raw, "state_url": state_url},
                            prefix=("classification",), origin=origin,
                            title="classification settings", docs="docs/classification.md")


def _plain(value: Any) -> Any:
    return value.model_dump() if isinstance(value, BaseModel) else value
