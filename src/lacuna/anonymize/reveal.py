"""``lacuna.detokenize(df, columns=...)``: the values behind ``tokenize``'s tokens.

Only for the roles in ``anonymize.detokenize_roles`` (``lacuna.yaml``; default
``privacy_officer``); the user's role is ``user.role`` (``$LACUNA_ROLE``). Every call, allowed or
denied, is a decision in the governor's audit trail (method ``lacuna.detokenize``); a denial raises
:class:`~lacuna.errors.GovernanceViolation` whatever the mode, and when the audit trail cannot be
written the call is denied (fail closed). The restored columns are classified again as what they
were before tokenizing (``pii:email``), from the vault.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from lacuna._bypass import bypass
from lacuna.classify.rollup import rollup
from lacuna.errors import AuditError, GovernanceViolation
from lacuna.model import (
    ANONYMIZED,
    Action,
    ColumnClass,
    Decision,
    Evidence,
    Layer,
)
from lacuna.redact import redact_url

if TYPE_CHECKING:
    import pandas as pd

METHOD = "lacuna.detokenize"


def detokenize(
    df: pd.DataFrame,
    columns: Sequence[str] | str,
    *,
    governor: Any,
) -> pd.DataFrame:
    """A copy of ``df`` with the tokens in ``columns`` replaced by the values they stand for.

    ``governor`` supplies the user, the settings and the audit trail (``lacuna.detokenize``
    passes the current one); this step does not look it up itself.

    Raises:
        GovernanceViolation: the user's role is not allowed to detokenize (audited).
        AuditError: the call could not be audited, or the vault failed (nothing is returned).
        UnknownTokenError: a value is not a token of this vault (nothing passes through).
        UnknownColumnError: a column is not in the frame.
    """
    import numpy as np

    from lacuna.anonymize.api import _columns_to_treat
    from lacuna.anonymize.base import fill, present_text
    from lacuna.anonymize.vault import Vault
    from lacuna.keystore import keystore_for
    from lacuna.lineage.frames import attach, effective_state, revealed_origins
    from lacuna.lineage.state import LineageNode

    gov = governor
    config = gov.config
    with bypass():
        state = effective_state(df, config.classification)
        wanted = _columns_to_treat(df, columns, state.classification)
        names = [str(c) for c in wanted]
        role = config.user.role
        allowed_roles = config.anonymize.detokenize_roles
        allowed = role in allowed_roles
        operation = gov.operation(Action.READ, state.classification, method=METHOD)
        if allowed:
            reasoning = f"detokenize {', '.join(names)}: role {role!r} may detokenize"
        else:
            roles = ", ".join(allowed_roles) or "(none configured)"
            reasoning = (f"Denied: role {role!r} may not detokenize {', '.join(names)}. Only "
                         f"these roles may: {roles} (anonymize.detokenize_roles in lacuna.yaml). "
                         "Ask one of them, or work with the tokens: they still join and count.")
        decision = Decision(allowed=allowed, operation_id=operation.id, reasoning=reasoning,
                            policy_id="lacuna.detokenize", policy_title="Detokenization",
                            operation=operation)
        try:
            gov.audit.record(decision, operation, session=gov.session)
        except Exception as exc:
            msg = (f"detokenize denied: the call could not be written to the audit trail at "
                   f"{redact_url(config.audit_url)} ({exc}). Fix the audit store and retry "
                   "(fail closed).")
            raise AuditError(msg) from exc
        if not allowed:
            raise GovernanceViolation(decision)
        vault = Vault(config.audit_url, keystore_for(config))
        out = df.copy(deep=False)
        out.attrs = dict(df.attrs)
        results: dict[str, ColumnClass] = {}
        for pos, name in enumerate(df.columns):
            if name not in wanted or str(name) in results:
                continue
            values = df.iloc[:, pos]
            mask, text = present_text(values)
            resolved = vault.resolve(list(text), column=str(name))
            out.isetitem(pos, fill(values, mask, np.asarray(
                [resolved.values[t] for t in text], dtype=object)))
            results[str(name)] = _strictest(set(resolved.origins.values()), config)
        source = state.classification
        restored = {**source.columns, **results}
        result = rollup(restored, config.classification, floor=source.floor,
                        extra_tags=[t for t in source.tags if t != ANONYMIZED],
                        reasoning=[f"detokenized {', '.join(results)}"], layer=Layer.INHERITED)
        lineage = LineageNode(name=None, operation="detokenize", parents=(state.lineage,))
        attach(out, result, lineage,  # revealed columns are no longer masked
               origins=revealed_origins(state.origins, list(results)))
    return out


def _strictest(origins: set[str], config: Any) -> ColumnClass:
    """The class of a column whose tokens came from ``origins``: the most restrictive of them
    (:func:`lacuna.anonymize.vault.strictness`: tier, then sensitivity, then PHI over PII over
    financial over identifier), ``pii`` without any. Before, tokens of two origins (a PHI
    column's beside a PII column's) were restored as plain ``pii``, losing the PHI class and
    its tags."""
    from lacuna.anonymize.vault import strictness

    return _restored(max(sorted(origins), key=lambda o: strictness(o, config)) if origins
                     else "pii")


def _restored(origin: str) -> ColumnClass:
    from lacuna.anonymize.vault import CRITICAL_MARK, parse_origin

    kind, pii_type, sensitivity = parse_origin(origin)
    said = origin.removesuffix(CRITICAL_MARK) + (
        " (sensitivity critical)" if origin.endswith(CRITICAL_MARK) else "")
    return ColumnClass(
        classification=kind, pii_type=pii_type, sensitivity=sensitivity,
        reasoning=f"detokenized: the vault says the values were {said}", layer=Layer.DECLARED,
        evidence=(Evidence(source="anonymize", rule="detokenize",
                           detail=f"restored from the token vault; was {said}"),),
    )
