"""Red-team findings on governed storage, third round (2026-12-06): a sidecar signed over
another file than the one written with it, the key retirement racing an in-flight write, and
the re-wrap's re-signing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from lacuna import storage
from lacuna.lineage import sidecar as sc
from lacuna.model import Tier
from storage.conftest import customers


def _swapped_in_while_signing(vault: Path, monkeypatch) -> Path:  # type: ignore[no-untyped-def]
    """public.csv written (PUBLIC); between its sealed rename and the signing of its sidecar,
    the attacker (who owns the files) copies a sealed file of customers over it: the sidecar,
    signed over what the path then holds, says PUBLIC of the customers' file."""
    secret = vault / "customers.csv"
    customers().to_csv(secret, index=False)
    fingerprint = sc.fingerprint

    def racing(path, **kwargs):  # type: ignore[no-untyped-def]
        if Path(path).name == "public.csv":
            shutil.copyfile(secret, path)
        return fingerprint(path, **kwargs)

    monkeypatch.setattr(sc, "fingerprint", racing)
    pd.DataFrame({"n": [1, 2]}).to_csv(vault / "public.csv", index=False)
    monkeypatch.setattr(sc, "fingerprint", fingerprint)
    found = sc.read_sidecar(vault / "public.csv")
    assert found is not None
    assert found.trusted
    assert found.classification.tier is Tier.PUBLIC
    return vault / "public.csv"


def test_a_read_is_never_decided_below_the_class_sealed_into_the_header(
    vault: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    laundered = _swapped_in_while_signing(vault, monkeypatch)
    with storage.open_governed(laundered) as fh:  # `lacuna storage cat`, the mount: no values
        decided = fh.raw.decided_on  # type: ignore[attr-defined]
        assert b"ann@example.com" in fh.read()
    assert decided.tier is Tier.PROPRIETARY
    assert {"PII", "GDPR"} <= set(decided.tags)
    assert any("sealed header" in r for r in decided.reasoning)


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
