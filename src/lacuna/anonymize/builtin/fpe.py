"""``fpe``: format-preserving encryption (NIST FF3-1) of digit strings.

An SSN stays a valid SSN, a card number a 16-digit number whose Luhn check digit is valid, a phone
number keeps its ``+``, spaces and dashes: only the digits change, and only to other digits.

- **ssn**: the 9 digits are encrypted, then re-encrypted (cycle walking) until the result obeys
  the SSN rules (area not 000/666/9xx, group not 00, serial not 0000, not a known invalid number),
  so the mapping stays a bijection on valid SSNs and decrypts by walking back;
- **credit_card** (and any ``pii_type`` with a Luhn check digit): all digits but the last are
  encrypted and the check digit is recomputed;
- anything else (phone, account numbers): every digit is encrypted. At least 6 digits are needed
  (FF3-1's minimum domain for radix 10); shorter values are an error, never passed through.

Only digits change, so a value with letters besides them (``+1 415-555-0178 (Jane Smith)``, a
name or a note written after the number) is refused with an error naming the column: the letters
would be kept as they are in a column classified as a pseudonym. A phone extension marker
(``x12``, ``ext. 12``) is the exception.

The key is the key store's ``fpe`` key (AES-256), current version, recorded on the column (key id
and version) so :func:`decrypt` can use the version that made the values after a rotation. The
56-bit tweak is derived from the ``pii_type``, so the same SSN encrypts the same in every table
(joins still work) but an SSN and a phone number with the same digits do not.

FF3-1 runs in batches (:mod:`lacuna.anonymize.builtin.ff3_batch`: the same function as the ``ff3``
package, one AES call per round for all values, ~50x faster).

Classification: reversible with the key, so the output is a pseudonym (``identifier``, medium),
not anonymous.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, ClassVar

from lacuna.anonymize.base import Context, Strategy, fill, output_class, present_text, register
from lacuna.anonymize.builtin.ff3_batch import FF3Batch
from lacuna.errors import ClassificationError
from lacuna.keystore import Key

if TYPE_CHECKING:
    import pandas as pd

    from lacuna.keystore import KeyStore
    from lacuna.model import ColumnClass

KEY_ID = "fpe"
LUHN_TYPES = frozenset({"credit_card", "card_number", "imei"})
SSN_TYPES = frozenset({"ssn", "us_ssn"})
MIN_DIGITS = 6
_DIGIT_RUN = re.compile(r"\d+")
_NON_DIGIT = re.compile(r"\D+")
_LETTER = re.compile(r"[^\W\d_]")  # any script's letters
_EXTENSION = re.compile(r"(?i)(?<![^\W\d_])(?:ext\.?|x)\s*(?=\d)")  # "x12", "ext. 12"
_SSN_BLACKLIST = frozenset({"078051120", "457555462", "219099999"})


class FpeError(ClassificationError, ValueError):
    """A value that format-preserving encryption cannot treat (too few digits)."""

    def __init__(self, message: str, *, digits: int = 0) -> None:
        super().__init__(message)
        self.digits = digits


def tweak_for(pii_type: str | None) -> str:
    """The 56-bit FF3-1 tweak (14 hex digits) for one kind of value."""
    return hashlib.sha256(f"lacuna-fpe:{pii_type or ''}".encode()).hexdigest()[:14]


def ssn_ok(digits: str) -> bool:
    """The SSN rules python-stdnum checks (``stdnum.us.ssn.is_valid``), on 9 digits."""
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    return not (area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000"
                or digits in _SSN_BLACKLIST)


def luhn_digit(payload: str) -> str:
    """The Luhn check digit that makes ``payload + digit`` valid."""
    total = 0
    for i, ch in enumerate(reversed(payload)):
        d = ord(ch) - 48
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def _cipher(key: Key, pii_type: str | None) -> FF3Batch:
    return FF3Batch(key.material, tweak_for(pii_type))


def transform_digits(digits: Sequence[str], pii_type: str | None,
                     step: Callable[[Sequence[str]], list[str]]) -> list[str]:
    """Encrypt (or decrypt, by ``step``) digit strings keeping the format's own rules.

    ``step`` is a batch FF3-1 direction (:class:`FF3Batch` ``encrypt``/``decrypt``): every value
    goes through it together, and SSN cycle walking re-applies it to those still invalid.
    """
    if pii_type in LUHN_TYPES:
        for value in digits:
            if len(value) - 1 < MIN_DIGITS:
                msg = f"a card number needs at least {MIN_DIGITS + 1} digits"
                raise FpeError(msg, digits=len(value))
        _refuse_outside_domain(digits)
        payloads = step([value[:-1] for value in digits])
        return [payload + luhn_digit(payload) for payload in payloads]
    for value in digits:
        if len(value) < MIN_DIGITS:
            msg = f"at least {MIN_DIGITS} digits are needed"
            raise FpeError(msg, digits=len(value))
    _refuse_outside_domain(digits)
    out = step(digits)
    if pii_type in SSN_TYPES:
        # Cycle walking: a valid SSN is re-encrypted until the result is one too, so the mapping
        # stays a permutation of the valid SSNs (and decrypts by walking back the same way).
        walking = [i for i, value in enumerate(digits)
                   if len(value) == 9 and ssn_ok(value) and not ssn_ok(out[i])]
        while walking:
            for i, value in zip(walking, step([out[i] for i in walking]), strict=True):
                out[i] = value
            walking = [i for i in walking if not ssn_ok(out[i])]
    return out


def _refuse_outside_domain(digits: Sequence[str]) -> None:
    """FF3-1 here takes ASCII digits, at most ``MAX_DIGITS`` of them: other digits (Arabic-Indic,
    full-width) or longer values were a bare ``ValueError`` from the cipher that named neither
    the column nor what to do.

    Raises:
        FpeError: a value has digits other than 0-9, or more than ``MAX_DIGITS`` digits.
    """
    from lacuna.anonymize.builtin.ff3_batch import MAX_DIGITS

    for value in digits:
        if not value.isascii():
            msg = "digits other than 0-9 (another script's digits) are not encrypted"
            raise FpeError(msg, digits=len(value))
        if len(value) > MAX_DIGITS:
            msg = f"at most {MAX_DIGITS} digits can be encrypted"
            raise FpeError(msg, digits=len(value))


def _convert(
    values: pd.Series, column: str, pii_type: str | None, key: Key, *, decrypt: bool
) -> pd.Series:
    import numpy as np
    import pandas as pd

    cipher = _cipher(key, pii_type)
    step = cipher.decrypt if decrypt else cipher.encrypt
    mask, text = present_text(values)
    if text.empty:
        return fill(values, mask, [])
    codes, uniques = pd.factorize(text)
    originals = [str(value) for value in uniques]
    if not decrypt:
        _refuse_letters(originals, column)
    digits = [_NON_DIGIT.sub("", value) for value in originals]
    try:
        new = transform_digits(digits, pii_type, step)
    except FpeError as exc:
        what = "decrypt" if decrypt else "encrypt"
        msg = (f"cannot {what} column {column!r} with fpe: a value has {exc.digits} digits "
               f"({exc}). Use hash, tokenize or mask for this column.")
        raise FpeError(msg, digits=exc.digits) from None
    out = [_put_digits(value, done) for value, done in zip(originals, new, strict=True)]
    return fill(values, mask, np.asarray(out, dtype=object)[codes])


def _refuse_letters(values: Sequence[str], column: str) -> None:
    """FF3-1 changes the digits only: letters beside them (a name after a phone number) would
    stay as they are in a column then classified as a pseudonym, so such values are refused.

    Raises:
        FpeError: some value holds letters other than a phone extension marker.
    """
    lettered = sum(1 for value in values if _LETTER.search(_EXTENSION.sub("", value)))
    if lettered:
        msg = (f"cannot encrypt column {column!r} with fpe: {lettered} distinct value(s) hold "
               "letters besides the digits (e.g. a name or a note after the number), which "
               "format-preserving encryption would keep as they are. Remove the text from the "
               "column first, or use mask (which hides letters too), hash or tokenize. Nothing "
               "was anonymized.")
        raise FpeError(msg, digits=0)


def _put_digits(value: str, digits: str) -> str:
    """``value`` with its digits replaced, in order, by ``digits`` (separators stay)."""
    separators = _DIGIT_RUN.split(value)  # one more than the runs of digits
    if len(separators) == 2 and not separators[0] and not separators[1]:
        return digits  # digits only
    out = [separators[0]]
    start = 0
    for run, separator in zip(_DIGIT_RUN.findall(value), separators[1:], strict=True):
        out += (digits[start:start + len(run)], separator)
        start += len(run)
    return "".join(out)


@register
class FpeStrategy(Strategy):
    """FF3-1 on the digits; keeps separators, length, SSN rules and Luhn check digits."""

    name = "fpe"
    description = "format-preserving encryption (FF3-1): valid SSNs, Luhn-valid cards, phones"
    key_id: ClassVar[str] = KEY_ID

    def apply(self, values: pd.Series, context: Context) -> pd.Series:
        from lacuna.anonymize.keys import checked

        key = checked(context.keystore().current(self.key_id))  # a guessable key: refused
        pii_type = context.column_class.pii_type if context.column_class else None
        context.notes.append(f"FF3-1, tweak for {pii_type or 'digits'}, {key.ref}")
        return _convert(values, context.column, pii_type, key, decrypt=False)

    def classify(self, before: ColumnClass | None, notes: Sequence[str]) -> ColumnClass:
        return output_class(self.name, before, notes, kind="identifier", sensitivity="medium",
                            what="encrypted, reversible with the key (pseudonymised)")


def decrypt(
    values: pd.Series,
    *,
    pii_type: str | None,
    version: int,
    keys: KeyStore,
    column: str = "values",
) -> pd.Series:
    """The original values of an ``fpe`` column made with key version ``version``.

    The version is in the column's reasoning (``key fpe v2``); old versions stay in the key store
    after rotation.

    The result is classified as what the values were before ``fpe`` (the ``was pii:ssn`` its
    reasoning records; personal data when that cannot be read): the encrypted column's
    ``identifier`` class came along with the values, so decrypted account numbers put back in
    the frame (or made a frame of their own) were PUBLIC and could be exported.
    """
    key = keys.get(KEY_ID, version)
    out = _convert(values, column, pii_type, key, decrypt=True)
    return _revealed(out, values, column, pii_type)


def _revealed(out: pd.Series, values: pd.Series, column: str, pii_type: str | None
              ) -> pd.Series:
    """``out`` (decrypted ``values``) with the class its values had before ``fpe``."""
    from lacuna._bypass import bypass
    from lacuna.anonymize.vault import parse_origin
    from lacuna.classify.rollup import rollup
    from lacuna.config import active_config
    from lacuna.lineage.frames import attach, revealed_origins
    from lacuna.lineage.state import LineageNode, get_state
    from lacuna.model import ANONYMIZED, ColumnClass, Evidence, Layer, Tier

    with bypass():
        state = get_state(values)
    name = str(values.name) if values.name is not None else column
    before = state.classification.columns.get(name) if state is not None else None
    was = _was(before) or (f"pii:{pii_type}" if pii_type else "pii")
    kind, was_type, sensitivity = parse_origin(was)
    restored = ColumnClass(
        classification=kind, pii_type=was_type or pii_type, sensitivity=sensitivity,
        confidence=1.0, reasoning=f"decrypted from fpe: the values are {was} again",
        layer=Layer.DECLARED, evidence=(Evidence(source="anonymize", rule="fpe.decrypt",
                                                 detail=f"decrypted with the fpe key; was {was}"),))
    source = state.classification if state is not None else None
    columns = {**(source.columns if source is not None else {}), name: restored}
    classification = rollup(
        columns, active_config().classification,
        floor=source.floor if source is not None else Tier.PUBLIC,
        extra_tags=[t for t in source.tags if t != ANONYMIZED] if source is not None else [],
        reasoning=[f"decrypted {name} with fpe"], layer=Layer.INHERITED)
    lineage = LineageNode(name=None, operation="fpe.decrypt",
                          parents=(state.lineage,) if state is not None else ())
    with bypass():
        return attach(out, classification, lineage, origins=revealed_origins(
            state.origins, [name]) if state is not None else None)


def _was(column: ColumnClass | None) -> str | None:
    """What an ``fpe`` column was before (``pii:ssn``), from its evidence; a column that is
    not fpe output: its own class when personal, else unknown (``None``)."""
    from lacuna.anonymize.base import describe

    if column is None:
        return None
    for e in column.evidence:
        if e.rule == "anonymize:fpe" and "was " in e.detail:
            return e.detail.rsplit("was ", 1)[1].strip() or None
    return describe(column) if column.is_personal else None
