"""Destination classification: where does this operation send data, and how safe is it?

:func:`classify_destination` turns a target (a path, a URL, a database URL) into a
:class:`~lacuna.model.Destination`, the ``input.destination`` that policies read. The rules, first
match wins:

1. **Governed and unmanaged roots** (``destinations.governed``, ``destinations.unmanaged``):
   the most specific root that contains the target wins, matched on path boundaries
   (``/governed/workspace-evil/`` is not under ``/governed/workspace/``); an unmanaged root
   also in another case or Unicode normalization (``~/downloads``: the same folder on macOS
   and Windows), a governed one exactly. A governed root gives
   ``governed_storage`` (encrypted, managed, internal); an unmanaged one gives an external,
   unmanaged place (``~/Downloads``, ``~/Desktop``, ``/tmp``).
2. **Database URLs** (``postgresql://``, ``sqlite:///``, ``snowflake://``, any ``dialect+driver://``,
   ``jdbc:...``): ``database``; ``classification_support`` when the URL starts with one
   of ``destinations.classification_aware_databases`` (on a boundary, credentials ignored).
   Internal when every host it connects to is this machine (loopback, a Unix socket, no host)
   or matches ``destinations.internal_hosts``, else external, unmanaged (``postgresql://
   evil.com/db``; MotherDuck's ``duckdb:///md:db`` is host ``motherduck``). An SQLite or
   DuckDB file is local: under an unmanaged root it is external, as any file there.
3. **Object stores** (``s3://``, ``gs://``, ``gcs://``, ``abfs(s)://``, ``az://``, ...):
   internal only when the bucket matches ``destinations.internal_buckets`` (for
   ``container@account``: an entry with ``@`` names both, one without it the account). A root's
   ``container@`` (``abfss://governed@account.dfs.core.windows.net/``) is part of it: another
   container of the account is not under it.
4. **HTTP(S)**: internal only when the host matches ``destinations.internal_hosts`` (fnmatch).
5. **Other URLs** (``ftp://``, unknown schemes): an external, unmanaged place (fail closed).
6. **Local files**: scope ``destinations.local_files_scope`` (internal by default), managed.

Local paths are taken as given, spaces at either end included (`` /x`` is a folder `` ``
under the current one, as ``open()`` reads it), expanded (``~``), made absolute against the
current directory and resolved (``..`` and symlinks), so ``/governed/workspace/../../tmp/x``
is ``/tmp/x``. ``file://`` URLs, and ``file:/x`` as Spark and pyarrow write them, are local
paths; one that writers read as places governed differently (percent-escapes decoded by pyarrow,
not by polars or DuckDB; ``file:/x`` where a folder ``file:`` exists here) is refused.
Object-store and URL paths are normalized the same way before matching, and must fall under
the same root as written too (an object store's key is literal: ``s3://b/public/../governed/x``
is stored under ``public/``), else they are refused.

``Destination.uri`` is the target as given, with any password and secret-looking query values
replaced by ``***``: it is what users recognise and what the audit trail stores.

A target that cannot be a destination at all (empty, not text, NUL or other control characters, a
URL without a host), or one that writers read as different places (a URL with whitespace at
either end: requests strips it, pandas writes a local file of that name; a backslash in a URL's
host part, where urlsplit and requests find different hosts) raises
:class:`~lacuna.errors.IntegrationError`: it comes from the host call an integration is
translating, and the message says how to fix the call. ``ConfigError`` stays reserved for
problems in ``lacuna.yaml``.
"""

from __future__ import annotations

import fnmatch
import os
import posixpath
import re
import unicodedata
from functools import lru_cache
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from lacuna.errors import IntegrationError
from lacuna.model import Destination, DestinationType, Scope
from lacuna.redact import redact_url

if TYPE_CHECKING:
    from lacuna.config import DestinationConfig

_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

OBJECT_STORE_SCHEMES = frozenset(
    {"s3", "s3a", "s3n", "gs", "gcs", "abfs", "abfss", "az", "adl", "wasb", "wasbs", "hdfs"}
)
DATABASE_SCHEMES = frozenset({
    "postgresql", "postgres", "mysql", "mariadb", "sqlite", "oracle", "mssql", "sqlserver",
    "snowflake", "bigquery", "redshift", "duckdb", "trino", "presto", "clickhouse", "databricks",
    "hive", "db2", "ibm_db_sa", "cockroachdb", "teradata", "vertica", "exasol", "mongodb",
    "mongodb+srv", "awsathena", "firebird", "sybase",
})
HTTP_SCHEMES = frozenset({"http", "https"})
# Spellings of one store, so a governed root written one way matches a target written another.
_ALIASES = {"s3a": "s3", "s3n": "s3", "gcs": "gs", "postgres": "postgresql", "wasbs": "wasb"}


def classify_destination(target: str | os.PathLike[str], config: DestinationConfig) -> Destination:
    """Classify where an operation sends data.

    Args:
        target: a local path (``"~/Downloads/x.csv"``, ``Path("out.parquet")``), a ``file://``
            URL, an object-store or HTTP URL, or a database URL.
        config: the ``destinations`` section of the configuration.

    Returns:
        The destination, with ``reasoning`` saying in one sentence why it was classified so.

    Raises:
        IntegrationError: the target is empty, not text, or contains control characters, or
            is a URL without a host.

    Example:
        >>> from lacuna.config import DestinationConfig
        >>> d = classify_destination("/governed/workspace/q4.csv", DestinationConfig())
        >>> (d.type.value, d.scope.value, d.encrypted, d.path_prefix)
        ('governed_storage', 'internal', True, '/governed/workspace/')
    """
    text = _as_text(target)
    try:
        return _classify(target, text, config)
    except ValueError as exc:  # urlsplit: a malformed host, port or IPv6 literal
        msg = f"destination {redact(text)!r} is not a valid URL ({exc}); fix the URL."
        raise IntegrationError(msg) from exc


def _classify(target: object, text: str, config: DestinationConfig) -> Destination:
    if not isinstance(target, str):  # a PathLike is always a local path
        return _local(text, _resolve(text), config)
    match = _URL.match(text)
    if match is None and text.lower().startswith("jdbc:"):
        return _database(text, text[5:], config)
    if match is None and text[:6].lower() == "file:/":
        # file:/tmp/x: Spark, Hadoop, pyarrow, polars and DuckDB write /tmp/x; it was
        # classified as a folder "file:" under the current one (governed storage when run
        # there); open() and pyarrow.csv write in that folder when it exists
        readings = _file_url_paths(text)
        if os.path.isdir(text[:5]):  # ("file:" as written: FILE:/x is another folder)
            readings = (*readings, _resolve(text))
        return _one_place(text, readings, config)
    if match is None:
        return _local(text, _resolve(text), config)
    scheme = match.group(1).lower()
    if scheme == "file":
        return _one_place(text, _file_url_paths(text), config)
    if "+" in scheme or scheme in DATABASE_SCHEMES:
        return _database(text, text, config)
    return _remote(text, scheme, config)


def _as_text(target: object) -> str:
    if isinstance(target, os.PathLike):
        target = os.fspath(target)
    if isinstance(target, bytes):
        msg = ("destination is bytes; pass a str path or URL "
               "(decode it with os.fsdecode(target) first).")
        raise IntegrationError(msg)
    if not isinstance(target, str):
        msg = (f"destination must be a path or URL string, got {type(target).__name__}. "
               "Pass the file path, URL or database URL the data is written to.")
        raise IntegrationError(msg)
    text = target.strip()
    if not text:
        msg = "destination is empty; pass the file path, URL or database URL the data goes to."
        raise IntegrationError(msg)
    if text != target and (_URL.match(text) or text.lower().startswith("jdbc:")):
        # requests strips " https://host/"; pandas opens it as a local path under the
        # current folder. Refused rather than guessed.
        msg = (f"destination {redact(target)!r} starts or ends with whitespace: some clients "
               "strip it and send to the URL, others write a local file of that name; "
               "remove it.")
        raise IntegrationError(msg)
    if _CONTROL.search(text):
        msg = ("destination contains a NUL or other control character, which no file system or "
               "URL accepts; remove it from the path.")
        raise IntegrationError(msg)
    # A local path is the one the file system opens, spaces included: " /governed/x.csv" is
    # a folder " " under the current one (pandas, open() and the mount write there); it was
    # classified stripped, as governed storage, while written in /tmp.
    return target


def _resolve(path: str) -> str:
    return os.path.realpath(os.path.abspath(os.path.expanduser(path)))


def _file_url_paths(url: str) -> tuple[str, ...]:
    """The local paths a ``file:`` URL names: percent-decoded (pyarrow, Spark) and as written
    (polars and DuckDB do not decode: ``file:///tmp/%2e%2e/governed/x`` is a folder ``%2e%2e``
    in /tmp to them)."""
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        msg = (f"file URL {redact(url)!r} names host {parts.netloc!r}; Lacuna governs local files "
               "only. Use a local path or the share's mount point.")
        raise IntegrationError(msg)
    path = unquote(parts.path)
    if not path or _CONTROL.search(path):
        msg = "file URL has an empty path or an encoded control character (%00?); fix the URL."
        raise IntegrationError(msg)
    return tuple(dict.fromkeys((_resolve(path), _resolve(parts.path))))


def _one_place(uri: str, paths: tuple[str, ...], config: DestinationConfig) -> Destination:
    """``uri`` classified at the first of ``paths``, the places writers read it as, when all
    of them are the same kind of place; refused (fail closed) when they are not."""
    found = [_local(uri, path, config) for path in paths]
    kinds = {(d.type, d.scope, d.managed, d.encrypted, d.path_prefix) for d in found}
    if len(kinds) > 1:
        places = " and ".join(repr(p) for p in paths)
        msg = (f"destination {redact(uri)!r} names different places to different writers "
               f"({places}: percent-escapes decoded or not, a 'file:' folder here or the "
               "root), which are not governed alike; write the plain local path instead.")
        raise IntegrationError(msg)
    return found[0]


def _local(uri: str, path: str, config: DestinationConfig) -> Destination:
    roots = _local_roots(config.governed, config.unmanaged)
    root, governed = _best_root(path, roots)
    if root is not None and governed:
        return _governed(uri, path, root)
    if root is not None:
        return Destination(
            uri=uri, type=DestinationType.FILE, scope=Scope.EXTERNAL, managed=False,
            path=path, path_prefix=root,
            reasoning=(f"{uri} is under {root}, an unmanaged place (destinations.unmanaged): "
                       "not encrypted or monitored, so it counts as external."),
        )
    scope = Scope(config.local_files_scope)
    return Destination(
        uri=uri, type=DestinationType.FILE, scope=scope, managed=True, path=path,
        reasoning=(f"{uri} is a local file outside governed storage and unmanaged places; "
                   f"local files are {scope.value} (destinations.local_files_scope)."),
    )


def _governed(uri: str, path: str, root: str) -> Destination:
    return Destination(
        uri=redact(uri), type=DestinationType.GOVERNED_STORAGE, scope=Scope.INTERNAL,
        encrypted=True, managed=True, path=path, path_prefix=root,
        reasoning=(f"{redact(uri)} is under the governed root {root} (destinations.governed): "
                   "encrypted, access-logged, retention-enforced."),
    )


def _remote(url: str, scheme: str, config: DestinationConfig) -> Destination:
    parts = urlsplit(url)
    if "\\" in parts.netloc:
        # urlsplit reads "https://evil.com\\@files.internal/" as host files.internal; requests
        # (urllib3) and browsers end the authority at the backslash and connect to evil.com.
        msg = (f"URL {redact(url)!r} has a backslash in its host part, which clients read as "
               "the end of the host (it would go elsewhere than it reads); use '/'.")
        raise IntegrationError(msg)
    host = (parts.hostname or "").lower()
    if not host:
        msg = (f"URL {redact(url)!r} has no host or bucket; write it as "
               f"{scheme}://<host-or-bucket>/<path>.")
        raise IntegrationError(msg)
    shown = redact(url)
    roots = _url_roots(config.governed, config.unmanaged)
    root, governed = _best_root(_normal_url(url), roots)
    if (root, governed) != _best_root(_normal_url(url, literal=True), roots):
        # an object store's key is literal: "s3://b/public/../governed/x" is stored under
        # public/ (where a bucket policy on public/* reaches it), and read as governed/x
        msg = (f"URL {redact(url)!r} names a different place once its '..', '.', '//' or "
               "percent-escapes are resolved, and the two are not governed alike; write the "
               "path plainly.")
        raise IntegrationError(msg)
    path = posixpath.normpath(unquote(parts.path)) if parts.path else "/"
    if root is not None and governed:
        return _governed(url, path, root)
    kind = (DestinationType.OBJECT_STORE if scheme in OBJECT_STORE_SCHEMES
            else DestinationType.HTTP if scheme in HTTP_SCHEMES else DestinationType.FILE)
    if root is not None:
        return Destination(
            uri=shown, type=kind, scope=Scope.EXTERNAL, managed=False, path=path,
            path_prefix=root,
            reasoning=f"{shown} is under {root}, an unmanaged place (destinations.unmanaged).",
        )
    if kind is DestinationType.OBJECT_STORE:
        # abfs://container@account.dfs.core.windows.net: the container is urlsplit's "username".
        # container@account: a pattern with "@" is matched against both, one without it
        # against the account (all its containers). "team-*" matched the container (and the
        # whole "team-data@evil.dfs...") and took anyone's account for internal.
        bucket = f"{parts.username.lower()}@{host}" if parts.username else host
        inside = _matches({bucket}, tuple(p for p in config.internal_buckets if "@" in p)) \
            or _matches({host}, tuple(p for p in config.internal_buckets if "@" not in p))
        reasoning = (f"{shown} is in bucket {bucket!r}, "
                     + ("listed in destinations.internal_buckets." if inside else
                        "which is not in destinations.internal_buckets, so it counts as external."))
    elif kind is DestinationType.HTTP:
        inside = _matches({host}, config.internal_hosts)
        reasoning = (f"{shown} goes to host {host!r}, "
                     + ("which matches destinations.internal_hosts." if inside else
                        "which matches none of destinations.internal_hosts, so it is external."))
    else:
        inside = False
        reasoning = (f"{shown} uses {scheme}://, which Lacuna does not manage; it counts as an "
                     "external, unmanaged place.")
    return Destination(
        uri=shown, type=kind, scope=Scope.INTERNAL if inside else Scope.EXTERNAL,
        managed=inside, path=path, reasoning=reasoning,
    )


def _database(uri: str, url: str, config: DestinationConfig) -> Destination:
    shown = redact(uri)
    bare = _without_userinfo(url)
    candidates = {bare, _without_driver(bare)}
    aware = any(
        _prefix_match(c, p) for c in candidates
        for prefix in config.classification_aware_databases
        for p in {_without_userinfo(prefix), _without_driver(_without_userinfo(prefix))}
    )
    parts = urlsplit(bare)
    dialect = parts.scheme.split("+", 1)[0].lower() or "database"
    file = _database_file(bare, dialect)
    if file is not None:
        root, governed = _best_root(file, _local_roots(config.governed, config.unmanaged))
        if root is not None and not governed:
            return Destination(
                uri=shown, type=DestinationType.DATABASE, scope=Scope.EXTERNAL, managed=False,
                classification_support=False, path=file, path_prefix=root,
                reasoning=(f"{shown} is a {dialect} database file under {root}, an unmanaged "
                           "place (destinations.unmanaged): the file can be copied or sent "
                           "like any other there, so it counts as external."))
    service = _service(bare, dialect)
    if service is not None and not _matches({f"service:{service.lower()}"},
                                            config.internal_hosts):
        return Destination(
            uri=shown, type=DestinationType.DATABASE, scope=Scope.EXTERNAL, managed=False,
            classification_support=aware, path=parts.path or None,
            reasoning=(f"{shown} is a {dialect} database whose host libpq reads from service "
                       f"{service!r} (pg_service.conf, or PGSERVICE), a file Lacuna does not "
                       "read, so it counts as external (fail closed); name the host in the URL, "
                       f"or add 'service:{service}' to destinations.internal_hosts."))
    outside = _outside_host(bare, dialect, file, config)
    if outside is not None:
        return Destination(
            uri=shown, type=DestinationType.DATABASE, scope=Scope.EXTERNAL, managed=False,
            classification_support=aware, path=parts.path or None,
            reasoning=(f"{shown} is a {dialect} database on {outside}, which is not this "
                       "machine (loopback, a Unix socket) and matches none of "
                       "destinations.internal_hosts, so it counts as external" + (
                           "; it keeps classification labels "
                           "(destinations.classification_aware_databases)." if aware else ".")))
    return Destination(
        uri=shown, type=DestinationType.DATABASE, scope=Scope.INTERNAL,
        classification_support=aware, path=parts.path or None,
        reasoning=(f"{shown} is a {dialect} database (internal); " + (
            "it keeps classification labels (destinations.classification_aware_databases)."
            if aware else
            "it is not in destinations.classification_aware_databases, so classification "
            "labels do not travel with the data.")),
    )


def _outside_host(url: str, dialect: str, file: str | None, config: DestinationConfig
                  ) -> str | None:
    """The first host a database URL connects to that is not internal, or None when all are:
    a host is internal when it is this machine (``localhost``, ``127.0.0.0/8``, ``::1``, a Unix
    socket directory, none at all) or matches ``destinations.internal_hosts``. Every database
    URL was internal, ``postgresql://evil.com/db`` too. The hosts are the URL's (libpq's
    ``h1:5432,h2:5432``) and its ``host``/``hostaddr`` parameters (``?host=evil.com``
    overrides the URL's, for libpq and SQLAlchemy); with none, ``PGHOST`` where libpq reads
    it. An SQLite or DuckDB file is local (the unmanaged-root rule decides it), but a DuckDB
    URL to MotherDuck (``duckdb:///md:db``) is a cloud service's database, as a host named
    ``motherduck``."""
    url = url.split("#", 1)[0]  # <database URL>#<table>: the table is not the host
    if dialect in ("sqlite", "duckdb"):
        rest = url.split(":", 1)[-1].split("?", 1)[0].lstrip("/").lower()
        cloud = dialect == "duckdb" and file is None and rest.startswith(("md:", "motherduck:"))
        return "motherduck" if cloud and not _internal_host("motherduck", config) else None
    if "://" not in url:
        return _opaque_host(url, dialect, config)
    authority = url.split("://", 1)[1].split("/", 1)[0].split("?", 1)[0].rsplit("@", 1)[-1]
    hosts = [_without_port(h) for h in authority.split(",")]
    query = url.split("?", 1)[1] if "?" in url else ""
    for key, value in _query_pairs(query):
        if key in ("host", "hostaddr"):
            hosts += value.split(",")
    if dialect in _LIBPQ:
        if not any(hosts):
            hosts += os.environ.get("PGHOST", "").split(",")
        if not any(k == "hostaddr" for k, _ in _query_pairs(query)):
            # libpq connects to PGHOSTADDR whatever host the URL names
            hosts += os.environ.get("PGHOSTADDR", "").split(",")
    return next((h for h in hosts if not _internal_host(h, config)), None)


_LIBPQ = ("postgresql", "postgres", "redshift", "cockroachdb")
# Databases that run inside the process that names them (JDBC's ``derby:memory:db``,
# ``h2:mem:db``, ``hsqldb:mem:db``, ``h2:./file``): a URL of theirs without ``://`` is here.
_EMBEDDED = ("derby", "h2", "hsqldb")


def _opaque_host(url: str, dialect: str, config: DestinationConfig) -> str | None:
    """The host of a database URL without an authority (``://``), as JDBC spells some:
    Oracle's ``oracle:thin:@host:1521:sid``, ``oracle:thin:@//host:1521/service`` and
    ``oracle:thin:@(DESCRIPTION=(ADDRESS=(HOST=h)…))`` name theirs after ``@`` (every
    ``HOST=`` of a descriptor counts; an IPv6 address is in brackets, ``@[::1]:1521/svc``);
    an embedded database's (``derby:memory:db``) is this machine. Anything else names no host
    Lacuna can read, a bracketed one that is not an IPv6 address too: it is outside (fail
    closed), where these URLs raised an IndexError before."""
    hosts: list[str] = []
    if "@" in url:
        place = url.rsplit("@", 1)[1].lstrip("/")
        if place.startswith("("):
            hosts = re.findall(r"\(\s*HOST\s*=\s*([^)\s]+)", place, flags=re.IGNORECASE)
        elif place.startswith("["):  # ``[2001:db8::1]:1521``: the address has colons too
            hosts = ["".join(place.partition("]")[:2])]
        else:
            hosts = [re.split(r"[:/?;]", place, maxsplit=1)[0]]
        hosts = [h for h in hosts if h.strip()]  # ``oci:@``: the host is in the environment
    elif dialect in _EMBEDDED:
        return None
    if not hosts:
        return f"a host its URL does not name ({url.split(':', 1)[0]})"
    for host in hosts:
        address = _ipv6_literal(host)
        if address is None:
            return f"a bracketed host that is not an IPv6 address ({url.split(':', 1)[0]})"
        if not _internal_host(address, config):
            return address
    return None


def _ipv6_literal(host: str) -> str | None:
    """``host`` without the brackets of an IPv6 literal (``[::1]`` is ``::1``); ``host``
    itself when it has none; None when it is bracketed but not an IPv6 address (``[zz::1]``,
    ``[::1`` unclosed, ``[]``), which no check may read as a host, internal or not."""
    import ipaddress

    if not host.startswith("[") and "]" not in host:
        return host
    if not (host.startswith("[") and host.endswith("]")):
        return None
    try:
        ipaddress.IPv6Address(host[1:-1])
    except ValueError:
        return None
    return host[1:-1]


def _service(url: str, dialect: str) -> str | None:
    """The libpq service a PostgreSQL URL connects through (``?service=name``, else
    ``PGSERVICE``): ``pg_service.conf`` sets its host (and ``hostaddr``, which wins over the
    URL's host), so where it connects is not in the URL. None for no service."""
    if dialect not in _LIBPQ:
        return None
    query = url.split("#", 1)[0].split("?", 1)[1] if "?" in url else ""
    named = next((v for k, v in _query_pairs(query) if k == "service"), None)
    return named or os.environ.get("PGSERVICE") or None


def _query_pairs(query: str) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl

    return [(k.lower(), v) for k, v in parse_qsl(query, keep_blank_values=True)]


def _without_port(host: str) -> str:
    """``host`` of ``host:port`` (``[::1]:5432`` is ``::1``)."""
    host = unquote(host.strip())
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _internal_host(host: str, config: DestinationConfig) -> bool:
    """Whether a database host is internal: this machine (:func:`this_machine`) or a match
    of ``destinations.internal_hosts``."""
    return this_machine(host) or _matches({host.strip().lower().rstrip(".")},
                                          config.internal_hosts)


def this_machine(host: str) -> bool:
    """Whether a database host is this machine: none (the local default), a Unix socket
    directory, ``localhost`` or a loopback address."""
    import ipaddress

    host = host.strip().lower().rstrip(".")
    if not host or host.startswith("/") or host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _database_file(url: str, dialect: str) -> str | None:
    """The local file an SQLite or DuckDB URL names, resolved (``sqlite:////abs/x.db``,
    ``duckdb:///rel.db``, JDBC's ``sqlite:/abs/x.db``); None for another database or one in
    memory."""
    if dialect not in ("sqlite", "duckdb"):
        return None
    if "://" in url:
        rest = url.split("://", 1)[1].split("?", 1)[0]
        path = rest[1:] if rest.startswith("/") else rest
    else:  # JDBC: the path follows the scheme's colon
        path = url.split(":", 1)[1].split("?", 1)[0]
    if not path or path.startswith(":memory:") or (
            dialect == "duckdb" and path.lower().startswith(("md:", "motherduck:"))):
        return None  # in memory, or MotherDuck's cloud (_outside_host)
    return _resolve(path)


def redact(url: str) -> str:
    """``url`` with its password and secret-looking query values replaced by ``***``
    (:func:`lacuna.redact.redact_url`, the one helper)."""
    return redact_url(url)


# -- matching roots ---------------------------------------------------------------------------


def _best_root(target: str, roots: tuple[tuple[str, str, bool], ...]) -> tuple[str | None, bool]:
    """The most specific (longest) root containing ``target``: (configured text, governed?)."""
    best: tuple[int, str, bool] | None = None
    loose = _loose(target)
    for normal, shown, governed in roots:
        # An unmanaged root also holds its case and Unicode-normalization variants: on macOS
        # (APFS, HFS+) and Windows "~/downloads/x.csv" and an NFD "Téléchargements" are the
        # same folder as "~/Downloads" and the NFC name, and were internal local files. A
        # governed root is matched exactly (a variant that is not it is not governed).
        inside = (target == normal or target.startswith(normal.rstrip("/") + "/")) or (
            not governed and (loose == _loose_root(normal)
                              or loose.startswith(_loose_root(normal).rstrip("/") + "/")))
        if inside and (best is None or len(normal) > best[0]):
            best = (len(normal), shown, governed)
    return (best[1], best[2]) if best else (None, False)


def _loose(path: str) -> str:
    return unicodedata.normalize("NFC", path).casefold()


@lru_cache(maxsize=256)
def _loose_root(path: str) -> str:
    """:func:`_loose` of a root (a few, asked at every classification)."""
    return _loose(path)


def _local_roots(
    governed: tuple[str, ...], unmanaged: tuple[str, ...]
) -> tuple[tuple[str, str, bool], ...]:
    """The local roots, resolved (``realpath``), as the target is. Resolved once per home and
    working folder and kept while each root's own entry is what it was (an ``lstat`` each):
    ``ln -s ~/elsewhere ~/Downloads`` after the first classification left the kept root
    ``~/Downloads`` while its files resolved to ``~/elsewhere``, under no root: internal.
    Resolving every root at every classification said so too, at 30 us a classification
    (the server's decide binds a destination per request)."""
    texts = _local_root_texts(governed, unmanaged)
    key = (texts, os.path.expanduser("~"), os.getcwd())
    kept = _RESOLVED.get(key)
    if kept is not None and _entries(kept[0]) == kept[1]:
        return kept[2]
    literal = tuple(os.path.abspath(os.path.expanduser(root)) for root, _ in texts)
    seen = _entries(literal)
    roots = tuple((_resolve(root), root, is_governed) for root, is_governed in texts)
    if len(_RESOLVED) >= 16:
        _RESOLVED.clear()
    _RESOLVED[key] = (literal, seen, roots)
    return roots


_RESOLVED: dict[tuple[object, ...], tuple[tuple[str, ...], tuple[object, ...],
                                          tuple[tuple[str, str, bool], ...]]] = {}


def _entries(paths: tuple[str, ...]) -> tuple[object, ...]:
    """What each path's own directory entry is now (device, inode, type), None when missing: a
    root replaced by a link, or made, changes it."""
    out: list[object] = []
    for path in paths:
        try:
            st = os.lstat(path)
        except OSError:
            out.append(None)
        else:
            out.append((st.st_dev, st.st_ino, st.st_mode))
    return tuple(out)


@lru_cache(maxsize=16)
def _local_root_texts(
    governed: tuple[str, ...], unmanaged: tuple[str, ...]
) -> tuple[tuple[str, bool], ...]:
    return tuple(
        (root, is_governed)
        for roots, is_governed in ((governed, True), (unmanaged, False))
        for root in roots if root.strip() and not _URL.match(root)
    )


@lru_cache(maxsize=16)
def _url_roots(
    governed: tuple[str, ...], unmanaged: tuple[str, ...]
) -> tuple[tuple[str, str, bool], ...]:
    return tuple(
        (_normal_url(root), root, is_governed)
        for roots, is_governed in ((governed, True), (unmanaged, False))
        for root in roots if _URL.match(root)
    )


def _normal_url(url: str, *, literal: bool = False) -> str:
    """Scheme alias, lower-case host, no credentials/query, ``..`` and ``//`` resolved (not
    with ``literal``).

    An object store's user part is kept: in ``abfss://container@account.dfs.core.windows.net``
    it names the container, so a governed container does not make every container of the
    account governed (``abfss://public@...`` was governed storage under
    ``abfss://governed@...``)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    scheme = _ALIASES.get(scheme, scheme)
    authority = parts.netloc.lower()
    host = authority.rsplit("@", 1)[-1]
    if scheme in OBJECT_STORE_SCHEMES and parts.username:
        host = f"{parts.username.lower()}@{host}"
    if literal:  # the path as written (an object store's key is literal)
        path = parts.path if parts.path.strip("/") else ""
    else:
        # (one leading "/": normpath keeps two, as POSIX allows, and the literal path has one)
        path = "/" + posixpath.normpath(unquote(parts.path)).lstrip("/") \
            if parts.path.strip("/") else ""
    return f"{scheme}://{host}{path.rstrip('/')}"


def _matches(names: set[str], patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(n, p.lower()) for n in names for p in patterns)


def _without_userinfo(url: str) -> str:
    head, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, tail = rest.partition("/")
    return f"{head}://{authority.rsplit('@', 1)[-1]}{slash}{tail}"


def _without_driver(url: str) -> str:
    head, sep, rest = url.partition("://")
    scheme = head.split("+", 1)[0].lower()
    return f"{_ALIASES.get(scheme, scheme)}{sep}{rest}"


def _prefix_match(url: str, prefix: str) -> bool:
    """``url`` starts with ``prefix`` and the prefix ends on a boundary (``/ : ? #``)."""
    if not prefix or not url.startswith(prefix):
        return False
    return prefix[-1] in "/:?#@" or len(url) == len(prefix) or url[len(prefix)] in "/:?#"
