"""``lacuna.privacy.report`` and the k-anonymity check behind ``lacuna.anonymize``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import lacuna
from lacuna import privacy
from lacuna.lineage.state import get_state


def customers(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "customer_id": np.arange(n),
        "email": [f"person{i}@corp.example" for i in range(n)],
        "date_of_birth": pd.to_datetime(rng.integers(0, 365 * 50, n), unit="D",
                                        origin="1950-01-01").strftime("%Y-%m-%d"),
        "zip_code": rng.choice(["94107", "94110", "94112", "10001", "10002", "10003"], n),
        "gender": rng.choice(["F", "M"], n),
        "diagnosis": rng.choice(["J45", "E11", "I10"], n),
        "plan": rng.choice(["basic", "pro"], n),
    })


def test_k_and_l_match_an_independent_groupby() -> None:
    rng = np.random.default_rng(7)
    df = pd.DataFrame({"zip": rng.choice(list("abcde"), 500), "age": rng.integers(20, 30, 500),
                       "disease": rng.choice(list("xyz"), 500)})
    rep = privacy.report(df, ["zip", "age"], sensitive=["disease"])
    groups = df.groupby(["zip", "age"])
    assert rep.k == groups.size().min()
    assert rep.l == groups["disease"].nunique().min()
    assert rep.groups == groups.ngroups
    assert rep.smallest_groups[0].size == rep.k
    overall = df["disease"].value_counts(normalize=True)
    tv = groups["disease"].value_counts(normalize=True).unstack(fill_value=0)
    assert rep.t == pytest.approx(((tv - overall).abs().sum(axis=1) / 2).max(), abs=1e-4)


def test_many_groups_and_many_sensitive_values_stay_sparse() -> None:
    # 200,000 groups x 200,000 diagnoses: a dense groups x values table would be 4 * 10**10
    # cells (it ran out of memory inside `anonymize` on a 1M-row frame).
    n = 200_000
    df = pd.DataFrame({"zip": np.arange(n), "diagnosis": np.arange(n)[::-1].astype(str)})
    rep = privacy.report(df, ["zip"], sensitive=["diagnosis"])
    assert (rep.k, rep.l) == (1, 1)
    # Each group is one value of probability 1 against an overall 1/n: TV = 1 - 1/n.
    assert rep.t == pytest.approx(1 - 1 / n, abs=1e-4)


def test_quasi_identifiers_come_from_the_classification() -> None:
    rep = privacy.report(customers())
    assert set(rep.quasi_identifiers) == {"date_of_birth", "zip_code", "gender"}
    assert "email" in rep.direct_identifiers
    assert not rep.anonymous
    assert rep.k == 1
    assert not rep.meets_target
    assert rep.target_k == 5


def test_text_and_html_show_groups_without_direct_identifiers() -> None:
    df = customers()
    rep = privacy.report(df)
    for rendered in (rep.text, rep._repr_html_()):
        assert "k=1" in rendered
        assert "zip_code" in rendered
        assert not any(e in rendered for e in df["email"])
    assert "generalise" in rep.advice
    assert rep.k_after is not None
    assert rep.k_after >= 5


def test_suggested_generalisation_reaches_the_target() -> None:
    df = customers()
    rep = privacy.report(df)
    generalised = rep.generalize(df)
    again = privacy.report(generalised, rep.quasi_identifiers)
    assert again.k == rep.k_after
    assert again.meets_target
    assert {g.column for g in rep.suggestions} <= set(rep.quasi_identifiers)
    # the least generalisation: gender, the coarsest attribute, is not suppressed
    assert (generalised["gender"] == df["gender"]).all()


def test_hashed_table_with_quasi_identifiers_left_is_not_anonymous() -> None:
    df = customers()
    # every personal column, QIs too
    hashed = lacuna.anonymize(df, strategy="hash", key="0123456789abcdef")
    state = get_state(hashed)
    assert state is not None
    result = state.classification
    assert result.personal_columns, "hashed QIs keep their groups: still personal data"
    assert {"date_of_birth", "zip_code", "gender"} <= set(result.personal_columns)
    assert result.tier >= lacuna.Tier.PROPRIETARY
    assert "PII" in result.tags
    assert "not anonymous: k=1 < 5" in result.reasoning[0]
    assert "generalise date_of_birth" in result.reasoning[0]
    assert privacy.report(hashed).k == 1

    # after the suggested generalisation, the same anonymization is anonymous
    fixed = lacuna.anonymize(privacy.report(df).generalize(df), strategy="hash",
                             key="0123456789abcdef")
    state = get_state(fixed)
    assert state is not None
    after = state.classification
    assert not after.personal_columns
    assert "ANONYMIZED" in after.tags
    assert any("k-anonymity holds" in r for r in after.reasoning)
    assert privacy.report(fixed).meets_target  # the QIs are still found, by their evidence


def test_a_generalised_identifier_left_in_tiny_groups_is_not_anonymous() -> None:
    """generalize turns an IP address into its /24 subnet and says its output is a
    quasi-identifier, but the guard only checked dob/age/gender/postal code: one visitor per
    subnet (k=1) was declassified to PUBLIC and could be exported."""
    from lacuna.lineage.frames import attach
    from lacuna.lineage.state import LineageNode
    from lacuna.model import Classification, ColumnClass, ColumnKind, Sensitivity, Tier

    ip = ColumnClass(classification=ColumnKind.PII, pii_type="ip_address",
                     sensitivity=Sensitivity.MEDIUM)

    def visits(addresses: list[str]) -> pd.DataFrame:
        df = pd.DataFrame({"ip_address": addresses, "page": ["/a", "/b"] * (len(addresses) // 2)})
        return attach(df, Classification(tier=Tier.PROPRIETARY, tags=("PII", "GDPR"),
                                         columns={"ip_address": ip}),
                      LineageNode(name="visits.csv", operation="read_csv"))

    lonely = lacuna.anonymize(visits([f"81.{i}.{i}.7" for i in range(40)]), strategy="generalize")
    state = get_state(lonely)
    assert state is not None
    assert state.classification.personal_columns == ("ip_address",)
    assert state.classification.tier >= lacuna.Tier.PROPRIETARY
    assert "not anonymous: k=1 < 5 over quasi-identifiers ip_address" in \
        state.classification.reasoning[0]
    # the allowed path: eight visitors in each subnet are k-anonymous, and declassified
    crowd = lacuna.anonymize(visits([f"81.{i % 5}.0.{i}" for i in range(40)]),
                             strategy="generalize")
    state = get_state(crowd)
    assert state is not None
    assert not state.classification.personal_columns
    assert state.classification.tier is lacuna.Tier.PUBLIC
    assert any("k-anonymity holds: k=8" in r for r in state.classification.reasoning)
    # synthesize keeps each address's real /24 (only the host is made up): checked the same way
    fake = get_state(lacuna.synthesize(visits([f"81.{i}.{i}.7" for i in range(40)]), seed=1))
    assert fake is not None
    assert fake.classification.personal_columns == ("ip_address",)
    crowd = get_state(lacuna.synthesize(visits([f"81.{i % 5}.0.{i}" for i in range(40)]), seed=1))
    assert crowd is not None
    assert not crowd.classification.personal_columns  # the allowed path: k=8 per subnet


def test_frames_without_personal_data_are_left_alone() -> None:
    df = pd.DataFrame({"region": ["n", "s"], "revenue": [1.0, 2.0]})
    out = lacuna.anonymize(df, ["region"], strategy="redact", key="0123456789abcdef")
    state = get_state(out)
    assert state is not None
    assert not any("k-anonymity" in r for r in state.classification.reasoning)


def test_unknown_quasi_identifier_is_a_clear_error() -> None:
    with pytest.raises(privacy.UnknownQuasiIdentifierError, match=r"no such column.*zip"):
        privacy.report(pd.DataFrame({"zip": ["1"]}), ["zpi"])


def test_a_repeated_quasi_identifier_label_is_checked_not_a_crash() -> None:
    """The guard read ``out[name]``: a label given twice is a DataFrame there, and anonymize
    failed with pandas' "factorize requires a Series" instead of anonymizing."""
    df = customers()[["email", "date_of_birth", "zip_code", "gender"]]
    twice = pd.concat([df, df[["date_of_birth"]]], axis=1)  # the same label, twice
    state = get_state(lacuna.anonymize(twice, strategy="hash", key="0123456789abcdef"))
    assert state is not None
    assert "date_of_birth" in state.classification.personal_columns  # k=1: still personal
    assert "not anonymous: k=1 < 5" in state.classification.reasoning[0]
    # the allowed path: generalised first, both copies are counted and the frame is anonymous
    fixed = privacy.report(df).generalize(df)
    state = get_state(lacuna.anonymize(pd.concat([fixed, fixed[["date_of_birth"]]], axis=1),
                                       strategy="hash", key="0123456789abcdef"))
    assert state is not None
    assert not state.classification.personal_columns
    with pytest.raises(privacy.AmbiguousColumnError, match=r"more than one column named "
                                                           r"'date_of_birth'.*Rename them"):
        privacy.report(twice)


def test_integer_column_labels_are_read_as_the_classification_names_them() -> None:
    """``read_csv(header=None)`` gives labels 0, 1, 2; the classification says "1": the guard's
    ``out["1"]`` was a KeyError inside anonymize."""
    df = customers()[["email", "date_of_birth", "zip_code", "gender"]]
    from lacuna.lineage.frames import attach
    from lacuna.lineage.state import LineageNode
    from lacuna.model import Classification, ColumnClass, ColumnKind, Sensitivity, Tier

    def pii(kind: str) -> ColumnClass:
        return ColumnClass(classification=ColumnKind.PII, pii_type=kind,
                           sensitivity=Sensitivity.HIGH)

    numbered = attach(df.set_axis([0, 1, 2, 3], axis=1), Classification(
        tier=Tier.PROPRIETARY, tags=("PII",),
        columns={"0": pii("email"), "1": pii("dob"), "2": pii("postal_code"),
                 "3": pii("gender")}), LineageNode(name="people.csv", operation="read_csv"))
    state = get_state(lacuna.anonymize(numbered, ["0"], strategy="hash", key="0123456789abcdef"))
    assert state is not None
    assert "not anonymous: k=1 < 5 over quasi-identifiers 1, 2, 3" in \
        state.classification.reasoning[0]
    rep = privacy.report(numbered)
    assert (rep.quasi_identifiers, rep.k) == (("1", "2", "3"), 1)
    generalised = rep.generalize(numbered)
    assert list(generalised.columns) == [0, 1, 2, 3]
    assert privacy.report(generalised, ["1", "2", "3"]).meets_target


def test_lists_dicts_and_huge_numbers_in_quasi_identifiers_are_counted_not_a_crash() -> None:
    """read_json makes lists and dicts of arrays and objects: pandas cannot group them, and
    anonymize and report failed with "unhashable type: 'list'"; an age of 1e308 or inf failed
    the advice's number bands ("cannot safely cast"). They are groups by their content."""
    df = customers(40)[["email", "zip_code", "gender"]]
    df["city"] = [["SF", "LA"], {"a": 1}] * 20  # two cities, alternating
    df["zip_code"] = "94107"
    out = lacuna.anonymize(df, strategy="hash", key="0123456789abcdef")
    state = get_state(out)
    assert state is not None
    assert not state.classification.personal_columns  # k>=5 over zip, gender and city
    assert out["city"].tolist() == df["city"].tolist()  # kept as they were
    rep = privacy.report(df)
    k = df.assign(city=df["city"].map(repr)).groupby(["gender", "city"]).size().min()
    assert (rep.k, "city" in rep.quasi_identifiers) == (k, True)
    assert k >= 5
    assert "['SF', 'LA']" in rep.text or "{'a': 1}" in rep.text
    # one list per person: k=1, personal (a list never equals its text, nor another's)
    df["city"] = [[i % 20, 1] for i in range(39)] + ["[0, 1]"]
    state = get_state(lacuna.anonymize(df, ["email"], strategy="hash", key="0123456789abcdef"))
    assert state is not None
    assert "not anonymous: k=1 < 5" in state.classification.reasoning[0]
    assert privacy.report(df).k == 1
    ages = customers(40)[["email", "zip_code"]].assign(age=[np.inf, -np.inf, 1e308, 30.0] * 10)
    state = get_state(lacuna.anonymize(ages, strategy="hash", key="0123456789abcdef"))
    assert state is not None
    assert "not anonymous" in state.classification.reasoning[0]  # the advice ran too
    assert privacy.report(ages).k_after is not None


@pytest.mark.parametrize("column", ["latitude", "home_lng", "geohash", "gpsCoordinates",
                                    "department"])
def test_where_a_person_is_joins_the_check_beside_a_zip_code(column: str) -> None:
    """A latitude (or a geohash, a department) per person beside a ZIP code: only the ZIP was
    counted (k=40), and each person's coordinates, a home address, came out PUBLIC."""
    df = customers(40)[["email", "zip_code"]].assign(zip_code="94107")
    df[column] = [f"{37.7 + i / 1000:.4f}" for i in range(40)]
    how = {"email": "hash", "zip_code": "generalize"}
    state = get_state(lacuna.anonymize(df, strategy=how, key="0123456789abcdef"))
    assert state is not None
    assert column in state.classification.personal_columns
    assert f"not anonymous: k=1 < 5 over quasi-identifiers zip_code, {column}" in \
        state.classification.reasoning[0]
    assert column in privacy.report(df).quasi_identifiers
    df[column] = "37.7"  # the allowed path: one shared value, k=40
    state = get_state(lacuna.anonymize(df, strategy=how, key="0123456789abcdef"))
    assert state is not None
    assert not state.classification.personal_columns


def test_categorical_quasi_identifiers_get_advice_not_a_crash() -> None:
    """Categorical quasi-identifiers (read_parquet of category columns) failed the advice's
    search inside anonymize: "Unordered Categoricals can only compare equality or not"."""
    df = customers(100)[["email", "zip_code", "gender"]]
    df["age"] = pd.Series(np.arange(100) % 60 + 20).astype("category")
    df = df.astype({"zip_code": "category", "gender": "category"})
    state = get_state(lacuna.anonymize(df, strategy={"email": "hash", "zip_code": "generalize"},
                                       key="0123456789abcdef"))
    assert state is not None
    assert "not anonymous: k=1 < 5" in state.classification.reasoning[0]
    assert "generalise" in state.classification.reasoning[0]
    rep = privacy.report(df)
    fixed = rep.generalize(df)
    assert privacy.report(fixed, list(rep.quasi_identifiers)).k == rep.k_after >= 5


def test_many_quasi_identifiers_do_not_hang_the_search() -> None:
    """The search sorted the whole lattice before trying its first vector: 3**24 level vectors
    for 24 columns named like a city, so ``anonymize`` (whose advice runs the search) hung and
    ran out of memory. Run in a child process, so a regression fails instead of hanging."""
    import subprocess
    import sys

    code = (
        "import numpy as np, pandas as pd, lacuna\n"
        "from lacuna import privacy\n"
        "rng = np.random.default_rng(0)\n"
        "df = pd.DataFrame({'email': [f'p{i}@corp.example' for i in range(200)],\n"
        "    'date_of_birth': pd.to_datetime(rng.integers(0, 18250, 200), unit='D',\n"
        "        origin='1950-01-01').strftime('%Y-%m-%d')})\n"
        "for i in range(24):\n"
        "    df[f'city_{i}'] = rng.choice(['a', 'b', 'c'], 200)\n"
        "out = lacuna.anonymize(df, ['email'], strategy='hash', key='0123456789abcdef')\n"
        "result = out.attrs['lacuna'].classification\n"
        "print(len(privacy.report(df).quasi_identifiers), 'date_of_birth' in "
        "result.personal_columns, 'not anonymous: k=1' in result.reasoning[0])\n"
    )
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=120, check=True)
    except subprocess.TimeoutExpired:
        pytest.fail("anonymize with 25 quasi-identifiers did not finish in 120 s")
    assert done.stdout.split() == ["25", "True", "True"]


def test_the_lazy_search_tries_vectors_in_the_order_of_a_sorted_lattice() -> None:
    import itertools

    for tops in ([2], [3, 2], [5, 2, 2, 4], [1, 1, 1], [5, 5, 2, 2, 2]):
        def cost(v: tuple[int, ...], tops: list[int] = tops) -> int:
            return sum(lv + (lv == top) for lv, top in zip(v, tops, strict=True))

        lattice = sorted(itertools.product(*(range(t + 1) for t in tops)), key=cost)
        assert list(privacy._by_cost(tops)) == lattice
    assert next(iter(privacy._by_cost([2] * 2000))) == (0,) * 2000  # no recursion limit


def _tracked(frame: pd.DataFrame):
    """The classification Lacuna tracks for ``frame`` now (what a governed write decides on)."""
    from lacuna.config import load_config
    from lacuna.lineage.frames import effective_state

    return effective_state(frame, load_config().classification).classification


def _released(n: int = 200) -> tuple[pd.DataFrame, pd.DataFrame]:
    """People, and their anonymized release: e-mail redacted, DOB and ZIP generalised (k >= 5)."""
    rng = np.random.default_rng(3)
    people = pd.DataFrame({
        "email": [f"p{i}@corp.example" for i in range(n)],
        "date_of_birth": pd.to_datetime(rng.integers(0, 365 * 40, n), unit="D",
                                        origin="1960-01-01").strftime("%Y-%m-%d"),
        "zip_code": [f"941{d:02d}" for d in rng.integers(0, 100, n)],
    })
    anon = lacuna.anonymize(people, strategy={"email": "redact", "date_of_birth": "generalize",
                                              "zip_code": "generalize"})
    return people, anon


def test_rows_picked_out_of_a_k_anonymous_release_are_checked_again(governed) -> None:
    """The k verdict was inherited by any row filter: Bob's row, selected by his e-mail from the
    anonymized frame, was PUBLIC and could be written to Downloads."""
    from lacuna.errors import GovernanceViolation
    from lacuna.model import ColumnKind, Tier

    people, anon = _released()
    whole = _tracked(anon)
    assert whole.tier == Tier.PUBLIC
    bob = anon[(people["email"] == "p7@corp.example").to_numpy()]
    for subset in (bob, anon.head(3)):
        got = _tracked(subset)
        assert got.tier == Tier.PROPRIETARY
        assert "PII" in got.tags
        assert got.columns["date_of_birth"].classification == ColumnKind.PII
        assert got.columns["zip_code"].pii_type == "postal_code"
        assert got.reasoning[0].startswith("not anonymous any more: these rows were taken from "
                                           "a k-anonymous frame")
        assert "date_of_birth, zip_code" in got.reasoning[0]
    target = governed / "Downloads" / "bob.csv"
    with pytest.raises(GovernanceViolation):
        bob.to_csv(target, index=False)
    assert not target.exists()


def test_the_whole_release_and_subsets_that_keep_k_stay_anonymous(governed) -> None:
    from lacuna.model import Tier

    _, anon = _released()
    band = anon[anon["date_of_birth"] == anon["date_of_birth"].mode()[0]]
    for kept in (anon.sort_values("zip_code"), anon.sample(frac=1.0, random_state=1), band):
        assert privacy.report(kept, ["date_of_birth", "zip_code"]).k >= 5
        assert _tracked(kept).tier == Tier.PUBLIC
    out = governed / "Downloads" / "release.csv"
    anon.to_csv(out, index=False)  # allowed: the whole frame was checked
    back = pd.read_csv(out)
    assert back.equals(anon.reset_index(drop=True))
    assert privacy.report(back, ["date_of_birth", "zip_code"]).k >= 5


def test_rows_picked_out_of_a_release_read_back_from_its_file_are_checked_again(governed
                                                                               ) -> None:
    """The quasi-identifier mark was kept only in memory: the release written to Downloads and
    read back had lost it, so Bob's row picked out of the read-back file was PUBLIC again."""
    from lacuna.errors import GovernanceViolation
    from lacuna.model import ColumnClass, Tier

    people, anon = _released()
    out = governed / "Downloads" / "release.csv"
    anon.to_csv(out, index=False)  # allowed: the whole frame was checked
    back = pd.read_csv(out)
    assert _tracked(back).tier == Tier.PUBLIC
    assert back.equals(anon.reset_index(drop=True))
    back.to_csv(governed / "Downloads" / "again.csv", index=False)  # the whole: still allowed
    bob = back[(people["email"] == "p7@corp.example").to_numpy()]
    got = _tracked(bob)
    assert got.tier == Tier.PROPRIETARY
    assert got.reasoning[0].startswith("not anonymous any more")
    target = governed / "Downloads" / "bob.csv"
    with pytest.raises(GovernanceViolation):
        bob.to_csv(target, index=False)
    assert not target.exists()
    assert _tracked(back).columns["zip_code"].quasi_identifier == "postal_code"
    # the mark goes through to_dict/from_dict; a class without one reads as before
    col = _tracked(anon).columns["date_of_birth"]
    assert ColumnClass.from_dict(col.to_dict()).quasi_identifier == "dob"
    assert "quasi_identifier" not in ColumnClass().to_dict()


def test_a_quasi_identifier_added_to_a_k_anonymous_release_is_counted(governed) -> None:
    """The verdict was over the columns anonymize saw: a per-person occupation put back
    afterwards (assignment, concat) made every row unique over ZIP band and occupation, and the
    frame stayed PUBLIC."""
    from lacuna.errors import GovernanceViolation
    from lacuna.model import Tier

    _, anon = _released()
    jobs = [f"job {i}" for i in range(len(anon))]
    assigned = anon.assign(occupation=jobs)
    concatenated = pd.concat([anon, pd.DataFrame({"job_title": jobs})], axis=1)
    for frame, column in ((assigned, "occupation"), (concatenated, "job_title")):
        got = _tracked(frame)
        assert got.tier == Tier.PROPRIETARY
        assert got.reasoning[0].startswith(f"not anonymous any more: {column} joined")
        target = governed / "Downloads" / f"{column}.csv"
        with pytest.raises(GovernanceViolation):
            frame.to_csv(target, index=False)
        assert not target.exists()
    # a coarse one that keeps every group at k rows is fine, and the release alone still is
    wide = anon.assign(occupation="engineer")
    assert _tracked(wide).tier == Tier.PUBLIC
    wide.to_csv(governed / "Downloads" / "wide.csv", index=False)
    assert _tracked(anon).tier == Tier.PUBLIC


def test_anonymize_uses_the_configuration_lacuna_was_enabled_with(sandbox, sandbox_config
                                                                  ) -> None:
    """anonymize() read lacuna.yaml (load_config()) instead of the configuration Lacuna was
    enabled with: groups of 20 passed the default k of 5 while the governor asked for 50, and
    the release went to Downloads as PUBLIC."""
    from lacuna.errors import GovernanceViolation
    from lacuna.model import Tier

    n = 60
    people = pd.DataFrame({"email": [f"u{i}@corp.example" for i in range(n)],
                           "zip_code": [("94107", "10001", "60601")[i % 3] for i in range(n)]})
    how = {"email": "redact", "zip_code": "generalize"}
    lacuna.enable(sandbox_config(classification={"k_anonymity": 50}))
    strict = lacuna.anonymize(people, strategy=how)
    assert get_state(strict).classification.tier == Tier.PROPRIETARY
    assert "k=20 < 50" in get_state(strict).classification.reasoning[0]
    assert privacy.report(people, ["zip_code"]).target_k == 50
    with pytest.raises(GovernanceViolation):
        strict.to_csv(sandbox / "Downloads" / "strict.csv", index=False)
    lacuna.enable(sandbox_config(classification={"k_anonymity": 20}))  # k=20 meets it
    loose = lacuna.anonymize(people, strategy=how)
    assert get_state(loose).classification.tier == Tier.PUBLIC
    loose.to_csv(sandbox / "Downloads" / "loose.csv", index=False)
    assert pd.read_csv(sandbox / "Downloads" / "loose.csv").equals(loose)


def test_rows_picked_out_after_the_quasi_identifier_became_the_index_are_checked(governed
                                                                                 ) -> None:
    """set_index("zip_code") moved the marked column into the index (which to_csv writes) and
    its re-check dropped the mark: one row of it was PUBLIC."""
    from lacuna.errors import GovernanceViolation
    from lacuna.model import Tier

    n = 60
    people = pd.DataFrame({"email": [f"u{i}@corp.example" for i in range(n)],
                           "zip_code": [f"9410{i % 10}" for i in range(n)],
                           "plan": ["a", "b"] * (n // 2)})
    anon = lacuna.anonymize(people, strategy={"email": "redact", "zip_code": "generalize"})
    indexed = anon.set_index("zip_code")
    assert _tracked(indexed).tier == Tier.PUBLIC  # the whole release: still anonymous
    indexed.to_csv(governed / "Downloads" / "indexed.csv")
    one = indexed.iloc[[7]]
    assert _tracked(one).tier == Tier.PROPRIETARY
    with pytest.raises(GovernanceViolation):
        one.to_csv(governed / "Downloads" / "one.csv")
    assert not (governed / "Downloads" / "one.csv").exists()


def test_a_quasi_identifier_in_the_index_joins_the_check_inside_anonymize(governed) -> None:
    """anonymize counted k over the frame's columns only: an occupation made the index
    (which to_csv writes) beside a date of birth generalised to groups of 10 gave a PUBLIC
    release in which every row was unique over age band and occupation."""
    from lacuna.errors import GovernanceViolation
    from lacuna.model import Tier

    n = 40
    people = pd.DataFrame(
        {
            "email": [f"u{i}@corp.example" for i in range(n)],
            "date_of_birth": [f"198{i % 3}-0{i % 9 + 1}-1{i % 9}" for i in range(n)],
            "occupation": [f"job {i}" for i in range(n)],
        }
    )
    anon = lacuna.anonymize(people.set_index("occupation"))
    got = _tracked(anon)
    assert got.tier == Tier.PROPRIETARY
    assert got.columns["occupation"].is_personal
    assert "occupation" in got.reasoning[0]
    assert "occupation →" in got.reasoning[0]  # the advice names the level too
    rep = privacy.report(people.set_index("occupation"))  # the report reads it too
    assert "occupation" in rep.quasi_identifiers
    assert rep.k == 1
    fixed = lacuna.anonymize(rep.generalize(people.set_index("occupation")))  # and generalises
    assert fixed.index.name == "occupation"
    assert _tracked(fixed).tier == Tier.PUBLIC
    target = governed / "Downloads" / "indexed.csv"
    with pytest.raises(GovernanceViolation):
        anon.to_csv(target)
    assert not target.exists()
    # an index level whose groups keep k rows stays anonymous, and the release reads back
    coarse = people.assign(occupation=[f"job {i % 4}" for i in range(n)])
    released = lacuna.anonymize(coarse.set_index("occupation"))
    assert _tracked(released).tier == Tier.PUBLIC
    released.to_csv(governed / "Downloads" / "coarse.csv")
    back = pd.read_csv(governed / "Downloads" / "coarse.csv", index_col="occupation")
    assert back.index.tolist() == coarse["occupation"].tolist()
    assert back["email"].tolist() == released["email"].tolist()
