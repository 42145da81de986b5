"""The mount's governance: every open-for-read and every write through the Governor.

:class:`MountGovernance` is what the file system (:mod:`lacuna.mount.fs`) calls; it never
touches FUSE. It classifies files from their content (the same classifier as everywhere,
values included; a sidecar or the lineage store's record of the content wins as for a pandas
read), builds the :class:`~lacuna.model.Operation`, hands it to the Governor, and records the
written file's classification (sidecar) and lineage (heuristic edges from what the writing
process group read before).

A written file carries the retention clock (``first_seen``, :mod:`lacuna.lineage.clock`) in
its sidecar and, sealed, in its header: the earliest of the clock its path had before the
write (read when the file was opened for writing, before the open truncated it), the clocks
of what the writing process group read at a tier no higher than the write's (as each file's
trusted sidecar or authenticated sealed header said when it was read; with ``server:``, as the
Lacuna server said: :meth:`MountGovernance.clock_of`), and now.

Denials raise :class:`~lacuna.errors.GovernanceViolation` (the file system turns it into
``EACCES``) and are logged with the full message; ``lacuna status`` lists them for the user.
"""

from __future__ import annotations

import io
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lacuna._files import change_key
from lacuna.classify import classify_frame, classify_text, read_sample
from lacuna.classify.readers import file_format
from lacuna.errors import ClassificationError, GovernanceViolation, StorageError
from lacuna.governor import Governor
from lacuna.lineage import clock
from lacuna.lineage.labels import is_label, label_problem
from lacuna.lineage.records import DatasetRef, RunStatus
from lacuna.lineage.sidecar import (
    SUFFIX,
    SidecarError,
    declaration_at,
    described,
    is_sidecar,
    own_sidecar_paths,
    read_sidecar,
    read_sidecars,
    sidecar_paths,
    write_label,
)
from lacuna.lineage.state import LineageNode
from lacuna.model import (
    Action,
    Classification,
    Decision,
    DestinationType,
    Operation,
    Source,
    Tier,
    utcnow,
)
from lacuna.mount.layout import MountLayout
from lacuna.mount.tracker import Read, ReadTracker, process_name

if TYPE_CHECKING:
    from lacuna.retention.holds import Hold
    from lacuna.retention.keeping import Keeping, RuleHold

log = logging.getLogger("lacuna.mount")

# The mount's own rules (links, renames of the folders that decide where data is) are not a
# policy's: their denials name this rule, so ``lacuna status`` and the audit trail say why.
MOUNT_RULE_ID, MOUNT_RULE_TITLE = "lacuna.mount", "Governed mount: links, folder moves and labels"
SNIFF_BYTES = 256 * 1024  # of a file no data reader accepts, read as text
MAX_CACHED = 4096  # classified files remembered by (size, mtime, sidecar mtime)
HEURISTIC = ("lacuna:lineage", "heuristic")  # Run.extra marker: inputs are a guess by process


def is_metadata(path: str) -> bool:
    """Lacuna's own sidecars: labels about data, not data (not classified, not labelled)."""
    return path.endswith(SUFFIX)


def _mtime(path: Path) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return 0


def unreadable(reason: str) -> Classification:
    """Content the classifier cannot read: INTERNAL, saying why (never PUBLIC by accident)."""
    return Classification(tier=Tier.INTERNAL, reasoning=(reason,))


def stricter(a: Classification, b: Classification) -> Classification:
    return b if b.tier > a.tier else a


class MountGovernance:
    """Decisions for one mount, with one Governor (configured by :func:`mount_config`)."""

    def __init__(self, gov: Governor, layout: MountLayout) -> None:
        self.gov = gov
        self.layout = layout
        self.tracker = ReadTracker()
        # by backing file: (its version, its classification, its data's clock)
        self._cache: OrderedDict[str, tuple[tuple[Any, ...], Classification,
                                            datetime | None]] = OrderedDict()
        self._lock = threading.RLock()  # one decision at a time: the governor's steps are shared
        self._roots: tuple[str, ...] | None = None  # fixed while mounted: found once
        # where the holds retention obeys come from (:meth:`keeping`), made once

    # -- classification ------------------------------------------------------------------------

    def classify_file(self, backing: str) -> Classification:
        """A file in SOURCE as a read sees it: sidecar or store record, else its content."""
        return self._read_as(backing)[0]

    def _read_as(self, backing: str) -> tuple[Classification, datetime | None]:
        """:meth:`classify_file`, and when the file's data was first seen (:meth:`clock_of`),
        cached together by the file's version."""
        st = os.stat(backing)
        key = (change_key(st), *(_mtime(side) for side in sidecar_paths(backing)))
        with self._lock:
            hit = self._cache.get(backing)
            if hit is not None and hit[0] == key:
                return hit[1], hit[2]
            found = self._classify(backing, backing, declared=True)
            seen = self.clock_of(backing)
            self._cache[backing] = (key, found, seen)
            self._cache.move_to_end(backing)
            while len(self._cache) > MAX_CACHED:
                self._cache.popitem(last=False)
            return found, seen

    def classify_content(self, data: str, name: str) -> Classification:
        """Bytes just written (``data``, a staged or backing file) named ``name``: from content
        only; a declaration cannot come with bytes written through a file system."""
        with self._lock:
            return self._classify(data, name, declared=False)

    def _classify(self, data: str, name: str, *, declared: bool) -> Classification:
        config = self.gov.config.classification
        structured: Classification | None = None
        if file_format(name) is not None:
            try:
                frame = read_sample(data, config.sample_rows)
                if declared:
                    structured = self.gov.classify_read(data, frame)[0]
                else:
                    structured = classify_frame(frame, path=name, config=config,
                                                cascade=self.gov.cascade)
            except ClassificationError as exc:
                log.info("%s is not readable as %s (%s); classifying it as text", name,
                         file_format(name), exc)
            if structured is not None and structured.tier is not Tier.PUBLIC:
                return structured
        with open(data, "rb") as fh:
            head = fh.read(SNIFF_BYTES)
        if b"\0" in head:
            found = unreadable(f"{os.path.basename(name)}: binary content Lacuna cannot read "
                               "(treated as INTERNAL)")
        else:
            found = classify_text(head.decode("utf-8", "replace"), config=config,
                                  cascade=self.gov.cascade)
        if declared and structured is None:  # no data reader took it: its label still counts
            found = self._labelled(data, found)
        return found if structured is None else stricter(structured, found)

    @staticmethod
    def _labelled(backing: str, found: Classification) -> Classification:
        """``found`` (from content) raised to what the file's sidecar declares: a gzip of
        customer data is labelled PROPRIETARY when written, and is so when read. A label
        only raises here; one that cannot be read is PROPRIETARY (fail closed)."""
        try:
            label = read_sidecar(backing)
        except SidecarError as exc:
            log.error("%s", exc)
            return Classification.fail_closed(str(exc), over=found)
        if label is None or label.classification.tier < found.tier:
            return found
        return label.classification

    # -- reads ---------------------------------------------------------------------------------

    def read(self, path: str, pid: int, *, method: str = "fuse.open",
             remember: bool = True, pending: str | None = None,
             kept: Classification | None = None) -> None:
        """Decide a read of mount path ``path`` by process ``pid``; raises on a denial.
        ``remember``: the process read it (lineage); a rename or link that carries the file to
        a new name is decided as its read too, but reads nothing. ``pending``: the staged copy
        of a write to ``path`` not yet decided, which is what the open reads, classified as
        its write will be: its content, at least ``kept`` (what the file was when opened for
        a write that keeps its content, an append: a memo labelled PROPRIETARY, appended to
        by a program that still held it open, was read as its words, PUBLIC, and cp exported
        it)."""
        backing = self.layout.backing(path)
        if is_metadata(path) and ((is_sidecar(backing) and is_label(backing)) if pending is None
                                  else is_label(pending)):
            # a label, not data; anything else under a label's name is read as data (a key
            # Lacuna does not write, a text over its bound: lacuna.lineage.labels)
            return
        with self._lock:
            try:
                if pending is None:
                    classification, seen = self._read_as(backing)
                else:
                    classification, seen = self.classify_content(pending, backing), None
                    if kept is not None:
                        classification = stricter(classification, kept)
            except GovernanceViolation:  # (a PermissionError) a sealed file's read, refused
                raise
            except OSError:
                return  # gone, or not a regular file: the open itself will say so
            op = self.gov.operation(
                Action.READ, classification,
                sources=[Source(name=backing, classification=classification)],
                method=method, code_location=_who(pid),
            )
            self._decide(lambda: self.gov.govern(op), op, path)
        if remember:
            self.tracker.saw(pid, backing, classification, seen)

    def open_sealed(self, path: str, pid: int, *, method: str = "fuse.read",
                    remember: bool = True) -> io.BufferedReader:
        """Open a sealed file of governed storage for ``pid``: the read is decided on the
        file's signed declaration and audited (``fuse.read``) by
        :func:`lacuna.storage.open_governed`, which alone decrypts; raises on a denial."""
        from lacuna.storage import open_governed

        backing = self.layout.backing(path)
        who = _who(pid)
        with self._lock:
            try:
                reader = open_governed(backing, method=method,
                                       user=self.gov.config.user.to_user(),
                                       code_location=who, gov=self.gov)
            except GovernanceViolation as exc:
                from lacuna.feedback import render_text

                log.warning("DENIED read %s (%s):\n%s", path, who,
                            render_text(exc.decision))
                raise
        decided = getattr(reader.raw, "decided_on", None)
        if remember and isinstance(decided, Classification):
            header = getattr(reader.raw, "header", None)  # authenticated when it opened
            meta = dict(header.meta) if header is not None else None
            self.tracker.saw(pid, backing, decided, self.clock_of(backing, meta))
        return reader

    def clock_of(self, backing: str, header: dict[str, Any] | None = None) -> datetime | None:
        """When the data of ``backing``, just read, was first seen: its trusted sidecar's or
        authenticated sealed ``header``'s clock (:func:`file_clock`); with ``server:``, the
        clock the Lacuna server keeps for the file or its content, never its sidecar's or
        header's, which the file's owner can sign again with their own key
        (:func:`lacuna.lineage.clock.of_file`). Raises when the server does not answer: the
        read is refused (fail closed), as it would be without the server's decision."""
        if self.gov.config.server is not None:
            from lacuna.remote.client import ServerLineage

            store = self.gov.lineage_store
            if isinstance(store, ServerLineage):  # the governor's own client
                return store.first_seen(backing)
            return clock.of_file(backing, self.gov.config)
        return file_clock(backing, header)

    # -- writes --------------------------------------------------------------------------------

    def target_clock(self, backing: str) -> datetime | None:
        """The clock the data at ``backing`` has before it is written (its trusted sidecar's
        or authenticated sealed header's: :func:`lacuna.lineage.clock.of_file`); read when
        it is opened for writing, before the open truncates or the writes change it."""
        if is_metadata(backing) or not os.path.isfile(backing):
            return None
        return clock.of_file(backing, self.gov.config)

    def write(self, path: str, data: str, pid: int, publish: Callable[[datetime], None], *,
              before: datetime | None = None, moved: bool = False,
              method: str = "fuse.write", kept: Classification | None = None) -> None:
        """Decide a file written through the mount: ``data`` holds its bytes (a staged copy for
        an outside destination or sealed storage, the backing file itself in plain governed
        storage). ``publish`` puts it in place, given the write's clock (``first_seen``, for a
        sealed header); it runs only when the write is allowed. ``before``: the clock the
        target had when it was opened for writing (:meth:`target_clock`). ``moved``: ``data``
        is a file of governed storage renamed to ``path``, so it is at least what a read of it
        sees (its label included). ``method``: how the write came (``fuse.rename``: a
        move). ``kept``: what the file was when opened for a write that keeps its content
        (an append): the written file is no less. Raises on a denial."""
        target = self.layout.backing(path)
        if is_metadata(path) and not self._outside(target):
            problem = label_problem(data)
            if problem is None:
                self.keep_label(path, pid, data, method="fuse.write")
            else:
                self.refuse(Action.WRITE, path, pid,
                            f"Cannot write {path}: a file named like a Lacuna sidecar "
                            f"(*{SUFFIX}) must be a classification declaration shaped as "
                            f"Lacuna writes one, and this is not one ({problem[:300]}). Data is "
                            "not kept under a label's name, where it would be neither "
                            "decided nor encrypted at rest: give the file another name.",
                            method="fuse.write", destination=target)
            publish(utcnow())
            return
        if data != target and os.path.lexists(target):  # a staged copy would replace it
            self.keep_held(f"write {path}", (path,), pid, method=method, destination=target)
        reads = self.tracker.reads(pid, exclude=target)
        with self._lock:
            classification = self.classify_content(data, target)
            if classification.tier is Tier.INTERNAL and not classification.columns and reads:
                # unreadable content: what the process read is the best evidence (fail closed)
                for r in reads:
                    classification = stricter(classification, r.classification)
            if moved:  # the file itself: as a read of it sees it, its label included
                classification = stricter(classification, self.classify_file(data))
            if kept is not None:  # appended to, or edited: still what it was, and more
                classification = stricter(classification, kept)
            # a copy is what it copies, whichever program read what it copies (a pipe
            # between two sessions, a copy made by a service)
            classification = self._copied(data, classification,
                                          self.tracker.everyone(exclude=target))
            seen = self._clock(target, data, classification.tier, reads, before)
            dest = self.gov.destination(target)
            outside = dest.type is not DestinationType.GOVERNED_STORAGE
            op = self.gov.operation(
                Action.EXPORT if outside else Action.WRITE, classification,
                sources=[Source(name=r.path, classification=r.classification) for r in reads],
                destination=dest, method=method, code_location=_who(pid),
            )
            try:
                self._decide(lambda: self.gov.execute(op, lambda: publish(seen)), op, path)
            except GovernanceViolation:
                self._lineage(op, target, reads, RunStatus.DENIED)
                raise
            if not is_metadata(path):
                self._label(target, op, reads, seen)
            self._lineage(op, target, reads, RunStatus.SUCCEEDED)

    def _copied(self, data: str, found: Classification,
                reads: tuple[Read, ...]) -> Classification:
        """``found`` (from the written content) raised to the classification of a file read
        through the mount (``reads``) whose bytes ``data`` repeats exactly (``cp``, ``cat f >
        g``): a copy is that file, so it keeps what the file was read as, its label included
        (a memo labelled PROPRIETARY whose words look PUBLIC left through the outbox as
        PUBLIC). A file of the same size that cannot be compared (unreadable) counts as
        copied: fail closed; one removed since it was read is not compared."""
        size = os.path.getsize(data)
        if not size:  # nothing is copied (``touch``), whatever empty file was read
            return found
        for r in reads:
            if r.classification.tier <= found.tier:
                continue
            try:
                same = self._same_bytes(data, size, r.path)
            except FileNotFoundError:
                same = False
            except (OSError, StorageError) as exc:
                log.warning("cannot compare %s with %s (taken as a copy of it): %s", data,
                            r.path, exc)
                same = True
            if same:
                found = replace(r.classification, reasoning=(
                    f"{r.classification.tier.value}: a copy of {r.path}, read as that",
                    *r.classification.reasoning))
        return found

    def _same_bytes(self, data: str, size: int, source: str) -> bool:
        """Whether ``data`` holds exactly the bytes of ``source`` (a sealed one's plaintext)."""
        from lacuna.storage.sealed import is_sealed, plaintext_size

        try:
            sealed = is_sealed(source)
            if (plaintext_size(source) if sealed else os.path.getsize(source)) != size:
                return False
        except (OSError, StorageError):  # gone, or not a file any more (damaged: not sized)
            return False
        with (self.unsealed(source) if sealed else open(source, "rb")) as theirs, \
                open(data, "rb") as ours:
            while True:
                chunk = ours.read(1 << 20)
                if theirs.read(len(chunk) or 1) != chunk:
                    return False
                if not chunk:
                    return True

    def keep_label(self, path: str, pid: int, new: str | None, *, method: str) -> None:
        """Refuse to remove (``new`` None) or replace (by the declaration in file ``new``) the
        sidecar at mount path ``path`` of a file in governed storage when that lowers the tier
        the file is labelled with: its label is what a read of it (and so a ``cp`` of it out)
        is decided on, and a file system call cannot say who may relabel data. Removing the
        data file first (its label then describes nothing), a label kept at least as high
        (by the new declaration, or another sidecar of the file) and a new declaration Lacuna
        signed for the file as it is (trusted) are allowed. Raises on a refusal (recorded)."""
        side = self.layout.backing(path)
        if not is_metadata(path) or self._outside(side):
            return
        for data in described(side):
            if not os.path.lexists(data) or Path(side) not in own_sidecar_paths(data):
                continue
            try:
                old = declaration_at(data, side)
            except SidecarError:
                old_tier: Tier | None = Tier.PROPRIETARY  # read fail closed as PROPRIETARY
            else:
                old_tier = None if old is None else old.classification.tier
            if old_tier is None or old_tier is Tier.PUBLIC:
                continue
            kept: list[Tier] = []
            for other in read_sidecars(data):
                if other.path != Path(side):
                    kept.append(other.classification.tier)
            if new is not None:
                try:
                    replacing = declaration_at(data, new)
                except SidecarError:
                    replacing = None
                if replacing is not None and replacing.trusted:
                    continue  # Lacuna's declaration for this content: declared beats inferred
                if replacing is not None:
                    kept.append(replacing.classification.tier)
            if max(kept, default=Tier.PUBLIC) < old_tier:
                verb = "remove" if new is None else "replace"
                self.refuse(Action.WRITE, path, pid,
                            f"Cannot {verb} {path}: it labels {os.path.basename(data)} "
                            f"{old_tier.value}, and without it the file would be read (and "
                            "copied out) as less. A label is not changed through the mount: "
                            "delete or rewrite the data file itself (its label follows), or "
                            "have a data steward relabel it.",
                            method=method, sources=(data,), destination=side)

    # -- legal holds -----------------------------------------------------------------------------

    def keep_held(self, what: str, paths: tuple[str, ...], pid: int, *, method: str,
                  sources: tuple[str, ...] = (), destination: str | None = None) -> None:
        """Refuse ``what`` (deleting, moving away, replacing or changing the content of what
        each mount path of ``paths`` names) when a legal hold covers it, or it is a folder that
        holds held data (:meth:`~lacuna.retention.holds.Hold.blocks`), or a Rego retention rule
        holds a governed item there (``retention := {"hold": true, ...}``): held data is kept
        as it is. Retention decides what is held (:meth:`keeping`); when it cannot say,
        nothing is done (fail closed). Raises on a refusal (recorded, naming the hold)."""
        def refuse(reason: str, rule: tuple[str, str] = (MOUNT_RULE_ID, MOUNT_RULE_TITLE)
                   ) -> None:
            self.refuse(Action.WRITE, paths[0], pid, reason, method=method, sources=sources,
                        destination=destination, rule=rule)

        def unanswered(which: str, exc: Exception, check: str = "") -> None:
            log.error("could not read %s (denied, fail closed): %s: %s", which,
                      type(exc).__name__, exc)
            refuse(f"Cannot {what}: {which} could not be read ({type(exc).__name__}: {exc}), "
                   "and held data is not deleted, moved or changed through the mount, so "
                   f"nothing is (fail closed). {self._holds_help()}{check}, then try again.")

        try:
            holds = self.holds()
        except Exception as exc:
            unanswered("the legal holds", exc)
            raise  # (refuse() always raises)
        covered: list[str] = []
        for path in paths:
            backing = self.layout.backing(path)
            # a held file's own label (its classification and clock) is kept with it
            labelled = [d for d in (described(backing) if is_metadata(path) else ())
                        if os.path.lexists(d) and Path(backing) in own_sidecar_paths(d)]
            covered.extend(labelled if is_metadata(path) else (backing,))
            for held in (backing, *labelled):
                hold = next((h for h in holds if h.blocks(held)), None)
                if hold is None:
                    continue
                if held != backing:
                    where = f"is the label of {os.path.basename(held)}, which is under"
                else:
                    where = "is under" if hold.covers(backing) else "holds data under"
                refuse(_held(what, path, where, hold), (f"retention.hold.{hold.id}",
                                                        "Legal hold"))
        try:
            ruled = self.keeping().rule_hold(covered) if covered else None
        except Exception as exc:
            unanswered("the retention rules that may hold it", exc,
                       " and that the policy bundle compiles (lacuna retention plan)")
            raise
        if ruled is not None:
            refuse(_ruled(what, paths[0], self._mount_path(ruled.path), ruled),
                   (ruled.policy_id, "Legal hold from policy"))

    def _holds_help(self) -> str:
        if self.gov.config.server is not None:
            return (f"Check that the Lacuna server ({self.gov.config.server.url}) runs and "
                    "answers GET /api/v1/retention/holds for this token (lacuna retention "
                    "list-holds)")
        return ("Check that the state database beside the audit trail is readable (lacuna "
                "retention list-holds)")

    def _mount_path(self, backing: str) -> str:
        """``backing`` (a file in SOURCE) as its mount path, for messages."""
        source = self.layout.source.rstrip("/")
        if backing == source or backing.startswith(source + "/"):
            return "/" + backing[len(source):].lstrip("/")
        return backing

    def holds(self) -> tuple[Hold, ...]:
        """The legal holds retention obeys (:meth:`keeping`: the holds table's active rows and
        the holds placed on the audit trail and not released there), read again only when
        they may have changed. A hold placed on a path through this mount is compared as the
        file in SOURCE behind it. Raises when they cannot be read."""
        return tuple(self._on_backing(h) for h in self.keeping().holds())

    def keeping(self) -> Keeping:
        """Where the holds come from: the state store beside the audit trail, or the Lacuna
        server this mount's governor records to (``server:``, ``GET /api/v1/retention/holds``)."""
        return self.gov.keeping

    def _on_backing(self, hold: Hold) -> Hold:
        """``hold`` as the mount compares it: placed on a path through this mount, it names the
        file or folder in SOURCE behind it (resolving the mount path would ask the mount)."""
        mnt = self.layout.mountpoint.rstrip("/")
        if hold.dataset == mnt or hold.dataset.startswith(mnt + "/"):
            return replace(hold, dataset=self.layout.backing(hold.dataset[len(mnt):]))
        return hold

    def unsealed(self, backing: str) -> io.BufferedReader:
        """The plaintext of sealed file ``backing``, for the mount's own use only (comparing a
        copy, putting a label in place): its read was decided before, or nothing of it
        leaves the mount."""
        from lacuna.keystore import keystore_for
        from lacuna.storage.sealed import SealedReader

        return io.BufferedReader(SealedReader(backing, keystore_for(self.gov.config)))

    # -- the mount's own refusals ----------------------------------------------------------------

    def roots(self) -> tuple[str, ...]:
        """The destination roots inside SOURCE (the outside folders, and any
        ``destinations.governed``/``unmanaged`` root under SOURCE): the folders whose place
        decides where data is, so they are not renamed or removed through the mount."""
        found = self._roots
        if found is None:
            source = self.layout.source.rstrip("/")
            dest = self.gov.config.destinations
            local = (os.path.realpath(os.path.expanduser(r)).rstrip("/")
                     for r in (*dest.governed, *dest.unmanaged) if "://" not in r)
            found = tuple(sorted({r for r in local if r.startswith(source + "/")}))
            self._roots = found
        return found

    def root_within(self, backing: str) -> str | None:
        """A destination root that is ``backing`` or lies under it (so moving or removing
        ``backing`` moves or removes that root), else None."""
        here = backing.rstrip("/")
        return next((r for r in self.roots() if r == here or r.startswith(here + "/")), None)

    def refuse(self, action: Action, path: str, pid: int, reason: str, *, method: str,
               sources: tuple[str, ...] = (), destination: str | None = None,
               rule: tuple[str, str] = (MOUNT_RULE_ID, MOUNT_RULE_TITLE)) -> None:
        """Deny, record and log an operation the mount refuses by its own rule, not a policy's
        (a link out of governed storage, moving a destination root): a refusal is a governance
        decision like any other, so it is in the audit trail, the log and ``lacuna status``
        with who asked (the caller's process), the paths and why; ``rule`` is the id and
        title it is recorded under (a legal hold's: ``retention.hold.ID``). Always raises
        :class:`~lacuna.errors.GovernanceViolation`."""
        with self._lock:
            classification = unreadable("not classified: refused before any data moved")
            for src in sources:
                classification = stricter(classification, self._classify_quietly(src))
            op = self.gov.operation(
                action, classification,
                sources=[Source(name=src, classification=classification) for src in sources],
                destination=self.gov.destination(destination) if destination else None,
                method=method, code_location=_who(pid),
            )
            decision = Decision(allowed=False, operation_id=op.id, reasoning=reason,
                                policy_id=rule[0], policy_title=rule[1],
                                operation=op)
            self.gov.record(decision)  # a failure is logged there; the refusal stands

            def deny() -> None:
                raise GovernanceViolation(decision)

            self._decide(deny, op, path)

    def _classify_quietly(self, backing: str) -> Classification:
        """What a refused operation would have carried: a file's classification (as a read
        sees it), a folder's or an unreadable file's INTERNAL."""
        if not os.path.isfile(backing) or is_metadata(backing):
            return unreadable(f"{os.path.basename(backing)}: a folder or special file")
        try:
            return self.classify_file(backing)
        except Exception as exc:  # the refusal stands; only its description is poorer
            log.info("could not classify %s for its refusal: %s", backing, exc)
            return unreadable(f"{os.path.basename(backing)}: could not be classified ({exc})")

    def _outside(self, backing: str) -> bool:
        return self.gov.destination(backing).type is not DestinationType.GOVERNED_STORAGE

    def _decide(self, run: Callable[[], object], op: Operation, path: str) -> None:
        try:
            run()
        except GovernanceViolation as exc:
            from lacuna.feedback import render_text

            log.warning("DENIED %s %s (%s):\n%s", op.action.value, path, op.code_location,
                        render_text(exc.decision))
            raise

    def _clock(self, target: str, data: str, tier: Tier, reads: tuple[Read, ...],
               before: datetime | None) -> datetime:
        """The clock a write of ``data`` to ``target`` at ``tier`` takes (the one rule:
        :func:`lacuna.lineage.clock.of_write`): ``before`` (the target's when opened for
        writing), the target's now when ``data`` is not the target itself (a staged copy:
        the target is as it was), the clock of each of ``reads`` at a tier no higher than
        ``tier``, and now."""
        parents = tuple(LineageNode(name=r.path, operation="mount.read",
                                    classification=r.classification, first_seen=r.first_seen)
                        for r in reads)
        written = LineageNode(name=None, operation="mount.write", parents=parents)
        return clock.of_write(target if data != target else None, written, tier,
                              self.gov.config, now=clock.earliest(utcnow(), before))

    def _label(self, target: str, op: Operation, reads: tuple[Read, ...],
               first_seen: datetime) -> None:
        try:
            write_label(target, [(op.classification, tuple(r.path for r in reads), op.user.id,
                                  op.id)], self.gov.config.classification,
                        first_seen=first_seen)
        except Exception as exc:  # the file is written; its label is best effort, loudly
            log.error("could not write the sidecar of %s: %s", target, exc)

    def _lineage(self, op: Operation, target: str, reads: tuple[Read, ...],
                 status: RunStatus) -> None:
        from lacuna.lineage.recording import Produced, input_version, run_for

        try:
            produced = Produced(
                operation="mount.write",
                inputs=tuple(input_version(DatasetRef.of(r.path), r.classification)
                             for r in reads),
                outputs=(DatasetRef.of(target),),
                classification=op.classification,
            )
            run = run_for(produced, op, None, status=status, session=self.gov.session)
            run = replace(run, decision_id=op.id, extra=(HEURISTIC, ("lacuna:process",
                                                                     op.code_location)))
            self.gov.lineage_store.record(run)
        except Exception as exc:  # like the audit trail's: logged, never breaks the write
            log.error("could not record the lineage of %s: %s", target, exc)


def file_clock(backing: str, header: dict[str, Any] | None = None) -> datetime | None:
    """When the data of ``backing`` was first seen, as read: its trusted sidecar's clock, and
    the authenticated ``header`` meta of a sealed file opened for the read (an unsigned,
    forged or stale sidecar says nothing: :func:`lacuna.lineage.clock.of_declaration`)."""
    try:
        declared = clock.of_declaration(read_sidecar(backing))
    except (SidecarError, OSError):
        declared = None
    return clock.earliest(declared, clock.of_header(header) if header is not None else None)


def _ruled(what: str, path: str, item: str, ruled: RuleHold) -> str:
    """Why the mount refuses ``what`` on ``path`` when a Rego retention rule holds ``item``
    (or failed on it), and how to proceed."""
    if ruled.error is not None:
        return (f"Cannot {what}: the retention rules could not decide whether {item} is held "
                f"({ruled.error}), so it is kept as it is (fail closed), as retention keeps "
                "it. Fix the rule (lacuna retention plan shows the error), then try again.")
    held = "is" if item == path else f"holds {item}, which is"
    return (f"Cannot {what}: {path} {held} held by the retention rule of policy package "
            f"{ruled.package} ({ruled.reason!r}). Held data is not deleted, moved away, "
            "replaced or changed, through the mount or otherwise (reading and copying it stay "
            "allowed). When it is no longer needed, ask the owners of the policy bundle to "
            "lift that rule, then try again.")


def _held(what: str, path: str, where: str, hold: Hold) -> str:
    """Why the mount refuses ``what`` on ``path`` (which ``where`` ``hold``), and how to
    proceed."""
    text = (f"Cannot {what}: {path} {where} legal hold {hold.id} on {hold.dataset} "
            f"({hold.reason!r}), placed by {hold.placed_by} on {hold.placed_at:%Y-%m-%d}. "
            "Held data is kept as it is: it is not deleted, moved, renamed or changed, through "
            "the mount or otherwise (reading and copying it stay allowed). When the hold is no "
            f"longer needed, ask {hold.placed_by} to release it (lacuna retention release "
            f"{hold.id}), then try again.")
    if hold.unrecorded:
        text += (f" The holds table has this hold but the audit trail does not bear it out "
                 f"({hold.unrecorded}); it keeps the data all the same until it is placed "
                 "with lacuna retention hold or its row is removed.")
    return text


def _who(pid: int) -> str:
    return f"{process_name(pid)}[{pid}]"
