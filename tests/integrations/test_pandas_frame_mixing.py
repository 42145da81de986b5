"""Frame-level operations between two frames keep every operand's class, column by column.

pandas keeps one operand's ``attrs``: the left one's for ``combine_first``, ``where``,
``mask``, ``fillna``, ``combine``, ``update`` and ``loc``/``iloc`` writes, the right one's for
``a + b``. A column of diagnoses (PHI by its name only: the values are plain words) or of
salaries mixed into a public frame's column therefore left as PUBLIC, and the export to
``~/Downloads`` the policy denies was allowed. Each route is run twice: with the sensitive
operand (denied, nothing written) and with a public one (allowed, the file read back equal to
what plain pandas computes). Real pandas, real regorus, files read back.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

import lacuna
from lacuna import _bypass
from lacuna.errors import GovernanceViolation
from lacuna.lineage.content import blocks, fingerprints
from lacuna.lineage.state import get_state
from lacuna.model import ColumnKind, Tier

KEEP = [True, False, True, False]  # rows the public frame keeps


@pytest.fixture
def data(sandbox: Path, sandbox_config) -> dict[str, pd.DataFrame]:
    """Frames read through Lacuna: ``visits`` (``diagnosis``, PHI by its name only), ``pay``
    (``salary``), ``wards`` and ``annex`` (public)."""
    pd.DataFrame({"patient": ["p1", "p2", "p3", "p4"],
                  "diagnosis": ["flu", "asthma", "diabetes", "gout"]}).to_csv(
        sandbox / "visits.csv", index=False)
    pd.DataFrame({"salary": [51000, 62000, 73000, 84000]}).to_csv(sandbox / "pay.csv", index=False)
    pd.DataFrame({"ward": ["east", "west", "north", "south"], "beds": [4, 6, 2, 8]}).to_csv(
        sandbox / "wards.csv", index=False)
    pd.DataFrame({"ward": ["red", "blue", "green", "grey"], "beds": [1, 3, 5, 7]}).to_csv(
        sandbox / "annex.csv", index=False)
    lacuna.enable(sandbox_config())
    frames = {name: pd.read_csv(sandbox / f"{name}.csv")
              for name in ("visits", "pay", "wards", "annex")}
    assert frames["visits"].lacuna.columns["diagnosis"].classification is ColumnKind.PHI
    assert frames["pay"].lacuna.classification.tier > Tier.PUBLIC
    assert frames["wards"].lacuna.classification.tier is Tier.PUBLIC
    assert frames["annex"].lacuna.classification.tier is Tier.PUBLIC
    return frames


def operand(data: dict[str, pd.DataFrame], kind: str, sensitive: bool) -> pd.DataFrame:
    """A one-column frame under the public frame's label: ``ward`` (text) or ``beds``
    (numbers), holding diagnoses or salaries (renamed: tracked) or another public frame's."""
    if kind == "text":
        return (data["visits"][["diagnosis"]].rename(columns={"diagnosis": "ward"}) if sensitive
                else data["annex"][["ward"]])
    return (data["pay"].rename(columns={"salary": "beds"}) if sensitive
            else data["annex"][["beds"]])


def source_class(data: dict[str, pd.DataFrame], kind: str) -> ColumnKind:
    if kind == "text":
        return data["visits"].lacuna.columns["diagnosis"].classification
    return data["pay"].lacuna.columns["salary"].classification


def _sparse(wards: pd.DataFrame) -> pd.DataFrame:
    out = wards.copy()
    out["ward"] = out["ward"].where(pd.Series(KEEP))  # missing where KEEP is False
    return out


def _in_place(change: Callable[[pd.DataFrame, pd.DataFrame], object]) -> Route:
    def route(wards: pd.DataFrame, other: pd.DataFrame) -> pd.DataFrame:
        target = wards.copy()
        change(target, other)
        return target
    return route


def _series_in_place(change: Callable[[pd.Series, pd.Series], object]) -> Route:
    def route(wards: pd.DataFrame, other: pd.DataFrame) -> pd.DataFrame:
        target = wards["ward"].copy()
        change(target, other["ward"])
        return target.to_frame()
    return route


def _iadd(target: pd.DataFrame, other: pd.DataFrame) -> None:
    target += other


def _series_iadd(target: pd.Series, other: pd.Series) -> None:
    target += other


def _loc(target: pd.DataFrame, other: pd.DataFrame) -> None:
    target.loc[:, "ward"] = other["ward"]


def _loc_rows(target: pd.DataFrame, other: pd.DataFrame) -> None:
    target.loc[[1, 3], "ward"] = other["ward"]


def _loc_frame(target: pd.DataFrame, other: pd.DataFrame) -> None:
    target.loc[:, ["ward"]] = other


def _iloc(target: pd.DataFrame, other: pd.DataFrame) -> None:
    target.iloc[:, 0] = other["ward"]


def _iloc_frame(target: pd.DataFrame, other: pd.DataFrame) -> None:
    target.iloc[:, [0]] = other


def _setitem_mask(target: pd.DataFrame, other: pd.DataFrame) -> None:
    target[pd.DataFrame({"ward": [False, True, False, True]})] = other


def _series_loc(target: pd.Series, other: pd.Series) -> None:
    target.loc[[1, 3]] = other


def _series_setitem_mask(target: pd.Series, other: pd.Series) -> None:
    target[pd.Series([False, True, False, True])] = other


Route = Callable[[pd.DataFrame, pd.DataFrame], pd.DataFrame]

# name -> (operand kind, route)
ROUTES: dict[str, tuple[str, Route]] = {
    "combine_first": ("text", lambda w, o: _sparse(w).combine_first(o)),
    "where": ("text", lambda w, o: w.where(pd.DataFrame({"ward": KEEP, "beds": [True] * 4}), o)),
    "mask": ("text", lambda w, o: w.mask(pd.DataFrame({"ward": KEEP, "beds": [False] * 4}), o)),
    "where-inplace": ("text", _in_place(
        lambda t, o: t.where(pd.DataFrame({"ward": KEEP, "beds": [True] * 4}), o, inplace=True))),
    "fillna": ("text", lambda w, o: _sparse(w).fillna(o)),
    "fillna-inplace": ("text", lambda w, o: (lambda t: (t.fillna(o, inplace=True), t)[1])(
        _sparse(w))),
    "combine": ("text", lambda w, o: w.combine(o, lambda a, b: b.fillna(a))),
    "update": ("text", _in_place(lambda t, o: t.update(o))),
    "update-series": ("text", _in_place(lambda t, o: t.update(o["ward"]))),
    "public-plus-it": ("text", lambda w, o: w[["ward"]] + o),
    "it-plus-public": ("text", lambda w, o: o + w[["ward"]]),
    "add": ("text", lambda w, o: w[["ward"]].add(o)),
    "radd": ("text", lambda w, o: o.radd(w[["ward"]])),
    "comparison": ("text", lambda w, o: o == w[["ward"]]),
    "iadd": ("text", _in_place(lambda t, o: _iadd(t, o))),
    "loc-column": ("text", _in_place(_loc)),
    "loc-rows": ("text", _in_place(_loc_rows)),
    "loc-frame": ("text", _in_place(_loc_frame)),
    "iloc-column": ("text", _in_place(_iloc)),
    "iloc-frame": ("text", _in_place(_iloc_frame)),
    "setitem-mask": ("text", _in_place(_setitem_mask)),
    "series-update": ("text", _series_in_place(lambda t, o: t.update(o))),
    "series-loc": ("text", _series_in_place(_series_loc)),
    "series-setitem-mask": ("text", _series_in_place(_series_setitem_mask)),
    "series-iadd": ("text", _series_in_place(_series_iadd)),
    "series-where-inplace": ("text", _series_in_place(
        lambda t, o: t.where(pd.Series(KEEP), o, inplace=True))),
    "clip": ("number", lambda w, o: w[["beds"]].clip(lower=o["beds"], axis=0)),
    "broadcast-series": ("number", lambda w, o: w[["beds"]].add(o["beds"], axis=0)),
    "frame-plus-it": ("number", lambda w, o: w[["beds"]] * 0 + o),
}


@pytest.mark.parametrize("route", ROUTES, ids=list(ROUTES))
def test_a_sensitive_operand_mixed_into_a_public_frame_keeps_its_class(data, sandbox, route):
    kind, build = ROUTES[route]
    out = build(data["wards"], operand(data, kind, sensitive=True))
    label = "ward" if kind == "text" else "beds"
    classification = out.lacuna.classification
    assert classification.tier > Tier.PUBLIC, classification.reasoning
    assert classification.columns[label].classification is source_class(data, kind)
    target = sandbox / "Downloads" / f"{route}.csv"
    with pytest.raises(GovernanceViolation):
        out.to_csv(target, index=False)
    assert not target.exists()


@pytest.mark.parametrize("route", ROUTES, ids=list(ROUTES))
def test_public_operands_through_the_same_route_stay_public_and_write(data, sandbox, route):
    kind, build = ROUTES[route]
    other = operand(data, kind, sensitive=False)
    out = build(data["wards"], other)
    with _bypass.bypass():  # what pandas alone computes
        expected = build(data["wards"].copy(), other.copy())
    pd.testing.assert_frame_equal(out, expected)
    assert out.lacuna.classification.tier is Tier.PUBLIC, out.lacuna.classification.reasoning
    target = sandbox / "Downloads" / f"{route}.csv"
    out.to_csv(target, index=False)
    with _bypass.bypass():
        back = pd.read_csv(target)
        written = pd.read_csv(pd.io.common.StringIO(expected.to_csv(index=False)))
    pd.testing.assert_frame_equal(back, written)
    assert len(back) == len(out)
    assert len(back) > 0


def test_columns_no_sensitive_operand_fed_keep_their_class_and_fingerprint(data):
    wards = data["wards"]
    out = _sparse(wards).combine_first(operand(data, "text", sensitive=True))
    state, before = get_state(out), get_state(wards)
    assert state is not None
    assert before is not None
    assert state.classification.columns["beds"] == before.classification.columns["beds"]
    assert state.fingerprints.get("beds") == before.fingerprints["beds"]
    assert "ward" not in state.fingerprints  # mixed: the boundary re-checks its values


def test_the_mixed_column_keeps_both_lineages_and_origins(data):
    out = data["wards"].combine_first(operand(data, "text", sensitive=True))
    state = get_state(out)
    assert state is not None
    roots = {r.rsplit("/", 1)[-1] for r in state.lineage.roots()}
    assert {"visits.csv", "wards.csv"} <= roots
    fed = {(o.dataset.name.rsplit("/", 1)[-1], o.column) for o in state.origins["ward"]}
    assert {("visits.csv", "diagnosis"), ("wards.csv", "ward")} <= fed


def test_an_untracked_left_frame_takes_the_class_of_the_tracked_right_one(data):
    with _bypass.bypass():
        plain = pd.DataFrame({"ward": [None, "x", None, "y"]})  # no state
    out = plain.combine_first(operand(data, "text", sensitive=True))
    assert out.lacuna.columns["ward"].classification is ColumnKind.PHI


def test_a_table_floor_and_tags_of_the_operand_are_kept(data):
    pay = operand(data, "number", sensitive=True)
    out = data["wards"][["beds"]] * 0 + pay
    assert set(data["pay"].lacuna.tags) <= set(out.lacuna.tags)


def test_emails_written_outside_the_fingerprinted_rows_are_caught(sandbox, sandbox_config):
    """The boundary's content check samples a column's rows: an ``update`` that writes
    e-mails only into rows it does not sample leaves the fingerprint as it was. Tracking the
    operand's class catches it anyway."""
    n = 2000
    sampled = {i for run in blocks(n) for i in range(*run.indices(n))}
    rows = [i for i in range(0, n, 7) if i not in sampled][:20]
    pd.DataFrame({"note": [f"bed {i}" for i in range(n)], "beds": range(n)}).to_csv(
        sandbox / "rooms.csv", index=False)
    pd.DataFrame({"contact": [f"user{i}@example.com" for i in range(len(rows))]},
                 index=rows).to_csv(sandbox / "contacts.csv")
    lacuna.enable(sandbox_config())
    rooms = pd.read_csv(sandbox / "rooms.csv")
    contacts = pd.read_csv(sandbox / "contacts.csv", index_col=0)
    assert rooms.lacuna.classification.tier is Tier.PUBLIC
    email = contacts.lacuna.columns["contact"].classification
    before = fingerprints(rooms, ["note"])
    rooms.update(contacts.rename(columns={"contact": "note"}))
    assert fingerprints(rooms, ["note"]) == before  # the premise: the content check is blind
    assert rooms["note"].str.contains("@").sum() == len(rows)
    assert rooms.lacuna.columns["note"].classification is email
    target = sandbox / "Downloads" / "rooms.csv"
    with pytest.raises(GovernanceViolation):
        rooms.to_csv(target, index=False)
    assert not target.exists()


def test_disable_restores_the_frame_methods_and_the_indexers(restored_by_disable):
    from pandas.core.indexing import _LocationIndexer

    def current() -> list[object]:
        return [pd.DataFrame.combine_first, pd.DataFrame.update, pd.DataFrame.where,
                pd.DataFrame._arith_method, pd.DataFrame._flex_arith_method,
                pd.DataFrame._inplace_method, _LocationIndexer.__setitem__,
                pd.Series.update, pd.Series.__setitem__, pd.Series.map,
                pd.Series._inplace_method]

    restored_by_disable(current)
    assert "_inplace_method" not in vars(pd.DataFrame)  # inherited: removed, not shadowed
