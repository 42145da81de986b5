"""fpe (round trip, SSN rules, Luhn), generalize (bands, prefixes, subnets), noise (epsilon)."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from stdnum import luhn
from stdnum.us import ssn as us_ssn

from lacuna.anonymize import anonymize
from lacuna.anonymize.builtin.fpe import FpeError, decrypt
from lacuna.anonymize.builtin.generalize import GeneralizeStrategy
from lacuna.config import config_from_dict
from lacuna.errors import ConfigError
from lacuna.keystore import FileKeyBackend, KeyStore
from lacuna.lineage.state import DataState, LineageNode, get_state, set_state
from lacuna.model import Classification, ColumnClass, ColumnKind, Sensitivity, Tier


def classified(df: pd.DataFrame, **types: str | None) -> pd.DataFrame:
    columns = {
        name: ColumnClass(classification=ColumnKind.PII if t else ColumnKind.FINANCIAL,
                          pii_type=t, sensitivity=Sensitivity.HIGH)
        for name, t in types.items()
    }
    set_state(df, DataState(classification=Classification(tier=Tier.PROPRIETARY, tags=("PII",),
                                                          columns=columns),
                            lineage=LineageNode(name="people.csv", operation="read_csv")))
    return df


def column(df: pd.DataFrame, name: str) -> ColumnClass:
    state = get_state(df)
    assert state is not None
    return state.classification.columns[name]


def valid_ssns(n: int, seed: int = 7) -> list[str]:
    rng = np.random.default_rng(seed)
    out: list[str] = []
    while len(out) < n:
        d = "".join(str(x) for x in rng.integers(0, 10, 9))
        if us_ssn.is_valid(d):
            out.append(f"{d[:3]}-{d[3:5]}-{d[5:]}")
    return out


def test_fpe_ssns_stay_valid_keep_format_and_decrypt(home: Path) -> None:
    ssns = valid_ssns(300)
    df = classified(pd.DataFrame({"ssn": [*ssns, None]}), ssn="ssn")
    out = anonymize(df, ["ssn"], strategy="fpe")
    enc = out["ssn"].iloc[:-1]
    assert out["ssn"].isna().tolist()[-1]
    assert all(re.fullmatch(r"\d{3}-\d{2}-\d{4}", v) for v in enc)
    assert all(us_ssn.is_valid(v) for v in enc)  # python-stdnum's SSN rules hold
    assert (enc != pd.Series(ssns)).mean() > 0.99
    assert enc.nunique() == len(set(ssns))  # a bijection: no two SSNs collide
    cls = column(out, "ssn")
    assert (cls.classification, cls.sensitivity) == (ColumnKind.IDENTIFIER, Sensitivity.MEDIUM)
    assert "key fpe v1 (file)" in cls.reasoning
    assert "was pii:ssn" in cls.reasoning
    keys = KeyStore(FileKeyBackend(home))
    back = decrypt(out["ssn"], pii_type="ssn", version=1, keys=keys)
    assert back.tolist()[:-1] == ssns


def test_fpe_cards_keep_luhn_and_separators(home: Path) -> None:
    cards = ["4111 1111 1111 1111", "5500-0055-5555-5559", "378282246310005", "6011000990139424"]
    df = classified(pd.DataFrame({"card": cards}), card="credit_card")
    out = anonymize(df, ["card"], strategy="fpe")
    for before, after in zip(cards, out["card"], strict=True):
        assert re.sub(r"\d", "9", before) == re.sub(r"\d", "9", after)  # same shape
        assert luhn.is_valid(re.sub(r"\D", "", after))
        assert after != before
    back = decrypt(out["card"], pii_type="credit_card", version=1,
                   keys=KeyStore(FileKeyBackend(home)))
    assert back.tolist() == cards


def test_fpe_phones_round_trip_and_short_values_fail_loudly(home: Path) -> None:
    phones = ["+1 555-123-4567", "0612345678", "+44 20 7946 0958"]
    df = classified(pd.DataFrame({"phone": phones}), phone="phone")
    out = anonymize(df, ["phone"], strategy="fpe")
    assert [re.sub(r"\d", "9", p) for p in out["phone"]] == [re.sub(r"\d", "9", p) for p in phones]
    back = decrypt(out["phone"], pii_type="phone", version=1, keys=KeyStore(FileKeyBackend(home)))
    assert back.tolist() == phones
    short = classified(pd.DataFrame({"phone": ["112"]}), phone="phone")
    with pytest.raises(FpeError, match=r"column 'phone' .* 3 digits .*hash, tokenize or mask"):
        anonymize(short, ["phone"], strategy="fpe")


@pytest.mark.parametrize("value", ["+1 415-555-0178 (Kira Kowalski, home)",
                                   "+7 495 123-45-67 Иван Петров", "SSN 123-45-6789 Jo"])
def test_fpe_refuses_letters_it_would_keep_as_they_are(home: Path, value: str) -> None:
    # FF3-1 changes digits only: the name would stay, in a column called a pseudonym
    df = classified(pd.DataFrame({"phone": ["+1 555-123-4567", value]}), phone="phone")
    with pytest.raises(FpeError, match=r"column 'phone' .* 1 distinct value\(s\) hold letters"
                                       r".*mask .*hash or tokenize"):
        anonymize(df, ["phone"], strategy="fpe")


def test_fpe_keeps_phone_extensions_and_round_trips_them(home: Path) -> None:
    phones = ["+1 555-123-4567 x12", "+1 555-123-4567 ext. 340", "0612345678 EXT 9"]
    df = classified(pd.DataFrame({"phone": phones}), phone="phone")
    out = anonymize(df, ["phone"], strategy="fpe")
    assert [re.sub(r"\d", "9", p) for p in out["phone"]] == [re.sub(r"\d", "9", p) for p in phones]
    assert out["phone"].tolist() != phones
    back = decrypt(out["phone"], pii_type="phone", version=1, keys=KeyStore(FileKeyBackend(home)))
    assert back.tolist() == phones


def test_decrypted_fpe_values_are_classified_as_they_were(home: Path, governed: Path) -> None:
    """``decrypt`` returned the values with the encrypted column's ``identifier`` class: real
    account numbers put back in the frame, or made a frame of their own, were PUBLIC (and
    written to Downloads: bare digits are nothing the values classifier recognises)."""
    from lacuna.errors import GovernanceViolation

    accounts = [f"{4100200300 + 7919 * i}" for i in range(8)]
    df = classified(pd.DataFrame({"acct": accounts, "n": range(8)}), acct="bank_account")
    out = anonymize(df, ["acct"], strategy="fpe")
    assert get_state(out).classification.tier == Tier.PUBLIC  # type: ignore[union-attr]
    back = decrypt(out["acct"], pii_type="bank_account", version=1,
                   keys=KeyStore(FileKeyBackend(home)))
    assert back.tolist() == accounts
    again = out.assign(acct=back)
    for frame in (again, back.to_frame(), pd.DataFrame({"acct": back})):
        got = column(frame, "acct")
        assert (got.classification, got.pii_type) == (ColumnKind.PII, "bank_account")
        assert get_state(frame).classification.tier >= Tier.PROPRIETARY  # type: ignore
    target = governed / "Downloads" / "accounts.csv"
    with pytest.raises(GovernanceViolation):
        again.to_csv(target, index=False)
    assert not target.exists()
    # a column that was no personal data before fpe comes back as what it was
    ids = pd.DataFrame({"ref": accounts})
    set_state(ids, DataState(classification=Classification(tier=Tier.PUBLIC, columns={
        "ref": ColumnClass(classification=ColumnKind.IDENTIFIER)}),
        lineage=LineageNode(name="refs.csv", operation="read_csv")))
    refs = decrypt(anonymize(ids, ["ref"], strategy="fpe")["ref"], pii_type=None, version=1,
                   keys=KeyStore(FileKeyBackend(home)))
    assert refs.tolist() == accounts
    assert column(refs.to_frame(), "ref").classification is ColumnKind.IDENTIFIER


def test_fpe_rotation_keeps_old_values_decryptable(home: Path) -> None:
    ssns = valid_ssns(20)
    df = classified(pd.DataFrame({"ssn": ssns}), ssn="ssn")
    old = anonymize(df, ["ssn"], strategy="fpe")
    keys = KeyStore(FileKeyBackend(home))
    keys.rotate("fpe")
    new = anonymize(df, ["ssn"], strategy="fpe")
    assert "key fpe v2 (file)" in column(new, "ssn").reasoning
    assert not new["ssn"].equals(old["ssn"])
    assert decrypt(old["ssn"], pii_type="ssn", version=1, keys=keys).tolist() == ssns
    assert decrypt(new["ssn"], pii_type="ssn", version=2, keys=keys).tolist() == ssns


def test_hash_and_fpe_are_deterministic_across_processes(home: Path) -> None:
    code = (
        "import pandas as pd, lacuna\n"
        "from lacuna.anonymize.builtin.fpe import FpeStrategy\n"
        "from lacuna.anonymize import Context\n"
        "from lacuna.model import ColumnClass, ColumnKind\n"
        "s = pd.Series(['123-45-6789', '234-56-7890'])\n"
        "c = Context(column='ssn', column_class=ColumnClass(classification=ColumnKind.PII,"
        " pii_type='ssn'), key=lambda: b'')\n"
        "h = lacuna.anonymize(pd.DataFrame({'e': ['a@b.com']}), ['e'], strategy='hash')\n"
        "print(list(FpeStrategy().apply(s, c)), h['e'][0])\n"
    )
    first = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True).stdout  # creates the keys in $LACUNA_HOME
    here: dict[str, object] = {}
    exec(code.replace("print(", "result = ("), here)
    fpe, hashed = here["result"]  # type: ignore[misc]
    assert first == f"{fpe} {hashed}\n"
    assert fpe != ["123-45-6789", "234-56-7890"]


@pytest.mark.parametrize(("values", "why"), [
    (["٤١٥٥٥٥٠١٧٨", "+1 415-555-0199"], "digits other than 0-9"),
    (["1" * 60, "415-555-0199"], "at most 56 digits"),
    (["4" * 58 + "7"], "at most 56 digits"),  # a card: the payload without its check digit
])
def test_fpe_refuses_digits_outside_its_domain_naming_the_column(values: list[str],
                                                                 why: str) -> None:
    """Arabic-Indic digits or more than 56 digits were a bare ValueError from the cipher
    ("FF3-1 takes strings of 6 to 56 digits") naming neither the column nor what to do."""
    pii_type = "credit_card" if len(values) == 1 else "phone"
    df = classified(pd.DataFrame({"contact": values}), contact=pii_type)
    with pytest.raises(FpeError, match=rf"column 'contact' with fpe.*{why}.*hash, tokenize"):
        anonymize(df, ["contact"], strategy="fpe")
    ok = classified(pd.DataFrame({"contact": ["+1 415-555-0199", "1" * 56]}), contact="phone")
    out = anonymize(ok, ["contact"], strategy="fpe")  # the domain's edge still encrypts
    assert len(out["contact"][1]) == 56
    assert re.fullmatch(r"\+\d \d{3}-\d{3}-\d{4}", out["contact"][0])
    assert out["contact"].tolist() != ok["contact"].tolist()


K2 = config_from_dict({"classification": {"k_anonymity": 2}})


def test_generalize_by_pii_type() -> None:
    four = pd.DataFrame({
        "dob": ["1987-06-15", "2001-01-01", None, "not a date"],
        "zip": ["94107", "SW1A 1AA", "12345-6789", None],
        "ip": ["192.168.4.7", "2001:db8:1:2::1", "bad", None],
        "seen": ["2024-03-17", "2023-12-01", None, "2024-03-01"],
        "income": [37.5, 40.0, None, 99.9],
    })
    # Each row twice and k=2: the frame is k-anonymous whatever the strategy leaves, which
    # isolates what the strategy itself says of its output (the k-anonymity guard is tested in
    # tests/test_privacy_report.py).
    df = classified(pd.concat([four, four], ignore_index=True), dob="dob", zip="postal_code",
                    ip="ip_address", seen="date", income=None)
    pinned = type("Pinned", (GeneralizeStrategy,), {"today": date(2026, 1, 1)})
    ages = pinned().age_bands(df["dob"])
    assert ages.tolist()[:2] == ["30-39", "20-29"]
    assert ages.isna().tolist()[2:4] == [True, True]
    out = anonymize(df, ["zip", "ip", "seen", "income", "dob"], strategy="generalize",
                    config=K2)
    assert out["zip"].tolist()[:3] == ["941**", "SW1A", "123**"]
    assert out["ip"].tolist()[:2] == ["192.168.4.0/24", "2001:db8:1::/48"]
    assert out["ip"].isna().tolist()[2:4] == [True, True]  # unparseable: nulled, never kept
    assert [None if pd.isna(v) else v for v in out["seen"]] == [
        "2024-03", "2023-12", None, "2024-03"] * 2
    assert out["income"].tolist()[:2] == ["30-39", "40-49"]
    assert out["income"].tolist()[3] == "90-99"
    assert re.fullmatch(r"\d+-\d+", out["dob"][0])
    cls = column(out, "dob")
    assert (cls.classification, cls.pii_type, cls.sensitivity) == (
        ColumnKind.IDENTIFIER, "quasi_identifier", Sensitivity.LOW)
    assert "2 unparseable values nulled" in column(out, "ip").reasoning
    assert get_state(out).classification.personal_columns == ()  # type: ignore[union-attr]


def test_generalize_reads_a_date_of_birth_written_as_a_number() -> None:
    """pandas read 1987 (or 19870615) as nanoseconds after 1970: every year of birth became
    1970-01-01 and everyone the same age band, called anonymous."""
    years = [1987, 2001, 19870615, None, 12345, 1e15, 1987.5]
    df = classified(pd.DataFrame({"dob": years * 2}), dob="dob")
    pinned = type("Pinned", (GeneralizeStrategy,), {"today": date(2026, 1, 1)})
    ages = pinned().age_bands(df["dob"])
    assert ages.tolist()[:3] == ["30-39", "20-29", "30-39"]
    assert ages.isna().tolist()[3:7] == [True] * 4  # no date: nulled, never a made-up band
    out = anonymize(df, ["dob"], strategy="generalize", config=K2)
    assert out["dob"].notna().sum() == 6
    assert "6 unparseable values nulled" in column(out, "dob").reasoning
    ints = classified(pd.DataFrame({"dob": [1987, 2001] * 2}), dob="dob")
    assert pinned().age_bands(ints["dob"]).tolist() == ["30-39", "20-29"] * 2


@pytest.mark.parametrize("dtype", ["category", "string", object])
def test_generalize_and_synthesize_keep_ages_and_dates_held_as_text_or_categories(
        dtype: object) -> None:
    """Categorical ages were read as dates (every age 1970-01), ages as text were nulled (no
    date), and synthesize turned categorical dates of birth into nulls: data lost on the
    allowed path, reported as generalised."""
    raw = pd.DataFrame({"age": ["31", "42", None, "57"] * 2,
                        "dob": ["1987-06-15", "1990-01-02", None, "1960-03-04"] * 2})
    cat = raw.astype(dtype)  # type: ignore[call-overload]
    if dtype == "category":  # the ages' categories are numbers, as read_csv(dtype=...) makes
        cat["age"] = pd.to_numeric(raw["age"]).astype("category")
    df = classified(cat, age="age", dob="dob")
    out = anonymize(df, ["age"], strategy="generalize", config=K2)
    assert [None if pd.isna(v) else v for v in out["age"]] == ["30-39", "40-49", None,
                                                               "50-59"] * 2
    assert "unparseable" not in column(out, "age").reasoning
    fake = anonymize(df, ["dob"], strategy="synthesize", config=K2)
    assert fake["dob"].notna().tolist() == [True, True, False, True] * 2
    assert not set(fake["dob"].dropna().astype(str)) & set(raw["dob"].dropna())
    # text that is a date stays a date: "1987" and "20240317" as before
    dates = classified(pd.DataFrame({"seen": ["1987", "20240317"] * 2}), seen="date")
    assert anonymize(dates, ["seen"], strategy="generalize", config=K2)["seen"].tolist() == [
        "1987-01", "2024-03"] * 2


def test_noise_is_laplace_with_the_epsilon_recorded() -> None:
    config = config_from_dict({"anonymize": {"epsilon": 0.5, "noise_sensitivity": 2.0}})
    values = [1000.0] * 1000 + [None]
    df = classified(pd.DataFrame({"total": values}), total=None)
    out = anonymize(df, ["total"], strategy="noise", config=config)
    noised = out["total"].iloc[:-1]
    assert np.isnan(out["total"].iloc[-1])
    scale = 2.0 / 0.5  # Laplace(b): mean 0, mean absolute deviation b
    deviation = (noised - 1000.0).abs().mean()
    # n=1000: the mean's sd is sqrt(2)*b/sqrt(n) = 0.18, the deviation's b/sqrt(n) = 0.13
    assert abs((noised - 1000.0).mean()) < 1.0
    assert scale * 0.85 < deviation < scale * 1.15
    cls = column(out, "total")
    assert cls.classification is ColumnKind.FINANCIAL  # a noised sum is still financial
    assert "epsilon=0.5" in cls.reasoning
    assert "sensitivity=2" in cls.reasoning
    with pytest.raises(Exception, match="not numbers"):
        anonymize(pd.DataFrame({"e": ["a"]}), ["e"], strategy="noise")


def test_noise_on_a_personal_column_becomes_public() -> None:
    config = config_from_dict({"anonymize": {"noise_sensitivity": 100}})
    df = classified(pd.DataFrame({"age": [30.0, 40.0]}), age="age")
    cls = column(anonymize(df, ["age"], strategy="noise", config=config), "age")
    assert cls.classification is ColumnKind.PUBLIC
    assert "epsilon=1, sensitivity=100, scale=100" in cls.reasoning


def test_noise_too_small_for_the_values_never_declassifies() -> None:
    """anonymize.noise_sensitivity is the analyst's to set too: 1 on ages 30-80 adds about a
    year to each, and 1e-9 nothing at all, yet the column would be called public."""
    df = classified(pd.DataFrame({"age": [30.0, 45.0, 80.0]}), age="age")
    for tiny in (1.0, 1e-9):
        config = config_from_dict({"anonymize": {"noise_sensitivity": tiny}})
        with pytest.raises(ConfigError, match=r"values span 50.*at least 50.*Nothing was"):
            anonymize(df, ["age"], strategy="noise", config=config)
    enough = config_from_dict({"anonymize": {"noise_sensitivity": 50}})
    assert column(anonymize(df, ["age"], strategy="noise", config=enough),
                  "age").classification is ColumnKind.PUBLIC
    # not personal: nothing is declassified, so the analyst's sensitivity stands
    totals = classified(pd.DataFrame({"total": [10.0, 5000.0]}), total=None)
    kept = column(anonymize(totals, ["total"], strategy="noise"), "total")
    assert kept.classification is ColumnKind.FINANCIAL


def test_noise_never_declassifies_a_direct_identifier() -> None:
    df = classified(pd.DataFrame({"phone": [5551234000.0, 5551234001.0]}), phone="phone")
    big = config_from_dict({"anonymize": {"noise_sensitivity": 1e12}})
    with pytest.raises(ConfigError, match="phone values, which identify a person directly"):
        anonymize(df, ["phone"], strategy="noise", config=big)


def test_noise_with_an_absurd_epsilon_never_declassifies_a_personal_column() -> None:
    """anonymize.epsilon is the analyst's to set: 1e12 leaves every age as it was (scale
    1e-10), so the strategy refuses instead of calling the column public."""
    config = config_from_dict({"anonymize": {"epsilon": 1e12, "noise_sensitivity": 100}})
    df = classified(pd.DataFrame({"age": [30.0, 41.0]}), age="age")
    with pytest.raises(ConfigError, match=r"epsilon=1e\+12.*at most 10.*Nothing was anonymized"):
        anonymize(df, ["age"], strategy="noise", config=config)
    # a column that is not personal keeps its kind, so a large epsilon lowers nothing: allowed
    totals = classified(pd.DataFrame({"total": [1000.0]}), total=None)
    kept = column(anonymize(totals, ["total"], strategy="noise", config=config), "total")
    assert kept.classification is ColumnKind.FINANCIAL
    # the cap itself is allowed
    at_cap = config_from_dict({"anonymize": {"epsilon": 10, "noise_sensitivity": 100}})
    cls = column(anonymize(df, ["age"], strategy="noise", config=at_cap), "age")
    assert cls.classification is ColumnKind.PUBLIC


def test_noise_of_an_infinite_scale_is_a_config_error_saying_what_to_set() -> None:
    """noise_sensitivity: .inf (or a scale that overflows) was an OpenDPException with an
    empty message, naming neither the setting nor what to do."""
    df = classified(pd.DataFrame({"age": [30.0, 41.0, 52.0]}), age="age")
    for settings in ({"noise_sensitivity": float("inf")},
                     {"noise_sensitivity": 1e308, "epsilon": 1e-10}):
        config = config_from_dict({"anonymize": settings})
        with pytest.raises(ConfigError, match=r"scale inf.*noise_sensitivity.*finite positive "
                                              r"numbers.*Nothing was anonymized"):
            anonymize(df, ["age"], strategy="noise", config=config)
    fine = config_from_dict({"anonymize": {"noise_sensitivity": 100, "epsilon": 1}})
    out = anonymize(df, ["age"], strategy="noise", config=fine)
    assert out["age"].notna().all()
    assert column(out, "age").classification is ColumnKind.PUBLIC


def test_noise_on_one_value_never_declassifies() -> None:
    """With one row (one person picked out) or rows that all hold the same number there is no
    spread, so the sensitivity check accepted anything: Bob's age 42 left as 42.3, called public."""
    for values in ([42.0], [42.0] * 3, [42.0, None]):
        df = classified(pd.DataFrame({"age": values}), age="age")
        with pytest.raises(ConfigError, match=r"all the same.*Nothing was anonymized"):
            anonymize(df, ["age"], strategy="noise")
    # values that differ, with a sensitivity covering them, are still declassified
    config = config_from_dict({"anonymize": {"noise_sensitivity": 10}})
    df = classified(pd.DataFrame({"age": [30.0, 35.0, 39.0]}), age="age")
    out = anonymize(df, ["age"], strategy="noise", config=config)
    assert column(out, "age").classification is ColumnKind.PUBLIC
    # an aggregate (not personal) keeps its kind and may be one number
    total = classified(pd.DataFrame({"total": [5000.0]}), total=None)
    assert column(anonymize(total, ["total"], strategy="noise"),
                  "total").classification is ColumnKind.FINANCIAL
