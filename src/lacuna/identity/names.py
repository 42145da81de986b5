"""One rule for when two user names are one person (:func:`canonical_name`).

Every place that compares identities (who may approve, who filed a request, whose request a
caller may see, whom a grant covers, whether a bearer token's name is a local user's) compares
canonical names, so ``Jane``, ``jane``, ``jane `` and ``ｊａｎｅ`` (fullwidth) are one person
everywhere. Two *accounts* whose names differ but are canonically equal are refused where they
would meet (``lacuna users add``, an OIDC token beside a local user or a configured steward):
the audit trail keeps the name as it was authenticated, and it never names two people who
compare as one.

Example:
    >>> canonical_name(" Jane ") == canonical_name("ｊａｎｅ") == "jane"
    True
"""

from __future__ import annotations

import unicodedata


def canonical_name(name: str) -> str:
    """``name`` as identities are compared: Unicode NFKC (fullwidth and other compatibility
    forms become their plain letters), case folded, invisible format characters (zero-width
    spaces and joiners, direction marks) dropped, and whitespace trimmed and collapsed."""
    text = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", str(name)).casefold())
    visible = "".join(c for c in text if unicodedata.category(c) != "Cf")
    return " ".join(visible.split())


def same_name(a: str | None, b: str | None) -> bool:
    """Whether ``a`` and ``b`` name one person (both given, equal canonical names)."""
    if not a or not b:
        return False
    left, right = canonical_name(a), canonical_name(b)
    return bool(left) and left == right


__all__ = ["canonical_name", "same_name"]
