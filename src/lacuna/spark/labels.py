"""A table's classification stored in its properties, signed (``lacuna.classification.N``).

The declaration is the one Parquet files carry (:func:`lacuna.lineage.sidecar.
embedded_declaration`), serialised to JSON and cut into chunks of at most 3,000 characters
(a Hive metastore keeps property values up to 4,000), in properties
``lacuna.classification.0`` … ``.N`` plus ``lacuna.classification.parts``.

It is bound to the table's column names (a read of some columns is fine) and signed; the row
count and values are not known without a job, so they are not bound (a write made outside Lacuna
is caught by the query listener, :mod:`lacuna.spark.listener`, which re-labels or flags the
table). A table whose files are a local folder is also bound to that folder and its content
fingerprint (no job: the files' hashes, as a folder's sidecar binds them), so moving the table
(``ALTER TABLE … SET LOCATION``) or copying files into its folder makes the label stale. A
table whose files are remote (``s3a://``, ``hdfs://``) is bound to the files Spark reads for
it (their names and total size, from its file index: no job;
:func:`lacuna.spark.sources.table_listing`): part files copied into its location, or left
there by a write outside Lacuna that failed half-way, make the label stale the same way.
The signed body says ``"binding": "table"``: such a label is trusted only as a table's
label, never inside a file (where a declaration must carry digests of its values), and a file's
declaration copied into table properties is not trusted either. A label written before the
binding existed is untrusted (it only adds restrictions) until the table is written again.
The signed body also names the table (``"table": "catalog.db.name"``): a label copied onto
another table's properties (a PUBLIC one onto a table of customers with the same column
names) is not trusted there, and a label without the name (written before) is untrusted until
the table is written again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datetime import datetime

PREFIX = "lacuna.classification"
CHUNK = 3000
UNBOUND_ROWS = 0  # the declaration's row count: not bound for tables (see the docstring)


def table_properties(declaration: Mapping[str, Any]) -> dict[str, str]:
    """The properties that store ``declaration``."""
    text = json.dumps(declaration, separators=(",", ":"), sort_keys=True)
    parts = [text[i : i + CHUNK] for i in range(0, len(text), CHUNK)] or [""]
    props = {f"{PREFIX}.{i}": part for i, part in enumerate(parts)}
    props[f"{PREFIX}.parts"] = str(len(parts))
    return props


def read_table_label(properties: Mapping[str, str]) -> str | None:
    """The declaration stored in a table's properties (JSON text), or None when there is none.
    A declaration cut short or tampered with comes back as text the sidecar reader refuses."""
    count = properties.get(f"{PREFIX}.parts")
    if count is None:
        return None
    try:
        n = int(count)
    except ValueError:
        return "{malformed"
    return "".join(properties.get(f"{PREFIX}.{i}", "") for i in range(min(n, 1000)))


def set_properties_sql(table: str, props: Mapping[str, str]) -> str:
    """``ALTER TABLE … SET TBLPROPERTIES`` for ``props`` (values quoted for Spark SQL)."""

    def quote(s: str) -> str:
        return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"

    body = ", ".join(f"{quote(k)}={quote(v)}" for k, v in props.items())
    return f"ALTER TABLE {quoted_name(table)} SET TBLPROPERTIES ({body})"


def quoted_name(table: str) -> str:
    return ".".join(f"`{p.replace('`', '``')}`" for p in table.split("."))


def declaration_for(classification: Any, columns: Sequence[str], *, sources: Sequence[str],
                    user: str, run_id: str, table: str | bool = True,
                    first_seen: datetime | None = None,
                    location: str | None = None, listing: str | None = None) -> dict[str, Any]:
    """The signed label of a table written now; ``first_seen``: the write's retention clock
    (:func:`lacuna.spark.writes.write_clock`), signed with it; ``location``: the local folder of
    the table's files, bound by their content (:func:`lacuna.lineage.sidecar.read_embedded`);
    ``listing``: for remote files, the digest of those Spark reads
    (:func:`lacuna.spark.sources.table_listing`), bound instead."""
    from lacuna.lineage.sidecar import embedded_declaration

    return embedded_declaration(classification, columns=columns, rows=UNBOUND_ROWS, table=table,
                                sources=sources, written_by=user, run_id=run_id,
                                first_seen=first_seen, location=location,
                                listing=listing)
