"""What the metrics' filters select decisions by, as the rollups key it.

A decision's :class:`Key` is its role (the user group), its policy id, its tier (upper case)
and its domains (each Rego package that evaluated it, and that package's last segment): what
:class:`lacuna.metrics.api.Filters` compares. Counts that add up (decisions, denials, assets)
are rolled up per hour and key, and a filter sums the keys it selects.

Resolutions and workarounds pair two decisions of one user, and a filter keeps a pair only if
it keeps both; which operation resolves a denial can therefore change with the filter. A pair
of two decisions of one key counts in every scope of that key, and is rolled up with the key;
any other pair is rolled up per :data:`Scope`: one filter combination a decision belongs to (a
bit per filter given, and the decision's value for each; ``""`` where not given), 8 × (1 +
domains) of them per decision. Only the few decisions that pair with a recent denial of
another key write them.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lacuna.metrics.api import Filters
    from lacuna.metrics.facts import DecisionFact

ROLE, POLICY, TIER, DOMAIN = 1, 2, 4, 8
SEP = "|"  # between domains in a key's text; never in a Rego package name

# (bits of the filters given, role, policy, tier, domain): "" where a filter is not given
Scope = tuple[int, str, str, str, str]


@dataclass(frozen=True, slots=True)
class Key:
    """What the filters see of one decision."""

    role: str
    policy: str  # "" when the decision names no policy (no policy filter selects it)
    tier: str  # upper case; "" when none
    domains: tuple[str, ...]  # sorted, distinct

    @property
    def domains_text(self) -> str:
        """``|a|b|``: a domain filter selects the keys whose text contains ``|name|``."""
        return f"{SEP}{SEP.join(self.domains)}{SEP}" if self.domains else ""


def key_of(d: DecisionFact) -> Key:
    return _key(d.role, d.policy_id, d.tier, d.packages)


@functools.lru_cache(maxsize=1024)
def _key(role: str, policy_id: str | None, tier: str | None, packages: tuple[str, ...]) -> Key:
    """A decision's key from the fields it is made of: remembered, since a server's decisions
    come in few shapes and every appended one is keyed (:mod:`lacuna.metrics.rollup`)."""
    names = {n for p in packages for n in (p, p.rsplit(".", 1)[-1])}
    return Key(role=role, policy=policy_id or "", tier=(tier or "").upper(),
               domains=tuple(sorted(names)))


def scopes(k: Key) -> list[Scope]:
    """Every filter combination that keeps a decision of key ``k``."""
    out: list[Scope] = []
    for bits in range(8):
        if bits & POLICY and not k.policy:
            continue
        role = k.role if bits & ROLE else ""
        policy = k.policy if bits & POLICY else ""
        tier = k.tier if bits & TIER else ""
        out.append((bits, role, policy, tier, ""))
        out.extend((bits | DOMAIN, role, policy, tier, name) for name in k.domains)
    return out


def within(k: Key, s: Scope) -> bool:
    """Whether the filters of scope ``s`` keep a decision of key ``k``."""
    bits, role, policy, tier, domain = s
    return ((not bits & ROLE or k.role == role) and (not bits & POLICY or k.policy == policy)
            and (not bits & TIER or k.tier == tier)
            and (not bits & DOMAIN or domain in k.domains))


def scope_id(s: Scope) -> str:
    """A scope's name among those of one decision (its values are the decision's)."""
    return f"{s[0]}{SEP}{s[4]}"


def scope_of(filters: Filters) -> Scope | None:
    """The scope a set of filters asks for; None when the rollups cannot tell it apart (an
    empty policy or domain name, or a domain containing ``|``): the records are read then."""
    policy, domain = filters.policy, filters.domain
    if policy == "" or domain == "" or (domain is not None and SEP in domain):
        return None
    bits = ((ROLE if filters.user_group is not None else 0)
            | (POLICY if policy is not None else 0)
            | (TIER if filters.tier is not None else 0)
            | (DOMAIN if domain is not None else 0))
    return (bits, filters.user_group or "", policy or "", (filters.tier or "").upper(),
            domain or "")


def key_condition(s: Scope, dialect: str) -> tuple[str, dict[str, Any]]:
    """SQL (``AND ...``) selecting the keyed rollup rows (columns ``role``, ``policy``,
    ``tier``, ``domains``) that scope ``s`` keeps, and its parameters."""
    bits, role, policy, tier, domain = s
    sql, params = "", {}
    if bits & ROLE:
        sql += " AND role = :k_role"
        params["k_role"] = role
    if bits & POLICY:
        sql += " AND policy = :k_policy"
        params["k_policy"] = policy
    if bits & TIER:
        sql += " AND tier = :k_tier"
        params["k_tier"] = tier
    if bits & DOMAIN:
        find = "strpos" if dialect == "postgresql" else "instr"  # the same, by name
        sql += f" AND {find}(domains, :k_domain) > 0"
        params["k_domain"] = f"{SEP}{domain}{SEP}"
    return sql, params


def scope_condition(s: Scope) -> tuple[str, dict[str, Any]]:
    """SQL (``AND ...``) selecting the pair rollup rows of scope ``s``, and its parameters."""
    bits, role, policy, tier, domain = s
    return (" AND scope = :s_bits AND role = :s_role AND policy = :s_policy AND tier = :s_tier "
            "AND domain = :s_domain",
            {"s_bits": bits, "s_role": role, "s_policy": policy, "s_tier": tier,
             "s_domain": domain})
