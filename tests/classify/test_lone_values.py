"""A lone sensitive value among many others: one person's e-mail address, IBAN or card number
in a column of fifty is still theirs, where the share a column needs used to leave it PUBLIC.
Role addresses (support@, info@) alone stay a near miss."""

import pytest

from lacuna.classify import classify_columns
from lacuna.model import ColumnKind

PII, FIN, PUBLIC = ColumnKind.PII, ColumnKind.FINANCIAL, ColumnKind.PUBLIC


def col(values, name="note"):
    return classify_columns([name], {name: values})[name]


@pytest.mark.parametrize(("lone", "kind", "pii_type"), [
    ("kira.ng@example.org", PII, "email"),
    ("please write to kira.ng@example.org today", PII, "email"),
    ("GB82 WEST 1234 5698 7654 32", FIN, "iban"),
    ("pay to DE89370400440532013000 by friday", FIN, "iban"),
    ("4111 1111 1111 1111", PII, "card_number"),
    ("card 3782-822463-10005 on file", PII, "card_number"),
])
@pytest.mark.parametrize("n", [5, 50, 400])
def test_one_sensitive_value_among_many_classifies_the_column(lone, kind, pii_type, n):
    filler = [f"called about order {i}" for i in range(n - 1)]
    c = col([*filler[: n // 2], lone, *filler[n // 2:]])
    assert (c.classification, c.pii_type) == (kind, pii_type), c.evidence


@pytest.mark.parametrize("values", [
    ["support@acme.com"] * 4 + ["n/a"] * 96,  # a shared inbox
    [f"ticket {i}" for i in range(49)] + ["write to info+billing@acme.com please"],
    [f"ref {i}" for i in range(100)],
    [str(4_000_000_000_000_000 + i) for i in range(50)],  # bare digits: Luhn passes 1 in 10
    ["1234 5678 9012 3456", "order 7", "order 8"],  # grouped, but no issuer's valid number
])
def test_what_is_no_one_s_stays_public(values):
    assert col(values).classification is PUBLIC


def test_a_lone_address_leaves_no_frame_as_public(governed):
    """The allowed path and the denied one through pandas: the frame without the address is
    written and reads back equal; with it, the write to an unmanaged folder is denied."""
    import pandas as pd

    from lacuna.errors import GovernanceViolation

    notes = [f"called about order {i}" for i in range(50)]
    pd.DataFrame({"note": notes}).to_csv(governed / "Downloads" / "notes.csv", index=False)
    assert pd.read_csv(governed / "Downloads" / "notes.csv")["note"].tolist() == notes
    leaky = pd.DataFrame({"note": [*notes[:25], "kira.ng@example.org", *notes[25:]]})
    with pytest.raises(GovernanceViolation):
        leaky.to_csv(governed / "Downloads" / "leak.csv", index=False)
    assert not (governed / "Downloads" / "leak.csv").exists()
