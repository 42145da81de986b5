"""Destination classification: a table of targets, boundaries and hostile input."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lacuna.config import DestinationConfig
from lacuna.destinations import classify_destination, redact
from lacuna.errors import IntegrationError, LacunaError
from lacuna.model import DestinationType, Scope

CONFIG = DestinationConfig(
    internal_buckets=("team-*", "analytics@acct.dfs.core.windows.net"),
    classification_aware_databases=("postgresql://warehouse.internal/", "snowflake://acme/"),
)
FILE, GOV, OBJ, HTTP, DB = (
    DestinationType.FILE,
    DestinationType.GOVERNED_STORAGE,
    DestinationType.OBJECT_STORE,
    DestinationType.HTTP,
    DestinationType.DATABASE,
)
INT, EXT = Scope.INTERNAL, Scope.EXTERNAL


@pytest.fixture(autouse=True)
def _cwd_outside_tmp(monkeypatch: pytest.MonkeyPatch) -> None:
    # The suite runs in a tmp_path, which is under /tmp: an unmanaged place by default.
    monkeypatch.chdir("/")


@pytest.mark.parametrize(
    ("target", "kind", "scope", "managed", "encrypted", "prefix"),
    [
        # unmanaged places
        ("~/Downloads/customers.csv", FILE, EXT, False, False, "~/Downloads"),
        ("~/Desktop/report.xlsx", FILE, EXT, False, False, "~/Desktop"),
        ("/tmp/x.csv", FILE, EXT, False, False, "/tmp"),
        ("/tmp", FILE, EXT, False, False, "/tmp"),
        ("file:///tmp/a%20b.csv", FILE, EXT, False, False, "/tmp"),
        ("file://localhost/tmp/x.csv", FILE, EXT, False, False, "/tmp"),
        # governed roots, on path boundaries, most specific wins
        ("/governed/workspace/customers.csv", GOV, INT, True, True, "/governed/workspace/"),
        ("/governed/workspace", GOV, INT, True, True, "/governed/workspace/"),
        ("/governed/reports/q4/summary.pdf", GOV, INT, True, True, "/governed/reports/"),
        ("/governed/workspace-evil/x.csv", FILE, INT, True, False, None),
        ("/governed/workspaces/x.csv", FILE, INT, True, False, None),
        ("/governed/workspace/../../tmp/x.csv", FILE, EXT, False, False, "/tmp"),
        ("/governed/workspace/./sub//x.csv", GOV, INT, True, True, "/governed/workspace/"),
        (
            "s3://company-governed-data/a/b.parquet",
            GOV,
            INT,
            True,
            True,
            "s3://company-governed-data/",
        ),
        (
            "S3A://Company-Governed-Data/a.parquet",
            GOV,
            INT,
            True,
            True,
            "s3://company-governed-data/",
        ),
        ("s3://company-governed-data-evil/a.parquet", OBJ, EXT, False, False, None),
        # other local files
        ("out.csv", FILE, INT, True, False, None),
        ("./reports/../out.csv", FILE, INT, True, False, None),
        # object stores
        ("s3://team-analytics/q4.parquet", OBJ, INT, True, False, None),
        ("gs://random-bucket/x", OBJ, EXT, False, False, None),
        ("gcs://team-x/y", OBJ, INT, True, False, None),
        ("abfss://analytics@acct.dfs.core.windows.net/p", OBJ, INT, True, False, None),
        ("abfs://other@acct.dfs.core.windows.net/p", OBJ, EXT, False, False, None),
        ("az://container/p", OBJ, EXT, False, False, None),
        # HTTP
        ("http://localhost:8080/upload", HTTP, INT, True, False, None),
        ("https://svc.internal/api", HTTP, INT, True, False, None),
        ("https://svc.internal.evil.com/api", HTTP, EXT, False, False, None),
        ("https://svc.internal@evil.com/", HTTP, EXT, False, False, None),
        ("https://api.example.com/upload", HTTP, EXT, False, False, None),
        # databases
        ("postgresql://warehouse.internal/analytics", DB, INT, True, False, None),
        ("sqlite:///scratch.db", DB, INT, True, False, None),
        ("mysql+pymysql://u:p@db/x", DB, EXT, False, False, None),  # db: not internal_hosts
        ("mysql+pymysql://u:p@db.internal/x", DB, INT, True, False, None),
        ("jdbc:postgresql://h:5432/db", DB, EXT, False, False, None),
        ("jdbc:postgresql://localhost:5432/db", DB, INT, True, False, None),
        ("duckdb:///local.duckdb", DB, INT, True, False, None),
        # unknown schemes: external, unmanaged (fail closed)
        ("ftp://files.example.com/x.csv", FILE, EXT, False, False, None),
    ],
)
def test_destinations_table(target, kind, scope, managed, encrypted, prefix) -> None:
    d = classify_destination(target, CONFIG)
    assert (d.type, d.scope, d.managed, d.encrypted, d.path_prefix) == (
        kind,
        scope,
        managed,
        encrypted,
        prefix,
    )
    assert d.reasoning.endswith(".")
    assert d.reasoning.count(". ") == 0  # one sentence


@pytest.mark.parametrize(
    ("target", "aware"),
    [
        ("postgresql://warehouse.internal/analytics", True),
        ("postgresql+psycopg://etl:secret@warehouse.internal/analytics", True),
        ("postgres://warehouse.internal/analytics", True),
        ("postgresql://warehouse.internal.evil/analytics", False),
        ("postgresql://warehouse.internal", False),
        ("snowflake://acme/db/schema", True),
        ("snowflake://acme-evil/db", False),
        ("sqlite:///x.db", False),
    ],
)
def test_destinations_classification_aware_databases(target: str, aware: bool) -> None:
    assert classify_destination(target, CONFIG).classification_support is aware


def test_destinations_local_paths_resolve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    d = classify_destination("sub/../out.csv", CONFIG)
    assert d.uri == "sub/../out.csv"
    assert d.path == os.path.realpath(tmp_path / "out.csv")
    assert (d.scope, d.path_prefix) == (EXT, "/tmp")  # the working folder is under /tmp
    home = classify_destination("~/Downloads/x.csv", CONFIG)
    assert home.path == os.path.realpath(os.path.expanduser("~/Downloads/x.csv"))
    assert classify_destination(tmp_path / "p.parquet", CONFIG).uri == str(tmp_path / "p.parquet")


def test_destinations_symlink_out_of_governed_storage_is_not_governed(tmp_path: Path) -> None:
    governed = tmp_path / "governed"
    outside = tmp_path / "outside"
    governed.mkdir()
    outside.mkdir()
    (governed / "escape").symlink_to(outside)
    config = DestinationConfig(governed=(str(governed) + "/",), unmanaged=(str(outside),))
    d = classify_destination(str(governed / "escape" / "x.csv"), config)
    assert (d.type, d.scope, d.path_prefix) == (FILE, EXT, str(outside))


def test_destinations_most_specific_root_wins(tmp_path: Path) -> None:
    config = DestinationConfig(governed=("/tmp/governed/",), unmanaged=("/tmp",))
    assert classify_destination("/tmp/governed/x.csv", config).type is GOV
    assert classify_destination("/tmp/other/x.csv", config).type is FILE
    outside = DestinationConfig(governed=("/data/",), unmanaged=("/data/scratch",))
    assert classify_destination("/data/scratch/x", outside).managed is False
    assert classify_destination("/data/keep/x", outside).type is GOV


def test_destinations_local_files_scope_is_configurable() -> None:
    config = DestinationConfig(local_files_scope="external")
    d = classify_destination("out.csv", config)
    assert (d.scope, d.managed) == (EXT, True)
    assert "local files are external" in d.reasoning


def test_destinations_secrets_are_redacted() -> None:
    d = classify_destination("postgresql://etl:hunter2@db.internal/x?sslmode=require", CONFIG)
    assert d.uri == "postgresql://etl:***@db.internal/x?sslmode=require"
    assert "hunter2" not in d.reasoning
    h = classify_destination("https://api.example.com/up?token=abc&page=2", CONFIG)
    assert h.uri == "https://api.example.com/up?token=***&page=2"
    assert redact("s3://b/k?X-Amz-Signature=abc") == "s3://b/k?X-Amz-Signature=***"
    assert redact("sqlite:///x.db") == "sqlite:///x.db"


def test_destinations_reasoning_says_why() -> None:
    assert classify_destination("~/Downloads/c.csv", CONFIG).reasoning == (
        "~/Downloads/c.csv is under ~/Downloads, an unmanaged place (destinations.unmanaged): "
        "not encrypted or monitored, so it counts as external."
    )
    assert classify_destination("s3://other/k", CONFIG).reasoning == (
        "s3://other/k is in bucket 'other', which is not in destinations.internal_buckets, "
        "so it counts as external."
    )


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("", "destination is empty"),
        ("   ", "destination is empty"),
        ("a\x00b.csv", "NUL or other control character"),
        ("out\n.csv", "NUL or other control character"),
        ("file:///tmp/%00x", "encoded control character"),
        ("file://fileserver/share/x.csv", "names host 'fileserver'"),
        ("http:///path", "has no host or bucket"),
        ("s3:///key", "has no host or bucket"),
        ("http://[::1/x", "is not a valid URL"),
        (b"/tmp/x.csv", "destination is bytes"),
        (42, "must be a path or URL string, got int"),
        (None, "must be a path or URL string, got NoneType"),
    ],
)
def test_destinations_hostile_input_raises_integration_error(target, message) -> None:
    with pytest.raises(IntegrationError, match=message) as info:
        classify_destination(target, CONFIG)
    assert isinstance(info.value, LacunaError)


@pytest.mark.parametrize("target",
                         [" /governed/workspace/x.csv", "\u00a0/governed/workspace/x.csv"])
def test_destinations_a_local_path_is_classified_as_given_spaces_included(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str
) -> None:
    # open() and pandas write " /governed/workspace/x.csv" under the current folder (an
    # unmanaged one here); classified stripped, it was governed storage.
    monkeypatch.chdir(tmp_path)
    config = DestinationConfig(unmanaged=(str(tmp_path),))
    d = classify_destination(target, config)
    assert (d.type, d.scope, d.managed) == (FILE, EXT, False)
    assert d.path == os.path.join(os.path.realpath(tmp_path), target)
    allowed = classify_destination(target.strip(), config)
    assert (allowed.type, allowed.scope) == (GOV, INT)
    trailing = classify_destination("/governed/workspace/x.csv ", config)
    assert (trailing.type, trailing.path) == (GOV, "/governed/workspace/x.csv ")


@pytest.mark.parametrize("target", [" https://api.external-service.com/upload",
                                    "s3://company-governed-data/x ", " jdbc:postgresql://h/db"])
def test_destinations_a_url_with_surrounding_whitespace_is_refused(target: str) -> None:
    # requests strips it and sends to the URL; pandas writes a local file of that name
    with pytest.raises(IntegrationError, match="starts or ends with whitespace"):
        classify_destination(target, CONFIG)
    assert classify_destination(target.strip(), CONFIG).type in {GOV, HTTP, DB}


@pytest.mark.parametrize(
    "target",
    ["https://evil.example\\@localhost/x", "https://evil.example\\.internal/x",
     "https://evil.example\\@files.internal/gov/x"],
)
def test_destinations_backslash_in_a_url_host_is_refused(target: str) -> None:
    # urlsplit's host is after the backslash (internal); requests and browsers connect to
    # evil.example, the part before it.
    config = DestinationConfig(governed=("https://files.internal/gov/",))
    with pytest.raises(IntegrationError, match="backslash in its host part"):
        classify_destination(target, config)
    allowed = classify_destination("https://files.internal/gov/x", config)
    assert (allowed.type, allowed.scope) == (GOV, INT)


def test_destinations_governed_container_is_not_the_whole_account() -> None:
    config = DestinationConfig(governed=("abfss://governed@acct.dfs.core.windows.net/",))
    inside = classify_destination("abfss://governed@acct.dfs.core.windows.net/q/x.parquet", config)
    assert (inside.type, inside.scope, inside.managed) == (GOV, INT, True)
    for other in ("abfss://public@acct.dfs.core.windows.net/q/x.parquet",
                  "abfss://acct.dfs.core.windows.net/q/x.parquet"):
        d = classify_destination(other, config)
        assert (d.type, d.scope, d.managed) == (OBJ, EXT, False), other


def test_destinations_file_colon_single_slash_is_the_root_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Spark, pyarrow.parquet, polars and DuckDB write "file:/tmp/x" to /tmp/x; it was
    # classified as a folder "file:" under the current one (here governed storage).
    governed = tmp_path / "gov"
    governed.mkdir()
    monkeypatch.chdir(governed)
    config = DestinationConfig(governed=(str(governed),), unmanaged=("/tmp",))
    d = classify_destination("file:/tmp/x.parquet", config)
    assert (d.type, d.scope, d.managed, d.path) == (FILE, EXT, False, "/tmp/x.parquet")
    inside = classify_destination(f"file:{governed}/x.parquet", config)
    assert (inside.type, inside.scope) == (GOV, INT)
    (governed / "file:").mkdir()  # now open() would write in ./file:/tmp/: two places
    with pytest.raises(IntegrationError, match="different places to different writers"):
        classify_destination("file:/tmp/x.parquet", config)


def test_destinations_file_url_escapes_read_both_ways(tmp_path: Path) -> None:
    # pyarrow decodes %2e%2e (into gov/); polars and DuckDB write a folder "%2e%2e" in out/.
    # Classified decoded only, it was governed storage.
    config = DestinationConfig(governed=(str(tmp_path / "gov"),),
                               unmanaged=(str(tmp_path / "out"),))
    with pytest.raises(IntegrationError, match="different places to different writers"):
        classify_destination(f"file://{tmp_path}/out/%2e%2e/gov/x.csv", config)
    same = classify_destination(f"file://{tmp_path}/gov/a%20b.csv", config)
    assert (same.type, same.path) == (GOV, f"{os.path.realpath(tmp_path)}/gov/a b.csv")


@pytest.mark.parametrize("target", ["s3://b/public/../governed/x.csv", "s3://b//governed/x.csv",
                                    "s3://b/%67overned/x.csv"])
def test_destinations_an_object_key_is_literal(target: str) -> None:
    # S3 stores "public/../governed/x.csv" as that key, under public/ (a bucket policy on
    # public/* reaches it); resolved, it read as governed/x.csv: governed storage.
    config = DestinationConfig(governed=("s3://b/governed/",), unmanaged=("s3://b/public/",))
    with pytest.raises(IntegrationError, match="names a different place once"):
        classify_destination(target, config)
    for plain in ("s3://b/governed/x.csv", "s3://b/governed/./x.csv", "s3://b/governed/a%20b"):
        assert classify_destination(plain, config).type is GOV, plain
    assert classify_destination("s3://b/public/x.csv", config).scope is EXT


def test_destinations_an_internal_bucket_pattern_is_not_any_accounts_container() -> None:
    # "team-*" matched the container name alone: abfss://team-data@<an attacker's storage
    # account>/ was internal.
    for target in ("abfss://team-data@attacker.dfs.core.windows.net/x",
                   "abfss://analytics@attacker.dfs.core.windows.net/x"):
        d = classify_destination(target, CONFIG)
        assert (d.scope, d.managed) == (EXT, False), target
    for target in ("s3://team-x/k", "abfss://analytics@acct.dfs.core.windows.net/x"):
        assert classify_destination(target, CONFIG).scope is INT, target
    whole = DestinationConfig(internal_buckets=("acct.dfs.core.windows.net",))
    assert classify_destination("abfss://any@acct.dfs.core.windows.net/x", whole).scope is INT


def test_destinations_an_unmanaged_root_in_another_case_or_normalization_is_unmanaged() -> None:
    # On macOS and Windows "~/downloads" is ~/Downloads, and an NFD name the NFC one: such a
    # target was an internal local file.
    import unicodedata

    nfc = unicodedata.normalize("NFC", "/home/ana/Téléchargements")
    config = DestinationConfig(unmanaged=("~/Downloads", nfc), governed=("/srv/Gov/",))
    for target in ("~/downloads/x.csv", "~/DOWNLOADS", unicodedata.normalize("NFD", nfc) + "/x"):
        d = classify_destination(target, config)
        assert (d.type, d.scope, d.managed) == (FILE, EXT, False), target
    assert classify_destination("~/Downloads/x.csv", config).scope is EXT
    assert classify_destination("~/Downloadsx/x.csv", config).scope is INT  # a boundary still
    assert classify_destination("/srv/Gov/x.csv", config).type is GOV
    assert classify_destination("/srv/gov/x.csv", config).type is FILE  # governed: exactly


def test_destinations_a_root_made_a_symlink_later_still_holds_its_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The resolved roots were cached: ~/Downloads made a link to another folder after the first
    # classification left its files (resolved there) under no root: internal.
    monkeypatch.setenv("HOME", str(tmp_path))
    config = DestinationConfig(unmanaged=("~/Downloads",), governed=())
    assert classify_destination("~/Downloads/x.csv", config).scope is EXT
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "Downloads").symlink_to(tmp_path / "elsewhere")
    d = classify_destination("~/Downloads/x.csv", config)
    assert (d.scope, d.managed, d.path) == (EXT, False, str(tmp_path / "elsewhere" / "x.csv"))
    assert classify_destination(str(tmp_path / "x.csv"), config).scope is INT


@pytest.mark.parametrize("scheme", ["sqlite", "duckdb", "sqlite+pysqlite"])
def test_destinations_a_database_file_in_an_unmanaged_place_is_external(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scheme: str
) -> None:
    # Every database URL was internal: `lacuna check sales.csv --to sqlite:////root/Downloads/
    # x.db` was allowed where `--to ~/Downloads/x.csv` was refused, though the file sits in
    # Downloads like the CSV would.
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "Downloads").mkdir()
    config = DestinationConfig(unmanaged=("~/Downloads",), governed=())
    inside = classify_destination(f"{scheme}:///{tmp_path}/Downloads/x.db", config)
    assert (inside.type, inside.scope, inside.managed) == (DestinationType.DATABASE, EXT, False)
    assert inside.path == str(tmp_path / "Downloads" / "x.db")
    assert "unmanaged" in inside.reasoning
    relative = classify_destination(f"{scheme}:///Downloads/y.db", config)  # from the cwd
    assert relative.scope is EXT
    # the allowed path: a file elsewhere, or a database in memory, is an internal database
    for url in (f"{scheme}:///{tmp_path}/work/x.db", f"{scheme}://", f"{scheme}:///:memory:",
                "postgresql://db.internal/sales"):
        d = classify_destination(url, config)
        assert (d.type, d.scope) == (DestinationType.DATABASE, INT), url
