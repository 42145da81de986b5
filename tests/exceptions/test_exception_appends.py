"""Appends to files written under an exception (docs/exceptions.md, "Appending to a file"):
an append the sweep could not answer for is refused before a byte is written; an append under
the exception the file was written under is kept for the sweep; a key re-wrap keeps the file
known to the sweep. On SQLite state; the tests that exercise each query of the exceptions'
file records (recorded, looked up for the sweep, closed, moved to another exception, kept for
a file with other links, a folder's files) also on PostgreSQL (``BOTH_STATES``): the writers'
other variants reach the same store calls."""

from __future__ import annotations

import io
import os
import threading
import time
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

import lacuna
from fixtures_postgres import new_postgres_database
from lacuna.errors import ConfigError
from lacuna.governor import current
from lacuna.lineage.sidecar import sidecar_path
from lacuna.model import utcnow

STEWARD = "jane.smith@example.com"
PURPOSE = "Board of Directors Q4 customer metrics presentation"
SEALED, PLAIN = "governed/workspace", "Downloads"  # sealed governed storage, a plain folder


BOTH_STATES = pytest.mark.parametrize("state_url", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture
def state_url(request: pytest.FixtureRequest, sandbox: Path) -> str:
    if getattr(request, "param", "sqlite") == "sqlite":
        return f"sqlite:///{sandbox / 'audit.db'}"
    return new_postgres_database(request.getfixturevalue("postgres_url"))


@pytest.fixture
def as_user(sandbox_config, governed, state_url):
    def switch(user_id: str) -> None:
        lacuna.enable(sandbox_config(user={"id": user_id, "role": "data_analyst"},
                                     stewards={"default": [STEWARD]},
                                     audit={"url": state_url}))

    switch("analyst_alice")
    return switch


@pytest.fixture
def customers(governed) -> pd.DataFrame:
    return pd.read_csv("customers.csv").head(3)


def _more(customers: pd.DataFrame) -> pd.DataFrame:
    return pd.read_csv("customers.csv").iloc[3:5].reset_index(drop=True)


def _public(columns) -> pd.DataFrame:
    """One row of nothing personal, as wide as ``columns`` (named so that nothing reads as
    personal either)."""
    return pd.DataFrame({f"c{i}": ["none"] for i in range(len(columns))})


def _grant(as_user, customers, target) -> lacuna.exceptions.ExceptionRequest:
    exc = lacuna.request_exception(data=customers, destination=str(target), purpose=PURPOSE,
                                   approver=STEWARD, duration_hours=1)
    as_user(STEWARD)
    lacuna.approve_exception(exc.id)
    as_user("analyst_alice")
    return exc


def _written_under(as_user, customers, target, where):
    exc = _grant(as_user, customers, target)
    customers.to_csv(target, exception_id=exc.id, index=False)
    if where == PLAIN:  # no sidecar: the append is decided as the appended rows alone
        sidecar_path(target).unlink(missing_ok=True)
    return exc


def _sweep_later():
    return lacuna.sweep_exceptions(now=utcnow() + timedelta(hours=2))


def _deleted_on_trail(path: Path) -> list[dict]:
    return [r.data["exception"] for r in current().audit.list(limit=None, action="exception")
            if r.data["what"].get("event") == "file-deleted"
            and r.data.get("exception", {}).get("path") == str(path)]


@pytest.mark.parametrize("where", [SEALED, PLAIN])
def test_append_without_the_exception_is_refused(as_user, customers, governed, where):
    """The leak: rows written under the exception, then an append without it re-wrote the file,
    and the sweep no longer knew it (reported, never deleted)."""
    target = governed / where / "board.csv"
    exc = _written_under(as_user, customers, target, where)
    before = target.read_bytes()
    with pytest.raises(lacuna.exceptions.AppendRefused) as caught:
        _public(customers.columns).to_csv(target, mode="a", header=False, index=False)
    message = str(caught.value)
    assert f"{target}" in message
    assert f"written under exception {exc.id} (approved until" in message
    assert "without an exception" in message
    assert "Write these rows to a new file" in message
    assert f'exception_id="{exc.id}"' in message
    assert "Nothing was written" in message
    assert (caught.value.path, caught.value.held_by, caught.value.exception_id) == (
        str(target), exc.id, None)
    assert caught.value.valid_until == current().exceptions.get(exc.id).valid_until
    assert target.read_bytes() == before
    report = _sweep_later()
    assert (report.deleted, report.failed) == ((str(target),), ())
    assert not target.exists()


def test_append_under_another_exception_is_refused(as_user, customers, governed):
    target = governed / SEALED / "board.csv"
    first = _written_under(as_user, customers, target, SEALED)
    second = _grant(as_user, customers, target)
    before = target.read_bytes()
    with pytest.raises(lacuna.exceptions.AppendRefused,
                       match=f"under exception {second.id} is refused: the file was written "
                             f"under exception {first.id}"):
        _more(customers).to_csv(target, mode="a", header=False, index=False,
                                exception_id=second.id)
    assert target.read_bytes() == before
    assert [f.path for f in current().exceptions.files(second.id)] == []  # nothing recorded


@BOTH_STATES
def test_append_to_a_file_whose_exception_ended_is_refused(as_user, customers, governed):
    """Revoked, not swept yet: the file is due for deletion, nothing is added to it."""
    target = governed / SEALED / "board.csv"
    exc = _written_under(as_user, customers, target, SEALED)
    lacuna.revoke_exception(exc.id, comment="cancelled")
    with pytest.raises(lacuna.exceptions.AppendRefused,
                       match=r"revoked; the file is due for deletion by the next sweep.*"
                             r"let the sweep delete it first"):
        _public(customers.columns).to_csv(target, mode="a", header=False, index=False)
    assert lacuna.sweep_exceptions().deleted == (str(target),)


@pytest.mark.parametrize("where", [SEALED, PLAIN])
def test_append_under_an_exception_to_an_older_file_is_refused(as_user, customers, governed,
                                                                where):
    """The data loss: the sweep would have deleted the rows the file held before the append."""
    target = governed / where / "ledger.csv"
    older = _public(customers.columns) if where == PLAIN else customers
    older.to_csv(target, index=False)  # without an exception
    before = target.read_bytes()
    exc = _grant(as_user, customers, target)
    with pytest.raises(lacuna.exceptions.AppendRefused) as caught:
        _more(customers).to_csv(target, mode="a", header=False, index=False,
                                exception_id=exc.id)
    message = str(caught.value)
    assert f"under exception {exc.id} is refused: the file was not written under" in message
    assert "Write these rows to a new file under the exception" in message
    assert (caught.value.held_by, caught.value.exception_id) == (None, exc.id)
    assert target.read_bytes() == before
    assert current().exceptions.files(exc.id) == []
    assert _sweep_later().deleted == ()
    pd.testing.assert_frame_equal(pd.read_csv(target), older)  # the older rows are kept


@pytest.mark.parametrize("where", [SEALED, PLAIN])
@BOTH_STATES
def test_append_under_the_same_exception_is_swept(as_user, customers, governed, where):
    """Allowed: the grown file is read back whole, then deleted (and audited) at expiry; a new
    file at the path afterwards is nobody's and takes appends without an exception."""
    target = governed / where / "board.csv"
    exc = _written_under(as_user, customers, target, where)
    time.sleep(0.01)  # a re-write in the same clock tick could keep the modification time
    _more(customers).to_csv(target, mode="a", header=False, index=False, exception_id=exc.id)
    pd.testing.assert_frame_equal(pd.read_csv(target),
                                  pd.concat([customers, _more(customers)], ignore_index=True))
    report = _sweep_later()
    assert (report.deleted, report.failed, report.missing) == ((str(target),), (), ())
    assert not target.exists()
    assert [d["by"] for d in _deleted_on_trail(target)] == ["lacuna-sweep"]
    assert [h.event for h in current().exceptions.get(exc.id).history][-2:] == [
        "file-deleted", "expired"]
    public = _public(customers.columns)
    public.to_csv(target, index=False)
    public.to_csv(target, mode="a", header=False, index=False)
    pd.testing.assert_frame_equal(pd.read_csv(target), pd.concat([public, public],
                                                                 ignore_index=True))


@pytest.mark.parametrize("where", [SEALED, PLAIN])
def test_append_without_any_exception_still_works(as_user, customers, governed, where):
    target = governed / where / "plain.csv"
    rows = customers if where == SEALED else _public(customers.columns)
    rows.to_csv(target, index=False)
    rows.to_csv(target, mode="a", header=False, index=False)
    pd.testing.assert_frame_equal(pd.read_csv(target), pd.concat([rows, rows],
                                                                 ignore_index=True))
    _more(customers).to_csv(governed / SEALED / "new.csv", mode="a", index=False)  # a new file
    pd.testing.assert_frame_equal(pd.read_csv(governed / SEALED / "new.csv"), _more(customers))


def test_append_with_encrypt_is_refused(as_user, customers, governed):
    """encrypt=True seals the whole file at once: an append replaced the rows it held."""
    target = governed / PLAIN / "board.csv"
    exc = _grant(as_user, customers, target)
    customers.to_csv(target, exception_id=exc.id, index=False, encrypt=True)
    before = target.read_bytes()
    with pytest.raises(ConfigError, match="append mode is refused: encrypt=True seals the "
                                          "whole file at once"):
        _more(customers).to_csv(target, mode="a", header=False, index=False,
                                exception_id=exc.id, encrypt=True)
    assert target.read_bytes() == before
    pd.testing.assert_frame_equal(pd.read_csv(io.BytesIO(lacuna.decrypt(target))), customers)
    target.unlink()  # append mode to a file that does not exist: a new file, written
    _more(customers).to_csv(target, mode="a", index=False, exception_id=exc.id, encrypt=True)
    pd.testing.assert_frame_equal(pd.read_csv(io.BytesIO(lacuna.decrypt(target))),
                                  _more(customers))


def test_a_key_rewrap_keeps_the_file_for_the_sweep(as_user, customers, governed):
    """``lacuna storage rewrap`` writes the key slots in place (the modification time moves):
    the file's record follows it, so the sweep still deletes it."""
    from lacuna.keystore import keystore_for
    from lacuna.storage import read_header
    from lacuna.storage.rotation import local_roots, rewrap_files

    target = governed / SEALED / "board.csv"
    exc = _written_under(as_user, customers, target, SEALED)
    keystore_for(current().config).rotate("storage")
    time.sleep(0.01)  # so the in-place write moves the modification time
    results = rewrap_files(current(), local_roots(current()))
    assert [(r.path, r.changed, r.error) for r in results] == [(str(target), True, None)]
    assert read_header(target).key.version == 2
    (record,) = current().exceptions.files(exc.id)
    assert current().exceptions.file_verified(record)
    report = _sweep_later()
    assert (report.deleted, report.failed) == ((str(target),), ())


@BOTH_STATES
def test_a_folder_written_under_an_exception_takes_appends_under_it_only(as_user, customers,
                                                                          governed):
    """Spark's appends (``mode("append")``) run the same check on the folder (tested without a
    JVM, as the recording call is)."""
    from lacuna.exceptions import appends, files
    from lacuna.lineage.records import DatasetRef
    from lacuna.spark.writes import Target, remember_exception_write

    out = governed / PLAIN / "spark_out"
    exc = _grant(as_user, customers, out)
    other = _grant(as_user, customers, out)
    record = remember_exception_write(current(), exc.id, Target(
        kind="path", name=str(out), ref=DatasetRef("file", str(out))))
    out.mkdir()
    (out / "part-00000.csv").write_text("a\n1\n")
    files.written(current(), record)
    appends.check_append(current(), out, exc.id, method="spark")  # the same exception
    for made_under in (None, other.id):
        with pytest.raises(lacuna.exceptions.AppendRefused, match=f"exception {exc.id}"):
            appends.check_append(current(), out, made_under, method="spark")
    elsewhere = governed / PLAIN / "other_out"
    elsewhere.mkdir()
    with pytest.raises(lacuna.exceptions.AppendRefused, match="was not written under"):
        appends.check_append(current(), elsewhere, exc.id, method="spark")
    appends.check_append(current(), governed / PLAIN / "absent", exc.id, method="spark")
    assert os.listdir(out) == ["part-00000.csv"]



def test_to_hdf_adds_no_key_to_a_file_written_under_an_exception(as_user, customers, governed):
    """``to_hdf`` appends by default (``mode="a"``: a key added to the file, in place)."""
    target = governed / PLAIN / "board.h5"
    exc = _grant(as_user, customers, target)
    customers.to_hdf(target, key="board", exception_id=exc.id)
    sidecar_path(target).unlink(missing_ok=True)  # decided as what is added alone
    before = target.read_bytes()
    with pytest.raises(lacuna.exceptions.AppendRefused, match=f"exception {exc.id}"):
        _public(customers.columns).to_hdf(target, key="more")
    assert target.read_bytes() == before
    report = _sweep_later()
    assert (report.deleted, report.failed) == ((str(target),), ())


def test_the_refusal_stands_in_warn_mode(as_user, customers, governed, sandbox_config,
                                         state_url):
    """Not a failure of Lacuna (which warn mode lets pass): the answer to the call."""
    target = governed / SEALED / "board.csv"
    exc = _written_under(as_user, customers, target, SEALED)
    lacuna.enable(sandbox_config(mode="warn", stewards={"default": [STEWARD]},
                                 audit={"url": state_url}))
    before = target.read_bytes()
    with pytest.raises(lacuna.exceptions.AppendRefused, match=f"exception {exc.id}"):
        _public(customers.columns).to_csv(target, mode="a", header=False, index=False)
    assert target.read_bytes() == before


def test_an_append_through_another_spelling_of_the_path_is_checked(as_user, customers,
                                                                   governed):
    """A folder on the way that is a link, or ``..``: the same file, the same refusal."""
    target = governed / PLAIN / "board.csv"
    exc = _written_under(as_user, customers, target, PLAIN)
    (governed / "elsewhere").symlink_to(governed / PLAIN)
    for spelling in (governed / "elsewhere" / "board.csv",
                     governed / PLAIN / ".." / PLAIN / "board.csv"):
        with pytest.raises(lacuna.exceptions.AppendRefused, match=f"exception {exc.id}"):
            _public(customers.columns).to_csv(spelling, mode="a", header=False, index=False)
    report = _sweep_later()
    assert (report.deleted, report.failed) == ((str(target),), ())


# -- writes that replace a file in full (mode="w") ----------------------------------------------


def _trail(event: str) -> list[dict]:
    return [r.data["exception"] for r in current().audit.list(limit=None, action="exception")
            if r.data["what"].get("event") == event]


@pytest.mark.parametrize("where", [SEALED, PLAIN])
@BOTH_STATES
def test_an_overwrite_without_the_exception_closes_its_record(as_user, customers, governed,
                                                              where):
    """The file now holds new, allowed content: the exception's record of it is closed
    (superseded, audited), so the sweep neither deletes the new content nor reports it."""
    target = governed / where / "board.csv"
    exc = _written_under(as_user, customers, target, where)
    time.sleep(0.01)  # a re-write in the same clock tick could keep the modification time
    public = _public(customers.columns)
    public.to_csv(target, index=False)
    pd.testing.assert_frame_equal(pd.read_csv(target), public)
    store = current().exceptions
    records = store.files(exc.id)
    assert [(r.deleted_at is not None, store.file_verified(r)) for r in records] == [
        (True, True)]
    (entry,) = [h for h in store.get(exc.id).history if h.event == "file-superseded"]
    assert entry.comment == (f"{target}: replaced in full by a write without an exception "
                             "(pandas.DataFrame.to_csv)")
    (event,) = _trail("file-superseded")
    assert (event["path"], event["by_exception"]) == (str(target), None)
    from lacuna.exceptions.report import build

    compliance = build(current())
    assert compliance.to_dict()["files_not_deleted"] == 0
    assert f"file {target} (plain): replaced in full " in compliance.text()
    report = _sweep_later()
    assert (report.deleted, report.failed, report.missing) == ((), (), ())
    pd.testing.assert_frame_equal(pd.read_csv(target), public)  # kept
    assert _sweep_later().failed == ()  # and not reported again


@BOTH_STATES
def test_an_overwrite_under_another_exception_moves_the_file_to_it(as_user, customers,
                                                                   governed):
    """Written under X, replaced under E: X's record is closed, E's sweep deletes the file."""
    target = governed / SEALED / "board.csv"
    first = _written_under(as_user, customers, target, SEALED)
    second = _grant(as_user, customers, target)
    time.sleep(0.01)
    _more(customers).to_csv(target, index=False, exception_id=second.id)
    pd.testing.assert_frame_equal(pd.read_csv(target), _more(customers))
    store = current().exceptions
    assert [r.deleted_at is not None for r in store.files(first.id)] == [True]
    assert [r.deleted_at is None for r in store.files(second.id)] == [True]
    (event,) = _trail("file-superseded")
    assert (event["path"], event["by_exception"]) == (str(target), second.id)
    report = _sweep_later()
    assert (report.deleted, report.failed) == ((str(target),), ())
    assert not target.exists()


def test_an_overwrite_under_an_exception_of_an_older_file_is_its(as_user, customers,
                                                                 governed):
    """The reverse: the older content is replaced by the write (as without an exception), not
    by the sweep; the new file is the exception's and deleted when it ends."""
    target = governed / PLAIN / "ledger.csv"
    _public(customers.columns).to_csv(target, index=False)
    exc = _grant(as_user, customers, target)
    _more(customers).to_csv(target, index=False, exception_id=exc.id)
    pd.testing.assert_frame_equal(pd.read_csv(target), _more(customers))
    assert _trail("file-superseded") == []
    report = _sweep_later()
    assert (report.deleted, report.failed) == ((str(target),), ())


@BOTH_STATES
def test_an_overwrite_keeps_the_record_of_a_file_with_other_links(as_user, customers,
                                                                  governed):
    """A sealed write puts a new file in place: the one written under the exception lives on
    under its other name, so its record stays open and the sweep reports it."""
    target = governed / SEALED / "board.csv"
    exc = _written_under(as_user, customers, target, SEALED)
    os.link(target, governed / SEALED / "copy.csv")
    time.sleep(0.01)
    customers.to_csv(target, index=False)  # allowed in governed storage, a new sealed file
    assert [r.deleted_at for r in current().exceptions.files(exc.id)] == [None]
    assert _trail("file-superseded") == []
    report = _sweep_later()
    assert report.deleted == ()
    assert [f.split(": ", 1)[0] for f in report.failed] == [str(target)]


# -- polars' Delta writes: every write to a table that exists keeps the files it holds --------


def _fake_write_delta(frame, target, *, mode="error", **_kwargs):
    """Stands in for polars' ``write_delta`` (deltalake is not installed here): a Delta table
    is a folder of Parquet files and a log; a write adds a file and a log entry."""
    import polars as pl

    folder = Path(target)
    if folder.exists() and mode == "error":
        raise FileExistsError(folder)
    (folder / "_delta_log").mkdir(parents=True, exist_ok=True)
    n = len(list(folder.glob("part-*.parquet")))
    assert isinstance(frame, pl.DataFrame)
    frame.write_parquet(folder / f"part-{n:05d}.parquet")  # inside the hook: not governed again
    (folder / "_delta_log" / f"{n:020d}.json").write_text("{}")


def _delta_rows(folder: Path):
    import polars as pl

    return pl.concat([pl.read_parquet(p) for p in sorted(folder.glob("part-*.parquet"))])


def test_polars_write_delta_appends_are_checked_before_the_writer(as_user, customers,
                                                                  governed):
    """polars' own ``write_delta`` (deltalake absent or not): the refusal comes first."""
    import polars as pl

    out = governed / PLAIN / "delta_out"
    exc = _grant(as_user, customers, out)
    from lacuna.exceptions import files

    record = files.remember(current(), exc.id, out, encrypted=False, directory=True)
    out.mkdir()
    (out / "part-00000.parquet").write_bytes(b"PAR1")
    files.written(current(), record)
    before = sorted(p.name for p in out.iterdir())
    for mode in ("append", "overwrite"):
        with pytest.raises(lacuna.exceptions.AppendRefused, match=f"exception {exc.id}"):
            pl.DataFrame({"c0": ["none"]}).write_delta(out, mode=mode)
    assert sorted(p.name for p in out.iterdir()) == before


def test_polars_delta_appends_under_the_exception_are_swept(as_user, customers, governed):
    import polars as pl

    from lacuna.integrations.polars import _io

    write_delta = _io.wrap_writer("write_delta", "target", "DataFrame")(_fake_write_delta)
    out = governed / PLAIN / "delta_out"
    exc = _grant(as_user, customers, out)
    rows = pl.from_pandas(customers)
    write_delta(rows, out, exception_id=exc.id)
    (record,) = current().exceptions.files(exc.id)
    assert record.directory
    time.sleep(0.01)
    public = pl.DataFrame({"c0": ["none"]})
    with pytest.raises(lacuna.exceptions.AppendRefused, match=f"exception {exc.id}"):
        write_delta(public, out, mode="append")
    more = pl.from_pandas(_more(customers))
    write_delta(more, out, mode="append", exception_id=exc.id)
    assert _delta_rows(out).equals(pl.concat([rows, more]))
    elsewhere = governed / PLAIN / "public_delta"
    write_delta(public, elsewhere)
    write_delta(public, elsewhere, mode="append")  # no exception anywhere: the ordinary rules
    assert _delta_rows(elsewhere).equals(pl.concat([public, public]))
    there = _grant(as_user, customers, elsewhere)
    with pytest.raises(lacuna.exceptions.AppendRefused, match="was not written under"):
        write_delta(more, elsewhere, mode="append", exception_id=there.id)
    report = _sweep_later()
    assert (report.deleted, report.failed) == ((str(out),), ())
    assert not out.exists()
    assert elsewhere.exists()


# -- store objects: HDFStore opened for writing, ExcelWriter in append mode --------------------


def _hdf_under(as_user, customers, target):
    exc = _grant(as_user, customers, target)
    customers.to_hdf(target, key="board", exception_id=exc.id)
    sidecar_path(target).unlink(missing_ok=True)  # decided as what is added alone
    return exc


def _unchanged(target: Path):
    st = target.stat()
    return target.read_bytes(), st.st_mtime_ns, st.st_ino


@pytest.mark.parametrize("mode", ["a", "r+"])
def test_an_hdfstore_opened_for_writing_is_refused_before_it_opens(as_user, customers,
                                                                   governed, mode):
    """PyTables changes the file when it opens it for writing (and HDF5 when it closes it),
    before any put: refused at open, the file untouched."""
    target = governed / PLAIN / "board.h5"
    exc = _hdf_under(as_user, customers, target)
    before = _unchanged(target)
    time.sleep(0.01)
    with pytest.raises(lacuna.exceptions.AppendRefused, match=f"exception {exc.id}") as caught:
        pd.HDFStore(target, mode=mode)
    assert caught.value.path == str(target)
    assert "pandas.HDFStore: appending to" in str(caught.value)
    assert _unchanged(target) == before
    with pd.HDFStore(target, mode="r") as store:  # reading changes nothing: not checked
        pd.testing.assert_frame_equal(store["board"], customers)
    report = _sweep_later()
    assert (report.deleted, report.failed) == ((str(target),), ())


def test_an_hdfstore_opened_under_the_exception_takes_its_puts(as_user, customers, governed):
    """Opened with ``exception_id=``: its puts are made under it, and the file is recorded once
    the store is closed, so the sweep deletes the grown file."""
    target = governed / PLAIN / "board.h5"
    exc = _hdf_under(as_user, customers, target)
    time.sleep(0.01)
    other = _grant(as_user, customers, target)
    with pd.HDFStore(target, mode="a", exception_id=exc.id) as store:
        store.put("more", _more(customers), track_times=False)
        with pytest.raises(lacuna.exceptions.AppendRefused, match=f"exception {exc.id}"):
            store.put("other", _more(customers), exception_id=other.id, track_times=False)
        from lacuna.integrations.pandas import _stores

        with pytest.raises(lacuna.exceptions.ExceptionNotAuthorized,
                           match="Open the store under the exception"):
            _stores.record_put(current(), store, other.id, "pandas.HDFStore.put")
    pd.testing.assert_frame_equal(pd.read_hdf(target, "board"), customers)
    pd.testing.assert_frame_equal(pd.read_hdf(target, "more"), _more(customers))
    fresh = governed / PLAIN / "fresh.h5"
    new = _grant(as_user, customers, fresh)
    with pd.HDFStore(fresh, mode="w", exception_id=new.id) as store:
        store["board"] = customers
    pd.testing.assert_frame_equal(pd.read_hdf(fresh, "board"), customers)
    report = _sweep_later()
    assert (sorted(report.deleted), report.failed) == (sorted([str(target), str(fresh)]), ())


def test_an_hdfstore_replacing_a_file_closes_the_exceptions_record(as_user, customers,
                                                                   governed):
    """``mode="w"`` truncates the file when the store opens: the route of a full overwrite."""
    target = governed / PLAIN / "board.h5"
    exc = _hdf_under(as_user, customers, target)
    time.sleep(0.01)
    public = _public(customers.columns)
    with pd.HDFStore(target, mode="w") as store:
        store["public"] = public
    pd.testing.assert_frame_equal(pd.read_hdf(target, "public"), public)
    assert [r.deleted_at is not None for r in current().exceptions.files(exc.id)] == [True]
    report = _sweep_later()
    assert (report.deleted, report.failed) == ((), ())
    assert target.exists()


def _xlsx_under(as_user, customers, target):
    exc = _grant(as_user, customers, target)
    customers.to_excel(target, sheet_name="board", index=False, exception_id=exc.id)
    sidecar_path(target).unlink(missing_ok=True)  # decided as what is added alone
    return exc


def test_an_excel_append_without_the_exception_is_refused(as_user, customers, governed):
    """``ExcelWriter(mode="a")`` re-saves the whole workbook on close: the sheet is refused
    and the workbook is not re-saved."""
    target = governed / PLAIN / "board.xlsx"
    exc = _xlsx_under(as_user, customers, target)
    before = _unchanged(target)
    time.sleep(0.01)
    with pytest.raises(lacuna.exceptions.AppendRefused, match=f"exception {exc.id}"), \
            pd.ExcelWriter(target, mode="a", engine="openpyxl") as writer:
        _public(customers.columns).to_excel(writer, sheet_name="more", index=False)
    assert _unchanged(target) == before
    writer = pd.ExcelWriter(target, mode="a", engine="openpyxl")  # nothing added: not saved
    writer.close()
    assert _unchanged(target) == before
    report = _sweep_later()
    assert (report.deleted, report.failed) == ((str(target),), ())


def test_an_excel_append_under_the_exception_is_swept(as_user, customers, governed):
    target = governed / PLAIN / "board.xlsx"
    exc = _xlsx_under(as_user, customers, target)
    time.sleep(0.01)
    with pd.ExcelWriter(target, mode="a", engine="openpyxl") as writer:
        _more(customers).to_excel(writer, sheet_name="more", index=False, exception_id=exc.id)
    sheets = pd.read_excel(target, sheet_name=None)
    assert list(sheets) == ["board", "more"]
    pd.testing.assert_frame_equal(sheets["more"], _more(customers))
    report = _sweep_later()
    assert (report.deleted, report.failed) == ((str(target),), ())


def test_an_excel_writer_replacing_a_file_closes_the_exceptions_record(as_user, customers,
                                                                       governed):
    """``pd.ExcelWriter(path)`` (``mode="w"``) truncates the file when it is made: the route of
    a full overwrite; one made under the exception keeps the file the exception's."""
    target = governed / PLAIN / "board.xlsx"
    exc = _xlsx_under(as_user, customers, target)
    time.sleep(0.01)
    public = _public(customers.columns)
    with pd.ExcelWriter(target, engine="openpyxl") as writer:
        public.to_excel(writer, sheet_name="public", index=False)
    pd.testing.assert_frame_equal(pd.read_excel(target, sheet_name="public"), public)
    assert [r.deleted_at is not None for r in current().exceptions.files(exc.id)] == [True]
    (event,) = _trail("file-superseded")
    assert (event["path"], event["method"]) == (str(target), "pandas.OpenpyxlWriter")
    again = governed / PLAIN / "again.xlsx"
    other = _xlsx_under(as_user, customers, again)
    time.sleep(0.01)
    with pd.ExcelWriter(again, engine="openpyxl") as writer:
        _more(customers).to_excel(writer, sheet_name="more", index=False,
                                  exception_id=other.id)
    pd.testing.assert_frame_equal(pd.read_excel(again, sheet_name="more"), _more(customers))
    assert len(_trail("file-superseded")) == 1  # the file is still the exception's
    report = _sweep_later()
    assert (report.deleted, report.failed) == ((str(again),), ())
    assert target.exists()


def test_an_excel_append_to_a_file_no_exception_holds(as_user, customers, governed):
    target = governed / PLAIN / "public.xlsx"
    public = _public(customers.columns)
    public.to_excel(target, sheet_name="one", index=False)
    with pd.ExcelWriter(target, mode="a", engine="openpyxl") as writer:
        public.to_excel(writer, sheet_name="two", index=False)
    sheets = pd.read_excel(target, sheet_name=None)
    assert list(sheets) == ["one", "two"]
    pd.testing.assert_frame_equal(sheets["two"], public)
    exc = _grant(as_user, customers, target)  # and under an exception: refused (older file)
    with pytest.raises(lacuna.exceptions.AppendRefused, match="was not written under"), \
            pd.ExcelWriter(target, mode="a", engine="openpyxl") as writer:
        customers.to_excel(writer, sheet_name="three", index=False, exception_id=exc.id)
    assert list(pd.read_excel(target, sheet_name=None)) == ["one", "two"]


# -- DuckDB: COPY … TO replaces a file, or adds files to a folder (APPEND) ----------------------


def test_duckdb_copy_over_a_file_written_under_an_exception_closes_its_record(as_user,
                                                                              customers,
                                                                              governed):
    import duckdb

    target = governed / PLAIN / "board.csv"
    exc = _written_under(as_user, customers, target, PLAIN)
    time.sleep(0.01)
    duckdb.sql(f"COPY (SELECT 'none' AS c0) TO '{target}' (HEADER)")
    pd.testing.assert_frame_equal(pd.read_csv(target), pd.DataFrame({"c0": ["none"]}))
    assert [r.deleted_at is not None for r in current().exceptions.files(exc.id)] == [True]
    (event,) = _trail("file-superseded")
    assert (event["path"], event["method"]) == (str(target), "duckdb.copy")
    report = _sweep_later()
    assert (report.deleted, report.failed) == ((), ())


def test_duckdb_copy_append_into_a_folder_written_under_an_exception(as_user, customers,
                                                                     governed):
    """``COPY … TO 'folder' (PARTITION_BY …, APPEND)`` adds files to what the folder holds."""
    import duckdb

    from lacuna.exceptions import files

    out = governed / PLAIN / "parts"
    exc = _grant(as_user, customers, out)
    record = files.remember(current(), exc.id, out, encrypted=False, directory=True)
    (out / "a=1").mkdir(parents=True)
    (out / "a=1" / "data_0.csv").write_text("c0\nrow\n")
    files.written(current(), record)
    before = sorted(str(p) for p in out.rglob("*"))
    copy = "COPY (SELECT 1 AS a, 'none' AS c0) TO '{}' (FORMAT csv, PARTITION_BY (a), {})"
    for option in ("APPEND", "OVERWRITE_OR_IGNORE"):
        with pytest.raises(lacuna.exceptions.AppendRefused, match=f"exception {exc.id}"):
            duckdb.sql(copy.format(out, option))
    assert sorted(str(p) for p in out.rglob("*")) == before
    plain = governed / PLAIN / "public_parts"
    for _ in range(2):  # no exception holds it: the ordinary rules
        duckdb.sql(copy.format(plain, "APPEND"))
    back = duckdb.sql(f"SELECT c0 FROM read_csv('{plain}/*/*.csv')").fetchall()
    assert back == [("none",), ("none",)]
    report = _sweep_later()
    assert (report.deleted, report.failed) == ((str(out),), ())


# -- partitioned folders: polars partition_by / pl.PartitionBy, pyarrow datasets --------------


def _polars_write_parquet(frame, out, **kwargs):
    frame.write_parquet(out, partition_by=["region"], **kwargs)


def _polars_sink_parquet(frame, out, **kwargs):
    import polars as pl

    frame.lazy().sink_parquet(pl.PartitionBy(str(out), key=["region"]), mkdir=True, **kwargs)


POLARS_PARTITIONED = {"write_parquet": _polars_write_parquet,
                      "sink_parquet": _polars_sink_parquet}


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def _rows(folder: Path) -> pd.DataFrame:
    import polars as pl

    frame = pl.read_parquet(folder).to_pandas()
    return frame.sort_values("customer_id").reset_index(drop=True)[
        sorted(frame.columns)]


def _expected(*frames: pd.DataFrame) -> pd.DataFrame:
    frame = pd.concat(frames).sort_values("customer_id").reset_index(drop=True)
    return frame[sorted(frame.columns)]


@pytest.mark.parametrize("writer", sorted(POLARS_PARTITIONED))
@pytest.mark.parametrize("where", [SEALED, PLAIN])
def test_a_polars_partitioned_write_under_an_exception_is_swept_whole(as_user, customers,
                                                                      governed, writer, where):
    """A partitioned write makes a folder: it was recorded as a file, so the sweep reported
    it ("not the one written there") every sweep and deleted nothing."""
    import polars as pl

    write = POLARS_PARTITIONED[writer]
    out = governed / where / "parts"
    exc = _grant(as_user, customers, out)
    write(pl.from_pandas(customers), out, exception_id=exc.id)
    (record,) = current().exceptions.files(exc.id)
    assert record.directory
    written = _files(out)
    assert len(written) == customers["region"].nunique()
    pd.testing.assert_frame_equal(_rows(out), _expected(customers))
    report = _sweep_later()
    assert (report.deleted, report.failed) == ((str(out),), ())
    assert not out.exists()


# the writers' matrix on SQLite only: the state store's side (a folder's record, the append
# check's queries) runs on PostgreSQL in the tests above (CI time)
@pytest.mark.parametrize("writer", sorted(POLARS_PARTITIONED))
@pytest.mark.parametrize("where", [SEALED, PLAIN])
def test_a_polars_partitioned_write_adds_to_a_folder_as_an_append(as_user, customers, governed,
                                                                  writer, where):
    """polars writes a partition's files into the folder and keeps the partitions it does not
    write: an append, checked before polars runs."""
    import polars as pl

    write = POLARS_PARTITIONED[writer]
    out = governed / where / "parts"
    exc = _grant(as_user, customers, out)
    write(pl.from_pandas(customers), out, exception_id=exc.id)
    before = _files(out)
    time.sleep(0.01)
    other = _grant(as_user, customers, out)
    public = pl.DataFrame({"customer_id": ["X0001"], "region": ["NONE"]})
    for made_under in (None, other.id):
        with pytest.raises(lacuna.exceptions.AppendRefused, match=f"exception {exc.id}") as got:
            write(public, out, exception_id=made_under)
        assert (got.value.path, got.value.held_by) == (str(out), exc.id)
    assert _files(out) == before
    more = _more(customers)
    more = more[~more["region"].isin(customers["region"])]  # new partitions only: none replaced
    write(pl.from_pandas(more), out, exception_id=exc.id)  # the same exception: recorded
    assert [r.directory for r in current().exceptions.files(exc.id)] == [True, True]
    pd.testing.assert_frame_equal(_rows(out), _expected(customers, more))
    elsewhere = governed / PLAIN / "public_parts"
    write(public, elsewhere)
    write(public.with_columns(pl.lit("MORE").alias("region")), elsewhere)  # the ordinary rules
    assert len(_files(elsewhere)) == 2
    there = _grant(as_user, customers, elsewhere)
    with pytest.raises(lacuna.exceptions.AppendRefused, match="was not written under"):
        write(pl.from_pandas(more), elsewhere, exception_id=there.id)
    report = _sweep_later()
    assert (report.deleted, report.failed) == ((str(out),), ())
    assert not out.exists()
    assert len(_files(elsewhere)) == 2


def _arrow_write_dataset(behaviour):
    def write(frame, out, **kwargs):
        import pyarrow as pa
        import pyarrow.dataset as pa_ds

        table = frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame)
        pa_ds.write_dataset(table, out, format="parquet", partitioning=["region"],
                            partitioning_flavor="hive", existing_data_behavior=behaviour,
                            **kwargs)

    return write


def _arrow_write_to_dataset(frame, out, **kwargs):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame)
    pq.write_to_dataset(table, out, partition_cols=["region"], **kwargs)


ARROW_DATASETS = {
    "write_dataset-overwrite_or_ignore": _arrow_write_dataset("overwrite_or_ignore"),
    "write_dataset-delete_matching": _arrow_write_dataset("delete_matching"),
    "write_to_dataset": _arrow_write_to_dataset,
}


# the writers' matrix on SQLite only: the state store's side (a folder's record, the append
# check's queries) runs on PostgreSQL in the tests above (CI time)
@pytest.mark.parametrize("writer", sorted(ARROW_DATASETS))
@pytest.mark.parametrize("where", [SEALED, PLAIN])
def test_a_pyarrow_dataset_write_adds_to_a_folder_as_an_append(as_user, customers, governed,
                                                               writer, where):
    """``existing_data_behavior="overwrite_or_ignore"`` (``pq.write_to_dataset``'s default) adds
    files to the folder; ``"delete_matching"`` replaces the partitions written and keeps the
    others: both are appends to the folder, checked before pyarrow runs. A dataset written
    under an exception is recorded as a folder, which the sweep deletes whole."""
    write = ARROW_DATASETS[writer]
    out = governed / where / "parts"
    exc = _grant(as_user, customers, out)
    write(customers, out, exception_id=exc.id)
    (record,) = current().exceptions.files(exc.id)
    assert record.directory
    pd.testing.assert_frame_equal(_rows(out), _expected(customers))
    before = _files(out)
    time.sleep(0.01)
    other = _grant(as_user, customers, out)
    public = pd.DataFrame({"customer_id": ["X0001"], "region": ["NONE"]})
    for made_under in (None, other.id):
        with pytest.raises(lacuna.exceptions.AppendRefused, match=f"exception {exc.id}") as got:
            write(public, out, exception_id=made_under)
        assert (got.value.path, got.value.held_by) == (str(out), exc.id)
    assert _files(out) == before
    more = _more(customers)
    more = more[~more["region"].isin(customers["region"])].reset_index(drop=True)
    write(more, out, exception_id=exc.id)  # the same exception: recorded
    assert [r.directory for r in current().exceptions.files(exc.id)] == [True, True]
    pd.testing.assert_frame_equal(_rows(out), _expected(customers, more))
    elsewhere = governed / PLAIN / "public_parts"
    write(public, elsewhere)
    write(public.assign(region="MORE"), elsewhere)  # no exception anywhere: the ordinary rules
    assert len(_files(elsewhere)) == 2
    there = _grant(as_user, customers, elsewhere)
    with pytest.raises(lacuna.exceptions.AppendRefused, match="was not written under"):
        write(more, elsewhere, exception_id=there.id)
    report = _sweep_later()
    assert (report.deleted, report.failed) == ((str(out),), ())
    assert not out.exists()
    assert len(_files(elsewhere)) == 2


# -- a store opened again, a store that saved nothing, writers of one path in turn -------------


@pytest.mark.parametrize("mode", ["a", "r+"])
def test_an_hdfstore_opened_again_for_writing_is_checked(as_user, customers, governed, mode):
    """``store.open(mode=...)`` after ``close()`` opens the file for writing again, as the
    constructor does: refused on a file written under an exception, the file untouched; the
    store made under the exception opens again under it and takes its puts."""
    target = governed / PLAIN / "board.h5"
    exc = _hdf_under(as_user, customers, target)
    before = _unchanged(target)
    time.sleep(0.01)
    store = pd.HDFStore(target, mode="r")  # reading: not checked
    store.close()
    with pytest.raises(lacuna.exceptions.AppendRefused, match=f"exception {exc.id}") as caught:
        store.open(mode=mode)
    assert "pandas.HDFStore: appending to" in str(caught.value)
    assert not store.is_open
    assert _unchanged(target) == before
    store = pd.HDFStore(target, mode="a", exception_id=exc.id)
    store.close()
    store.open(mode=mode)  # again under the exception the store was made under
    store.put("more", _more(customers), track_times=False)
    store.close()
    pd.testing.assert_frame_equal(pd.read_hdf(target, "board"), customers)
    pd.testing.assert_frame_equal(pd.read_hdf(target, "more"), _more(customers))
    report = _sweep_later()
    assert (report.deleted, report.failed) == ((str(target),), ())


def test_an_hdfstore_opened_again_on_a_file_no_exception_holds(as_user, customers, governed):
    target = governed / PLAIN / "public.h5"
    public = _public(customers.columns)
    store = pd.HDFStore(target, mode="w")
    store.put("one", public, track_times=False)
    store.close()
    store.open(mode="a")
    store.put("two", public, track_times=False)
    store.close()
    pd.testing.assert_frame_equal(pd.read_hdf(target, "two"), public)
    exc = _grant(as_user, customers, target)  # an older file: not the exception's to add to
    with pytest.raises(lacuna.exceptions.AppendRefused, match="was not written under"):
        store.open(mode="a", exception_id=exc.id)
    assert current().exceptions.files(exc.id) == []


def test_a_denied_excel_writer_over_a_file_closes_its_record(as_user, customers, governed):
    """``pd.ExcelWriter(path)`` truncates the file when it is made; every put denied, it saves
    nothing and its empty file is removed. The file written under the exception is gone: its
    record is closed (superseded, saying so), not reported missing by every sweep."""
    target = governed / PLAIN / "board.xlsx"
    exc = _xlsx_under(as_user, customers, target)
    time.sleep(0.01)
    with pytest.raises(lacuna.GovernanceViolation), \
            pd.ExcelWriter(target, engine="openpyxl") as writer:
        customers.to_excel(writer, sheet_name="board", index=False)  # no exception: denied
    assert not target.exists()
    store = current().exceptions
    assert [r.deleted_at is not None for r in store.files(exc.id)] == [True]
    (entry,) = [h for h in store.get(exc.id).history if h.event == "file-superseded"]
    assert entry.comment == (f"{target}: replaced in full by a write without an exception, "
                             "which then saved nothing (the empty file it left was removed) "
                             "(pandas.OpenpyxlWriter)")
    (event,) = _trail("file-superseded")
    assert (event["path"], event["identity"]) == (str(target), None)
    for _ in range(2):
        report = _sweep_later()
        assert (report.deleted, report.missing, report.failed) == ((), (), ())
    public = _public(customers.columns)  # the allowed write beside it: saved, read back
    with pd.ExcelWriter(target, engine="openpyxl") as writer:
        public.to_excel(writer, sheet_name="public", index=False)
    pd.testing.assert_frame_equal(pd.read_excel(target, sheet_name="public"), public)
    assert _sweep_later().missing == ()


def test_an_excel_writer_that_saved_nothing_closes_the_record_it_made(as_user, customers,
                                                                      governed):
    """A put under the exception recorded the file, then failed in pandas before a sheet was
    made (a column it does not have); another put was denied: nothing saved, the empty file
    removed. The record is closed (``file-discarded``), not a file reported missing every
    sweep."""
    target = governed / PLAIN / "board.xlsx"
    exc = _grant(as_user, customers, target)
    writer = pd.ExcelWriter(target, engine="openpyxl")
    with pytest.raises(KeyError, match="not all present"):
        customers.to_excel(writer, sheet_name="board", index=False, exception_id=exc.id,
                           columns=["not_a_column"])
    with pytest.raises(lacuna.GovernanceViolation):
        customers.to_excel(writer, sheet_name="board", index=False)
    writer.close()
    assert not target.exists()
    store = current().exceptions
    assert [r.deleted_at is not None for r in store.files(exc.id)] == [True]
    (entry,) = [h for h in store.get(exc.id).history if h.event == "file-discarded"]
    assert entry.comment.startswith(f"{target}: nothing written (pandas.OpenpyxlWriter saved "
                                    "nothing")
    (event,) = _trail("file-discarded")
    assert event["path"] == str(target)
    from lacuna.exceptions.report import build

    assert f"file {target} (plain): never written: the write saved nothing" in build(
        current()).text()
    report = _sweep_later()
    assert (report.deleted, report.missing, report.failed) == ((), (), ())
    again = governed / PLAIN / "again.xlsx"  # the allowed write under it: swept at the end
    other = _grant(as_user, customers, again)
    with pd.ExcelWriter(again, engine="openpyxl") as writer:
        customers.to_excel(writer, sheet_name="board", index=False, exception_id=other.id)
    pd.testing.assert_frame_equal(pd.read_excel(again, sheet_name="board"), customers)
    report = _sweep_later()
    assert (report.deleted, report.missing, report.failed) == ((str(again),), (), ())


@pytest.mark.parametrize("pause", ["after replacing", "before supersede"])
def test_an_overwrite_and_a_write_under_the_exception_take_turns(as_user, customers, governed,
                                                                 monkeypatch, pause):
    """Thread A replaces a file written under X; thread B writes it again under X while A is
    inside its step: after A read the records its write replaces (without turns: B's write was
    then replaced by A's and B's record, left open, named a file no longer there: reported
    every sweep), or after A's write returned (without turns: A closed B's record too, and B's
    rows outlived X). Taking turns, B's write comes after A's whole step: B's record stays
    open and the sweep deletes B's file."""
    import threading

    from lacuna.exceptions import appends

    target = governed / PLAIN / "board.csv"
    exc = _written_under(as_user, customers, target, PLAIN)
    time.sleep(0.01)
    paused, b_done = threading.Event(), threading.Event()
    name = "replacing" if pause == "after replacing" else "supersede"
    real = getattr(appends, name)

    def hold() -> None:
        if threading.current_thread().name == "A":
            paused.set()
            b_done.wait(timeout=0.5)  # B finishes here only when nothing makes it wait

    def replacing(*args, **kwargs):
        found = real(*args, **kwargs)
        hold()
        return found

    def supersede(*args, **kwargs):
        hold()
        return real(*args, **kwargs)

    monkeypatch.setattr(appends, name, replacing if name == "replacing" else supersede)
    errors: list[BaseException] = []

    def a() -> None:
        try:
            _public(customers.columns).to_csv(target, index=False)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    def b() -> None:
        try:
            paused.wait(timeout=5)
            time.sleep(0.01)  # a new modification time
            _more(customers).to_csv(target, index=False, exception_id=exc.id)
            b_done.set()
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=a, name="A"), threading.Thread(target=b, name="B")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert errors == []
    pd.testing.assert_frame_equal(pd.read_csv(target), _more(customers))  # B's, written last
    records = current().exceptions.files(exc.id)
    assert [r.deleted_at is None for r in records] == [False, True]  # A closed the first only
    report = _sweep_later()
    assert (report.deleted, report.failed) == ((str(target),), ())
    assert not target.exists()


@pytest.mark.parametrize("made", ["open to others", "a link"])
def test_a_lock_folder_someone_else_could_hold_is_not_used(tmp_path, monkeypatch, caplog, made):
    """Lock files live in the user's own ``$LACUNA_HOME``; a folder there that another account
    could fill (writable by others) or that points elsewhere (a link) is not used: said once
    at WARNING, and the write takes the in-process turn only (it never waits on a lock file
    someone else holds)."""
    from lacuna.exceptions import pathlock

    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("LACUNA_HOME", str(home))
    monkeypatch.setattr(pathlock, "_WARNED", threading.Event())
    folder = home / "file-locks"
    if made == "a link":
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir(mode=0o700)
        folder.symlink_to(elsewhere)
    else:
        folder.mkdir()
        folder.chmod(0o777)
    target = tmp_path / "x.csv"
    with caplog.at_level("WARNING", logger="lacuna.exceptions"), pathlock.path_lock(target):
        target.write_text("a\n1\n")
    assert "no lock file for writes to local paths" in caplog.text
    assert ("writable by others" if made == "open to others" else "not a folder") in caplog.text
    assert not list(folder.glob("*.lock"))  # none made there (nor, through the link, elsewhere)
    assert target.read_text() == "a\n1\n"  # the write itself went on
    if made == "a link":
        folder.unlink()
        folder.mkdir(mode=0o700)
    else:
        folder.chmod(0o700)
    with pathlock.path_lock(target):  # the user's own folder is used
        assert list(folder.glob("*.lock"))


def test_the_turn_of_a_path_excludes_other_processes(tmp_path):
    """The turn is an ``flock`` on a lock file: another open of it (another process's, or
    this one's) cannot lock it while the turn is held, and can once it is released."""
    import fcntl

    from lacuna.exceptions import pathlock

    target = tmp_path / "x.csv"
    stripe = pathlock._stripe_of(pathlock.resolved(target))
    lock_file = os.path.join(pathlock.lock_folder(), f"{stripe:03d}.lock")

    def free() -> bool:
        fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        finally:
            os.close(fd)
        return True

    with pathlock.path_lock(target):
        with pathlock.path_lock(str(target)):  # the same thread again: re-entrant
            assert not free()
        assert not free()
    assert free()


def _hold_turn(target, tmp_path, seconds: float):
    """Another process holding the turn of writes to ``target`` for ``seconds``: it locks the
    lock file as :mod:`lacuna.exceptions.pathlock` does (without importing Lacuna: fast)."""
    import subprocess
    import sys

    from lacuna.exceptions import pathlock

    os.makedirs(pathlock.lock_folder(), mode=0o700, exist_ok=True)
    stripe = pathlock._stripe_of(pathlock.resolved(target))
    lock_file = os.path.join(pathlock.lock_folder(), f"{stripe:03d}.lock")
    ready = tmp_path / "held"
    code = ("import fcntl, os, sys, time\n"
            "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX); os.ftruncate(fd, 0)\n"
            "os.pwrite(fd, f'{os.getpid()}\\n'.encode(), 0)\n"
            "open(sys.argv[2], 'w').close(); time.sleep(float(sys.argv[3]))\n")
    proc = subprocess.Popen([sys.executable, "-c", code, lock_file, str(ready), str(seconds)])
    deadline = time.monotonic() + 30
    while not ready.exists():
        assert proc.poll() is None, "the holder exited before taking the turn"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    return proc


def test_a_write_waits_for_its_turn_at_most_wait_s_and_names_the_holder(tmp_path, monkeypatch,
                                                                        caplog):
    from lacuna.exceptions import pathlock

    target = tmp_path / "x.csv"
    holder = _hold_turn(target, tmp_path, 0.8)
    try:
        monkeypatch.setattr(pathlock, "WAIT_S", 0.3)
        with pytest.raises(pathlock.WriteTurnTimeout, match=f"process {holder.pid}") as err, \
                pathlock.path_lock(target):
            pytest.fail("the turn was taken while another process held it")
        assert str(target) in str(err.value)
        assert "nothing was written" in str(err.value)
        # with time enough, the write waits (saying for whom) and takes the released turn
        monkeypatch.setattr(pathlock, "WAIT_S", 60.0)
        monkeypatch.setattr(pathlock, "WARN_AFTER_S", 0.1)
        with caplog.at_level("WARNING", logger="lacuna.exceptions"), \
                pathlock.path_lock(target):
            assert holder.poll() is not None or holder.wait(5) == 0  # it had released it
        assert f"held by process {holder.pid}" in caplog.text
    finally:
        holder.kill()
        holder.wait()


def test_a_file_whose_name_has_like_wildcards_is_found(as_user, customers, governed):
    """The records of a file are looked up by the end of their path (``LIKE``): ``_``, ``%``
    and ``\\`` in its name are matched as themselves, so its exception still holds it; another
    file whose name they would match as wildcards holds nothing."""
    target = governed / PLAIN / "q4_100%\\board.csv"
    exc = _written_under(as_user, customers, target, PLAIN)
    with pytest.raises(lacuna.exceptions.AppendRefused, match=f"exception {exc.id}"):
        _public(customers.columns).to_csv(target, mode="a", header=False, index=False)
    lookalike = governed / PLAIN / "q4x100ab\\board.csv"  # _ and % as wildcards would match
    public = _public(customers.columns)
    public.to_csv(lookalike, index=False)
    public.to_csv(lookalike, mode="a", header=False, index=False)
    pd.testing.assert_frame_equal(pd.read_csv(lookalike), pd.concat([public, public],
                                                                    ignore_index=True))
    report = _sweep_later()
    assert (report.deleted, report.failed) == ((str(target),), ())
