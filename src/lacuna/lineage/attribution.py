"""Which part of a trusted version's classification a claim raised, so a dismissal undoes it.

An ingested run (a claim, :mod:`lacuna.lineage.claims`) may raise what a read resolves: a
governed read of ``customers.csv`` while a claim says it is PROPRIETARY is PROPRIETARY, and the
run of Lacuna's own that read it records it so, as a trusted, signed version. A steward who
dismisses the claim (:mod:`lacuna.lineage.dismiss`) takes back the claim's own versions; the
raise copied into Lacuna's versions must come down with it, never below what Lacuna derived
itself, and never by hand.

So such a version carries its attribution, :class:`Raised`, under ``raised_by`` inside the
signed ``classification`` JSON (the signature covers it: removing a claim id, adding one, or
editing what Lacuna derived makes the row fail verification, and a row that does not verify
is held to as a claim, which only restricts):

- ``own``: the classification Lacuna derived without any claim (the values, trusted
  declarations, the store's own versions); ``null`` when Lacuna cannot tell (an output derived
  through a join or an aggregation of raised data: see docs/lineage.md);
- ``claims``: each claim run that raised it, with what that claim said (``contributed``).

The version's top-level classification stays the full, raised one: code (or an older Lacuna)
that does not read ``raised_by`` sees the raise (fail closed). A reader of the store resolves
the standing class (:func:`standing`): the full class while any named claim stands, ``own``
once every named claim was dismissed by a steward, shown by a dismissal the store signed
(:func:`dismissal_payload`, kept in the run's provenance): the ``dismissed`` column alone is a
plain boolean anyone with the database file can flip. The signature names the store, so a
dismissal copied from another store signed with the same key lowers nothing here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from lacuna.model import Classification, Layer

KEY = "raised_by"  # the attribution's key in a trusted version's classification JSON
DISMISSAL_KEY = "dismissal"  # the signed dismissal's key in a run's provenance JSON


@dataclass(frozen=True, slots=True)
class Raised:
    """A classification's attribution: what Lacuna derived itself (``own``; None: not known)
    and the claim runs that raised it, each with what it said (``claims``)."""

    own: Classification | None
    claims: tuple[tuple[str, Classification | None], ...]

    @property
    def run_ids(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(run_id for run_id, _ in self.claims))

    def to_dict(self) -> dict[str, Any]:
        return {"own": self.own.to_dict() if self.own is not None else None,
                "claims": [{"run_id": run_id,
                            "contributed": c.to_dict() if c is not None else None}
                           for run_id, c in self.claims]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Raised:
        """Raises ``TypeError``/``ValueError``/``KeyError`` on a malformed attribution."""
        own = data.get("own")
        claims = tuple(
            (str(item["run_id"]), Classification.from_dict(item["contributed"],
                                                           layer=Layer.INHERITED)
             if item.get("contributed") is not None else None)
            for item in data.get("claims") or ())
        if not claims:
            msg = "an attribution names no claim"
            raise ValueError(msg)
        return cls(own=Classification.from_dict(own, layer=Layer.INHERITED)
                   if own is not None else None, claims=claims)


def of(own: Classification | None, claims: Iterable[tuple[str, Classification | None]],
       *, result: Classification) -> Raised | None:
    """The attribution of ``result``: None when no claim is named or the claims added nothing
    to ``own`` (nothing to take back)."""
    named = tuple(dict((run_id, c) for run_id, c in claims).items())
    if not named or (own is not None and own == result):
        return None
    return Raised(own=own, claims=named)


def joined(found: Iterable[Raised], *, own: Classification | None = None) -> Raised | None:
    """One attribution naming every claim of ``found``, with ``own`` (None: not known)."""
    claims: dict[str, Classification | None] = {}
    for raised in found:
        for run_id, c in raised.claims:
            claims.setdefault(run_id, c)
    return Raised(own=own, claims=tuple(claims.items())) if claims else None


def standing(full: Classification, raised: Raised, dismissed: Iterable[str]) -> Classification:
    """The class a version with attribution ``raised`` stands at, given the ``dismissed``
    claim run ids: ``full`` while any named claim stands (a partial dismissal keeps the whole
    raise: which part each claim added to a derived class is not recorded, so none is taken
    back until all are; fail closed), ``own`` once all are dismissed (``full`` when ``own`` is
    not known)."""
    gone = set(dismissed)
    if raised.own is None or not all(run_id in gone for run_id in raised.run_ids):
        return full
    line = (f"{raised.own.tier.value}: what Lacuna derived itself; the raise by claim(s) "
            f"{', '.join(raised.run_ids)} was dismissed by a steward")
    return replace(raised.own, reasoning=(line, *raised.own.reasoning))


def same(a: Classification, b: Classification) -> bool:
    """Whether two classifications say the same of the data (tier, floor, tags, each
    column's class), whatever their layer, confidence and reasoning."""
    def key(c: Classification) -> tuple[Any, ...]:
        return (c.tier, c.floor, set(c.tags), set(c.table_tags),
                {n: (col.classification, col.pii_type, col.sensitivity)
                 for n, col in c.columns.items()})
    return key(a) == key(b)


DISMISSAL_STORE_KEY = "dismissal_store"  # beside it: the store it was signed for (not signed
#                                          itself: it only names where a copy came from)


def dismissal_payload(run_id: str, store: str | None = None) -> dict[str, Any]:
    """What the store signs when a steward dismisses claim run ``run_id``: since version 2,
    with the ``store``'s id (its state database's, :mod:`lacuna.state.database_id`), so a
    dismissal copied into another store signed with the same key does not hold there. Without
    ``store``: version 1, what dismissals signed before said (checked only against the trail,
    :meth:`lacuna.lineage.store.LineageStore.dismissed`)."""
    if store is None:
        return {"what": "lineage-dismissal", "run_id": run_id}
    return {"what": "lineage-dismissal", "version": 2, "store": store, "run_id": run_id}


__all__ = ["DISMISSAL_KEY", "DISMISSAL_STORE_KEY", "KEY", "Raised", "dismissal_payload",
           "joined", "of", "same", "standing"]
