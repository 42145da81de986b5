"""When data was first seen: the one rule for which clock a write takes.

Retention counts a file's window from its data's **clock** (docs/retention.md). A write takes
the earliest of:

- the clock its destination already had (writing a path again does not restart it);
- the clock of the data it derives from, read at a tier no higher than the write's
  (:func:`takes`): a copy is as old as its source; what is written below the source's tier
  (a projection to public columns, an anonymized extract) is new data;
- now.

The audit trail applies the rule to its records (:mod:`lacuna.retention.trail`: the session's
reads); a governed write applies it to the lineage of the frame it writes
(:func:`from_lineage`) and to its destination's trusted declaration (:func:`existing`), and
carries the result in the signed sidecar and the sealed header (``first_seen``), so the clock
follows the file when it is renamed by hand, and a copy made in another session. With
``server:``, a file's clock is the one the Lacuna server recorded (:mod:`lacuna.lineage.seen`).
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, overload

from lacuna.model import Tier, utcnow

if TYPE_CHECKING:
    from lacuna.config import Config
    from lacuna.keystore import KeyStore
    from lacuna.lineage.sidecar import Sidecar
    from lacuna.lineage.state import LineageNode

log = logging.getLogger(__name__)

FIELD = "first_seen"  # in a sidecar's body and a sealed header's meta


def takes(read: Tier, write: Tier) -> bool:
    """Whether a write at tier ``write`` takes the clock of data read at tier ``read``."""
    return read <= write


def earliest(*clocks: datetime | None) -> datetime | None:
    """The earliest of the known ``clocks`` (None: none is known)."""
    return min((c for c in clocks if c is not None), default=None)


@overload
def aware(value: datetime) -> datetime: ...


@overload
def aware(value: Any) -> datetime | None: ...


def aware(value: Any) -> datetime | None:
    """A time, or an ISO time as written in a declaration, with its zone (naive: UTC); None
    when absent or unreadable."""
    if isinstance(value, datetime):
        when = value
    elif isinstance(value, str) and value:
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def of_declaration(declared: Sidecar | None) -> datetime | None:
    """The clock a trusted declaration carries: its ``first_seen``, or, written before it
    carried one, its write time. None for an untrusted one (see docs/retention.md)."""
    if declared is None or not declared.trusted:
        return None
    return earliest(aware(declared.written_at), declared.first_seen)


def of_header(meta: dict[str, Any]) -> datetime | None:
    """The clock an authenticated sealed header's ``meta`` carries (``first_seen``, or, sealed
    before it carried one, ``written_at``)."""
    return earliest(aware(meta.get("written_at")), aware(meta.get(FIELD)))


def sealed_header(path: str, keystore: KeyStore | None) -> dict[str, Any] | None:
    """The ``meta`` of the sealed file at ``path``, once its header authenticates (opening a
    :class:`~lacuna.storage.sealed.SealedReader` decrypts its last segment, whose associated
    data is the header's hash); None for a file that is not sealed or does not open. Nothing
    of the plaintext is kept."""
    from lacuna.storage.sealed import SealedReader, is_sealed

    if keystore is None or not os.path.isfile(path) or not is_sealed(path):
        return None
    try:
        reader = SealedReader(path, keystore)
    except Exception:  # not authentic, no key: what the header says is not known
        return None
    try:
        return dict(reader.header.meta)
    finally:
        reader.close()


def existing(path: str, keystore: KeyStore | None = None) -> datetime | None:
    """The clock the data at ``path`` has now, read before it is written again: its trusted
    sidecar's, or its authenticated sealed header's, whichever is earlier. None when neither
    is trusted (an unsigned, forged or stale sidecar says nothing here). A sidecar that cannot
    be read (malformed JSON, wrong types, a folder or a device under its name, binary junk)
    says nothing either, and is reported: logged as an error naming it and what the write's
    clock is then (never a clock it claims, neither earlier nor later)."""
    from lacuna.lineage.sidecar import SidecarError, read_sidecar

    path = os.path.expanduser(path)
    if not os.path.exists(path):
        return None
    try:
        declared = of_declaration(read_sidecar(path))
    except (SidecarError, OSError) as exc:
        log.error("the retention clock of %s is not known: its sidecar cannot be read (%s); "
                  "it says nothing, so the write takes the clock of its sources, or now "
                  "(docs/retention.md). Delete the damaged sidecar; the write signs a new one",
                  path, exc)
        declared = None
    meta = sealed_header(path, keystore)
    return earliest(declared, of_header(meta) if meta is not None else None)


def from_lineage(node: LineageNode, tier: Tier) -> datetime | None:
    """The earliest clock of the data ``node`` derives from that a write at ``tier`` takes
    (:func:`takes`): every dataset in its lineage read with a known clock."""
    found: datetime | None = None
    stack, done = [node], set()
    while stack:
        n = stack.pop()
        if id(n) in done:
            continue
        done.add(id(n))
        if (n.first_seen is not None and n.classification is not None
                and takes(n.classification.tier, tier)
                and (found is None or n.first_seen < found)):
            found = n.first_seen
        stack.extend(n.parents)
    return found


def of_file(path: str, config: Config | None = None) -> datetime | None:
    """:func:`existing` for the local file at ``path``, a sealed one's header opened with the
    key store of ``config`` (none asked for a file that is not sealed). With ``server:`` in
    ``config``, the clock the Lacuna server keeps for it (:mod:`lacuna.lineage.seen`), or its
    sidecar's or header's when that is earlier: its owner can delete them or sign them again
    with their own key, so they never make the server's clock later, but they only ever make
    it earlier (stricter), and they carry it where the server's is lost (a host renamed).

    Raises:
        LineageError: with ``server:``, the server did not answer.
    """
    path = os.path.expanduser(path)
    if config is not None and config.server is not None:
        from lacuna.remote.client import server_first_seen

        # a URL is no local file (the server is not asked: its name may hold credentials)
        if "://" in path:
            return None
        kept = server_first_seen(config, os.path.abspath(path))
        try:  # the server's clock stands without it
            local = _local_clock(path, config)
        except Exception:
            local = None
        return earliest(kept, local)
    return _local_clock(path, config)


def _local_clock(path: str, config: Config | None) -> datetime | None:
    """:func:`existing` with ``config``'s key store for a sealed file."""
    keystore = None
    if config is not None and os.path.isfile(path):
        from lacuna.keystore import keystore_for
        from lacuna.storage.sealed import is_sealed

        keystore = keystore_for(config) if is_sealed(path) else None
    return existing(path, keystore)


def of_write(path: str | None, node: LineageNode | None, tier: Tier,
             config: Config | None = None, *, now: datetime | None = None) -> datetime:
    """The clock a write of the data ``node`` at ``tier`` to the local ``path`` takes (the
    module docstring), read before the write replaces what is at ``path``. ``config``: its
    key store opens a sealed file's header there."""
    at = now or utcnow()
    before = of_file(path, config) if path else None
    return earliest(at, before, from_lineage(node, tier) if node is not None else None) or at


__all__ = ["FIELD", "aware", "earliest", "existing", "from_lineage", "of_declaration",
           "of_file", "of_header", "of_write", "sealed_header", "takes"]
