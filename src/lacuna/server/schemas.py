"""Request bodies (pydantic, at the edge only; converted to domain objects at once)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from lacuna.exceptions.authority import (
    MAX_CONDITIONS,
    MAX_DURATION_HOURS,
    MIN_DURATION_HOURS,
    TEXT_LIMITS,
)

MAX_COLUMNS = 2000
MAX_SAMPLES = 1000
RULE_ITEMS = 1000  # governed items one question about Rego retention holds carries


RESERVED_SESSION_PREFIX = "lacuna-"


def client_session(value: str | None) -> str | None:
    """A client's session id, checked: the sessions Lacuna files its own records under
    (``lacuna-server``'s refusals, ``lacuna-users``, ``lacuna-console``, ...) cannot be claimed
    by a client (a decision or an outcome filed there would read as the server's), in any
    spelling a reader takes for them (``LACUNA-server``, fullwidth letters, a leading space or
    zero-width character: compared as names are, :func:`lacuna.identity.canonical_name`)."""
    from lacuna.identity.names import canonical_name

    if value is not None and canonical_name(value).startswith(RESERVED_SESSION_PREFIX):
        msg = (f"session {value!r} is reserved: names starting {RESERVED_SESSION_PREFIX!r} "
               "are the sessions Lacuna files its own records under; send your client's "
               "own session id (or none)")
        raise ValueError(msg)
    return value


def text_only(value: Any, what: str) -> Any:
    """``value`` (JSON a client sent), checked to hold only text that UTF-8 can store.

    JSON may escape a lone UTF-16 surrogate (``"\\ud800"``); Python's reader takes it, but
    no database, log or signature can encode it: it failed the audit append of the decision
    it rode in (the denial then went unrecorded), a lineage run's write and a classification
    of sample values (500s). Typed text fields refuse it already (pydantic); this is for the
    free-form parts (an operation's classification and sources, columns to classify, an
    OpenLineage event). A surrogate *pair* is a character and is kept.

    Raises:
        ValueError: a lone surrogate, or nesting too deep to check (the message says where).
    """
    import json

    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = exc.object[exc.start:exc.end] if isinstance(exc.object, str) else "?"
        msg = (f"{what} holds {bad!a}, a lone UTF-16 surrogate, which is not text: "
               "send UTF-8 text")
        raise ValueError(msg) from None
    except RecursionError:
        msg = f"{what} is nested too deeply to check; send a flatter document"
        raise ValueError(msg) from None
    return value


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ClassifyRequest(_Body):
    """Columns with sample values (``{"email": ["a@example.com", ...], ...}``)."""

    name: str | None = Field(default=None, max_length=1024,
                             description="The dataset's name (a path or table), if any.")
    columns: dict[str, list[Any]] = Field(max_length=MAX_COLUMNS)
    declared: dict[str, Any] | None = Field(
        default=None, description="Declared column classes; they win over inference.")

    @field_validator("columns", "declared")
    @classmethod
    def _text_only(cls, value: Any) -> Any:
        return text_only(value, "the columns") if value is not None else value


class OperationBody(_Body):
    """An operation as the client sees it; the user comes from authentication."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(default=None, max_length=64)
    action: str = Field(description="read, write, export or transform")
    classification: dict[str, Any] = Field(default_factory=dict)
    sources: list[dict[str, Any]] = Field(default_factory=list, max_length=1000)
    destination: str | None = Field(default=None, max_length=4096,
                                    description="A path, URL or database URL; the server "
                                    "classifies it with its own destinations settings.")
    environment: str = "development"
    purpose: str | None = Field(default=None, max_length=2000)
    exception_id: str | None = Field(default=None, max_length=64)
    method: str = Field(default="", max_length=256)
    code_location: str | None = Field(default=None, max_length=1024)
    variable: str | None = Field(default=None, max_length=256)

    @field_validator("classification", "sources")
    @classmethod
    def _text_only(cls, value: Any) -> Any:
        return text_only(value, "operation field")
    user: Any = Field(default=None, description="Ignored: the identity comes from the token.")


class DecideRequest(_Body):
    operation: OperationBody
    record: bool = Field(default=True, description="Append the decision to the audit trail "
                         "(false: a dry run, e.g. checking an alternative).")
    session: str | None = Field(default=None, max_length=64,
                                description="The client's session id, kept on the record "
                                "(names starting `lacuna-` are the server's own).")

    @field_validator("session")
    @classmethod
    def _not_lacunas(cls, value: str | None) -> str | None:
        return client_session(value)


class ExceptionRequestBody(_Body):
    operation: OperationBody | None = None
    destination: str | None = Field(default=None, max_length=4096)
    source: str | None = Field(default=None, max_length=4096)
    action: str = "export"
    purpose: str = Field(max_length=TEXT_LIMITS["purpose"])
    business_justification: str | None = Field(
        default=None, max_length=TEXT_LIMITS["business_justification"])
    approver: str | None = Field(default=None, max_length=TEXT_LIMITS["approver"])
    duration_hours: float = Field(default=24.0, ge=MIN_DURATION_HOURS, le=MAX_DURATION_HOURS)
    conditions: list[str] = Field(default_factory=list, max_length=MAX_CONDITIONS)


class ExceptionDecisionBody(_Body):
    comment: str | None = Field(default=None, max_length=TEXT_LIMITS["comment"])
    conditions: list[str] = Field(default_factory=list, max_length=MAX_CONDITIONS)


class SettleBody(_Body):
    path: str = Field(min_length=1, max_length=4096,
                      description="The file, as the sweep reports it.")
    reason: str = Field(min_length=1, max_length=TEXT_LIMITS["reason"],
                        description="What the steward checked and did with the data.")


class DismissBody(_Body):
    reason: str = Field(min_length=1, max_length=TEXT_LIMITS["reason"],
                        description="What the steward checked (for the record).")


class FingerprintBody(_Body):
    dataset: str = Field(min_length=1, max_length=4096,
                         description="The run's output, as its events named it.")
    fingerprint: str = Field(min_length=1, max_length=200,
                             description="Its content's fingerprint, once it was complete.")


class RetentionItemBody(_Body):
    """One governed item as a ``retention`` rule sees it (``input.dataset``: docs/retention.md)."""

    path: str = Field(min_length=1, max_length=4096)
    kind: Literal["file"] = "file"
    tier: str = Field(max_length=32)
    tags: list[str] = Field(default_factory=list, max_length=256)
    written_at: datetime
    clock: datetime
    written_by: str | None = Field(default=None, max_length=255)
    age_days: float | None = Field(default=None, description="Ignored: counted from `clock` "
                                   "at the server's time.")
    exception_id: str | None = Field(default=None, max_length=64)

    @field_validator("path", "tags")
    @classmethod
    def _text_only(cls, value: Any) -> Any:
        return text_only(value, "the item")


class RuleHoldsBody(_Body):
    """Governed items a delete, move or write would take with it (the mount's)."""

    items: list[RetentionItemBody] = Field(max_length=RULE_ITEMS)


class RefusalBody(_Body):
    """A denial a client made by its own rule (the governed mount's, the egress proxy's, a
    retention hold's), to be recorded as the caller's."""

    model_config = ConfigDict(extra="forbid")

    operation: OperationBody
    reasoning: str = Field(min_length=1, max_length=4000)
    policy_id: str = Field(min_length=1, max_length=200)
    policy_title: str | None = Field(default=None, max_length=200)
    session: str | None = Field(default=None, max_length=64)

    @field_validator("session")
    @classmethod
    def _not_lacunas(cls, value: str | None) -> str | None:
        return client_session(value)


class OutcomeBody(_Body):
    of: str = Field(max_length=64, description="The decision's audit record id.")
    error: str | None = Field(default=None, max_length=4000,
                              description="Failed: the error's type and message.")
    session: str | None = Field(default=None, max_length=64,
                                description="The client's session id (names starting "
                                "`lacuna-` are the server's own); default: the decision's.")
    mode: Literal["warn", "observe"] | None = Field(
        default=None, description="The decision denied the operation and the client ran it "
        "anyway, in this mode (its own `lacuna.yaml`): the trail shows the denied operation "
        "ran. Without it, an outcome of a denial is refused (409).")

    @field_validator("session")
    @classmethod
    def _not_lacunas(cls, value: str | None) -> str | None:
        return client_session(value)
