"""The token vault: the table behind ``tokenize`` and ``lacuna.detokenize``.

A row per (value, vault key version): a random token (``tok_`` + 16 hex digits, no relation to
the value), the value sealed with AES-256-GCM under the key store's ``vault`` key, the key
version that sealed it, a keyed digest of the value to find its token again (the same value gets
the same token, so tokenized tables still join), and what the value was (``pii:email``).

The table lives in Lacuna's state database (``config.audit_url``, through SQLAlchemy, beside the
audit trail). After ``KeyStore.rotate("vault")`` new values are sealed with the new version (and
get new tokens); old rows keep their version, so old tokens stay resolvable as long as the old
key version is kept.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Column, Integer, MetaData, String, Table, Text, UniqueConstraint, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from lacuna.audit.schema import open_state_database
from lacuna.errors import AuditError, ClassificationError
from lacuna.keystore import Key, KeyStore
from lacuna.model import utcnow
from lacuna.redact import redact_url

if TYPE_CHECKING:
    from lacuna.config import Config
    from lacuna.model import ColumnClass, ColumnKind, Sensitivity

KEY_ID = "vault"
TOKEN_PREFIX = "tok_"
_CHUNK = 500
BOUND = "b1:"  # prefix of a sealed value whose token and origin are authenticated too

metadata = MetaData()
table = Table(
    "lacuna_token_vault",
    metadata,
    Column("token", String(32), primary_key=True),
    Column("key_id", String(64), nullable=False),
    Column("key_version", Integer, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("sealed", Text, nullable=False),  # hex: 12-byte nonce, ciphertext, 16-byte tag
    Column("origin", String(128), nullable=False),  # what the value was: "pii:email"
    Column("created_at", String(40), nullable=False),
    UniqueConstraint("key_id", "key_version", "digest", name="uq_lacuna_token_vault_digest"),
)


class UnknownTokenError(ClassificationError, LookupError):
    """A token that the vault does not hold: never passed through as if it were the value."""


class VaultTamperedError(ClassificationError):
    """A vault row does not authenticate: never opened, nothing detokenized."""


@dataclass(frozen=True, slots=True)
class Resolved:
    values: dict[str, str]
    origins: dict[str, str]


# The engines of the state databases tokenized against lately, most recently used last: a
# process visiting many (a server's tenants, a test session) kept one engine per database, with
# its pool and compiled statements, for good. An evicted one is disposed: its pooled
# connections close, one still in use is discarded when it is given back.
_ENGINES: OrderedDict[str, Engine] = OrderedDict()
_ENGINES_KEPT = 4
_ENGINES_LOCK = threading.Lock()


def _engine(url: str) -> Engine:
    evicted: list[Engine] = []
    with _ENGINES_LOCK:
        engine = _ENGINES.get(url)
        if engine is None:
            engine = _ENGINES[url] = open_state_database(url, metadata)
        _ENGINES.move_to_end(url)
        while len(_ENGINES) > _ENGINES_KEPT:
            evicted.append(_ENGINES.popitem(last=False)[1])
    for old in evicted:
        old.dispose()
    return engine


def _digest(key: Key, value: str) -> str:
    return hmac.new(key.material, b"lookup:" + value.encode("utf-8", "surrogatepass"),
                    hashlib.sha256).hexdigest()


def _bound(key: Key, token: str, origin: str) -> bytes:
    """The associated data of a sealed value: the key id and version, and (rows sealed since
    :data:`BOUND`) the token and what the value was, so a row whose origin was edited in the
    database (``pii:email`` → ``financial``, restoring real e-mails as non-personal) or whose
    token was swapped with another row's no longer opens."""
    return f"{key.ref.id}:{key.ref.version}:{token}:{origin}".encode()


def _seal(key: Key, value: str, token: str, origin: str) -> str:
    from Crypto.Cipher import AES

    nonce = secrets.token_bytes(12)
    cipher = AES.new(hashlib.sha256(b"seal:" + key.material).digest(), AES.MODE_GCM, nonce=nonce)
    cipher.update(_bound(key, token, origin))
    ct, tag = cipher.encrypt_and_digest(value.encode("utf-8", "surrogatepass"))
    return BOUND + (nonce + ct + tag).hex()


def _open(key: Key, sealed: str, token: str, origin: str) -> str:
    """The value; raises ValueError when the row does not authenticate."""
    from Crypto.Cipher import AES

    bound = sealed.startswith(BOUND)
    raw = bytes.fromhex(sealed[len(BOUND):] if bound else sealed)
    nonce, ct, tag = raw[:12], raw[12:-16], raw[-16:]
    cipher = AES.new(hashlib.sha256(b"seal:" + key.material).digest(), AES.MODE_GCM, nonce=nonce)
    # rows sealed before BOUND name only the key; their origin is taken as personal (_legacy)
    legacy = f"{key.ref.id}:{key.ref.version}".encode()
    cipher.update(_bound(key, token, origin) if bound else legacy)
    return cipher.decrypt_and_verify(ct, tag).decode("utf-8", "surrogatepass")


# The order of what detokenize restores, beside the tier the configuration gives each kind (a
# public or unclassified origin is restored as pii: :func:`parse_origin`).
_KIND_ORDER = {"identifier": 0, "financial": 1, "pii": 2, "phi": 3}
# Appended to the origin of a column of sensitivity critical (``pii:ssn#critical``): the tier
# comes from the sensitivity too (``classification.critical_tier``), and an ``identifier``
# column of credentials (API keys) is PROPRIETARY only because it is critical.
CRITICAL_MARK = "#critical"


def origin_of(column: ColumnClass | None) -> str:
    """What the vault records a value was: ``pii:email``, ``identifier:credential#critical``."""
    from lacuna.anonymize.base import describe
    from lacuna.model import Sensitivity

    critical = column is not None and column.sensitivity is Sensitivity.CRITICAL
    return describe(column) + (CRITICAL_MARK if critical else "")


def parse_origin(origin: str) -> tuple[ColumnKind, str | None, Sensitivity]:
    """The kind, ``pii_type`` and sensitivity detokenize restores a value of ``origin`` as:
    what it was, never less than personal when it was public or unclassified (a tokenized
    value was protected for a reason), and of sensitivity high unless it was critical."""
    from lacuna.model import ColumnKind, Sensitivity

    critical = origin.endswith(CRITICAL_MARK)
    kind_text, _, pii_type = origin.removesuffix(CRITICAL_MARK).partition(":")
    try:
        kind = ColumnKind.parse(kind_text)
    except Exception:  # unclassified before: treat as personal (fail closed)
        kind, pii_type = ColumnKind.PII, ""
    if kind is ColumnKind.PUBLIC:
        kind = ColumnKind.PII
    return kind, pii_type or None, Sensitivity.CRITICAL if critical else Sensitivity.HIGH


def strictness(origin: str, config: Config | None = None) -> tuple[int, int, int]:
    """How restrictive ``origin`` is as detokenize restores it: the tier the configuration
    gives it, its sensitivity, then PHI over PII over financial over identifier. A value's
    vault row keeps the strictest origin any column tokenized it from (:meth:`Vault.tokenize`)."""
    kind, _, sensitivity = parse_origin(origin)
    tier = config.classification.tier_for(kind, sensitivity).rank if config else 0
    return tier, sensitivity.rank, _KIND_ORDER.get(kind.value, _KIND_ORDER["pii"])


def _legacy(origin: str) -> str:
    """The origin of a row sealed before origins were bound: trusted only to raise (a
    non-personal origin may have been edited, so it is read as ``pii``)."""
    kind = origin.partition(":")[0]
    return origin if kind in ("pii", "phi") else "pii"


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start:start + _CHUNK]


class Vault:
    """Tokens for values and values for tokens, in the state database at ``url``."""

    def __init__(self, url: str, keys: KeyStore) -> None:
        self.url = url
        self.keys = keys

    @property
    def engine(self) -> Engine:
        return _engine(self.url)

    def tokenize(self, values: Sequence[str], origin: str, *, config: Config | None = None
                 ) -> tuple[list[str], Key]:
        """One token per value (in order), creating the missing ones; and the key used.

        A value already in the vault under a less restrictive origin (:func:`strictness` under
        ``config``) has its record raised to ``origin``.

        Raises:
            ConfigError: the vault key is guessable (:func:`lacuna.anonymize.keys.checked`):
                whoever holds the state database could open every value sealed under it.
        """
        from lacuna.anonymize.keys import checked

        key = checked(self.keys.current(KEY_ID))
        digests = [_digest(key, v) for v in values]
        rank = strictness(origin, config)
        try:
            for _attempt in range(5):
                found = self._lookup(key, digests)
                self._raise(key, {d: (found[d][0], v)
                                  for d, v in zip(digests, values, strict=True)
                                  if d in found and rank > strictness(found[d][1], config)},
                            origin)
                missing = {d: v for d, v in zip(digests, values, strict=True) if d not in found}
                if not missing:
                    return [found[d][0] for d in digests], key
                now = utcnow().isoformat()
                rows = []
                for d, v in missing.items():
                    token = TOKEN_PREFIX + secrets.token_hex(8)
                    rows.append({"token": token, "key_id": key.ref.id,
                                 "key_version": key.ref.version, "digest": d,
                                 "sealed": _seal(key, v, token, origin), "origin": origin,
                                 "created_at": now})
                try:
                    with self.engine.begin() as conn:
                        conn.execute(table.insert(), rows)
                except IntegrityError:
                    continue  # another process tokenized some of these meanwhile: read theirs
        except SQLAlchemyError as exc:
            msg = (f"the token vault at {redact_url(self.url)} failed: {exc}. Tokenize was "
                   "not applied (fail closed).")
            raise AuditError(msg) from exc
        msg = (f"the token vault at {redact_url(self.url)} kept conflicting: tokenize was not "
               "applied.")
        raise AuditError(msg)

    def _lookup(self, key: Key, digests: Sequence[str]) -> dict[str, tuple[str, str]]:
        """digest → (token, origin) of the values this key version already tokenized; the
        origin as detokenize reads it (that of a row sealed before origins were bound is
        trusted only to raise: :func:`_legacy`)."""
        found: dict[str, tuple[str, str]] = {}
        wanted = list(dict.fromkeys(digests))
        with self.engine.connect() as conn:
            for chunk in _chunks(wanted):
                stmt = select(table.c.digest, table.c.token, table.c.origin,
                              table.c.sealed).where(
                    table.c.key_id == key.ref.id, table.c.key_version == key.ref.version,
                    table.c.digest.in_(chunk))
                found.update({row.digest: (row.token, row.origin if str(row.sealed).startswith(
                    BOUND) else _legacy(row.origin)) for row in conn.execute(stmt)})
        return found

    def _raise(self, key: Key, rows: dict[str, tuple[str, str]], origin: str) -> None:
        """Seal again, under the stricter ``origin``, the values (digest → (token, value))
        whose token was made from a less restrictive column: a value keeps one token (joins
        still work), and its record says the strictest it was. Before, a phone number
        tokenized first from an ``identifier`` column and then from a ``pii:phone`` one was
        restored as an identifier, PUBLIC; a patient's name tokenized from a ``pii`` column,
        then from a ``phi`` one, was restored from the PHI table as ``pii``, without its PHI
        and HIPAA tags (and an ``identifier`` first, ``financial`` next, as PUBLIC)."""
        if not rows:
            return
        with self.engine.begin() as conn:
            for token, value in rows.values():
                conn.execute(table.update().where(
                    table.c.token == token, table.c.key_id == key.ref.id,
                    table.c.key_version == key.ref.version,
                ).values(sealed=_seal(key, value, token, origin), origin=origin))

    def resolve(self, tokens: Sequence[str], *, column: str) -> Resolved:
        """The values behind ``tokens``. Raises UnknownTokenError for any token not held."""
        wanted = list(dict.fromkeys(tokens))
        values: dict[str, str] = {}
        origins: dict[str, str] = {}
        try:
            with self.engine.connect() as conn:
                for chunk in _chunks(wanted):
                    stmt = select(table).where(table.c.token.in_(chunk))
                    for row in conn.execute(stmt):
                        key = self.keys.get(row.key_id, row.key_version)
                        try:
                            values[row.token] = _open(key, row.sealed, row.token, row.origin)
                        except ValueError:
                            msg = (f"cannot detokenize column {column!r}: the vault row of token "
                                   f"{row.token!r} at {redact_url(self.url)} does not "
                                   "authenticate (its token, origin or sealed value was changed "
                                   "outside Lacuna). Nothing was detokenized; restore the vault "
                                   "from a backup.")
                            raise VaultTamperedError(msg) from None
                        bound = str(row.sealed).startswith(BOUND)
                        origins[row.token] = row.origin if bound else _legacy(row.origin)
        except SQLAlchemyError as exc:
            msg = f"the token vault at {redact_url(self.url)} failed: {exc}"
            raise AuditError(msg) from exc
        unknown = [t for t in wanted if t not in values]
        if unknown:
            msg = (f"cannot detokenize column {column!r}: {len(unknown)} token(s) are not in the "
                   f"vault at {redact_url(self.url)} (e.g. {unknown[0]!r}). Detokenize against "
                   "the state database that tokenized them (audit.url in lacuna.yaml).")
            raise UnknownTokenError(msg)
        return Resolved(values, origins)
