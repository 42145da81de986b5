"""Red-team findings on governed storage, third round (2026-12-06): a sidecar signed over
another file than the one written with it, the key retirement racing an in-flight write, and
the re-wrap's re-signing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd

import lacuna
from lacuna import storage
from lacuna.lineage import sidecar as sc
from lacuna.model import Tier
from storage.conftest import customers, write_config


def _swapped_in_while_signing(vault: Path, monkeypatch, secret: Path) -> Path:  # type: ignore[no-untyped-def]
    """public.csv written (PUBLIC); between its sealed rename and the signing of its sidecar,
    the attacker (who owns the files) copies the sealed file ``secret`` over it: the sidecar,
    signed over what the path then holds, says PUBLIC of that file."""
    fingerprint = sc.fingerprint

    def racing(path, **kwargs):  # type: ignore[no-untyped-def]
        if Path(path).name == "public.csv":
            shutil.copyfile(secret, path)
        return fingerprint(path, **kwargs)

    monkeypatch.setattr(sc, "fingerprint", racing)
    pd.DataFrame({"n": [1, 2]}).to_csv(vault / "public.csv", index=False)
    monkeypatch.setattr(sc, "fingerprint", fingerprint)
    signed = json.loads(sc.sidecar_path(vault / "public.csv").read_text())
    assert signed["classification"]["tier"] == "PUBLIC"
    found = sc.read_sidecar(vault / "public.csv")
    assert found is not None
    assert found.trusted  # a genuine signature, over the wrong file
    return vault / "public.csv"


def test_a_read_is_never_decided_below_the_class_sealed_into_the_header(
    vault: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    customers().to_csv(vault / "customers.csv", index=False)
    laundered = _swapped_in_while_signing(vault, monkeypatch, vault / "customers.csv")
    with storage.open_governed(laundered) as fh:  # `lacuna storage cat`, the mount: no values
        decided = fh.raw.decided_on  # type: ignore[attr-defined]
        assert b"ann@example.com" in fh.read()
    assert decided.tier is Tier.PROPRIETARY
    assert {"PII", "GDPR"} <= set(decided.tags)
    assert any("sealed header" in r for r in decided.reasoning)


def test_a_frame_read_from_it_keeps_the_class_sealed_into_the_header(
    vault: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """Values that show nothing (codes whose class came from where they were derived): the
    frame pandas returns was labelled PUBLIC, as the sidecar said, so it could leave as public
    data."""
    from lacuna.governor import current
    from lacuna.model import Classification

    secret = vault / "codes.csv"
    writer = storage.open_sealed_writer(
        secret,
        method="test",
        gov=current(),
        classification=(Classification(tier=Tier.PROPRIETARY, tags=("PII",))),
    )
    writer.write(b"n\n7\n9\n")
    writer.close()
    laundered = _swapped_in_while_signing(vault, monkeypatch, secret)
    back = pd.read_csv(laundered)
    assert back["n"].tolist() == [7, 9]
    assert back.lacuna_classification.tier is Tier.PROPRIETARY  # type: ignore[attr-defined]
    assert "PII" in back.lacuna_classification.tags  # type: ignore[attr-defined]


def test_an_honest_read_is_decided_on_its_sidecar_as_before(vault: Path) -> None:
    """The allowed path: a file and its own sidecar agree with its header; nothing is added,
    and what is read back is what was written."""
    frame = pd.DataFrame({"n": [1, 2]})
    frame.to_csv(vault / "public.csv", index=False)
    customers().to_csv(vault / "customers.csv", index=False)
    for name, tier in (("public.csv", Tier.PUBLIC), ("customers.csv", Tier.PROPRIETARY)):
        with storage.open_governed(vault / name) as fh:
            decided = fh.raw.decided_on  # type: ignore[attr-defined]
        declared = sc.read_sidecar(vault / name)
        assert declared is not None
        assert decided == declared.classification
        assert decided.tier is tier
    pd.testing.assert_frame_equal(pd.read_csv(vault / "public.csv"), frame)


def test_a_write_in_flight_when_its_key_version_is_retired_is_wrapped_with_a_live_one(
    vault: Path,
) -> None:
    """A long write started under v1; meanwhile v2 is made current and v1 retired (the
    retirement's check did not see this file: it was not in place yet). The file appears
    wrapped by v2 and reads back whole; before, it appeared sealed under the destroyed v1."""
    from lacuna.governor import current
    from lacuna.keystore import keystore_for
    from lacuna.storage.sealed import wrapping_keys

    gov = current()
    store = keystore_for(gov.config)
    path = vault / "long.csv"
    writer = storage.open_sealed_writer(path, method="test", gov=gov)
    writer.write(b"a,b\n" + b"1,2\n" * 100_000)
    store.rotate("storage")
    store.retire("storage", 1)
    writer.write(b"3,4\n")
    writer.close()
    assert [k.version for k in wrapping_keys(path)] == [2]
    assert storage.read_governed(path) == b"a,b\n" + b"1,2\n" * 100_000 + b"3,4\n"


def test_a_write_with_its_key_version_live_keeps_it(vault: Path) -> None:
    from lacuna.governor import current
    from lacuna.keystore import keystore_for
    from lacuna.storage.sealed import wrapping_keys

    gov = current()
    path = vault / "plain.csv"
    writer = storage.open_sealed_writer(path, method="test", gov=gov)
    keystore_for(gov.config).rotate("storage")  # v1 stays live: the file keeps it
    writer.write(b"x\n1\n")
    writer.close()
    assert [k.version for k in wrapping_keys(path)] == [1]
    assert storage.read_governed(path) == b"x\n1\n"


def test_retirement_is_refused_when_a_sealed_write_lands_while_it_checks(
    vault: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """The walk lists a write's temporary file; the write renames it into place before the
    walk looks at it: neither name is seen as a sealed file of v1. The retirement must not go
    on as if there were none."""
    from lacuna.governor import current
    from lacuna.keystore import keystore_for
    from lacuna.storage import rotation

    gov = current()
    path = vault / "landing.csv"
    writer = storage.open_sealed_writer(path, method="test", gov=gov)
    writer.write(b"x\n1\n")
    keystore_for(gov.config).rotate("storage")
    is_sealed = rotation.is_sealed

    def landing(found):  # type: ignore[no-untyped-def]
        if str(found).endswith(".sealing"):
            writer.close()  # renamed into place: the temporary name is gone
        return is_sealed(found)

    monkeypatch.setattr(rotation, "is_sealed", landing)
    still = rotation.wrapped_only_by(
        [vault], "storage", 1, keystore_for(gov.config).backend.versions
    )
    assert still
    assert str(still[0]).endswith(".sealing")
    assert path.exists()


def _nested_header(path: Path, magic: bytes, size: int) -> None:
    """A file that starts like a sealed file (or envelope) whose header is ``size`` bytes of
    "[": deeper than json decodes (RecursionError, which nothing caught)."""
    import struct

    text = b"[" * size
    path.write_bytes(magic + struct.pack(">I", len(text)) + text + b" " * 800)


def test_a_header_nested_too_deep_is_a_damaged_file_not_a_crash(
    vault: Path, tmp_path: Path
) -> None:
    """`lacuna storage rewrap` stopped with a traceback at such a file, leaving every file
    after it on the old key; `keys retire` crashed too. Now it is a damaged file: reported,
    the others re-wrapped, the retirement refused."""
    import pytest
    from typer.testing import CliRunner

    from lacuna.cli import app
    from lacuna.crypto import DecryptionError, decrypt
    from lacuna.errors import StorageError
    from lacuna.storage.sealed import MAGIC, read_header, wrapping_keys

    customers().to_csv(vault / "z_good.csv", index=False)
    _nested_header(vault / "a_evil.csv", MAGIC, 16000)
    with pytest.raises(StorageError, match="damaged sealed-file header"):
        read_header(vault / "a_evil.csv")
    with pytest.raises(DecryptionError, match="damaged Lacuna encryption header"):
        decrypt(b"LACUNAE1" + (20000).to_bytes(4, "big") + b"[" * 20000, None)  # type: ignore[arg-type]
    runner, config = CliRunner(), ["-c", str(tmp_path / "lacuna.yaml")]
    assert runner.invoke(app, ["keys", "rotate", *config]).exit_code == 0
    rewrap = runner.invoke(app, ["storage", "rewrap", *config])
    assert rewrap.exit_code == 1
    assert rewrap.exception is None or isinstance(rewrap.exception, SystemExit)
    assert "1 of 2 sealed file(s) re-wrapped" in rewrap.output
    assert [k.version for k in wrapping_keys(vault / "z_good.csv")] == [2]
    retire = runner.invoke(app, ["keys", "retire", "1", *config])
    assert retire.exit_code == 1
    assert "a_evil.csv" in retire.output
    assert pd.read_csv(vault / "z_good.csv").equals(customers())


def test_a_retention_rule_hold_refuses_a_governed_overwrite_as_the_mount_does(
        tmp_path: Path) -> None:
    """Holds of Rego ``retention`` rules (``"hold": true``) keep content for governed writes as
    they do for the mount (one source: ``Governor.keeping``); a rule that fails keeps it too.
    Before, pandas replaced a file such a rule held. A path no rule holds is written."""
    import shutil
    from importlib import resources

    import pytest

    from lacuna.errors import StorageError

    policies = tmp_path / "policies"
    shutil.copytree(Path(str(resources.files("lacuna") / "policies" / "default")), policies)
    (policies / "governance" / "inquiry.rego").write_text(
        "package governance.inquiry\n\nimport rego.v1\n\n"
        'retention := {"hold": true, "reason": "regulator inquiry"} if {\n'
        '\tcontains(input.dataset.path, "/inquiry/")\n}\n\n'
        'retention := "30d" if contains(input.dataset.path, "/conflicting/")\n\n'
        'retention := "60d" if contains(input.dataset.path, "/conflicting/")\n')
    config = write_config(tmp_path, policy={"dir": str(policies)})
    root = tmp_path / "governed" / "workspace"
    lacuna.enable(str(config))
    try:
        for folder, why in (("inquiry", "regulator inquiry"), ("conflicting", "failed on it")):
            (root / folder).mkdir()
            held = root / folder / "customers.csv"
            customers().to_csv(held, index=False)  # a new file: written
            before = held.read_bytes()
            with pytest.raises(StorageError, match=why):
                pd.DataFrame({"n": [1]}).to_csv(held, index=False)
            assert held.read_bytes() == before
            pd.testing.assert_frame_equal(pd.read_csv(held), customers())
        free = root / "customers.csv"
        customers().to_csv(free, index=False)
        fresh = pd.DataFrame({"n": [1, 2]})
        fresh.to_csv(free, index=False)  # no rule holds it: replaced
        pd.testing.assert_frame_equal(pd.read_csv(free), fresh)
    finally:
        lacuna.disable()


def test_a_governed_write_never_replaces_a_file_under_legal_hold(vault: Path) -> None:
    """The mount refuses to write held data ("a hold keeps content"); pandas replaced it (and
    an append re-sealed it) without a word. Refused now, the held file as it was; a new file in
    a held folder is written (and held from then on), and once released the file is written."""
    import pytest

    from lacuna.errors import StorageError
    from lacuna.governor import current
    from lacuna.retention import place_hold, release_hold

    legal = vault / "legal"
    legal.mkdir()
    held = legal / "customers.csv"
    customers().to_csv(held, index=False)
    before = held.read_bytes()
    place_hold(current(), str(legal), reason="litigation 2026-17")
    with pytest.raises(StorageError, match=r"under legal hold .*litigation 2026-17"):
        pd.DataFrame({"n": [1]}).to_csv(held, index=False)
    with pytest.raises(StorageError, match="under legal hold"):
        customers().to_csv(held, index=False, header=False, mode="a")
    assert held.read_bytes() == before
    pd.testing.assert_frame_equal(pd.read_csv(held), customers())
    fresh = pd.DataFrame({"n": [1, 2]})
    fresh.to_csv(legal / "new.csv", index=False)  # a new file in the held folder
    pd.testing.assert_frame_equal(pd.read_csv(legal / "new.csv"), fresh)
    release_hold(current(), str(legal))
    fresh.to_csv(held, index=False)
    pd.testing.assert_frame_equal(pd.read_csv(held), fresh)


def test_a_dataset_write_never_deletes_a_held_file_of_its_folder(vault: Path) -> None:
    """pyarrow's write_dataset(existing_data_behavior="delete_matching") deletes the files of
    the partitions it writes: those were deleted from governed storage under a legal hold too.
    Refused now, the folder as it was; without the hold, the same write goes through."""
    import pyarrow as pa
    import pyarrow.dataset as pa_ds
    import pytest

    from lacuna.errors import StorageError
    from lacuna.governor import current
    from lacuna.retention import place_hold, release_hold

    table = pa.table({"part": ["a", "b"], "n": [1, 2]})
    folder = vault / "ds"

    def write(t: pa.Table, **options: object) -> None:
        pa_ds.write_dataset(
            t,
            folder,
            format="parquet",
            partitioning=["part"],
            partitioning_flavor="hive",
            **options,
        )  # type: ignore[arg-type]

    write(table)
    held = next((folder / "part=a").iterdir())
    place_hold(current(), str(held), reason="subpoena 7")
    again = dict(existing_data_behavior="delete_matching", basename_template="new-{i}.parquet")
    with pytest.raises(StorageError, match="under legal hold"):
        write(table.slice(0, 1), **again)
    assert held.exists()
    assert sorted(p.name for p in (folder / "part=a").iterdir()) == [held.name]
    release_hold(current(), str(held))
    write(table.slice(0, 1), **again)
    assert [p.name for p in (folder / "part=a").iterdir()] == ["new-0.parquet"]
    assert pa_ds.dataset(folder, partitioning="hive").to_table().num_rows == 2


def test_a_key_version_is_never_retired_off_the_record(
    vault: Path, tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """`lacuna keys retire` destroyed the material first and recorded it after: with the audit
    trail unwritable, the crypto-shredding happened with no record. Now nothing is retired;
    once the trail is writable it is, and recorded."""
    from typer.testing import CliRunner

    from lacuna.cli import app
    from lacuna.errors import AuditError
    from lacuna.governor import current
    from lacuna.keystore import keystore_for
    from lacuna.storage import rotation

    customers().to_csv(vault / "customers.csv", index=False)
    runner, config = CliRunner(), ["-c", str(tmp_path / "lacuna.yaml")]
    assert runner.invoke(app, ["keys", "rotate", *config]).exit_code == 0
    assert runner.invoke(app, ["storage", "rewrap", *config]).exit_code == 0

    def unwritable(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        raise AuditError("database is locked")

    with monkeypatch.context() as patched:
        patched.setattr(rotation, "audit_event", unwritable)
        failed = runner.invoke(app, ["keys", "retire", "1", *config])
    assert failed.exit_code != 0
    backend = keystore_for(current().config).backend
    assert backend.versions("storage") == (1, 2)
    assert runner.invoke(app, ["keys", "retire", "1", *config]).exit_code == 0
    assert backend.versions("storage") == (2,)
    pd.testing.assert_frame_equal(pd.read_csv(vault / "customers.csv"), customers())


def test_a_hold_placed_while_a_sealed_write_runs_keeps_the_held_file(vault: Path) -> None:
    """The hold was checked when the sealing stream was opened only: a hold placed while a
    (long) write ran did not stop it replacing the held file at close."""
    import pytest

    from lacuna import storage
    from lacuna.errors import StorageError
    from lacuna.governor import current
    from lacuna.retention import place_hold, release_hold

    held = vault / "customers.csv"
    customers().to_csv(held, index=False)
    before = held.read_bytes()
    writer = storage.open_sealed_writer(held, method="test", gov=current())
    writer.write(b"n\n1\n")
    place_hold(current(), str(held), reason="litigation 2026-18")
    with pytest.raises(StorageError, match=r"under legal hold .*litigation 2026-18"):
        writer.close()
    assert held.read_bytes() == before
    assert not [p for p in vault.iterdir() if p.name.endswith(".sealing")]  # nothing left
    release_hold(current(), str(held))
    writer = storage.open_sealed_writer(held, method="test", gov=current())
    writer.write(b"n\n1\n")
    writer.close()  # no hold: it goes through
    assert storage.read_governed(held) == b"n\n1\n"
