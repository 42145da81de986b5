"""Built-in value recognizers: a prefilter regex, a validator, and a free-text search.

Prefilters are deliberately loose (the validator is the judge) and RE2 syntax: no look-arounds,
no back-references. ``search`` finds a candidate inside free text: its group named ``value``.
``min_ratio`` is the share of sampled non-null values that must be valid for the column to *be*
that kind of value; free text needs fewer (see ``PatternRecognizer``).
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import replace
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from lacuna.classify.base import ValueMatch, value_recognizer
from lacuna.classify.scan import ColumnSample, PatternRecognizer, read_sample
from lacuna.model import ColumnKind, Sensitivity

if TYPE_CHECKING:
    from collections.abc import Sequence

PII, FIN = ColumnKind.PII, ColumnKind.FINANCIAL
_BARE_CARD = r"[0-9]{13,19}"  # a card number written as digits alone


@value_recognizer
class EmailValues(PatternRecognizer):
    """E-mail addresses, whole or inside free text."""

    name, kind, pii_type, sensitivity = "email", PII, "email", Sensitivity.HIGH
    label = "valid e-mail addresses"
    gate = "@"
    prefilter = r"[^@ \t\r\n]+@[^@ \t\r\n]+"
    search = r"(?P<value>[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})"
    validator = "email"
    strength = 0.95
    # One valid address is someone's: a note column holding one among fifty others left as
    # public ("kira.ng@example.org" in the 50th row, or in a sentence). Random or unrelated
    # values never pass the validator (a domain with a top-level domain after an "@"). A
    # few role addresses (a shared inbox, support@) are no one's: see scan.
    sparse_hits = 1
    text_min_hits = 1

    def scan(self, sample: ColumnSample) -> ValueMatch | None:
        found = super().scan(sample)
        if found is None or found.below or found.ratio >= self.min_ratio:
            return found
        # Fewer than min_ratio: found by sparse_hits or text_min_hits. A person's address
        # among them makes it PII; role addresses alone (support@, info@) are a near miss.
        addresses = _searched(self.search)
        for text in sample.values.drop_null().to_pylist()[:_SPARSE_READ]:
            for m in addresses.finditer(text):
                address = m.group("value")
                if self._validate(address) and not _is_role(address.rsplit("@", 1)[0]):
                    return found
        return replace(found, score=0.0, below=True)


_SPARSE_READ = 4096  # values read for a person's address on the sparse path (a sample's size)


@functools.cache
def _searched(pattern: str | None) -> re.Pattern[str]:
    """A recognizer's free-text ``search`` (its group ``value``), compiled by Python's ``re``
    for the few values the sparse path reads one by one."""
    return re.compile(pattern or "(?!)")
# the local parts of addresses that name a function, not a person (RFC 2142 and common use)
ROLE_LOCAL_PARTS = frozenset((
    "abuse", "admin", "administrator", "billing", "careers", "contact", "enquiries",
    "feedback", "finance", "hello", "help", "helpdesk", "hostmaster", "hr", "info",
    "inquiries", "jobs", "legal", "mail", "mailer-daemon", "marketing", "media", "newsletter",
    "no-reply", "noc", "noreply", "notifications", "office", "orders", "postmaster", "press",
    "privacy", "reception", "sales", "security", "service", "support", "team", "webmaster"))


def _is_role(local: str) -> bool:
    return local.lower().split("+", 1)[0] in ROLE_LOCAL_PARTS


# An address written out to dodge harvesters: "ana dot lopez at example dot com",
# "ana(at)example(dot)com", "ana [at] example [dot] com", "ana#at#example#dot#com",
# "ana [@] example [.] com", "ana @ example.com", the sign named ("ana(at-sign)example.com",
# "ana [at symbol] example.com", "ana (arroba) example.com", "ana at sign example.com");
# an "@" or "." encoded once or more, as a logged URL (percent: "ana%40example.com",
# "ana%2540example%252Ecom"), HTML ("ana&#64;example.com", "ana&commat;example.com",
# "ana&amp;#64;example.com") or a JSON or C string ("ana\u0040example.com") encodes it.
# RE2 syntax.
_SIGN = r"(?:[\s_-]?(?:sign|symbol))"
_AT = (r"\s*[\[({<#]\s*(?:at" + _SIGN + r"?|@|arroba)\s*[\])}>#]\s*|\s+at" + _SIGN
       + r"?\s+|\s+@\s+|%(?:25)*40|&(?:amp;)*(?:#0*64;|#x0*40;|commat;)|\\u0*40|\\x40")
_DOT = (r"\s*[\[({<#]\s*(?:dot|\.)\s*[\])}>#]\s*|\s+dot\s+|%(?:25)*2e"
        r"|&(?:amp;)*(?:#0*46;|#x0*2e;|period;)|\\u0*2e|\\x2e")
# "ana(a)example.com": only between the characters of an address, never set off by spaces
# (a list's "(a) example.com" is no address)
_A = r"([A-Za-z0-9._%+-])\([aA]\)([A-Za-z0-9])"
SPELLED = f"(?i){_AT}|{_DOT}|{_A}"
_SPELLED_AT = f"(?i){_AT}"
_SPELLED_DOT = f"(?i){_DOT}"
# Written out without spaces or brackets, "at" and "dot" count as one whole word ending in
# a top-level domain, set off as words are in an identifier: in capitals after lower-case
# letters or digits ("anaATexampleDOTcom"; "CATalog", "DOTnet", "myATtack",
# "isATtachedDOTvisible" spell no address), or between underscores or hyphens
# ("ana_AT_example_DOT_com", "ana-at-example-dot-co-dot-uk"; a domain such as
# "stay-at-home.org" or a file "created_at_2024.csv" writes no "dot"). Read after the
# spaced and bracketed words, so either may be written one way and the other another
# ("ana at exampleDOTcom", "anaATexample dot com"). An "AT" in capitals before a real dot
# ("anaATexample.com") needs a top-level domain mail is sent to, not a file's extension
# ("sendATcommand.py"). RE2 syntax.
_TLD = (r"(?:[a-z]{2}|com|org|net|edu|gov|mil|int|info|biz|name|pro|mobi|app|dev|email"
        r"|online|site|xyz|tech)")
_MAIL_TLD = (r"(?:com|org|net|edu|gov|mil|int|info|biz|name|pro|mobi|app|dev|email|online"
             r"|site|xyz|tech|eu|de|uk|fr|it|es|nl|be|ch|at|se|no|dk|fi|pt|pl|cz|ie|ru|ua"
             r"|jp|cn|kr|in|au|nz|ca|us|br|mx|ar|za|gr|tr|il)")
_JOINED = (
    r"(?:^|[^A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*[a-z0-9](?:AT|@)[a-z0-9][a-z0-9-]*"
    rf"(?:(?:DOT|\.)[a-z0-9][a-z0-9-]*)*DOT{_TLD}(?:$|[^A-Za-z0-9._-])"
    r"|(?:^|[^A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*[a-z0-9]AT[a-z0-9][a-z0-9-]*"
    rf"(?:(?:DOT|\.)[a-z0-9][a-z0-9-]*)*\.{_MAIL_TLD}(?:$|[^A-Za-z0-9._-])"
    r"|(?i:(?:^|[^a-z0-9._%+-])[a-z0-9._%+-]*[a-z0-9][_-]{1,2}at[_-]{1,2}[a-z0-9][a-z0-9-]*"
    rf"(?:(?:[_-]{{1,2}}dot[_-]{{1,2}}|\.)[a-z0-9][a-z0-9-]*)*[_-]{{1,2}}dot[_-]{{1,2}}{_TLD}"
    r"(?:$|[^a-z0-9._-]))")
_JOINED_READ = (
    (r"([a-z0-9])AT([a-z0-9])", r"\1@\2"), (r"([a-z0-9])DOT([a-z0-9])", r"\1.\2"),
    (r"(?i)([a-z0-9])[_-]{1,2}at[_-]{1,2}([a-z0-9])", r"\1@\2"),
    (r"(?i)([a-z0-9])[_-]{1,2}dot[_-]{1,2}([a-z0-9])", r"\1.\2"))


@value_recognizer
class SpelledEmailValues(EmailValues):
    """E-mail addresses written out (``ana dot lopez at example dot com``, ``ana(at)example(dot)
    com``, ``anaATexampleDOTcom``, ``ana_at_example_dot_com``): the words read back as ``@``
    and ``.``, then judged as :class:`EmailValues` judges (the same validator and shares). A
    value merely holding the word "at" reads as ``arrived@noon``, which no validator passes."""

    name = "email_spelled"
    label = "e-mail addresses written out (ana at example dot com)"

    def scan(self, sample: ColumnSample) -> ValueMatch | None:
        if not len(sample) or sample.from_integers:
            return None
        read = spelled_out(sample)
        return None if read is None else super().scan(read_sample(sample.name, read))


def spelled_out(sample: ColumnSample) -> pa.Array | None:
    """``sample``'s values with e-mail addresses written out read back (``@`` and ``.`` for
    the words, spaces around them dropped); ``None`` when none is written out."""
    spelled = sample.count(SPELLED)
    # the joined words are in capitals, or hold "dot" (ana_at_example_dot_com)
    caps = sample.any_contains("AT") or sample.any_contains("dot", ignore_case=True)
    at = sample.any_contains("@")
    spaced = at and bool(sample.count(_SPACED_HINT))
    commas = at and bool(sample.count(_COMMA_HINT))
    if not spelled and not caps and not spaced and not commas:
        return None
    read, changed = sample.values, bool(spelled)
    if spelled:
        read = pc.replace_substring_regex(read, _SPELLED_AT, "@")
        read = pc.replace_substring_regex(read, _A, r"\1@\2")
        read = pc.replace_substring_regex(read, _SPELLED_DOT, ".")
    if caps:  # only the values that write the words joined: others keep their "AT"
        mask = pc.fill_null(pc.match_substring_regex(read, _JOINED), False)
        if pc.any(mask).as_py():
            rewritten = read
            for pattern, replacement in _JOINED_READ:
                rewritten = pc.replace_substring_regex(rewritten, pattern, replacement)
            read, changed = pc.if_else(mask, rewritten, read), True
    if not changed and not spaced and not commas:
        return None
    if not pc.any(pc.match_substring(read, "@")).as_py():
        return None  # "dot" alone ("polka dot dress") spells no address
    read, closed = _closed_up(read)
    read, dotted = _domain_dotted(read)
    return read if changed or closed or dotted else None


# Spaces around the "@" or the dots of a domain ("ana @ example . com", "ana@ example.com",
# "ana @example . co . uk"; the "@" may have been a word read back above): read closed up
# only from an "@" through a top-level domain mail goes to, in lower case or capitals, that
# is no English word ("it", "in", "no", "be", "us", "at" start sentences), only when a space
# follows the "@" or stands before a dot of the domain (a dot with a space after it alone
# ends a sentence: "we met at noon. Net income rose"), so prose ("meet me @ 5 . then",
# "back @ home . It was"), versions ("release @ 1 . 2") and a mention ("follow us
# @acme.com") keep their spaces. The hint (RE2) picks the values; the reading (Python's
# re) runs on those only.
_SPACED_HINT = r"@\s|\s@|@[A-Za-z0-9.-]*[A-Za-z0-9-]\s+\."
_SPACED_TLD = ("com|org|net|edu|gov|mil|info|biz|mobi|email|xyz|io|co|eu|de|uk|fr|es|nl|ch"
               "|se|dk|fi|pt|pl|cz|ie|ru|ua|jp|cn|kr|au|nz|ca|br|mx|ar|za|gr|tr|il")
_SPACED_DOMAIN = re.compile(
    r"\s*@(\s*[A-Za-z0-9-]{1,63}(?:(?:\s+\.\s*|\.)[A-Za-z0-9-]{1,63}){0,8}"
    rf"(?:\s+\.\s*|\.)(?:{_SPACED_TLD}|{_SPACED_TLD.upper()}))(?![A-Za-z0-9-])")
_SPACE = re.compile(r"\s+")


def _closed_up(values: pa.Array) -> tuple[pa.Array, bool]:
    """``values`` with the spaces of spaced addresses (``_SPACED_DOMAIN``) dropped, and
    whether any was."""
    hinted = pc.fill_null(pc.match_substring_regex(values, _SPACED_HINT), False)
    if not pc.any(hinted).as_py():
        return values, False
    picked = pc.filter(values, hinted).to_pylist()
    read = [_SPACED_DOMAIN.sub(_close_up, v) for v in picked]
    if read == picked:
        return values, False
    return pc.replace_with_mask(values, hinted, pa.array(read, type=pa.string())), True


# Something typed for a dot in the domain: a comma or a semicolon ("ana@example,com",
# "ana@example;com", "ana@mail,example,co,uk"), spaced or not ("ana@example , com",
# "ana@example; com"), a middle dot or bullet ("ana@example·com"), "dot" set off by
# hyphens, underscores or quotes or glued before the top-level domain
# ("ana@example-dot-com", "ana@example 'dot' com", "ana@exampledotcom"), a dot with a
# space after it ("ana@example. com"). Read as a dot only from the "@" through a top-level
# domain mail goes to that is no English word (as spaced addresses are read: "x@noon,it
# was" stays) and ends the address (no "@", dot or letter after it), so a list of
# addresses ("a@x.org,b@y.org", "a@x.org,de@y.org") keeps its commas. Where a space is
# written around the separator the top-level domain is one that is no word in the
# languages of the data either ("me@home, co workers", "gracias@maria, de verdad" stay
# prose) and in lower case or capitals ("see x@noon. Net income rose": a sentence's first
# word). The hint (RE2) picks the values; the reading (Python's re) runs on those only.
_DOTS = "·•∙⋅‧"  # middle dot, bullet, bullet operator, dot operator, hyphenation point
_WORD_TLD = "com|org|net|edu|gov|mil|info|biz|io"  # where "dot" may be glued before it
_SEP_TLD = (f"{_WORD_TLD}|email|xyz|eu|uk|fr|nl|ch|dk|fi|pt|pl|cz|ie|ru|ua|jp|cn|kr|au|nz"
            "|ca|br|mx|za|gr|tr|il")
_SEP_HINT = (rf"\s*[.,;{_DOTS}]\s*|[\s_-]+['\"]?d[o0]t['\"]?[\s_-]+|['\"]d[o0]t['\"]")
_COMMA_HINT = (rf"(?i)@\s*[a-z0-9-]+(?:(?:{_SEP_HINT})[a-z0-9-]+)*"
               rf"(?:(?:[,;{_DOTS}]|\s*[,;{_DOTS}]\s*|\.\s+|[\s_-]+['\"]?d[o0]t['\"]?[\s_-]+"
               rf"|['\"]d[o0]t['\"])(?:{_SPACED_TLD})|dot(?:{_WORD_TLD}))(?:$|[^a-z0-9@._-])")
_LABEL = r"[a-z0-9]+(?:-(?!d[o0]t[-_\s])[a-z0-9]+)*"
# a separator: its spaces are captured (a separator with spaces takes the narrower domains)
_SEP = (rf"(\s*)[.,;{_DOTS}](\s*)|(?<=[a-z0-9])([\s_-]+)['\"]?d[o0]t['\"]?([\s_-]+)"
        r"|(?<=[a-z0-9])['\"]d[o0]t['\"]")
_COMMA_DOMAIN = re.compile(
    rf"(?i)@\s*{_LABEL}(?:(?:{_SEP}){_LABEL}){{0,8}}"
    rf"(?:(?:{_SEP})(?P<tld>{_SPACED_TLD})|dot(?P<glued>{_WORD_TLD}))(?![a-z0-9@._-])")
_DOMAIN_PART = re.compile(
    rf"(?i)({_LABEL})|(?:{_SEP})|dot(?=(?:{_WORD_TLD})$)")


def _domain_dotted(values: pa.Array) -> tuple[pa.Array, bool]:
    """``values`` with the separators typed for the dots of a domain (``_COMMA_DOMAIN``)
    read as dots, and whether any was."""
    hinted = pc.fill_null(pc.match_substring_regex(values, _COMMA_HINT), False)
    if not pc.any(hinted).as_py():
        return values, False
    picked = pc.filter(values, hinted).to_pylist()
    read = [_COMMA_DOMAIN.sub(_dotted, v) for v in picked]
    if read == picked:
        return values, False
    return pc.replace_with_mask(values, hinted, pa.array(read, type=pa.string())), True


_SEP_SPACED_TLD = re.compile(_SEP_TLD)


def _dotted(m: re.Match[str]) -> str:
    """The domain ``m`` matched with its labels joined by dots; as written when a spaced
    separator comes before a top-level domain that may be a word, or in title case."""
    text = m.group()
    labels = [p.group(1) for p in _DOMAIN_PART.finditer(text, 1) if p.group(1)]
    tld = m.group("tld")
    if tld is not None:
        spaced = any(c.isspace() for c in text[1:].strip())
        if spaced and (not _SEP_SPACED_TLD.fullmatch(tld.lower())
                       or not (tld.islower() or tld.isupper())):
            return text
    if m.group("glued"):
        labels[-1] = labels[-1][: -len(m.group("glued")) - 3]
        labels.append(m.group("glued"))
    return "@" + ".".join(labels)


def _close_up(m: re.Match[str]) -> str:
    domain = m.group(1)
    if not any(c.isspace() for c in domain):
        return m.group()  # "us @acme.com": a mention, not an address spaced out
    return "@" + _SPACE.sub("", domain)


@value_recognizer
class PhoneValues(PatternRecognizer):
    """Phone numbers per libphonenumber; bare digit strings are weak (ids look the same)."""

    name, kind, pii_type, sensitivity = "phone", PII, "phone", Sensitivity.HIGH
    label = "valid phone numbers"
    numeric = True
    # groups split by slashes (030/1234567, as German numbers are written), underscores,
    # asterisks or tildes too: the validator reads those as spaces
    prefilter = r"[+(]?[0-9][0-9 \t()./_*~-]{5,20}[0-9](?: ?(?:x|ext\.?) ?[0-9]{1,6})?"
    search = (r"(?P<value>(?:\+|00)[1-9][0-9 ()./-]{7,18}[0-9]"
              r"|\(?[0-9]{3}\)?[ .-][0-9]{3}[ .-][0-9]{4})")
    bare = r"[0-9]+"
    validator = "phone"
    strength = 0.85
    min_ratio = 0.5
    max_checks = 64  # libphonenumber is the slowest validator (~20 us per region tried)


@value_recognizer
class SsnValues(PatternRecognizer):
    """US SSNs; nine bare digits are weak evidence (most 9-digit numbers pass the SSA rules)."""

    name, kind, pii_type, sensitivity = "ssn", PII, "ssn", Sensitivity.CRITICAL
    label = "valid US Social Security numbers"
    numeric = True
    # dashes, or spaces, dots, slashes or underscores (536 90 4399, 536.90.4399), spaced or
    # not; in free text the same separator twice, or a dash, dot, slash or underscore and
    # a space (536-90 4399, 536 90-4399: one separator written two ways hides no SSN), but
    # not spaces alone (030 123 45 6789 is a phone number)
    prefilter = r"[0-9]{3}[ \t./_-]{0,3}[0-9]{2}[ \t./_-]{0,3}[0-9]{4}"
    search = (r"(?:^|[^0-9./_-])(?P<value>[0-9]{3}(?:-[0-9]{2}-|\.[0-9]{2}\.|/[0-9]{2}/"
              r"|_[0-9]{2}_| - [0-9]{2} - |[./_-][0-9]{2} | [0-9]{2}[./_-]|[./_-][0-9]{2}[./_-])"
              r"[0-9]{4})(?:$|[^0-9./_-]|[./_-](?:$|[^0-9]))")
    bare = r"[0-9]{9}"
    validator = "us_ssn"
    min_ratio = 0.5


@value_recognizer
class CardValues(PatternRecognizer):
    """Payment card numbers: issuer prefix and length, then Luhn."""

    name, kind, pii_type, sensitivity = "card_number", PII, "card_number", Sensitivity.CRITICAL
    label = "Luhn-valid payment card numbers"
    numeric = True
    # groups split by spaces or dashes, or by dots, slashes, underscores, asterisks, bars or
    # tildes, spaced or not (4111.1111.1111.1111, 4111 - 1111 - ...): the validator reads
    # the digits. In free text the other separators only between groups of four (or
    # American Express's 4-6-5), so a list of decimals (36.5 37.1 38.2 ...) is no number;
    # between those groups any separator, one group's not the next's (4111-1111 1111.1111).
    # An "x", a "+" or a colon splits a whole value's digits too (4111x1111x1111x1111,
    # 4111:1111:...), and groups of four in free text; a size (1920x1080), a time or an
    # all-digit IPv6 address is too short, too long or no issuer's number for the check.
    prefilter = r"[0-9](?:[0-9]|[ \t./_*|~x+:-]){11,30}[0-9]"
    search = (r"(?:^|[^0-9])(?P<value>(?:[0-9][ -]?){12,18}[0-9]"
              r"|[0-9]{4}(?:(?:[ ./_*|~x+:-]| [-./] )[0-9]{4}){2,3}"
              r"(?:(?:[ ./_*|~x+:-]| [-./] )[0-9]{1,3})?"
              r"|[0-9]{4}(?:[ ./_*|~x+:-]| [-./] )[0-9]{6}(?:[ ./_*|~x+:-]| [-./] )[0-9]{4,5})")
    validator = "luhn_card"
    # Bare digits (4111111111111111) carry no card's formatting, and random numbers pass the
    # issuer and Luhn checks about one time in 34 (16 digits; fewer at other lengths): a
    # column or a text of bare digits is a card's only when more of them pass than chance
    # would make (:meth:`_significant`), or, one alone, with context (:meth:`_lone`).
    bare = _BARE_CARD
    bare_weak = False  # a column of real bare card numbers decides (its share is no chance)

    def scan(self, sample: ColumnSample) -> ValueMatch | None:
        found = super().scan(sample)
        if (found is not None and not found.below) or not len(sample):
            return found
        return self._grouped(sample) or self._lone(sample) or found

    def _significant(self, hits: float, tried: int, bare: bool) -> bool:
        return not bare or hits >= _hits_beyond_chance(tried)

    def _grouped(self, sample: ColumnSample) -> ValueMatch | None:
        """A number written in a card's own groups (4111 1111 1111 1111, 3782 822463 10005),
        issuer and Luhn valid, is a card even alone: fewer valid numbers than the shares ask
        (one in fifty values) were found below them."""
        if sample.from_integers or sample.lengths[1] < _GROUPED_CARD_MIN:
            return None
        grouped = pc.filter(sample.values, pc.fill_null(
            pc.match_substring_regex(sample.values, _GROUPED_CARD), False))
        numbers = [m.group(0) for text in grouped.to_pylist()[:self.max_checks]
                   for m in _GROUPED_CARD_RE.finditer(text)]
        return self._found(sample, numbers)

    def _lone(self, sample: ColumnSample) -> ValueMatch | None:
        """One or two bare card numbers, issuer and Luhn valid, with context: the column's
        other values are words (a note column, ``4111111111111111`` in its 26th row: an id
        column holds other numbers), a word about cards or payment stands in the same value
        (``charge 4111111111111111 today``) or in a short field's other values (a path's
        ``/cards/4111111111111111``), or in the column's name (``payment_notes``). More bare
        numbers there count when more of them are valid than chance makes (a ``payment_id``
        column of random ids holds a valid one in every 34). Without context one bare number
        is no card: random 16-digit ids pass as often as one in 34, and a single order
        number, sent or read, was CRITICAL. A column of integers has no words: only its name
        can say card (``{"card": "4111111111111111"}`` reads as a number, and passed)."""
        if sample.lengths[1] < 13 or not _any_digit_run(sample):
            return None  # (the common case: one look, no number of a card's length)
        if _CARD_CONTEXT_RE.search(sample.name.replace("_", " ")):
            return self._beyond(sample, [*_digit_runs(sample.values, self.max_checks),
                                         *_hex_digit_runs(sample.values, self.max_checks)])
        if sample.from_integers:
            return None
        whole = sample.matching(_BARE_CARD)
        if len(whole) and len(sample) - len(whole) >= _LONE_MIN_WORDS:
            worded = sample.count(r"\pL")
            if worded >= _LONE_WORDS_SHARE * (len(sample) - len(whole)) and (
                    found := self._beyond(sample, whole.to_pylist()[:self.max_checks])):
                return found
        if sample.count(_CARD_CONTEXT, ignore_case=True):
            said = sample.values if len(sample) <= _BESIDE else pc.filter(
                sample.values, pc.fill_null(pc.match_substring_regex(
                    sample.values, _CARD_CONTEXT, ignore_case=True), False))
            # (and written as the hex of its digits' characters, /cards/3431313131...)
            runs = [*_digit_runs(said, self.max_checks), *_hex_digit_runs(said, self.max_checks)]
            # (and backwards, as a card is hidden from a look: at a card's usual lengths)
            return self._beyond(sample, runs, [r[::-1] for r in runs if len(r) in (15, 16)])
        return None

    def _beyond(self, sample: ColumnSample, numbers: list[str], backwards: Sequence[str] = ()
                ) -> ValueMatch | None:
        """:meth:`_found` for bare ``numbers`` (or their ``backwards`` readings) with
        context: any valid one among at most ``_LONE_MAX``, else as many as
        :func:`_hits_beyond_chance` asks."""
        if not numbers:
            return None
        valid = sum(1 for number in numbers if self._validate(number))
        valid += sum(1 for number in backwards if self._validate(number))
        if not valid or (len(numbers) > _LONE_MAX
                         and valid < _hits_beyond_chance(len(numbers) + len(backwards))):
            return None
        n = len(sample)
        return ValueMatch(self, "text", min(valid, n) / n, n, len(numbers) + len(backwards),
                          round(0.8 * self.strength, 4))

    def _found(self, sample: ColumnSample, numbers: list[str]) -> ValueMatch | None:
        valid = sum(1 for number in numbers if self._validate(number))
        if not valid:
            return None
        n = len(sample)
        return ValueMatch(self, "text", min(valid, n) / n, n, len(numbers),
                          round(0.8 * self.strength, 4))


def _any_digit_run(sample: ColumnSample) -> bool:
    """Whether a value holds a bare number of a card's length, or one written as the hex of
    its digits (:func:`_hex_digit_runs`; a small sample's in Python)."""
    if sample.strings is not None:
        return any(_DIGIT_RUN_RE.search(v) or _HEX_DIGITS_RE.search(v) for v in sample.strings)
    return bool(sample.count(_DIGIT_RUN)) or bool(sample.count(_HEX_DIGITS))


def _digit_runs(values: pa.Array, limit: int) -> list[str]:
    """The bare numbers of a card's length in ``values`` (at most ``limit`` values read)."""
    held = pc.filter(values, pc.fill_null(pc.match_substring_regex(values, _DIGIT_RUN), False))
    return [m.group(0) for text in held.to_pylist()[:limit] for m in _DIGIT_RUN_RE.finditer(text)]


# a card's digits written as the hex of their ASCII characters ("4" is 34), 13 to 19 of
# them, not inside a longer hex run: random hex holds 13 such pairs in a row about once in
# 10^18 (10 of 256 pairs each), so only a card's digits read this way
_HEX_DIGITS = "(?:3[0-9]){13}"
_HEX_DIGITS_RE = re.compile(r"(?<![0-9A-Fa-f])((?:3[0-9]){13,19})(?![0-9A-Fa-f])")


def _hex_digit_runs(values: pa.Array, limit: int) -> list[str]:
    """The numbers of a card's length in ``values`` written as the hex of their digits
    (``34313131...`` is ``4111...``), read as digits (at most ``limit`` values read)."""
    held = pc.filter(values, pc.fill_null(pc.match_substring_regex(values, _HEX_DIGITS), False))
    return [bytes.fromhex(m.group(1)).decode("ascii") for text in held.to_pylist()[:limit]
            for m in _HEX_DIGITS_RE.finditer(text)]


@functools.cache
def _hits_beyond_chance(tried: int, chance: float = 1 / 34, level: float = 1e-3) -> int:
    """The fewest valid numbers among ``tried`` bare ones that random digits reach less often
    than ``level`` (binomial tail, ``chance`` each: issuer prefixes and Luhn at 16 digits, the
    loosest length). 1 of 1 never is; 2 of 2 are; 3 of 3 to 6; 4 of 10: the column's share
    asks more from 15 values on."""
    tail, k = 1.0, 0
    while k <= tried:
        if tail < level:
            return k
        tail -= math.exp(math.lgamma(tried + 1) - math.lgamma(k + 1) - math.lgamma(tried - k + 1)
                         + k * math.log(chance) + (tried - k) * math.log1p(-chance))
        k += 1
    return tried + 1


_GROUPED_CARD_MIN = 16  # the shortest: Diners Club's 4-6-4 and two separators
# A card number in its issuer's groups, one separator throughout (RE2: no back-references)
# (4-4-4-4 and 4-4-4-4-3, 4-6-5 and 4-6-4: Visa and most brands, 19-digit ones, American
# Express, Diners Club)
_GROUPS = (r"(?:[0-9]{4}(?: [0-9]{4}){3}(?: [0-9]{3})?|[0-9]{4}(?:-[0-9]{4}){3}(?:-[0-9]{3})?"
           r"|[0-9]{4} [0-9]{6} [0-9]{4,5}|[0-9]{4}-[0-9]{6}-[0-9]{4,5})")
_GROUPED_CARD = rf"(?:^|[^0-9]){_GROUPS}(?:$|[^0-9])"
_GROUPED_CARD_RE = re.compile(rf"(?<![0-9]){_GROUPS}(?![0-9])")
_LONE_MAX = 2  # bare numbers in context judged each alone (more: beyond chance)
_LONE_MIN_WORDS = 5  # other values, ...
_LONE_WORDS_SHARE = 0.8  # ... this share of which holds a letter
# a bare number of a card's length in free text (RE2, and Python's re to read them out)
_DIGIT_RUN = r"(?:^|[^0-9])[0-9]{13,19}(?:$|[^0-9])"
_BESIDE = 16  # a field of at most this many values (a URL's path: /cards/<number>, a short
# list) has its words beside each of its numbers; a longer column, in the same value only
_DIGIT_RUN_RE = re.compile(r"(?<![0-9])[0-9]{13,19}(?![0-9])")
# words that say a number beside them is a card's (RE2 and Python's re)
_CARD_CONTEXT = (r"(?:^|[^a-z])(?:cards?|credit|debit|visa|master ?card|amex|american express"
                 r"|maestro|discover|jcb|diners|union ?pay|cc|ccn|cvv|cvc|pan|expiry|expires"
                 r"|charge[ds]?|payments?|billing|pay|paid|paying|kreditkarte|karte|tarjeta|carte|cart[aã]o|carta)"
                 r"(?:$|[^a-z])")
_CARD_CONTEXT_RE = re.compile(_CARD_CONTEXT, re.IGNORECASE)


@value_recognizer
class IbanValues(PatternRecognizer):
    """IBANs with valid mod-97 check digits."""

    name, kind, pii_type, sensitivity = "iban", FIN, "iban", Sensitivity.HIGH
    label = "valid IBANs"
    # groups split by spaces, dashes, dots, slashes or underscores (the validator drops
    # them), in either case; in text also glued to the words around it in the other case
    # ("ibanDE89370400440532013000", "payGB82WEST12345698765432thanks"), or to more letters
    # and digits after it (the validator reads the country's length: "DE89...3000XY")
    prefilter = r"[A-Za-z]{2}[0-9]{2}[A-Za-z0-9 ./_-]{11,40}"
    search = (r"(?P<value>[A-Z]{2}[0-9]{2}(?:[ ./_-]?[A-Z0-9]{4}){2,7}(?:[ ./_-]?[A-Z0-9]{1,3})?"
              r"|[a-z]{2}[0-9]{2}(?:[ ./_-]?[a-z0-9]{4}){2,7}(?:[ ./_-]?[a-z0-9]{1,3})?)")
    validator = "iban"
    strength = 0.95
    # one is someone's account: the mod-97 check and the country's length pass one random
    # value in thousands
    sparse_hits = 1
    text_min_hits = 1

    def scan(self, sample: ColumnSample) -> ValueMatch | None:
        found = super().scan(sample)
        if (found is not None and not found.below) or not len(sample) or sample.from_integers:
            return found
        # An IBAN glued to a word before it ("ibanDE89370400440532013000") is neither a whole
        # value nor, without a separator, free text: such values are searched as text too.
        glued = pc.filter(sample.values, pc.fill_null(
            pc.match_substring_regex(sample.values, _GLUED_IBAN), False))
        if not len(glued):
            return found
        # (lengths (0, 0): the whole values are judged above; only the search runs here)
        return super().scan(ColumnSample(sample.name, sample.values, glued)) or found


_GLUED_IBAN = (r"[A-Za-z0-9](?:[A-Z]{2}[0-9]{2}[ ./_-]?[A-Z0-9]{4}"
               r"|[a-z]{2}[0-9]{2}[ ./_-]?[a-z0-9]{4})")


@value_recognizer
class BicValues(PatternRecognizer):
    """SWIFT/BIC codes. Upper-case 8-letter words can pass, so most values must."""

    name, kind, pii_type, sensitivity = "swift_bic", FIN, "swift_bic", Sensitivity.LOW
    label = "valid SWIFT/BIC codes"
    prefilter = r"[A-Z]{6}[A-Z0-9]{2}(?:[A-Z0-9]{3})?"
    validator = "bic"
    strength = 0.6
    min_ratio = 0.8


@value_recognizer
class Ipv4Values(PatternRecognizer):
    """IPv4 addresses."""

    name, kind, pii_type, sensitivity = "ipv4", PII, "ip_address", Sensitivity.MEDIUM
    label = "valid IPv4 addresses"
    gate = "."
    prefilter = r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}"
    search = r"(?:^|[^0-9.])(?P<value>(?:[0-9]{1,3}\.){3}[0-9]{1,3})(?:[^0-9.]|$)"
    validator = "ipv4"
    strength = 0.85


@value_recognizer
class Ipv6Values(PatternRecognizer):
    """IPv6 addresses (times like 10:30:00 and MAC addresses fail the validator)."""

    name, kind, pii_type, sensitivity = "ipv6", PII, "ip_address", Sensitivity.MEDIUM
    label = "valid IPv6 addresses"
    gate = ":"
    prefilter = r"[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*(?:%[0-9A-Za-z]+)?"
    search = r"(?:^|[^0-9A-Fa-f:])(?P<value>[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{0,4}){2,7})"
    validator = "ipv6"
