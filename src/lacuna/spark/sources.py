"""Where a Spark plan's data comes from, and the classification each source has.

A leaf of the analyzed plan is a catalog table, files, or data in memory. Its classification
comes, first found wins:

1. the Lacuna declaration stored in the table's properties (``lacuna.classification.*``,
   signed; see :mod:`lacuna.spark.labels`), or the signed sidecar beside the files
   (:mod:`lacuna.lineage.sidecar`); a trusted one is declared, an untrusted one only adds
   restrictions (the governor's ``classify_read``);
2. the lineage store's latest version of the dataset that Lacuna's pipeline recorded as a run's
   output (when it wrote it); a newer version ingested from OpenLineage, or one a run read
   (possibly a part of it: some columns or rows), only adds restrictions (to this, or to the
   sample below), never declares; files read by a remote path, and a remote table whose label
   is not trusted for the files it lists now, are sampled instead, the store only adding
   restrictions (nothing binds what their files hold now: :func:`_remote_files`,
   :func:`table_listing`);
3. a distributed sample: ``sample(fraction)`` over every partition, capped at
   ``classification.sample_rows`` rows, classified like a pandas read.

Classifications are cached per source (table properties, each file's inode, size,
modification and change time), so deriving DataFrames from a source never classifies it twice.
A source declared by a trusted label or sidecar also says when its data was first seen (the
retention clock a write derived from it takes: :func:`lacuna.spark.writes.write_clock`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lacuna.lineage.records import DatasetRef
from lacuna.spark import _jvm

if TYPE_CHECKING:
    from datetime import datetime

    from pyspark.sql import DataFrame, SparkSession

    from lacuna.governor import Governor
    from lacuna.model import Classification

log = logging.getLogger(__name__)

CATALOG_NAMESPACE = "spark_catalog"


@dataclass(frozen=True, slots=True)
class Leaf:
    """One source of a plan."""

    key: str  # identity in the cache: table:<name>, file:<paths>, memory:<hash>
    label: str  # for people: the table name, the path, "spark.createDataFrame"
    columns: tuple[str, ...]
    ref: DatasetRef | None = None
    table: str | None = None  # the catalog identifier, e.g. spark_catalog.default.customers
    path: str | None = None  # a local file or folder (sidecars live beside it)
    properties: tuple[tuple[str, str], ...] = ()
    plan: Any = field(default=None, compare=False, hash=False, repr=False)
    # folders Lacuna labelled (a sidecar beside them) that hold the files read, besides
    # ``path`` itself: a part file, a glob or a partition of a folder Lacuna wrote, or several
    # such folders read at once (:func:`labelled_folders`)
    enclosing: tuple[str, ...] = ()
    # a catalog table's partitions given a location of their own outside its folder (``ALTER
    # TABLE … ADD PARTITION … LOCATION``): its label is not bound to their files
    # (:func:`outside_partitions`)
    partitions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Sourced:
    """A leaf's classification, the lineage run that wrote it (when Lacuna knows), and when
    its data was first seen, as its trusted declaration says (None: none is trusted;
    :func:`lacuna.lineage.clock.of_declaration`)."""

    classification: Classification
    run_id: str | None = None
    first_seen: datetime | None = None


def local_path(uri: str) -> str | None:
    """A ``file:`` URI (or a bare path) as a local path; None for remote stores."""
    if uri.startswith("file:"):
        rest = uri[5:]
        while rest.startswith("//"):
            rest = rest[1:]
        return rest
    return uri if "://" not in uri and uri.strip() else None


def table_ref(identifier: str) -> DatasetRef:
    """The lineage store's name for a catalog table: ``spark_catalog`` / ``default.customers``."""
    parts = identifier.split(".")
    if parts[0] == CATALOG_NAMESPACE and len(parts) > 1:
        return DatasetRef(CATALOG_NAMESPACE, ".".join(parts[1:]))
    return DatasetRef(CATALOG_NAMESPACE, identifier)


def path_ref(uri: str) -> DatasetRef:
    path = local_path(uri)
    return DatasetRef.of(path if path is not None else uri)


def describe(plan: Any) -> Leaf:
    """What a leaf node of an analyzed plan reads."""
    kind = _jvm.kind(plan)
    columns = tuple(name for _, name in _jvm.output(plan))
    if kind == "LogicalRelation":
        table = _jvm.option(plan.catalogTable())
        if table is not None:
            return _table_leaf(table, columns, plan)
        relation = plan.relation()
        if _jvm.kind(relation) == "HadoopFsRelation":
            roots = [str(p.toString()) for p in _jvm.items(relation.location().rootPaths())]
            return _files_leaf(roots, columns, plan)
    if kind == "HiveTableRelation":
        return _table_leaf(plan.tableMeta(), columns, plan)
    if kind in ("DataSourceV2Relation", "DataSourceV2ScanRelation"):
        name = str(plan.table().name())
        return Leaf(key=f"table:{name}", label=name, columns=columns, ref=table_ref(name),
                    table=name, plan=plan)
    if kind == "LogicalRDD":
        rdd = plan.rdd().id()
        return Leaf(key=f"rdd:{rdd}", label="spark.createDataFrame", columns=columns, plan=plan)
    # LocalRelation, Range, OneRowRelation, ...: data defined in the plan itself
    return Leaf(key=f"memory:{kind}:{plan.semanticHash()}", label=f"spark.{kind}",
                columns=columns, plan=plan)


def _table_leaf(table: Any, columns: tuple[str, ...], plan: Any) -> Leaf:
    ident = table.identifier()
    catalog = _jvm.option(ident.catalog()) or CATALOG_NAMESPACE
    db = _jvm.option(ident.database()) or "default"
    name = f"{catalog}.{db}.{ident.table()}"
    props = tuple(sorted(_jvm.string_map(table.properties()).items()))
    location = _jvm.option(table.storage().locationUri())
    where = str(location.toString()) if location is not None else None
    path = local_path(where) if where is not None else None
    return Leaf(key=f"table:{name}", label=f"{db}.{ident.table()}", columns=columns,
                ref=table_ref(name), table=name, path=path, properties=props, plan=plan,
                partitions=outside_partitions(table, where))


UNLISTED = "unknown://partitions-that-could-not-be-listed"


def outside_partitions(table: Any, where: str | None) -> tuple[str, ...]:
    """The locations of ``table``'s partitions that lie outside its folder ``where`` (``ALTER
    TABLE … ADD PARTITION … LOCATION '/path'`` or ``PARTITION … SET LOCATION``), from the
    catalog (no job). Spark reads their files as the table's, but the table's label is bound to
    its own folder only: before, a partition pointing at a folder of e-mails was read at the
    label's (lower) class. :data:`UNLISTED` when the catalog cannot list them (fail closed)."""
    try:
        if not _jvm.items(table.partitionColumnNames()):
            return ()
        from pyspark import SparkContext

        jvm = SparkContext._jvm
        assert jvm is not None
        catalog = jvm.org.apache.spark.sql.SparkSession.active().sessionState().catalog()
        parts = _jvm.items(catalog.listPartitions(table.identifier(), jvm.scala.Option.apply(None)))
        found = [_jvm.option(p.storage().locationUri()) for p in parts]
    except Exception as exc:  # py4j or the metastore: cannot tell where they are
        log.error("could not list the partitions of %s: %s", table.identifier(), exc)
        return (UNLISTED,)
    outside: dict[str, None] = {}
    for uri in found:
        if uri is None:
            continue
        text = str(uri.toString())
        if where is None or not _within(text, where):
            outside[local_path(text) or text] = None
    return tuple(outside)


def _within(uri: str, folder: str) -> bool:
    """Whether ``uri`` is ``folder`` or lies inside it (local paths compared resolved)."""
    a, b = local_path(uri), local_path(folder)
    if a is not None and b is not None:
        a, b = os.path.realpath(a), os.path.realpath(b)
    else:
        a, b = uri, folder
    return a == b or a.startswith(b.rstrip("/") + "/")


def _files_leaf(roots: list[str], columns: tuple[str, ...], plan: Any) -> Leaf:
    paths = [local_path(r) for r in roots]
    local = paths[0] if len(paths) == 1 and paths[0] is not None else None
    label = local or ", ".join(roots)
    return Leaf(key="file:" + "|".join(roots), label=label, columns=columns,
                ref=path_ref(roots[0]) if len(roots) == 1 else None, path=local, plan=plan,
                enclosing=labelled_folders([p for p in paths if p is not None], local))


def labelled_folders(paths: list[str], own: str | None) -> tuple[str, ...]:
    """The folders with a sidecar (Lacuna wrote them) that are, or hold, ``paths``, other than
    ``own`` (the one path read, whose sidecar the read looks at first). Spark reads a glob
    (``folder/*.parquet``), a part file or a partition (``folder/region=EU``) of a folder Lacuna
    wrote without the folder's sidecar beside what it names; before, such a read was classified
    from a sample of the values alone, so a column the folder declared personal (``sha2(email)``,
    which looks like nothing in particular) was read as PUBLIC."""
    from lacuna.lineage.sidecar import has_sidecar

    found: dict[str, None] = {}
    seen: set[str] = set()
    own = os.path.abspath(os.path.expanduser(own)) if own is not None else None
    for path in paths:
        here = os.path.abspath(os.path.expanduser(path))
        while here not in seen:
            seen.add(here)
            if here != own and has_sidecar(here):
                found[here] = None
            parent = os.path.dirname(here)
            if parent == here:
                break
            here = parent
    return tuple(found)


# -- classification of a leaf -----------------------------------------------------------------

_CACHE: dict[tuple[Any, ...], Sourced] = {}
_DECLARED: dict[str, Classification] = {}  # memory leaves given a classification explicitly
_LOCK = threading.Lock()
_MAX_CACHE = 4096


def forget(key: str | None = None) -> None:
    """Drop cached classifications (of one leaf key, or all): its data changed."""
    with _LOCK:
        if key is None:
            _CACHE.clear()
            _LISTINGS.clear()
            return
        for k in [k for k in _CACHE if k[0] == key]:
            del _CACHE[k]


def declare(leaf_key: str, classification: Classification) -> None:
    """Give data in memory (a DataFrame made from a classified pandas frame) its classification."""
    with _LOCK:
        _DECLARED[leaf_key] = classification


def declare_frame(df: DataFrame, classification: Classification) -> None:
    """:func:`declare` for the leaf of ``df``'s plan (a DataFrame of data in memory: made from
    a pandas frame, or checkpointed)."""
    from lacuna.spark import _jvm

    declare(describe(_jvm.leaf(_jvm.analyzed(df))).key, classification)


def _version(leaf: Leaf) -> Any:
    """What a cached classification of ``leaf`` depends on in its files: the inode, size,
    modification and change time of every file under its path and its enclosing labelled
    folders, and of their sidecars (a part file overwritten in place changes no folder's
    entries: before, the classification cached before it was reused in the same session).
    None: not local files.

    The change time (``st_ctime``) is what makes this a content check without reading the
    files: the kernel sets it on every write and on every ``utime``, and no call lets a user
    set it back. An edit that keeps the size and restores the modification time
    (``touch -r``, ``os.utime``) kept the key, and the classification cached before it was
    reused. Left: a file system that keeps no change time, or one coarser than the time
    between the read and the edit, one the user serves (FUSE), and the clock set back by root
    (docs/spark.md)."""
    from lacuna.lineage.sidecar import sidecar_paths

    paths = [p for p in (leaf.path, *leaf.enclosing, *leaf.partitions)
             if p is not None and os.path.exists(p)]
    if not paths:
        return None
    digest = hashlib.sha256()
    try:
        for path in paths:
            sides = [s for side in sidecar_paths(path) for s in _stamps(str(side))]
            for stamp in (*_stamps(path), *sides):
                digest.update(repr(stamp).encode())
    except OSError:  # changing while it is looked at: never the same as a cached version
        return os.urandom(8).hex()
    return digest.hexdigest()


def _stamps(path: str) -> list[tuple[str, int, int, int, int]]:
    """Each file under ``path`` (or ``path`` itself) with its inode, size, modification and
    change time (see :func:`_version`); the files of a folder as last listed while none of
    its folders changed (:func:`_listed`)."""
    if not os.path.exists(path):
        return []
    if not os.path.isdir(path):
        return [_stamp(path)]
    return sorted(_stamp(p) if kind == "file" else (p, 0, 0, 0, 0) for p, kind in _listed(path))


@dataclass(frozen=True, slots=True)
class _Listing:
    """A folder's listing: each entry under it (path, kind) and the stamp of every folder
    walked to list them (:func:`_folder_stamp`)."""

    entries: tuple[tuple[str, str], ...]
    folders: tuple[tuple[str, tuple[int, int, int, int]], ...]


# Listings of the folders reads were classified from, by path: every operation on a DataFrame
# read from a partitioned folder keys its cached classification by the folder's files
# (_version), and walked the whole tree again for it (300 partitions of 10 files: 0.36-0.45 s
# a walk, 0.04-0.1 s to stat the files, on a loaded host). A listing is used again only
# while every folder it walked has its device, inode, modification and change time: adding,
# removing or renaming a file or partition changes its folder's, and no call sets a change time
# back. A listing is kept only when each of its folders last changed at least _RACY_NS before
# the walk began (a change made later, in the same tick of the file system's clock, could keep
# the folder's stamp: git's "racily clean"), and only when every entry is a regular file (a
# symlink that leads nowhere, or back into the tree, can start to lead elsewhere without any
# folder of the tree changing). The files themselves are stat'ed on every operation (_stamp):
# one overwritten in place changes no folder.
_LISTINGS: dict[str, _Listing] = {}
_MAX_LISTINGS = 1024
_MAX_LISTED = 1_000_000  # entries kept across all listings (memory), all dropped past it
_RACY_NS = 2_000_000_000
_clock = time.time_ns  # the listing's own stamp (tests move it)


def _folder_stamp(path: str) -> tuple[int, int, int, int]:
    st = os.stat(path)
    return (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_ctime_ns)


def _unchanged(listing: _Listing) -> bool:
    try:
        return all(_folder_stamp(path) == stamp for path, stamp in listing.folders)
    except OSError:
        return False


def _listed(folder: str) -> tuple[tuple[str, str], ...]:
    """``(path, kind)`` of every entry under ``folder`` (:func:`lacuna._files.read_tree`:
    through symlinked folders, as Spark reads them), walked again only when a folder of the
    tree changed since it was last walked (see :data:`_LISTINGS`)."""
    from lacuna._files import read_tree

    with _LOCK:
        cached = _LISTINGS.get(folder)
    if cached is not None and _unchanged(cached):
        return cached.entries
    began = _clock()
    walked: list[str] = []
    entries = tuple((p, kind) for _, p, kind in read_tree(folder, walked))
    folders = tuple((path, _folder_stamp(path)) for path in walked)
    settled = began - _RACY_NS
    keep = all(kind == "file" for _, kind in entries) and all(
        mtime < settled and ctime < settled for _, (_, _, mtime, ctime) in folders)
    with _LOCK:
        if not keep:
            _LISTINGS.pop(folder, None)
        elif len(entries) <= _MAX_LISTED:
            if (len(_LISTINGS) >= _MAX_LISTINGS or len(entries) + sum(
                    len(kept.entries) for kept in _LISTINGS.values()) > _MAX_LISTED):
                _LISTINGS.clear()
            _LISTINGS[folder] = _Listing(entries, folders)
    return entries


def _stamp(path: str) -> tuple[str, int, int, int, int]:
    st = os.stat(path)
    return (path, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _settings_key(gov: Governor) -> str:
    """What a source's classification depends on besides the data: the classification
    settings (two governors with the same settings share cached classifications)."""
    return gov.config.classification.model_dump_json()


def classify_leaf(gov: Governor, spark: SparkSession, leaf: Leaf) -> Sourced:
    """The classification of one source (see the module docstring); cached."""
    key = (leaf.key, leaf.properties, leaf.partitions, _version(leaf), leaf.columns,
           _settings_key(gov))
    with _LOCK:
        hit = _CACHE.get(key)
        declared = _DECLARED.get(leaf.key)
    if hit is not None:
        return hit
    found = Sourced(declared) if declared is not None else _classify(gov, spark, leaf)
    with _LOCK:
        if len(_CACHE) >= _MAX_CACHE:
            _CACHE.clear()
        _CACHE[key] = found
    return found


def _classify(gov: Governor, spark: SparkSession, leaf: Leaf) -> Sourced:
    from lacuna.spark import unstored

    why = unstored.stale(leaf.table)
    if why is None and leaf.table is not None:  # marked by another process (or session)
        from lacuna.spark.labels import read_table_label

        why = unstored.persisted(gov.lineage_store, leaf.table,
                                 read_table_label(dict(leaf.properties)))
    if why is not None:  # a write's label could not be stored: the old one only restricts
        return _stale_label(gov, spark, leaf, why)
    found = _classify_own(gov, spark, leaf)
    if not leaf.enclosing:
        return found
    return _enclosed(gov, leaf, found)


def _stale_label(gov: Governor, spark: SparkSession, leaf: Leaf, why: str) -> Sourced:
    """A table whose label is stale (:mod:`lacuna.spark.unstored`: a write could not replace
    it, or the table was moved onto other files): classified from a sample of what it holds,
    the lineage store's records of it (which may be of its old files too) and the old label
    only adding restrictions (an append kept the rows it labelled); a label that cannot be read
    fails closed (PROPRIETARY)."""
    import pandas as pd

    from lacuna.lineage.sidecar import SidecarError, read_embedded
    from lacuna.spark import unstored
    from lacuna.spark.writes import _unknown

    bare, label = unstored.without_label(leaf)
    sample = sample_frame(spark, bare.plan, len(bare.columns), gov.config.classification)
    c, _, run_id = gov.classify_read(bare.path, sample)
    stored, claimed = _from_store(gov, bare)
    c = _restricted(gov, c, stored, bare, what="the version Lacuna recorded")
    found = Sourced(_restricted(gov, c, claimed, bare), run_id)
    if bare.enclosing:
        found = _enclosed(gov, bare, found)
    if label is None:
        return found
    where = f"the label of {leaf.table}, stale: {why}"
    try:
        old = read_embedded(label, data_path=None, table=leaf.table or True,
                            location=table_files(leaf), listing=table_listing(leaf),
                            frame=pd.DataFrame(columns=list(leaf.columns))).classification
    except SidecarError as exc:
        return Sourced(_unknown(found.classification, f"{where}; it cannot be read ({exc})"))
    from lacuna.lineage.sidecar import restrict

    kept, _ = restrict(old, found.classification, gov.config.classification, where=where)
    return Sourced(kept, found.run_id)


def _enclosed(gov: Governor, leaf: Leaf, found: Sourced) -> Sourced:
    """``found`` with the classification of each labelled folder holding the files read
    (:attr:`Leaf.enclosing`): the stricter of them, column by column (a subset of a folder's
    files holds what the folder holds). Each sidecar is read as a read of its folder reads it:
    a trusted one declares, any other only adds restrictions, a malformed one fails closed."""
    import pandas as pd

    from lacuna import _bypass
    from lacuna.lineage import rules
    from lacuna.lineage.clock import earliest

    config = gov.config.classification
    names_only = pd.DataFrame(columns=list(leaf.columns))
    folders, seen = [], found.first_seen
    with _bypass.bypass():
        for folder in leaf.enclosing:
            c, _, _, _, first = gov.classify_read_raised(folder, names_only)
            folders.append(rules.project(c, leaf.columns, config))
            seen = earliest(seen, first)
    c = rules.combine([found.classification, *folders], config,
                      names=[leaf.label, *leaf.enclosing])
    return Sourced(c, found.run_id, seen)


def _classify_own(gov: Governor, spark: SparkSession, leaf: Leaf) -> Sourced:
    import pandas as pd

    from lacuna import _bypass
    from lacuna.spark.labels import read_table_label

    names_only = pd.DataFrame(columns=list(leaf.columns))
    embedded = read_table_label(dict(leaf.properties)) if leaf.table else None
    binding = leaf.table or True
    files = table_files(leaf)
    listing = table_listing(leaf) if embedded is not None else None
    label: dict[str, Any] = (
        {"embedded": embedded, "table": binding, "location": files, "listing": listing}
        if embedded is not None else {})
    with _bypass.bypass():
        if embedded is not None and not leaf.partitions and _label_trusted(
                embedded, names_only, binding, files, listing) is not False:
            # a table Lacuna labelled: declared beats inferred, no job (a malformed label:
            # classify_read fails closed and says why)
            c, _, run_id, _, seen = gov.classify_read_raised(None, names_only, **label)
            return Sourced(c, run_id, seen)
        # an untrusted label (another table's, copied; or a table with partitions outside its
        # folder, whose files the label is not bound to): classified as if unlabelled, from
        # the store or a sample of the values, the label only adding restrictions
        found = None  # the sidecars of a local path, read (and their files hashed) once
        if leaf.path is not None and leaf.table is None:
            from lacuna.lineage.sidecar import SidecarError, read_declarations

            try:  # a folder's own sidecar, or those of every file in it
                found = read_declarations(leaf.path)
            except SidecarError:
                found = None  # classify_read below reads them, fails closed and says why
            if found is not None and any(d.trusted for d in found):  # names only, no job
                c, _, run_id, _, seen = gov.classify_read_raised(leaf.path, names_only,
                                                                 sidecars=found)
                return Sourced(c, run_id, seen)
        if leaf.partitions and embedded is not None:
            outside = _outside_label(embedded, names_only, binding, files, leaf.partitions,
                                     listing)
            if outside is not None:  # a label that cannot be read: classify_read fails closed
                found, label = [outside], {}
        stored, claimed = _from_store(gov, leaf)
        local = files if leaf.table else (
            leaf.path if leaf.path is not None and os.path.exists(leaf.path) else None)
        # remote files a label binds by their listing, the label not trusted for them (files
        # added, or a label from before the binding): as local ones, sampled, the store's
        # record of the table only adding restrictions
        if (stored is not None and local is None and listing is None and not leaf.partitions
                and not _remote_files(leaf)):
            c = gov.merge_declared(stored, gov.classify_read(None, names_only, **label)[0],
                                   where=f"the lineage store ({leaf.ref})")
            return Sourced(_restricted(gov, c, claimed, leaf))
        # local files without a label or sidecar trusted for them (changed since, malformed,
        # missing): what the store recorded of the name cannot say what they hold now (their
        # files were replaced, the table moved); it only adds restrictions to a sample (whose
        # read restores from the store what it recorded of exactly this content, and fails
        # closed on a malformed sidecar)
        sample = sample_frame(spark, leaf.plan, len(leaf.columns), gov.config.classification)
        c, _, run_id = gov.classify_read(leaf.path, sample, sidecars=found, **label)
        c = _restricted(gov, c, stored, leaf, what="the version Lacuna recorded")
        return Sourced(_restricted(gov, c, claimed, leaf), run_id)


def _remote_files(leaf: Leaf) -> bool:
    """Whether ``leaf`` reads files by a path that is not local (``s3a://``, ``hdfs://``):
    no sidecar is beside them, so nothing binds what they hold now, and the lineage store's
    record of the last governed write there cannot say it (part files copied in, or left by a
    write outside Lacuna that failed half-way, were read at that record's lower class). They
    are sampled, the record only adding restrictions (what it declared of a column stays)."""
    return leaf.table is None and leaf.path is None and leaf.key.startswith("file:")


def table_files(leaf: Leaf) -> str | None:
    """The local folder a catalog table's files are in (its label is bound to them), or None
    (not a table, a remote location, no folder yet)."""
    if leaf.table is None or leaf.path is None or not os.path.isdir(leaf.path):
        return None
    return leaf.path


def table_listing(leaf: Leaf) -> str | None:
    """For a catalog table whose files are not a local folder (remote: ``s3a://``,
    ``hdfs://``), the digest its label binds instead of their content: the files Spark reads
    for it now (their names and total size, from the table's file index: a listing, no job).
    Part files copied into its location, or left there by a write outside Lacuna that failed
    half-way, change it. None: a local folder (bound by content: :func:`table_files`) or not
    a table over files; ``""`` when the files cannot be listed (logged): never the digest a
    label was signed with (fail closed)."""
    if leaf.table is None or leaf.plan is None or table_files(leaf) is not None:
        return None
    try:
        if _jvm.kind(leaf.plan) != "LogicalRelation":
            return None
        relation = leaf.plan.relation()
        if _jvm.kind(relation) != "HadoopFsRelation":
            return None
        index = relation.location()
        from pyspark import SparkContext

        jvm = SparkContext._jvm
        assert jvm is not None
        names = str(jvm.scala.Predef.wrapRefArray(index.inputFiles()).mkString("\n"))
        size = str(index.sizeInBytes())
    except Exception as exc:
        log.error("could not list the files of the table %s (%s): its label is not trusted",
                  leaf.table, exc)
        return ""
    text = "\n".join([size, *sorted(n for n in names.split("\n") if n)])
    return hashlib.sha256(text.encode()).hexdigest()


def _label_trusted(embedded: str, names_only: Any, table: str | bool,
                   location: str | None, listing: str | None = None) -> bool | None:
    """Whether a table's label is trusted for this table and its files (None: it cannot be
    read)."""
    from lacuna.lineage.sidecar import SidecarError, read_embedded

    try:
        return read_embedded(embedded, data_path=None, frame=names_only, table=table,
                             location=location, listing=listing).trusted
    except SidecarError:
        return None


def _outside_label(embedded: str, names_only: Any, table: str | bool, location: str | None,
                   partitions: tuple[str, ...], listing: str | None = None) -> Any:
    """A table's label as a declaration that is not trusted for the whole table: it is bound
    to the table's folder, and some partitions' files lie outside it (trust
    ``"partitions"``: it only adds restrictions to a sample, which reads those files too).
    None when the label cannot be read."""
    from dataclasses import replace

    from lacuna.lineage.sidecar import SidecarError, read_embedded

    try:
        found = read_embedded(embedded, data_path=None, frame=names_only, table=table,
                              location=location, listing=listing)
    except SidecarError:
        return None
    if not found.trusted:
        return found
    return replace(found, trust="partitions", undeclared=", ".join(partitions))


def _from_store(gov: Governor, leaf: Leaf) -> tuple[Classification | None, Classification | None]:
    """What the lineage store says of a source: the newest version Lacuna's pipeline recorded
    as a run's output (a declaration, when it classifies columns: what a write put there, the
    whole dataset), and the newest version when it is another one: ingested (an OpenLineage
    claim) or what a run read of it, which may have been a part (``usecols=``, ``nrows=``, a
    chunk: :meth:`LineageStore.latest_written`). That one only adds restrictions
    (docs/lineage.md): a read of some columns of a remote file, taken as the declaration of
    the whole file, left its other columns classified by their names.

    A store that cannot answer raises (``LineageError``: unreadable, or a version it recorded
    was deleted by hand): the read is refused saying so. It was logged and the source
    classified from a sample of its values alone, below what the store had recorded of it."""
    if leaf.ref is None:
        return None, None
    store = gov.lineage_store
    own, newest = store.latest_written(leaf.ref), store.latest(leaf.ref)
    declared = own.classification if own is not None and own.classification.columns else None
    claimed = newest.classification if newest is not None and newest != own else None
    return declared, claimed


def _restricted(gov: Governor, c: Classification, claimed: Classification | None,
                leaf: Leaf, *, what: str = "an ingested version") -> Classification:
    if claimed is None:
        return c
    from lacuna.lineage.sidecar import restrict

    kept, _ = restrict(claimed, c, gov.config.classification,
                       where=f"{what} of {leaf.ref} (lineage store)")
    return kept


def sample_frame(spark: SparkSession, plan: Any, width: int, config: Any) -> Any:
    """A distributed sample of a plan's rows as pandas: ``sample(fraction)`` on every
    partition, the fraction from Spark's size estimate, capped at ``sample_rows`` rows."""
    from lacuna import _bypass

    df = _jvm.dataframe_of(spark, plan)
    rows = int(config.sample_rows)
    if rows <= 0:
        with _jvm.quiet(), _bypass.bypass():
            return df.limit(0).toPandas()
    try:
        size = int(str(plan.stats().sizeInBytes().toString()))
    except Exception:
        size = 0
    row_bytes = max(8, 20 * max(width, 1))
    estimate = size // row_bytes if size > 0 else 0
    if estimate > rows * 4:
        fraction = min(1.0, 4.0 * rows / estimate)
        df = df.sample(withReplacement=False, fraction=fraction, seed=17)
    with _jvm.quiet(), _bypass.bypass():  # Lacuna's sample: no state of its own to carry
        return df.limit(rows).toPandas()
