"""tokenize / detokenize: the vault in the state database, roles, audit, rotation, processes."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from lacuna import detokenize
from lacuna.anonymize import anonymize
from lacuna.anonymize.vault import BOUND, UnknownTokenError, VaultTamperedError
from lacuna.config import config_from_dict
from lacuna.errors import GovernanceViolation
from lacuna.governor import Governor
from lacuna.keystore import keystore_for
from lacuna.lineage.state import get_state
from lacuna.model import ColumnKind, Sensitivity


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'state' / 'audit.db'}"


def governor(db: str, role: str) -> Governor:
    return Governor(config_from_dict({"audit": {"url": db}, "user": {"id": "ana", "role": role},
                                      "anonymize": {"detokenize_roles": ["privacy_officer"]}}))


def tokenized(customers: pd.DataFrame, gov: Governor) -> pd.DataFrame:
    return anonymize(customers, ["email", "phone"], strategy="tokenize", config=gov.config)


def test_tokens_are_random_stable_and_reclassified(customers: pd.DataFrame, db: str) -> None:
    gov = governor(db, "analyst")
    out = tokenized(customers, gov)
    emails = out["email"]
    assert emails[0].startswith("tok_")
    assert len(emails[0]) == 20
    assert emails[0] == emails[3]
    assert emails[0] != emails[2]
    assert emails.isna().tolist() == customers["email"].isna().tolist()
    assert "jane" not in "".join(emails.dropna())
    assert tokenized(customers, gov)["email"].equals(emails)  # deterministic across runs
    cls = get_state(out).classification.columns["email"]  # type: ignore[union-attr]
    assert (cls.classification, cls.sensitivity) == (ColumnKind.IDENTIFIER, Sensitivity.MEDIUM)
    assert "vault key vault v1 (file)" in cls.reasoning
    assert "was pii:email" in cls.reasoning
    # the vault holds ciphertext, never the value, in the state database's own table
    path = db.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT token, sealed, origin FROM lacuna_token_vault").fetchall()
    assert len(rows) == 4
    assert {r[2] for r in rows} == {"pii:email", "pii:phone"}
    assert all(r[1].startswith(BOUND) for r in rows)  # token and origin authenticated too
    assert not any("jane" in bytes.fromhex(r[1].removeprefix(BOUND)).decode("latin-1")
                   for r in rows)


def test_authorised_role_detokenizes_and_is_audited(customers: pd.DataFrame, db: str) -> None:
    out = tokenized(customers, governor(db, "analyst"))
    officer = governor(db, "privacy_officer")
    back = detokenize(out, ["email", "phone"], governor=officer)
    assert back["email"].tolist() == customers["email"].tolist()
    assert back["phone"].tolist() == customers["phone"].tolist()
    cls = get_state(back).classification  # type: ignore[union-attr]
    assert cls.columns["email"].classification is ColumnKind.PII
    assert cls.columns["email"].pii_type == "email"
    assert "PII" in cls.tags
    assert "ANONYMIZED" not in cls.tags
    # first on the trail: the officer's configuration (a declared role is governing: it is
    # what detokenize_roles reads), marked as loosening
    record, configured = officer.audit.list(limit=None)
    assert configured.kind == "config"
    assert "the declared role changed from analyst to privacy_officer" in configured.reasoning
    assert (record.allowed, record.action, record.user_id) == (True, "read", "ana")
    assert record.policy_id == "lacuna.detokenize"
    assert officer.audit.verify()


def test_a_vault_row_edited_outside_lacuna_is_never_opened(
        customers: pd.DataFrame, db: str) -> None:
    """The origin decides the class of the restored column: set to 'financial' in the database,
    real e-mails came back as FINANCIAL (INTERNAL, no PII tag). It is bound to the sealed value
    now, with the token, so an edited or swapped row fails closed."""
    out = tokenized(customers, governor(db, "analyst"))
    officer = governor(db, "privacy_officer")
    path = db.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE lacuna_token_vault SET origin='financial' WHERE origin='pii:email'")
    with pytest.raises(VaultTamperedError, match=r"column 'email'.*does not authenticate"):
        detokenize(out, ["email"], governor=officer)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE lacuna_token_vault SET origin='pii:email' WHERE origin='financial'")
        a, b = conn.execute("SELECT token FROM lacuna_token_vault WHERE origin='pii:email'")
        conn.execute("UPDATE lacuna_token_vault SET token='tmp' WHERE token=?", a)
        conn.execute("UPDATE lacuna_token_vault SET token=? WHERE token=?", (a[0], b[0]))
        conn.execute("UPDATE lacuna_token_vault SET token=? WHERE token='tmp'", b)
    with pytest.raises(VaultTamperedError):  # swapped tokens: jane's token opening bob's row
        detokenize(out, ["email"], governor=officer)


def test_rows_sealed_before_origins_were_bound_still_open_but_never_lower(
        customers: pd.DataFrame, db: str) -> None:
    from lacuna.anonymize import vault

    gov = governor(db, "analyst")
    key = keystore_for(gov.config).current(vault.KEY_ID)

    def old_seal(value: str) -> str:  # the format before BOUND: only the key is authenticated
        from Crypto.Cipher import AES

        nonce = b"\x00" * 12
        cipher = AES.new(vault.hashlib.sha256(b"seal:" + key.material).digest(), AES.MODE_GCM,
                         nonce=nonce)
        cipher.update(f"{key.ref.id}:{key.ref.version}".encode())
        ct, tag = cipher.encrypt_and_digest(value.encode())
        return (nonce + ct + tag).hex()

    out = tokenized(customers, gov)
    path = db.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        for token, in conn.execute("SELECT token FROM lacuna_token_vault "
                                   "WHERE origin='pii:email'").fetchall():
            value = customers["email"][out["email"] == token].iloc[0]
            conn.execute("UPDATE lacuna_token_vault SET sealed=?, origin='financial' "
                         "WHERE token=?", (old_seal(value), token))
    back = detokenize(out, ["email"], governor=governor(db, "privacy_officer"))
    assert back["email"].tolist() == customers["email"].tolist()
    cls = get_state(back).classification  # type: ignore[union-attr]
    assert cls.columns["email"].classification is ColumnKind.PII  # not the edited 'financial'
    assert "PII" in cls.tags


def test_a_value_first_tokenized_from_a_non_personal_column_is_restored_as_personal(
        db: str) -> None:
    """A value keeps one token, and its vault row kept the origin of the first column it was
    tokenized from: phone numbers used as account references (``identifier``) and then
    tokenized from a ``pii:phone`` column were restored by detokenize as identifiers, PUBLIC."""
    from lacuna.lineage.frames import attach
    from lacuna.lineage.state import LineageNode
    from lacuna.model import Classification, ColumnClass, Tier

    gov = governor(db, "analyst")
    phones = ["+1 415-555-0178", "+1 415-555-0199"]
    refs = attach(pd.DataFrame({"account_ref": phones}), Classification(
        tier=Tier.PUBLIC, columns={"account_ref": ColumnClass(
            classification=ColumnKind.IDENTIFIER, sensitivity=Sensitivity.LOW)}),
        LineageNode(name="accounts.csv", operation="read_csv"))
    first = anonymize(refs, ["account_ref"], strategy="tokenize", config=gov.config)
    people = attach(pd.DataFrame({"phone": phones}), Classification(
        tier=Tier.PROPRIETARY, tags=("PII",), columns={"phone": ColumnClass(
            classification=ColumnKind.PII, pii_type="phone", sensitivity=Sensitivity.HIGH)}),
        LineageNode(name="people.csv", operation="read_csv"))
    second = anonymize(people, ["phone"], strategy="tokenize", config=gov.config)
    assert second["phone"].tolist() == first["account_ref"].tolist()  # one token: joins work
    officer = governor(db, "privacy_officer")
    for frame, name in ((second, "phone"), (first, "account_ref")):
        back = detokenize(frame, [name], governor=officer)
        assert back[name].tolist() == phones
        cls = get_state(back).classification  # type: ignore[union-attr]
        assert cls.columns[name].classification is ColumnKind.PII
        assert cls.columns[name].pii_type == "phone"
        assert cls.tier >= Tier.PROPRIETARY
    # values only ever tokenized from a non-personal column keep their own origin
    other = attach(pd.DataFrame({"account_ref": ["ACC-000123"]}), Classification(
        tier=Tier.PUBLIC, columns={"account_ref": ColumnClass(
            classification=ColumnKind.IDENTIFIER, sensitivity=Sensitivity.LOW)}),
        LineageNode(name="accounts.csv", operation="read_csv"))
    back = detokenize(anonymize(other, ["account_ref"], strategy="tokenize", config=gov.config),
                      ["account_ref"], governor=officer)
    got = get_state(back).classification.columns["account_ref"]  # type: ignore[union-attr]
    assert back["account_ref"].tolist() == ["ACC-000123"]
    assert got.classification is ColumnKind.IDENTIFIER


def test_a_value_keeps_the_strictest_origin_it_was_tokenized_from(db: str) -> None:
    """A value keeps one token, and its vault row kept the first origin unless that one was
    not personal: a patient's name tokenized from a ``pii`` table, then from a ``phi`` one, was
    restored from the PHI table as ``pii`` (its PHI and HIPAA tags gone), and an account number
    tokenized as an ``identifier``, then from a ``financial`` column, came back PUBLIC."""
    from lacuna.lineage.frames import attach
    from lacuna.lineage.state import LineageNode
    from lacuna.model import Classification, ColumnClass, Tier

    gov = governor(db, "analyst")
    officer = governor(db, "privacy_officer")

    def tokens(kind: ColumnKind, pii_type: str | None, values: list[str]) -> pd.DataFrame:
        frame = attach(pd.DataFrame({"v": values}), Classification(
            tier=Tier.PROPRIETARY, columns={"v": ColumnClass(
                classification=kind, pii_type=pii_type, sensitivity=Sensitivity.HIGH)}),
            LineageNode(name=f"{kind}.csv", operation="read_csv"))
        return anonymize(frame, ["v"], strategy="tokenize", config=gov.config)

    def restored(frame: pd.DataFrame) -> tuple[ColumnKind, set[str]]:
        got = get_state(detokenize(frame, ["v"], governor=officer)).classification
        assert got is not None
        return got.columns["v"].classification, set(got.tags)

    names = ["Jane Roe", "Bob Poe"]
    pii = tokens(ColumnKind.PII, "name", names)
    phi = tokens(ColumnKind.PHI, "name", names)
    assert phi["v"].tolist() == pii["v"].tolist()  # one token per value: joins work
    phi_tags = set(officer.config.classification.rule_for(ColumnKind.PHI).tags)
    for frame in (phi, pii):  # the record says PHI now, from either table
        kind, tags = restored(frame)
        assert kind is ColumnKind.PHI
        assert phi_tags <= tags
    assert restored(tokens(ColumnKind.PII, "name", names))[0] is ColumnKind.PHI  # never lowered

    accounts = ["ACC-000123", "ACC-000456"]
    ids = tokens(ColumnKind.IDENTIFIER, None, accounts)
    assert restored(ids)[0] is ColumnKind.IDENTIFIER  # only ever an identifier: as it was
    money = tokens(ColumnKind.FINANCIAL, None, accounts)
    assert money["v"].tolist() == ids["v"].tolist()
    assert restored(money)[0] is ColumnKind.FINANCIAL
    assert restored(ids)[0] is ColumnKind.FINANCIAL


def test_a_critical_column_is_restored_critical(db: str) -> None:
    """The vault recorded only kind and type (``identifier:credential``) and detokenize restored
    every value at sensitivity high: API keys, an ``identifier`` column PROPRIETARY only because
    it is critical, came back PUBLIC, fit for ~/Downloads."""
    from lacuna.classify.rollup import rollup
    from lacuna.lineage.frames import attach
    from lacuna.lineage.state import LineageNode
    from lacuna.model import ColumnClass, Tier

    gov, officer = governor(db, "analyst"), governor(db, "privacy_officer")
    cc = gov.config.classification

    def round_trip(column: ColumnClass, values: list[str]) -> ColumnClass:
        source = rollup({"v": column}, cc)
        frame = attach(pd.DataFrame({"v": values}), source,
                       LineageNode(name="keys.csv", operation="read_csv"))
        out = anonymize(frame, ["v"], strategy="tokenize", config=gov.config)
        back = detokenize(out, ["v"], governor=officer)
        assert back["v"].tolist() == values
        got = get_state(back).classification
        assert got is not None
        assert got.tier >= source.tier
        return got.columns["v"]

    keys = ["sk_live_4eC39HqLyjWDarjtT1zdp7dc", "sk_live_9fQ12PzLmnWDarjtT1zdp7xy"]
    got = round_trip(ColumnClass(classification=ColumnKind.IDENTIFIER, pii_type="credential",
                                 sensitivity=Sensitivity.CRITICAL), keys)
    assert (got.classification, got.pii_type, got.sensitivity) == (
        ColumnKind.IDENTIFIER, "credential", Sensitivity.CRITICAL)
    assert cc.tier_for(got.classification, got.sensitivity) >= Tier.PROPRIETARY
    # not critical: restored as it was, still PUBLIC for an identifier
    got = round_trip(ColumnClass(classification=ColumnKind.IDENTIFIER, pii_type="sku",
                                 sensitivity=Sensitivity.LOW), ["SKU-1", "SKU-2"])
    assert (got.classification, got.sensitivity) == (ColumnKind.IDENTIFIER, Sensitivity.HIGH)
    assert cc.tier_for(got.classification, got.sensitivity) is Tier.PUBLIC
    # a value tokenized before from a column that was not critical is raised
    got = round_trip(ColumnClass(classification=ColumnKind.IDENTIFIER, pii_type="sku",
                                 sensitivity=Sensitivity.CRITICAL), ["SKU-1"])
    assert got.sensitivity is Sensitivity.CRITICAL


def test_tokens_of_a_phi_and_a_pii_column_together_are_restored_as_phi(db: str) -> None:
    """A column holding tokens of two origins was restored as plain ``pii``: the diagnoses
    among them lost their PHI class and its tags."""
    from lacuna.lineage.frames import attach
    from lacuna.lineage.state import LineageNode
    from lacuna.model import Classification, ColumnClass, Tier

    gov = governor(db, "analyst")

    def tokens(kind: ColumnKind, pii_type: str, values: list[str]) -> pd.DataFrame:
        frame = attach(pd.DataFrame({"v": values}), Classification(
            tier=Tier.PROPRIETARY, columns={"v": ColumnClass(
                classification=kind, pii_type=pii_type, sensitivity=Sensitivity.HIGH)}),
            LineageNode(name=f"{pii_type}.csv", operation="read_csv"))
        return anonymize(frame, ["v"], strategy="tokenize", config=gov.config)

    phi = tokens(ColumnKind.PHI, "diagnosis", ["HIV positive", "type 2 diabetes"])
    pii = tokens(ColumnKind.PII, "email", ["a@corp.example", "b@corp.example"])
    officer = governor(db, "privacy_officer")
    both = detokenize(pd.concat([pii, phi], ignore_index=True), ["v"], governor=officer)
    assert both["v"].tolist() == ["a@corp.example", "b@corp.example", "HIV positive",
                                  "type 2 diabetes"]
    got = get_state(both).classification  # type: ignore[union-attr]
    assert (got.columns["v"].classification, got.columns["v"].pii_type) == (ColumnKind.PHI,
                                                                           "diagnosis")
    phi_tags = set(officer.config.classification.rule_for(ColumnKind.PHI).tags)
    assert phi_tags <= set(got.tags)
    one = get_state(detokenize(pii, ["v"], governor=officer)).classification  # type: ignore
    assert (one.columns["v"].classification, one.columns["v"].pii_type) == (ColumnKind.PII,
                                                                           "email")


def test_unauthorised_role_is_denied_with_the_fix_and_audited(
    customers: pd.DataFrame, db: str
) -> None:
    analyst = governor(db, "analyst")
    out = tokenized(customers, analyst)
    with pytest.raises(GovernanceViolation) as caught:
        detokenize(out, "email", governor=analyst)
    message = str(caught.value)
    assert "role 'analyst' may not detokenize email" in message
    assert "privacy_officer" in message
    assert "anonymize.detokenize_roles" in message
    [record] = analyst.audit.list(limit=None)
    assert (record.allowed, record.policy_id) == (False, "lacuna.detokenize")
    assert "may not detokenize" in json.dumps(record.data)


def test_unknown_tokens_fail_closed(customers: pd.DataFrame, db: str) -> None:
    officer = governor(db, "privacy_officer")
    out = tokenized(customers, officer)
    out.loc[1, "email"] = "tok_0000000000000000"
    with pytest.raises(UnknownTokenError, match=r"1 token\(s\) are not in the vault"):
        detokenize(out, ["email"], governor=officer)


def test_rotation_keeps_old_tokens_resolvable(customers: pd.DataFrame, db: str) -> None:
    officer = governor(db, "privacy_officer")
    old = tokenized(customers, officer)
    keystore_for(officer.config).rotate("vault")
    new = tokenized(customers, officer)
    assert new["email"][0] != old["email"][0]
    assert "vault v2" in get_state(new).classification.columns["email"].reasoning  # type: ignore[union-attr]
    for frame in (old, new):
        back = detokenize(frame, ["email"], governor=officer)
        assert back["email"].tolist() == customers["email"].tolist()


def test_two_processes_tokenizing_at_once_agree(tmp_path: Path, db: str) -> None:
    script = tmp_path / "tok.py"
    script.write_text(
        "import sys, pandas as pd\n"
        "from lacuna.anonymize import anonymize\n"
        "from lacuna.config import config_from_dict\n"
        f"config = config_from_dict({{'audit': {{'url': {db!r}}}}})\n"
        "values = [f'user{i}@example.com' for i in range(400)]\n"
        "out = anonymize(pd.DataFrame({'e': values}), ['e'], strategy='tokenize', config=config)\n"
        "print(','.join(out['e']))\n"
    )
    keystore_for(config_from_dict({"audit": {"url": db}})).current("vault")  # one key for both
    procs = [subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
             for _ in range(2)]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert outputs[0] == outputs[1]
    assert outputs[0].count("tok_") == 400
