"""Request bodies as fields of values: what the proxy classifies.

:func:`read_body` turns an outbound body (JSON, NDJSON, CSV/TSV, XML, YAML, form, multipart,
text) into a :class:`Payload`: field name → the values sent under it, the shape the value
recognizers and the fingerprint lookup work on. JSON is flattened by path (``customer.email``;
list items share their parent's path; an object's keys, each once, as ``(keys)``: ``{email:
score}`` sends e-mails), CSV by header, XML and YAML by path too, forms by key (a name without a
value under ``(keys)``), multipart part by part (a file part by its own content type or its file
name's extension, a form field by its name), free text as its distinct tokens (``text``) and its
lines (``lines``, in pieces). Bytes sent are never read as nothing: a CSV that is all header is
free text, a multipart body without a delimiter of its boundary is unreadable; a value that holds
lines is read as a body too.

A body cut at ``proxy.max_inspect_bytes`` is read as far as it goes: CSV and NDJSON up to the
last whole line, JSON (which cannot be parsed cut) as text tokens. What cannot be read at all
(binary data, an unknown compression, a multipart without its boundary) is named in
``Payload.unreadable``: the gate decides what that means (``proxy.unparsed``).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import csv
import functools
import inspect
import io
import itertools
import json
import quopri
import re
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

from lacuna.classify.encoded import base32_bytes, coded_text, rot47, turned, utf16
from lacuna.classify.scan import FIELD_NAMES
from lacuna.model import FrozenDict

MAX_VALUES_PER_FIELD = 100_000  # classification samples far fewer; fingerprints look up these
LINE_PIECE = 2000  # free text's lines in pieces the classifier reads whole (it cuts at 2,048)
LINE_OVERLAP = 100  # pieces overlap, so a value cut at a piece's end is whole in the next
KEYS = FIELD_NAMES  # the field of a JSON object's keys and of form names sent without a value
HEADER = "(header) "  # a request header's field: ``(header) x-customer-name``
HEADER_NAMES = "(header names)"  # the names of the request's headers, each once
_MADE_WORDS = ("text", "lines")  # the fields free text is read into (_tokens)
_TOKEN = re.compile(r"[^\s,;\"'<>()\[\]{}|=&]+")
# a value shorter than MIN_TURNED characters of these holds nothing read further: no file or
# JSON ("\n", "{", "["), no script ("<"), no percent-escape, and too short to be decoded
# (MIN_ENCODED, MIN_CODED) or turned; with a "." only when no letter is in it (a JWT's dotted
# segments decode to JSON from a letter; "1.25", "10.0.0.1" are numbers)
MIN_TURNED = 9  # lacuna.classify.encoded.turned reads values of 9 characters or more
_PLAIN_SHORT = re.compile(r"[^\n\r{\[<%.]*|[^A-Za-z\n\r{\[<%]*")
DECODED = "(decoded)"  # a value's base64, base64url, hex or percent-decoded text, read as a body
MIN_ENCODED = 12  # characters: shorter encoded values are words and small numbers, not data
MAX_INFLATED_VALUE = 1024 * 1024  # bytes a compressed encoded value is read to, at most
MAX_INFLATED_BODY = 4 * 1024 * 1024  # ... and the values of one request, in all
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]+={0,2}")
_HEX = re.compile(r"(?:[0-9a-fA-F]{2})+")
_BASE32 = re.compile(r"(?:[A-Z2-7]+|[a-z2-7]+)={0,6}")  # one case: a DNS label's, or sent as is
_JWT = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]*){1,4}")  # JWS (3 segments), JWE (5)
MIN_PIECES = 2  # values joined: an encoded value split into at least two of them
MAX_PIECES = 256  # ... and at most this many (a query, a form, a JSON object, a header)
MAX_JOINED = 8192  # characters of pieces joined, at most
MAX_GROUPS = 4096  # groups of siblings tried per body: a large JSON body's first objects
MIN_JOINED = 8  # characters of pieces joined, at least: the base64 of a 6-byte e-mail
MIN_JOINED_TEXT = 6  # characters they decode to, at least (``a@b.io``)
MAX_STRETCH = 16  # adjacent pieces of a URL's or the headers' group one stretch joins, at most
HOST = "(host)"  # a host name's labels
PATH = "(path)"  # a URL path's segments and their tokens
JOINED = "(joined)"  # the sibling values of a query, form, object or header, joined
_PERCENT = re.compile(r"%[0-9a-fA-F]{2}")
_ESCAPED_BREAK = re.compile(r"\\[nrt]")
_JSON_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})|\\/")
_EXTENSIONS = {
    ".csv": "text/csv", ".tsv": "text/tab-separated-values", ".json": "application/json",
    ".ndjson": "application/x-ndjson", ".jsonl": "application/x-ndjson", ".txt": "text/plain",
}


@dataclass(frozen=True, slots=True)
class Payload:
    """What a body sends: values by field, its format, and what could not be read."""

    fields: Mapping[str, tuple[str, ...]] = field(default_factory=FrozenDict)
    format: str = "empty"  # json, ndjson, csv, form, multipart, text, empty, unreadable
    truncated: bool = False
    unreadable: tuple[str, ...] = ()  # why parts of the body could not be read
    # the fields named ``text`` or ``lines`` by a key as sent (``{"text": ...}``), not made by
    # the proxy (a value's tokens and lines: lacuna.proxy.records tells them apart)
    keyed: frozenset[str] = frozenset()

    @property
    def values(self) -> int:
        return sum(len(v) for v in self.fields.values())


class _Fields:
    def __init__(self) -> None:
        self.data: dict[str, list[str]] = {}
        self.seen: dict[str, set[str]] = {}  # the tokens of free text already added, by field
        self.groups = 0  # groups of sibling values tried as pieces (add_pieces)
        self.inflated = [0]  # bytes compressed values (base64 of gzip) inflated to, in all
        self.too_deep = False  # a value nested deeper than the parsers go (fail closed)
        self.unread: list[str] = []  # what else could not be read, and why (fail closed)
        self.keyed: set[str] = set()  # fields named text or lines by a key sent (Payload)
        self.turning = False  # reading a value turned (backwards, ROT47): not turned again
        self.turned_seen: dict[str, set[str]] = {}  # the values turned already, by field
        self.appended = 0  # values appended to any field, in all
        # by field, the values whose reading (decoded, turned, as a file) added nothing: read
        # again (a CSV column's dates, statuses, its repeated values), it adds nothing again
        self.barren: dict[str, set[str]] = {}

    def add(self, name: str, value: Any) -> None:
        """``value`` under ``name``, and what it holds read too (:meth:`_read`): decoded,
        turned, a file or JSON in it. A short value of plain characters
        (:data:`_PLAIN_SHORT`) holds nothing, and a value whose reading added nothing under
        the same name is not read again: a 2 MB CSV sent as one JSON string is 290,000
        values, and reading each took 5-12 s."""
        if value is None or isinstance(value, (dict, list)):
            return
        text = value if isinstance(value, str) else _number_text(value)
        # a lone surrogate (JSON's "\ud800" escape) is text no UTF-8 holds: read as U+FFFD,
        # the rest of the value classified as sent (it made the classifier fail, and the
        # request was refused as "Lacuna failed" instead of being decided)
        if not name.isascii():
            name = _unpaired(name)
        if not text.isascii():
            text = _unpaired(text)
        field = name or "$"
        values = self.data.setdefault(field, [])
        if len(values) < MAX_VALUES_PER_FIELD and text != "":
            values.append(text)
            self.appended += 1
        if len(text) < MIN_TURNED and _PLAIN_SHORT.fullmatch(text):
            return  # (the common case: a count, a code, a word)
        if self.turning:
            self._read(name, text)
            return
        barren = self.barren.setdefault(field, set())
        if text in barren:
            return
        before = (self.appended, len(self.unread), self.too_deep)
        self._read(name, text)
        if (before == (self.appended, len(self.unread), self.too_deep)
                and len(barren) < MAX_VALUES_PER_FIELD):
            barren.add(text)

    def _read(self, name: str, text: str) -> None:
        """What ``text`` (a value under ``name``) holds, read under ``name`` or a name below
        it: a file or JSON in it, a GraphQL document, its rest past what the classifier reads,
        what it decodes to, and it turned (:meth:`_turned`). Reads add to what the fields hold
        and never remove: a value read once to nothing reads to nothing again (the budgets,
        of groups and of bytes inflated, only shrink)."""
        if "\n" in text.strip():  # a file in a value (JSON string, form field, query): read too
            _sniff(self, name or "$", text, False)
        elif _graphql(self, name or "$", text):  # a GraphQL document: its arguments by name
            pass
        elif "<script" in text and not name.endswith("lines"):  # a page on one line: its JSON
            _embedded(self, name or "$", text)  # (a text's lines: read with the text)
        elif _json_text(text):  # JSON in one value (``json.dumps(records)``): by its names
            try:
                _flatten(self, name or "$", _json_loads(text))
            except RecursionError:  # (the body is then unreadable: read_body)
                self.too_deep = True
            except ValueError:
                pass
        elif (len(text) > LINE_PIECE and not _TOKEN.fullmatch(text)
              and not name.startswith(HEADER)):
            # text longer than the classifier reads of a value (its first 2,048 characters: a
            # note of 6,000 on one line with an e-mail past them was forwarded): the rest in
            # pieces, as free text's lines (a header's tokens are read already: read_headers)
            lines = _join(name or "$", "lines")
            for start in range(LINE_PIECE - LINE_OVERLAP, len(text) - LINE_OVERLAP,
                               LINE_PIECE - LINE_OVERLAP):
                self.add(lines, text[start:start + LINE_PIECE])
        files: list[str] = []  # files of data encoded in it (an archive): not read
        decoded = _decoded(text, inflated=self.inflated, files=files)
        if decoded is not None:  # what a receiver decodes it to is what is sent
            _sniff(self, _join(name or "$", DECODED), decoded, False)
        elif len(text) > MIN_ENCODED and len(text.split(maxsplit=1)) > 1:
            # words around an encoded value ("token YW5hQGV4YW1wbGUuY29t end"): each word
            # long enough to be one, decoded alone (at most MAX_PIECES of them)
            words = [w for w in dict.fromkeys(_TOKEN.findall(text)) if len(w) >= MIN_ENCODED]
            for word in words[:MAX_PIECES]:
                if (read := _decoded(word, inflated=self.inflated, files=files)) is not None:
                    _sniff(self, _join(name or "$", DECODED), read, False)
        self.unread += [f"{name or 'a value'}: {kind}, encoded (base64 or hex)"
                        for kind in dict.fromkeys(files)]
        if not self.turning:
            self._turned(name or "$", text, decoded is None)

    def _turned(self, name: str, text: str, undecoded: bool) -> None:
        """``text`` read backwards and in ROT47 where that holds a value's shape
        (:func:`lacuna.classify.encoded.turned`), and an encoded value written backwards
        (``base64(x)[::-1]``) decoded, each read under ``name.(decoded)``: a receiver turns it
        back; and base64 or hex in ROT47. Once per value and field (lines and values repeat), and
        not again: what they read to is not turned."""
        seen = self.turned_seen.setdefault(name, set())
        if text in seen or len(seen) >= MAX_VALUES_PER_FIELD:
            return
        seen.add(text)
        into = _join(name, DECODED)
        for reading in turned(text):
            if _TOKEN.fullmatch(reading):  # one value (an address, a card): as it is
                values = self.data.setdefault(into, [])
                if len(values) < MAX_VALUES_PER_FIELD:
                    values.append(reading)
                    self.appended += 1
            else:  # text turned: its tokens and lines
                self.turning = True
                try:
                    _tokens(self, into, reading)
                finally:
                    self.turning = False
        if not undecoded or len(text) < MIN_ENCODED:
            return
        backwards = text.strip()[::-1]
        # base64 backwards, or in ROT47 (not hex backwards: hashes and ids are hex, and each
        # would be decoded twice)
        for encoded, hex_read in ((backwards, False), (rot47(backwards[::-1]), True)):
            if (not encoded.isdigit() and "." not in encoded and _BASE64.fullmatch(encoded)
                    and (hex_read or not _HEX.fullmatch(encoded))
                    and (read := _decoded(encoded, inflated=self.inflated)) is not None):
                self.turning = True
                try:
                    _sniff(self, into, read, False)  # (a file, base64-encoded, turned)
                finally:
                    self.turning = False

    def add_pieces(self, name: str, values: Iterable[str], *, stretches: bool = False
                   ) -> None:
        """``values`` (siblings: one query's, form's, object's, header's), joined and read
        decoded under ``name.(decoded)`` when together they decode to text: an encoded value
        cut into pieces shorter than :data:`MIN_ENCODED`, each sent alone. ``stretches``: also
        every run of adjacent ones that decodes joined (:func:`piece_stretches`)."""
        if self.groups >= MAX_GROUPS:
            return
        self.groups += 1
        values = list(values)
        for address in at_joined(values):  # an address cut at its "@", each part a value
            self.add(name, address)
        decoded = _pieces_decoded(values, self.inflated)
        if decoded is not None:
            _sniff(self, _join(name, DECODED), decoded, False)
        for _, text in piece_stretches(values, self.inflated) if stretches else ():
            if text != decoded:
                _sniff(self, _join(name, DECODED), text, False)

    def add_once(self, name: str, value: str) -> None:
        """A token of free text, once per field: words and markup repeat, so counting each
        would drown the few e-mails or card numbers among them."""
        seen = self.seen.setdefault(name, set())
        if value not in seen:
            seen.add(value)
            self.add(name, value)

    def key(self, name: str) -> str:
        """``name``, a field named by a key as sent, remembered when its last part is one
        the proxy also makes (``text``, ``lines``)."""
        if name.rpartition(".")[2] in _MADE_WORDS:
            self.keyed.add(name)
        return name

    def reasons(self) -> list[str]:
        """Why parts of what was read could not be read (a request's query, headers, path)."""
        deep = ["data nested too deep to parse (JSON, XML or YAML)"] if self.too_deep else []
        return [*deep, *dict.fromkeys(self.unread)]

    def payload(self, fmt: str, truncated: bool, unreadable: list[str]) -> Payload:
        fields = FrozenDict({k: tuple(v) for k, v in self.data.items() if v})
        return Payload(fields=fields, format=fmt, truncated=truncated,
                       unreadable=tuple(unreadable), keyed=frozenset(self.keyed))


def read_body(body: bytes, content_type: str | None, *, encoding: str | None = None,
              truncated: bool = False, limit: int = 10 * 1024 * 1024) -> Payload:
    """The fields of ``body`` sent with ``content_type`` (and ``Content-Encoding``)."""
    unreadable: list[str] = []
    fields = _Fields()
    if encoding and encoding.strip().lower() not in ("identity", ""):
        # (a cut body's start is a cut stream; a whole one must end where its coding says)
        inflated = _inflate(body, encoding.strip().lower(), limit, whole=not truncated)
        if inflated is None:
            return Payload(format="unreadable", truncated=truncated,
                           unreadable=(f"a body compressed with {encoding!r}",))
        body, cut = inflated
        truncated = truncated or cut
    if not body:
        return Payload(truncated=truncated)
    try:
        fmt = _read_into(fields, "", body, content_type, truncated, unreadable)
    except RecursionError:  # nested deeper than the parsers go: unreadable, its tokens read
        fields, fmt = _Fields(), "unreadable"
        fields.too_deep = True
        _tokens(fields, "", body.decode("utf-8", "replace"))
    if fields.too_deep:  # (a receiver that parses it reads what Lacuna did not)
        unreadable.append("data nested too deep to parse (JSON, XML or YAML)")
    unreadable.extend(dict.fromkeys(fields.unread))
    return fields.payload(fmt, truncated, unreadable)


def _inflate(body: bytes, encoding: str, limit: int, *, whole: bool = False
             ) -> tuple[bytes, bool] | None:
    """``body`` decoded by its ``Content-Encoding``, up to ``limit`` bytes, and whether there is
    more; None when it cannot be decoded (an unknown coding, a broken stream, bytes after it,
    and with ``whole`` a stream that stops before its end)."""
    out = bytearray()
    try:
        for chunk in inflate([body], encoding, whole=whole):
            out += chunk
            if len(out) > limit:
                return bytes(out[:limit]), True
    except (ValueError, zlib.error):
        return None
    return bytes(out), False


def inflate(chunks: Iterable[bytes], encoding: str, *, whole: bool = True) -> Iterator[bytes]:
    """``chunks`` of a body decoded by its ``Content-Encoding`` (``gzip``, ``deflate``, a list
    of them applied in order, ``identity``), in pieces of at most :data:`INFLATE_PIECE` bytes.
    A gzip body of several members is all of them, as receivers read it.

    Raises:
        ValueError: an unknown coding, or bytes after the end of the compressed data (a
            receiver may read them; the proxy cannot say what they are).
        zlib.error: a broken compressed stream, or (``whole``: the chunks are the whole body)
            one that stops before its end: ``\x1f\x8b\x08\x00garbage`` decoded to nothing
            and was forwarded as an empty body, which a receiver may read otherwise.
    """
    codings = [c.strip() for c in encoding.lower().split(",")]
    out: Iterable[bytes] = chunks
    for coding in reversed(codings):  # listed in the order they were applied
        if coding in ("", "identity"):
            continue
        if coding not in ("gzip", "x-gzip", "deflate"):
            msg = f"unknown content coding {coding!r}"
            raise ValueError(msg)
        out = _inflated(out, gzip=coding != "deflate", whole=whole)
    return iter(out)


INFLATE_PIECE = 256 * 1024  # decoded at a time
GZIP_MAGIC = b"\x1f\x8b"


def _inflated(chunks: Iterable[bytes], *, gzip: bool, whole: bool = True) -> Iterator[bytes]:
    wbits = 16 + zlib.MAX_WBITS if gzip else zlib.MAX_WBITS
    inflater = zlib.decompressobj(wbits)
    after = b""  # bytes after a gzip member's end, until they show what they are
    fed = False
    for chunk in itertools.chain(chunks, [None]):
        fed = fed or bool(chunk)
        data = after + (chunk or b"")
        after = b""
        while data:
            if inflater.eof:  # a member ended: another gzip member, or bytes that are not one
                if gzip and data.startswith(GZIP_MAGIC):
                    inflater = zlib.decompressobj(wbits)
                elif gzip and chunk is not None and GZIP_MAGIC.startswith(data):
                    after = data  # a member's first byte: the next chunk tells
                    break
                elif data.strip(b"\x00"):  # (zero padding is what some writers add)
                    msg = "bytes after the end of the compressed data"
                    raise ValueError(msg)
                else:
                    break
            piece = inflater.decompress(data, INFLATE_PIECE)
            data = inflater.unconsumed_tail or inflater.unused_data
            if piece:
                yield piece
            if not inflater.eof and not inflater.unconsumed_tail:
                break
    rest = inflater.flush()
    if rest:
        yield rest
    if whole and fed and not inflater.eof:
        msg = "the compressed data stops before its end (a cut or broken stream)"
        raise zlib.error(msg)


# a parameter of a Content-Type or Content-Disposition: a token, or a quoted string that may
# hold a ";" (``boundary="a;b"`` was cut at it, and a multipart body unreadable)
_PARAM = re.compile(r';\s*([^=;\s]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')
_QUOTED_PAIR = re.compile(r"\\(.)")


def _media(content_type: str | None) -> tuple[str, dict[str, str]]:
    if not content_type:
        return "", {}
    main, _, _ = content_type.partition(";")
    options = {}
    for key, value in _PARAM.findall(content_type[len(main):]):
        value = value.strip()
        if value[:1] == '"' and value[-1:] == '"' and len(value) > 1:
            value = _QUOTED_PAIR.sub(r"\1", value[1:-1])
        options[key.strip().lower()] = value
    return main.strip().lower(), options


def _read_into(fields: _Fields, prefix: str, body: bytes, content_type: str | None,
               truncated: bool, unreadable: list[str]) -> str:
    media, options = _media(content_type)
    if media == "multipart/form-data" or media.startswith("multipart/"):
        return _multipart(fields, prefix, body, options.get("boundary"), truncated, unreadable)
    text = _decode(body, options.get("charset"))
    codec = _codec(body, options.get("charset"))
    if (not truncated and not _ascii_compatible(codec)
            and _decode(body, "utf-8") not in (None, text)):
        # a charset that does not write ASCII as ASCII (utf-16, cp500) over bytes that are
        # UTF-8 text: a receiver that does not honour it reads those (CSV of e-mails sent
        # with charset=utf-16 was read as CJK noise and passed); both are read
        fmt = _read_into(fields, prefix, body, media, truncated, unreadable)
        if text is None:
            return fmt
    if text is None:
        unreadable.append(f"{prefix or 'the body'}: binary data ({media or 'no content type'})")
        return "unreadable"
    if truncated and not _ascii_compatible(codec):  # the scan of its rest reads UTF-8
        unreadable.append(f"{prefix or 'the body'}: {codec} text longer than "
                          "proxy.max_inspect_bytes (the rest of a long body is scanned as UTF-8)")
        return "unreadable"
    declared = _declared(fields, prefix, text, truncated, media, options.get("charset"))
    if declared is None:
        return _sniff(fields, prefix, text, truncated)
    fmt, kind = declared
    looks = _looks(text)
    if looks not in ("text", kind):  # labelled one thing, shaped as another: a receiver
        _sniff(fields, prefix, text, truncated)  # may read it as it looks (read both)
    return fmt


def _declared(fields: _Fields, prefix: str, text: str, truncated: bool, media: str,
              charset: str | None = None
              ) -> tuple[str, str] | None:
    """``text`` read as its content type ``media`` says: the format read, and the shape such a
    body has (:func:`_looks`); None for a type that names no format (text, octet-stream)."""
    if media == "application/x-www-form-urlencoded":
        _form(fields, prefix, text, charset)
        return "form", "form"
    if media in ("application/x-ndjson", "application/jsonl", "application/json-seq",
                 "application/x-jsonlines"):
        return _ndjson(fields, prefix, text, truncated), "json"
    if media == "application/json" or media.endswith("+json"):
        return _json(fields, prefix, text, truncated), "json"
    if media in ("text/csv", "application/csv", "text/tab-separated-values"):
        return _csv(fields, prefix, text, truncated, "\t" if "tab" in media else None), "csv"
    if media in ("application/xml", "text/xml") or media.endswith("+xml"):
        return _xml(fields, prefix, text), "xml"
    if media in _YAML:  # (JSON is YAML: a YAML reader reads it)
        return _yaml(fields, prefix, text), "json" if _looks(text) == "json" else "yaml"
    return None


def _form(fields: _Fields, prefix: str, text: str, charset: str | None = None) -> None:
    pairs = parse_qsl(text, keep_blank_values=True)
    for key, value in _charset_values(text, charset):  # (percent-escapes of UTF-16)
        fields.add(_join(_join(prefix, key), DECODED), value)
    for key, value in pairs:
        if value:
            fields.add(fields.key(_join(prefix, key)), value)
        else:  # a name sent without a value is what is sent
            fields.add_once(_join(prefix, KEYS), key)
    fields.add_pieces(_join(prefix, JOINED), (value or key for key, value in pairs))
    for value in split_values(pairs):  # a card or an address split into form fields
        fields.add(_join(prefix, JOINED), value)


def _charset_values(text: str, charset: str | None) -> list[tuple[str, str]]:
    """The values of a form or a query (``text``) whose percent-escaped bytes read otherwise
    than as UTF-8: in the form's ``charset`` (``application/x-www-form-urlencoded;
    charset=utf-16``, as a receiver that honours it decodes them), or as UTF-16 when they
    hold zero bytes (``e=%00a%00n%00a...``): read as UTF-8 they were text with zeros, and the
    e-mail address they are was forwarded."""
    if "%" not in text:
        return []
    codec = charset.strip().lower() if charset else ""
    if codec in ("utf-8", "utf8", "us-ascii", "ascii"):
        codec = ""
    out = []
    for key, value in parse_qsl(text, keep_blank_values=True, encoding="latin-1"):
        raw = value.encode("latin-1")
        read: str | None = None
        if codec:
            with contextlib.suppress(LookupError, UnicodeError):
                read = raw.decode(codec)
        if read is None and b"\x00" in raw:
            read = utf16(raw)
        utf8 = raw.decode("utf-8", "replace")
        if read is not None and read != utf8 and read.strip():
            out.append((key.encode("latin-1").decode("utf-8", "replace"), read))
    return out


def read_query(query: str) -> Mapping[str, tuple[str, ...]]:
    """The fields of :func:`query_payload`."""
    return query_payload(query).fields


def query_payload(query: str) -> Payload:
    """A URL's query as fields named ``?name`` (a name sent without a value under
    ``?(keys)``: ``?ana@example.com`` sends an e-mail)."""
    fields = _Fields()
    pairs = parse_qsl(query, keep_blank_values=True)
    for key, value in _charset_values(query, None):  # (percent-escapes of UTF-16)
        fields.add(_join(f"?{key}", DECODED), value)
    for key, value in pairs:
        if value:
            fields.add(f"?{key}", value)
        elif key:
            fields.add_once(f"?{KEYS}", key)
    fields.add_pieces(f"?{JOINED}", (value or key for key, value in pairs), stretches=True)
    for value in split_values(pairs):  # a card or an address split into parameters
        fields.add(f"?{JOINED}", value)
    return fields.payload("query", False, fields.reasons())


def read_headers(headers: Iterable[tuple[str, str]]) -> Mapping[str, tuple[str, ...]]:
    """The fields of :func:`headers_payload`."""
    return headers_payload(headers).fields


def headers_payload(headers: Iterable[tuple[str, str]]) -> Payload:
    """Request headers as fields named ``(header) name``: each value, and its tokens as free
    text (``(header) cookie.text``), so ``Cookie: d=ana@example.com,bo@example.org``
    or ``X-Data: <base64 of a CSV>`` sends what it holds; the names, each once, as
    ``(header names)``. The caller leaves out what is not
    forwarded as sent (hop-by-hop headers, ``Host``) and the framing h11 checks."""
    fields = _Fields()
    sent = []
    named: list[tuple[str, str]] = []
    for name, value in headers:
        field_name = f"{HEADER}{name.lower()}"
        fields.add(field_name, value)  # (one line: the value is its own ``lines``)
        for token in _colon_values(value):
            fields.add_once(_join(field_name, "text"), token)
        for part in {name.lower(), *re.split(r"[-_.]", name.lower())}:  # a name is sent too
            fields.add_once(HEADER_NAMES, part)
        # a header's pieces: a cookie's values (``a=YW5h; b=QGV4``), or its words
        pairs = [p.partition("=") for p in re.split(r"[;&,]", value) if p.strip()]
        fields.add_pieces(_join(field_name, JOINED), (v or k for k, _, v in pairs)
                          if all(sep for _, sep, _ in pairs) else value.split(),
                          stretches=True)
        sent.append(value)
        named.append((name.lower(), value.strip()))
    fields.add_pieces(f"(headers) {JOINED}", sent,  # pieces sent as headers of their own
                      stretches=True)
    for value in split_values(named, whole=False):  # X-Card-1: 4111, X-Card-2: ...
        fields.add(f"(headers) {JOINED}", value)
    return fields.payload("headers", False, fields.reasons())


def read_path(path: str) -> Mapping[str, tuple[str, ...]]:
    """The fields of :func:`path_payload`."""
    return path_payload(path).fields


def path_payload(path: str) -> Payload:
    """A URL's path as the field ``(path)``: its segments (percent-decoded) and their tokens.
    The path says where a request goes, and can carry data too: ``/u/ana@example.com``."""
    fields = _Fields()
    segments = [unquote(s) for s in path.split("/") if s]
    for segment in segments:
        fields.add(PATH, segment)
    if segments:
        _tokens(fields, PATH, "\n".join(segments))
        for value in _colon_values("\n".join(segments)):
            fields.add_once(_join(PATH, "text"), value)
        fields.add_pieces(f"{PATH} {JOINED}", segments, stretches=True)
        # a card's digit groups as segments (/v1/4111/1111/1111/1111): one name sent again
        for value in split_values([("", s) for s in segments], whole=False):
            fields.add(f"{PATH} {JOINED}", value)
    return fields.payload("path", False, fields.reasons())


def read_host(host: str) -> Mapping[str, tuple[str, ...]]:
    """A host name as fields: a name is sent too (to the DNS resolvers on its way and the
    domain owner's server, and to the server), and can carry data. Its labels, as
    :data:`HOST` (looked up in the fingerprints, not classified: labels are ids, and
    ``o123456.ingest.sentry.io`` has a driver's licence's shape); what they decode to,
    alone or joined (hex, base32, base64url: a label holds 63 characters, so data spans
    several), under ``(host).(decoded)`` and ``(host) (joined).(decoded)``; and an e-mail
    spelled out with a label ``at`` (``ana.lopez.at.example.com.attacker.net``), under
    ``(host).(decoded)``. Taken as sent (base64url labels keep their case). The last two
    labels are the registered domain, the destination's; an IP address is only an address."""
    host = host.strip("[]").rstrip(".")
    labels = [label for label in host.split(".") if label]
    if not labels or _is_address(host.lower()):
        return FrozenDict()
    fields = _Fields()
    for label in labels:
        fields.add_once(HOST, label)
    sub = labels[:-2]  # under the registered domain: what its owner's DNS server is asked
    fields.add_pieces(f"{HOST} {JOINED}", sub, stretches=True)
    for n, label in enumerate(sub):  # a label ``at`` between a name and a whole domain
        if label.lower() == "at" and 0 < n < len(sub) - 2:
            spelled = ".".join(sub[:n]) + "@" + ".".join(sub[n + 1:])
            _sniff(fields, _join(HOST, DECODED), spelled, False)
    return fields.payload("host", False, []).fields


def _is_address(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


def decoded_tokens(values: Iterable[str]) -> tuple[str, ...]:
    """The tokens of what ``values`` decode to (:func:`_decoded`), for the scan of a long
    body's rest, where an encoded value may be cut by a window's start or end: each is tried
    at each alignment (a base64 quad, a hex byte), and the characters cut at its ends are
    noise. JSON's escaped line breaks (``"QUJD\\nREVG"``) join the lines they separate; JSON's
    ``\\uXXXX`` escapes and percent-escapes are decoded too (the start of a long JSON or form
    body is parsed, which decodes them; its rest is scanned as text), and a JWT's segments."""
    out: set[str] = set()
    for value in values:
        if "\\u" in value or "\\/" in value:  # JSON's escapes: "ana\u0040example.com"
            value = _JSON_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)) if m.group(1)
                                     else m.group(0)[1], value)
            out.update(t for t in _token_values(value) if t)
        if _PERCENT.search(value):  # a long form's rest: "ana%40example.com"
            out.update(t for t in _token_values(unquote(value)) if t)
        value = _ESCAPED_BREAK.sub("", value)
        if "." in value and _JWT.fullmatch(value):  # a JWT: its claims (a whole token)
            text = _jwt_decoded(value)
            out.update(t for t in _token_values(text or "") if t)
            continue
        if len(value) < MIN_ENCODED:
            continue
        for shift in range(4):
            text = _decoded(value[shift:], cut=True)
            if text is not None:
                out.update(t for t in _token_values(text) if t)
                break
    return tuple(sorted(out))


def turned_tokens(data: bytes) -> tuple[str, ...]:
    """The tokens of what the lines of ``data`` (in pieces of :data:`LINE_PIECE` characters,
    overlapping) read to backwards and in ROT47 (:func:`lacuna.classify.encoded.turned`), for
    the scan of a long body's rest, as :func:`read_body` reads its start."""
    out: set[str] = set()
    for line in data.decode("utf-8", "replace").splitlines():
        line = line.strip()
        for start in range(0, max(len(line) - LINE_OVERLAP, 1), LINE_PIECE - LINE_OVERLAP):
            for reading in turned(line[start:start + LINE_PIECE]):
                out.update(t for t in _token_values(reading) if t)
    return tuple(sorted(out))


def _pieces_decoded(values: Iterable[str], inflated: list[int] | None = None) -> str | None:
    """What sibling ``values`` decode to together, when some are shorter than
    :data:`MIN_ENCODED` (longer ones are each decoded alone): joined, then decoded (an encoded
    value cut anywhere), or each decoded to text and the texts joined (each piece encoded
    alone, padded or not; pieces that decode to binary are left out). None when fewer than two
    are base64, base64url or hex, when they are many (:data:`MAX_PIECES`,
    :data:`MAX_JOINED`), or when they decode to binary or to fewer characters than an e-mail
    has: words and numbers that happen to be base64 decode to noise."""
    pieces: list[str] = []
    total = 0
    for value in values:
        piece = value.strip()
        if not piece or not _BASE64.fullmatch(piece):
            continue  # (not a piece: words, URLs, numbers with signs)
        pieces.append(piece)
        total += len(piece)
        if len(pieces) > MAX_PIECES or total > MAX_JOINED:
            return None
    if (len(pieces) < MIN_PIECES or total < MIN_JOINED
            or min(len(p) for p in pieces) >= MIN_ENCODED):
        return None
    joined = "".join(pieces)
    text = _decoded(joined, inflated=inflated) if "=" not in joined.rstrip("=") else None
    if text is None:
        texts = [t for t in map(_piece_text, pieces) if t is not None]
        text = "".join(texts) if len(texts) >= MIN_PIECES else None
    return text if text is not None and len(text.strip()) >= MIN_JOINED_TEXT else None


_LOCAL = re.compile(r"[A-Za-z0-9._%+'-]{1,64}")
_DOMAIN = re.compile(r"[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){1,8}")


def at_joined(values: Sequence[str]) -> list[str]:
    """E-mail addresses cut at the ``@`` into sibling values, joined: ``{"a": "ana.silva@",
    "b": "example.com"}``, ``["ana.silva", "@example.com"]``, ``["ana.silva", "@",
    "example.com"]``, each piece sent alone was no address. Only a local part's characters
    before the ``@`` and a domain's after it are joined; the e-mail validator judges the
    rest."""
    out: list[str] = []
    parts = [v.strip() for v in values]
    for k, part in enumerate(parts):
        if "@" not in part or len(out) >= MAX_PIECES:
            continue
        before = parts[k - 1] if k else ""
        after = parts[k + 1] if k + 1 < len(parts) else ""
        if part == "@":
            local, domain = before, after
        elif part.endswith("@"):
            local, domain = part[:-1], after
        elif part.startswith("@"):
            local, domain = before, part[1:]
        else:
            continue
        if _LOCAL.fullmatch(local) and _DOMAIN.fullmatch(domain):
            out.append(f"{local}@{domain}")
    return out


# Card numbers split into sibling fields, as card forms post them: exactly the groups a card
# is printed in (4-4-4-4, 4-6-5 as American Express, 4-6-4 as Diners Club, 4-4-4-4-3), each
# group a string of digits (a number loses a group's leading zeros: counts and amounts are
# numbers, and no grouping).
_CARD_GROUPS = ((4, 4, 4, 4), (4, 6, 5), (4, 6, 4), (4, 4, 4, 4, 3))
_DIGITS = re.compile(r"[0-9]{3,6}")
_NUMBERED = re.compile(r"(.*?)[_. -]?([0-9]{1,2})")  # card1, cc_2, part-3
_CARD_WORDS = frozenset({"card", "cc", "ccn", "pan", "cardnumber", "creditcard", "cardno"})
_KEY_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+")
# an e-mail address split into its local part and its domain, by what the fields are named
_LOCAL_WORDS = frozenset({"user", "username", "local", "localpart", "mailbox", "login",
                          "account", "name", "handle", "email", "mail", "recipient", "addr",
                          "address", "box", "alias", "to", "from", "cc", "bcc", "contact"})
_MAIL_WORDS = frozenset({"mail", "email", "mailbox", "smtp"})
_TLD = re.compile(r"\.[A-Za-z]{2,24}")


def split_values(pairs: Sequence[tuple[str, Any]], *, whole: bool = True) -> list[str]:
    """Card numbers and e-mail addresses split into sibling fields (an object's, a form's, a
    query's ``(name, value)`` ``pairs``), joined: ``{"card1": "4111", "card2": "1111", ...}``
    and ``{"user": "kira.ng", "domain": "example.org"}`` sent each piece alone, none of them a
    value any recognizer finds. The validators judge what is joined (issuer and Luhn; an
    address's shape); only pieces that fit:

    - a card's digit groups (:data:`_CARD_GROUPS`), in order, under names that differ only by
      a trailing number (``card1``, ``cc_2``; in the numbers' order, whatever the fields
      between or the order sent) or under one name sent again (``?c=4111&c=1111...``), or all
      the values sent together (``whole``); strings of digits, or numbers under a name that
      says card (``card1: 4111``);
    - a local part under a name such as ``user`` or ``mailbox`` and a domain under a name
      with ``domain`` (or ``host`` beside an ``email_user``).
    """
    pairs = [(str(k), v) for k, v in pairs[:MAX_PIECES]]
    out: list[str] = []
    # (only digit groups, and domains under a name that says so, cost more than a look: a
    # large JSON body's every object comes by)
    groups = [(at, k, v) for at, (k, v) in enumerate(pairs)
              if (isinstance(v, str) and 3 <= len(v) <= 6 and v.isdigit())
              or (type(v) is int and 100 <= v < 1_000_000
                  and any(w in k.lower() for w in ("card", "cc", "pan")))]
    if len(groups) >= 3:
        out += _split_cards(groups, pairs if whole and len(groups) == len(pairs) else None)
    out += _cut_cards(pairs)
    domains = [j for j, (k, v) in enumerate(pairs)
               if isinstance(v, str) and "." in v and v[-1:].isalpha() and _DOMAIN.fullmatch(v)
               and any(w in k.lower() for w in ("domain", "host", "server"))]
    if not domains:
        return list(dict.fromkeys(out))
    words = [_key_words(k) for k, _ in pairs]
    for i, (_, local) in enumerate(pairs):
        if not (isinstance(local, str) and words[i] & _LOCAL_WORDS and "domain" not in words[i]
                and _LOCAL.fullmatch(local) and any(c.isalpha() for c in local)):
            continue
        for j in domains:
            domain = pairs[j][1]
            if j != i and ("domain" in words[j] or (words[j] & {"host", "server"}
                                                    and (words[i] | words[j]) & _MAIL_WORDS)) and (
                    (tld := _TLD.search(domain)) is not None and tld.end() == len(domain)):
                out.append(f"{local}@{domain}")
                break
    return list(dict.fromkeys(out))


@functools.lru_cache(maxsize=4096)  # (an array's objects repeat their keys)
def _key_words(key: str) -> frozenset[str]:
    """The words of a field's name, in lower case (``email_user``, ``mailHost``)."""
    return frozenset(w.lower() for w in _KEY_WORDS.findall(key))


def _split_cards(groups: list[tuple[int, str, Any]], whole: list[tuple[str, Any]] | None
                 ) -> list[str]:
    """The card numbers of :func:`split_values`: ``groups`` are the digit groups sent (their
    positions, names and values); ``whole``, all the values when every one is a group."""
    from lacuna.classify.base import validators

    is_card = validators.get("luhn_card")
    out: list[str] = []
    named: dict[str, list[tuple[int, str]]] = {}
    for at, key, value in groups:
        m = _NUMBERED.fullmatch(key)
        stem, order = (m.group(1), int(m.group(2))) if m else (key, at)
        if type(value) is int and (not m or not _key_words(stem) & _CARD_WORDS):
            continue  # (numbers: counts and amounts, unless the name says card)
        text = str(value)
        named.setdefault(("#" if m else "=") + stem, []).append((order, text))
    runs = [[t for _, t in sorted(group)] for group in named.values() if len(group) >= 3]
    alone = [v for _, v in whole] if whole and all(isinstance(v, str) for _, v in whole) else []
    if alone:
        runs.append(alone)  # (all of them: tried only as one number)
    for n, run in enumerate(runs):
        last = n == len(runs) - 1 and run is alone
        for start in range(1 if last else len(run)):
            for shape in _CARD_GROUPS:
                piece = run[start:start + len(shape)]
                if (len(piece) == len(shape) and (not last or len(piece) == len(run))
                        and all(len(g) == k for g, k in zip(piece, shape, strict=True))
                        and is_card(number := " ".join(piece))):
                    out.append(number)  # in its groups: a card's own writing, even alone
    return out


_PRINTED = {14: (4, 6, 4), 15: (4, 6, 5), 16: (4, 4, 4, 4), 19: (4, 4, 4, 4, 3)}


def _cut_cards(pairs: Sequence[tuple[str, Any]]) -> list[str]:
    """Card numbers cut anywhere into 2 or 3 strings of digits under numbered names that say
    card (``?card1=41111111&card2=11111111``, ``pan_1`` ...), or under one such name sent
    again (``?card=41111111&card=11111111``): not a card's printed groups, so
    :func:`_split_cards` left them apart, and the name said what they were. Joined in the
    numbers' order and written in the card's groups (a bare number alone is no card), for the
    card validator to judge. Four or five pieces are a card's only in its printed groups
    (:func:`_split_cards`): ``card1..card4`` of 3-5-4-4 digits stay apart, as before."""
    from lacuna.classify.base import validators

    cut: dict[str, list[tuple[int, str]]] = {}
    for at, (key, value) in enumerate(pairs):
        if not (isinstance(value, str) and value.isdigit() and value.isascii()):
            continue
        if (m := _NUMBERED.fullmatch(key)) and _key_words(m.group(1)) & _CARD_WORDS:
            cut.setdefault("#" + m.group(1), []).append((int(m.group(2)), value))
        elif _key_words(key) & _CARD_WORDS:  # (one name sent again: in the order sent)
            cut.setdefault("=" + key, []).append((at, value))
    out = []
    for pieces in cut.values():
        digits = "".join(v for _, v in sorted(pieces))
        if not 2 <= len(pieces) <= 3 or len(digits) not in _PRINTED:
            continue
        at, groups = 0, []
        for k in _PRINTED[len(digits)]:
            groups.append(digits[at:at + k])
            at += k
        if validators.get("luhn_card")(number := " ".join(groups)):
            out.append(number)
    return out


def joined_pieces(values: list[str]) -> tuple[tuple[str, ...], tuple[bool, ...]]:
    """The tokens sibling ``values`` decode to together (:func:`_pieces_decoded`, and the
    stretches of :func:`piece_stretches`; none when they do not), and which values are pieces
    of it: every piece when they decode joined, else those that decode to text alone, and
    those of a stretch. The gate masks those pieces of a path it records."""
    text = _pieces_decoded(values)
    pieces = [bool(v.strip()) and bool(_BASE64.fullmatch(v.strip())) for v in values]
    if text is None:
        pieces = [False for _ in values]
    else:
        joined = "".join(v.strip() for v, piece in zip(values, pieces, strict=True) if piece)
        if "=" in joined.rstrip("=") or _decoded(joined) is None:  # (each piece alone)
            pieces = [piece and _piece_text(v.strip()) is not None
                      for v, piece in zip(values, pieces, strict=True)]
    texts = [text] if text is not None else []
    for stretch, decoded in piece_stretches(values):
        texts.append(decoded)
        for k in stretch:
            pieces[k] = True
    tokens = (t for text in texts for t in _token_values(text) if t)
    return tuple(dict.fromkeys(tokens)), tuple(pieces)


def piece_stretches(values: Sequence[str], inflated: list[int] | None = None
                    ) -> list[tuple[tuple[int, ...], str]]:
    """Stretches of adjacent sibling ``values`` that decode to text joined, with the indexes
    of the values each joins: an encoded value cut anywhere among others that misalign the
    whole group (``/v1/users/YW5hL/mxvcGV/6QGV4YW/1wbGUuY29t/export``: ``v1``, ``users`` and
    ``export`` are base64 too), or cut into pieces each long enough to be decoded alone
    (``/u/YW5hLmxvcGV6QG/V4YW1wbGUuY29t``). From each start the longest stretch of at most
    :data:`MAX_STRETCH` pieces, none inside one found; values that are not base64 or hex are
    skipped, as in :func:`_pieces_decoded`. For a request's path, query, headers and host
    name: a body's thousands of groups would cost seconds."""
    index = [k for k, v in enumerate(values) if v.strip() and _BASE64.fullmatch(v.strip())]
    pieces = [values[k].strip() for k in index]
    if len(pieces) > MAX_PIECES or sum(map(len, pieces)) > MAX_JOINED:
        return []
    found: list[tuple[tuple[int, ...], str]] = []
    end = 0
    for i in range(len(pieces) - 1):
        for j in range(min(len(pieces), i + MAX_STRETCH), max(i + 1, end), -1):
            joined = "".join(pieces[i:j])
            if len(joined) < MIN_ENCODED or "=" in joined.rstrip("="):
                continue
            text = _decoded(joined, inflated=inflated)
            if text is not None and len(text.strip()) >= MIN_JOINED_TEXT:
                found.append((tuple(index[i:j]), text))
                end = j
                break
    return found


@functools.lru_cache(maxsize=65536)  # pieces repeat: a JSON body's codes, names, statuses
def _piece_text(piece: str) -> str | None:
    """One piece of an encoded value decoded to text (hex, else base64 or base64url), or None:
    binary, or not one."""
    raw = _piece_bytes(piece)
    try:
        text = raw.decode("utf-8") if raw else None
    except UnicodeDecodeError:
        return None
    return text if text is not None and text.isprintable() else None


def _piece_bytes(piece: str) -> bytes | None:
    """One piece of an encoded value, decoded: hex, else base64 or base64url."""
    return bytes.fromhex(piece) if _HEX.fullmatch(piece) else _base64(piece)


def _jwt_decoded(value: str) -> str | None:
    """A JWT's (or any dotted value's) base64url segments decoded, one a line, when one of
    them is JSON (a JWT's header always is): its claims are read as NDJSON. The signature
    decodes to binary and is left out."""
    texts = []
    json_seen = False
    for segment in value.split("."):
        raw = _piece_bytes(segment) if segment and not _HEX.fullmatch(segment) else None
        text = _decode(raw, None) if raw else None
        if text is None:
            continue
        json_seen = json_seen or text.lstrip()[:1] in ("{", "[")
        texts.append(" ".join(text.split()) if text.lstrip()[:1] in ("{", "[") else text)
    return "\n".join(texts) if json_seen else None


def _decoded(value: str, *, cut: bool = False, inflated: list[int] | None = None,
             files: list[str] | None = None) -> str | None:
    """``value`` decoded, when it is all base64, base64url or hex (line breaks aside) of text,
    character codes or base85 (:func:`lacuna.classify.encoded.coded_text`), or holds
    percent-escapes: what a receiver can decode it to. None when it is none of these
    or decodes to binary (ids, hashes and keys decode to noise). Decoding always shortens a
    value, so a value encoded several times is read to its end. ``cut``: a piece of a longer
    value, read to its last whole byte or quad. ``files``: where the kind of a file of data
    it decodes to (:func:`data_file`: a ZIP archive, a Parquet file) is told."""
    compact = "".join(value.split())
    if compact[:2] in ("0x", "0X") and _HEX.fullmatch(compact, 2):
        compact = compact[2:]  # hex written as one number: 0x616e61406578...
    raw: bytes | None = None
    if "." in compact and not cut and len(compact) == len(value) and _JWT.fullmatch(compact):
        return _jwt_decoded(compact)  # (a JWT is one token: ``Bearer <jwt>``'s is its own)
    if len(compact) >= MIN_ENCODED:
        even = compact[: len(compact) // 2 * 2] if cut else compact
        if _HEX.fullmatch(even):
            raw = bytes.fromhex(even)
        elif _BASE64.fullmatch(compact):
            raw = _base64(compact, cut=cut)
        if (not cut and _BASE32.fullmatch(compact)
                and (raw is None or _decode(raw, None) is None)):
            raw = base32_bytes(compact) or raw  # (a DNS label: one case, no padding)
    if raw is not None and cut:
        text = raw.decode("utf-8", "replace")
        noise = sum((not ch.isprintable() and ch not in "\r\n\t") or ch == "\ufffd"
                    for ch in text[:4096])
        return text if noise <= 0.1 * min(len(text), 4096) else None
    if raw is not None:
        plain = _uncompressed(raw, inflated)
        read = _decode(plain, None)
        if read is not None or (read := utf16(raw)) is not None:  # (UTF-16 without a mark)
            return read
        if files is not None and (kind := data_file(plain)) is not None:
            files.append(kind)
    if not cut and len(value) >= MIN_CODED and (coded := coded_text(value.strip())) is not None:
        return coded  # character codes written out, base85 (lacuna.classify.encoded)
    if _PERCENT.search(value):
        return unquote(value)
    return None


# files that hold data (tables, documents, archives of files), by their first bytes; images,
# audio and keys are not among them
_DATA_FILES = (
    (b"PK\x03\x04", "a ZIP archive (or an Office document)"), (b"PK\x05\x06", "a ZIP archive"),
    (b"BZh", "a bzip2 stream"), (b"\xfd7zXZ\x00", "an xz stream"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"), (b"\x28\xb5\x2f\xfd", "a Zstandard stream"),
    (b"\x04\x22\x4d\x18", "an LZ4 stream"), (b"Rar!\x1a\x07", "a RAR archive"),
    (b"PAR1", "a Parquet file"), (b"ARROW1", "an Arrow file"), (b"Obj\x01", "an Avro file"),
    (b"ORC", "an ORC file"), (b"SQLite format 3\x00", "an SQLite database"),
    (b"%PDF-", "a PDF document"), (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an OLE2 document"),
)


_DATA_FILE_STARTS = frozenset(magic[:1] for magic, _ in _DATA_FILES)


def data_file(data: bytes) -> str | None:
    """The kind of file of data ``data`` starts (binary: not read as text), or None: a
    ZIP archive of a CSV, base64-encoded in a JSON field, was forwarded as noise, where the
    same archive sent as the body is unreadable (``proxy.unparsed``)."""
    if data[:1] in _DATA_FILE_STARTS:  # (one look for most: random bytes, a hash decoded)
        for magic, kind in _DATA_FILES:
            if data.startswith(magic):
                return kind
    return "a tar archive" if data[257:262] == b"ustar" else None


MIN_ENCODED_FILE = 64  # characters of a token that may be an encoded file's start


def encoded_files(values: Iterable[str]) -> list[str]:
    """The kinds of file of data (:func:`data_file`) that ``values`` (tokens of a long body's
    rest, as the gate scans it) start, base64- or hex-encoded, gzipped or not: past
    ``proxy.max_inspect_bytes`` only text was looked for, and an archive passed as noise.
    Only a token's start is decoded (JSON's ``\\/`` and escaped line breaks read as a
    receiver reads them)."""
    kinds: list[str] = []
    for value in values:
        if len(value) < MIN_ENCODED_FILE:
            continue
        head = _ESCAPED_BREAK.sub("", value[:8192].replace("\\/", "/"))[:4096]
        if _HEX.fullmatch(head[: len(head) // 2 * 2]):
            raw: bytes | None = bytes.fromhex(head[: len(head) // 2 * 2])
        else:
            raw = _base64(head, cut=True) if _BASE64.fullmatch(head) else None
        if not raw:
            continue
        if raw[:2] == GZIP_MAGIC:  # (a .tar.gz: its start inflated, as far as it goes)
            with contextlib.suppress(zlib.error):
                raw = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(raw, 1024)
        if (kind := data_file(raw)) is not None:
            kinds.append(kind)
    return list(dict.fromkeys(kinds))


def _uncompressed(raw: bytes, inflated: list[int] | None = None) -> bytes:
    """``raw`` inflated when it is a gzip or zlib stream (``base64(gzip(csv))`` in a JSON
    field is the CSV to a receiver), up to :data:`MAX_INFLATED_VALUE` bytes; else as it is.
    ``inflated`` counts the bytes a body's values inflated to.

    Raises:
        TooMuchInflated: past :data:`MAX_INFLATED_BODY` in all (the gate fails closed).
    """
    if raw[:2] == GZIP_MAGIC:
        coding = "gzip"
    elif len(raw) > 2 and raw[0] == 0x78 and (raw[0] << 8 | raw[1]) % 31 == 0:
        coding = "deflate"  # a zlib header: its check bits hold
    else:
        return raw
    out = _inflate(raw, coding, MAX_INFLATED_VALUE)
    if out is None:
        return raw
    if inflated is not None:
        inflated[0] += len(out[0])
        if inflated[0] > MAX_INFLATED_BODY:
            raise TooMuchInflated(MAX_INFLATED_BODY)
    return out[0]


class TooMuchInflated(Exception):
    """A body's compressed values inflate to more than the proxy reads (a few kilobytes of
    gzip per value, each read to a megabyte, held the decision thread for minutes)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the compressed values of this request (base64 or hex of gzip or "
                         f"zlib) inflate to more than {limit} bytes in all; send the data "
                         "uncompressed, or fewer values per request")


def _base64(value: str, *, cut: bool = False) -> bytes | None:
    """Base64 or base64url ``value`` decoded, padded or not (``cut``: to its last whole
    quad); None when it is not."""
    body = value.rstrip("=").replace("-", "+").replace("_", "/")
    if cut:
        body = body[: len(body) // 4 * 4]
    try:
        return base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


_BOMS = ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe\x00\x00", "utf-32"),
         (b"\x00\x00\xfe\xff", "utf-32"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))


def _codec(body: bytes, charset: str | None) -> str:
    """The encoding ``body`` is read in: its byte order mark's, else ``charset``, else UTF-8."""
    return next((codec for bom, codec in _BOMS if body.startswith(bom)), charset or "utf-8")


@functools.lru_cache(maxsize=64)
def _ascii_compatible(codec: str) -> bool:
    """Whether ``codec`` writes ASCII text as ASCII (UTF-8, Latin-1; not UTF-16 or EBCDIC)."""
    probe = "Ana.Lopez-01@example.com, 555 0199; _=+/%"
    try:
        return probe.encode(codec) == probe.encode("ascii")
    except (LookupError, UnicodeError):
        return True  # (not a codec: the body was read as UTF-8)


def _decode(body: bytes, charset: str | None) -> str | None:
    """``body`` as text (its byte order mark's encoding, else ``charset``, else UTF-8), or
    None when it is binary. A mark names the encoding and is not text: JSON after a UTF-8 mark
    did not parse, and was read as words."""
    codec = _codec(body, charset)
    try:
        text = body.decode(codec)
    except (LookupError, UnicodeError):  # (punycode raises a UnicodeError)
        if codec == "utf-8":  # (not again: a decoded id's random bytes, most often)
            return None
        try:
            text = body.decode("utf-8", errors="strict")
        except UnicodeDecodeError:
            return None
    printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in text[:4096])
    return text if printable >= 0.9 * min(len(text), 4096) else None


MIN_WHOLE_FLOAT, MAX_WHOLE_FLOAT = 1e8, 1e20  # a whole number written as a float, read whole


def _number_text(value: Any) -> str:
    """A parsed value that is no string (a JSON or YAML number, a boolean) as text: a whole
    number written as a float (``4111111111111111.0``, ``4.111111111111111e15``,
    ``41111111111111110e-1``) of nine digits or more as the whole number a receiver reads
    (JavaScript's, Python's, a database's integer column): as ``4111111111111111.0`` it was no
    card's digits, and a card beside a person's name was forwarded."""
    if (isinstance(value, float) and value.is_integer()
            and MIN_WHOLE_FLOAT <= abs(value) < MAX_WHOLE_FLOAT):
        return str(int(value))
    return json.dumps(value) if isinstance(value, (bool, int, float)) else str(value)


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix and name else prefix or name


# a GraphQL document (``{"query": "mutation { createUser(ssn: \"123456789\") { id } }"}``): an
# operation, then a selection whose first field takes arguments or a selection of its own
_GRAPHQL = re.compile(r"\s*(?:(?:query|mutation|subscription)\b[^{]*)?\{\s*"
                      r"[A-Za-z_]\w*(?:\s*:\s*[A-Za-z_]\w*)?\s*[({]")
_GRAPHQL_ARG = re.compile(r"\b([A-Za-z_]\w*)\s*:\s*(\"\"\"(?:\\\"\"\"|(?!\"\"\")[\s\S])*\"\"\"|"
                          r"\"(?:[^\"\\\n]|\\.)*\"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?\b)")
MAX_GRAPHQL = 1024 * 1024  # characters of a GraphQL document whose arguments are read
_BLOCK = '"' * 3  # a GraphQL block string's quotes


def _graphql(fields: _Fields, name: str, text: str) -> bool:
    """A GraphQL document's literal arguments, by name (``createUser(ssn: "123456789")``:
    ``name.ssn``), as a GraphQL server reads them: strings, numbers and block strings (in
    three quotes: their lines, the common indentation removed, an escaped triple quote a
    quote). False when ``text`` is no GraphQL document."""
    if not _GRAPHQL.match(text):
        return False
    for arg, literal in _GRAPHQL_ARG.findall(text[:MAX_GRAPHQL]):
        if literal.startswith(_BLOCK):
            value: Any = inspect.cleandoc(literal[3:-3].replace("\\" + _BLOCK, _BLOCK))
        else:
            try:
                value = json.loads(literal)
            except ValueError:
                continue
        fields.add(fields.key(_join(name, arg)), value)
    return True


def _json_text(text: str) -> bool:
    """Whether ``text`` looks like a JSON object or list (``json.dumps(records)`` sent as one
    value: a JSON string, a form field, a query value)."""
    stripped = text.strip()
    return stripped[:1] + stripped[-1:] in ("{}", "[]") and len(stripped) > 2


_SURROGATE = re.compile("[\ud800-\udfff]")


def _unpaired(text: str) -> str:
    """``text`` with each lone surrogate replaced by U+FFFD (the replacement character)."""
    return _SURROGATE.sub("\ufffd", text) if _SURROGATE.search(text) else text


def _json_loads(text: str) -> Any:
    """JSON as receivers read it, every value of a key sent twice kept (``{"ssn": "123456789",
    "ssn": "-"}``: a receiver may take the first, where :func:`json.loads` keeps the last)."""
    return json.loads(text, object_pairs_hook=_all_values)


def _all_values(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    merged = dict(pairs)
    if len(merged) == len(pairs):
        return merged
    merged = {}
    for key, value in pairs:  # a key sent twice: its values as a list (read under the key)
        if key in merged:
            previous = merged[key]
            merged[key] = _Twice([*previous, value] if isinstance(previous, _Twice)
                                 else [previous, value])
        else:
            merged[key] = value
    return merged


class _Twice(list[Any]):
    """The values of a key sent more than once in one JSON object."""


def _json(fields: _Fields, prefix: str, text: str, truncated: bool) -> str:
    try:
        data = _json_loads(text)
    except ValueError:
        lines = [line for line in text.splitlines() if line.strip()]
        if len(lines) > 1 and lines[0].lstrip().startswith("{"):
            return _ndjson(fields, prefix, text, truncated)
        _tokens(fields, prefix, text)  # cut JSON, or not JSON: its tokens still tell
        values = _lenient_json(text)
        for value in values:  # and what a lenient receiver reads of it
            _flatten(fields, prefix, value)
        return "json" if values else "text"
    _flatten(fields, prefix, data)
    return "json"


_TRAILING_COMMA = re.compile(r",(\s*[}\]])")
_SPACE = re.compile(r"[\s\x1e]*")


def _lenient_json(text: str) -> list[Any]:
    """What lenient receivers read of ``text`` that is not one JSON document: JSON documents
    one after another (``{...}{...}``, a stream), the start of a cut one's stream, or a
    document with trailing commas (``[1, 2,]``, JSON5) or comments (``/* ... */``, ``//``:
    JSONC, JSON5); empty when none of these."""
    decoder = json.JSONDecoder(object_pairs_hook=_all_values)
    values: list[Any] = []
    at = 0
    with contextlib.suppress(ValueError):
        while (at := _SPACE.match(text, at).end()) < len(text):  # type: ignore[union-attr]
            value, at = decoder.raw_decode(text, at)
            values.append(value)
        return values
    fixed = _TRAILING_COMMA.sub(r"\1", _uncommented(text))
    if fixed != text:
        with contextlib.suppress(ValueError):
            return [_json_loads(fixed)]
    return values  # (the documents before what does not parse)


_COMMENT = re.compile(r'("(?:[^"\\]|\\.)*(?:"|\Z))|//[^\n]*|/\*(?:[^*]|\*(?!/))*(?:\*/|\Z)')


def _uncommented(text: str) -> str:
    """``text`` without its ``//`` and ``/* */`` comments (strings kept as they are)."""
    if not _may_comment(text):
        return text
    return _COMMENT.sub(lambda m: m.group(1) or " ", text)


def _may_comment(text: str) -> bool:
    """Whether ``text`` may hold a comment where receivers that allow them (JSONC, JSON5,
    Jackson's ALLOW_COMMENTS) find one: after a delimiter or a value, not in a URL
    (``"https://..."``). Found with ``str.find``: a regular expression tried at each of
    megabytes of characters costs a second."""
    for mark, after in (("/*", ' \t\r\n,{[":'), ("//", ' \t\r\n,{["')):
        at = text.find(mark)
        while at != -1:
            if at == 0 or text[at - 1] in after:
                return True
            at = text.find(mark, at + 2)
    return False


MIN_CODED = 10  # characters of the shortest value coded_text reads (six codes, base85)
MIN_CODES = 6  # a JSON list of this many small numbers or more may be text's character codes
MAX_ROW_DIGITS = 6  # an object's keys read as row numbers: up to a million rows
MAP_KEYS = 64  # an object of more keys than this, each naming an object, is a map of records


def _flatten(fields: _Fields, path: str, data: Any) -> None:
    if isinstance(data, dict):
        # an object keyed by numbers (``df.to_dict()``: {column: {"0": ..., "1": ...}}; ids,
        # SSNs) or a map of many records (``{id: {...}}``) is a list: its values share its
        # path (a column each was hundreds of one value, past proxy.max_fields); its keys are
        # under ``(keys)``, where the gate reads longer numbers as data in a name (an SSN, a
        # phone or card number as a key)
        rows = all(str(key).isdecimal() for key in data) or (
            len(data) > MAP_KEYS and all(isinstance(v, dict) for v in data.values()))
        for key, value in data.items():
            fields.add_once(_join(path, KEYS), str(key))  # {email: score}: the keys are data
            _flatten(fields, path if rows else fields.key(_join(path, str(key))), value)
        if (table := _split_table(data)) is not None:  # pandas' orient="split": by name
            _table_rows(fields, path, *table)
        joined = fields.groups < MAX_GROUPS  # (a large body's first objects, as add_pieces)
        fields.add_pieces(_join(path, JOINED), (v for v in data.values() if isinstance(v, str)))
        for value in split_values(list(data.items())) if joined else ():  # a card or an
            fields.add(_join(path, JOINED), value)  # address split into fields
    elif isinstance(data, list):
        for item in data:
            _flatten(fields, path, item)
        if (header := _header_row(data)) is not None:  # [["name", "ssn"], ["Ana", ...], ...]
            _table_rows(fields, path, header, data[1:])
        fields.add_pieces(_join(path, JOINED), (v for v in data if isinstance(v, str)))
        if 3 <= len(data) <= 5 and all(isinstance(v, str) for v in data):  # ["4111", ...]
            for value in split_values([("", v) for v in data]):
                fields.add(_join(path, JOINED), value)
        elif 3 <= len(data) <= 5 and all(isinstance(v, dict) for v in data):
            for value in _across_objects(data):  # [{"g": "4111"}, {"g": "1111"}, ...]
                fields.add(_join(path, JOINED), value)
        elif len(data) == 2 and all(isinstance(v, str) for v in data):  # ["kira.ng", "x.org"]
            for value in _pair_address(data[0], data[1]):
                fields.add(_join(path, JOINED), value)
        if (len(data) >= MIN_CODES and all(type(v) is int for v in data)
                and (text := coded_text(",".join(map(str, data)))) is not None):
            _sniff(fields, _join(path, DECODED), text, False)  # [107, 105, ...]: characters
    else:
        fields.add(path, data)


_COLUMN_NAME = re.compile(r"[^\W\d][\w .:/()#-]{0,63}")  # a header's name: a word first


def _split_table(data: dict[str, Any]) -> tuple[list[str], list[Any]] | None:
    """The column names and rows of a table sent as pandas' ``orient="split"`` (and
    ``"tight"``) write it, ``{"columns": [...], "data": [[...], ...]}``, or None: its cells
    were read under ``data`` alone, no column's name beside them, and a frame of names,
    SSNs and birth dates sent so was public where ``orient="records"`` was refused."""
    columns, rows = data.get("columns"), data.get("data")
    if not (isinstance(columns, list) and isinstance(rows, list) and columns and rows
            and all(isinstance(r, list) for r in rows)):
        return None
    names = [".".join(map(str, c)) if isinstance(c, list) else str(c) for c in columns]
    return names, rows


def _header_row(data: list[Any]) -> list[str] | None:
    """The first row of ``data`` when it is a table's header (a spreadsheet's values, a CSV
    parsed to lists: ``[["name", "ssn"], ["Ana Lopez", "123456789"], ...]``): names (a word
    first) above at least one row of no more cells; None otherwise."""
    if len(data) < 2 or not isinstance(data[0], list) or not data[0]:
        return None
    header = data[0]
    if not all(isinstance(h, str) and _COLUMN_NAME.fullmatch(h) for h in header):
        return None
    if not all(isinstance(r, list) and len(r) <= len(header) for r in data[1:]):
        return None
    return header


def _table_rows(fields: _Fields, path: str, names: list[str], rows: list[Any]) -> None:
    """``rows`` (lists of cells) read by column ``names``, as CSV is: under ``path.name``.
    Cells that are values only: a list or an object in a cell is read where it is already
    (under ``path``), not again under the name (tables nested in tables were read again at
    each level: 245 bytes of them took 39 s)."""
    for row in rows:
        for name, value in zip(names, row, strict=False):
            if not isinstance(value, (dict, list)):
                fields.add(fields.key(_join(path, name)), value)


def _across_objects(objects: list[dict[str, Any]]) -> list[str]:
    """Card numbers whose digit groups are spread over the 3 to 5 objects of one list, one
    group each: under one name in every object (``[{"g": "4111"}, {"g": "1111"}, ...]``), or
    as every value of objects that send nothing else (``[{"a": "4111"}, {"b": "1111"},
    ...]``), tried as one number (:func:`split_values`: issuer and Luhn judge it). The list
    is what is joined, as a list of strings is: a longer one (records with a time or a code
    each) is not, where four of its values in a row pass the checks as often as random
    digits do; nor are values that count up or down by one step (records' ids, years)."""
    keys = set(objects[0]).intersection(*objects[1:])
    runs = [[o[k] for o in objects] for k in sorted(keys)]
    if all(len(o) == 1 for o in objects):
        runs.append([next(iter(o.values())) for o in objects])
    out: list[str] = []
    for run in runs:
        if (all(isinstance(v, str) and 3 <= len(v) <= 6 and v.isdigit() for v in run)
                and len({int(b) - int(a) for a, b in itertools.pairwise(run)}) > 1):
            out += split_values([("", v) for v in run])  # (not ids counting up: 4001, 4002)
    return list(dict.fromkeys(out))


# words a list pairs with a host name that are no mailbox: a scheme, a host's first label, a
# method (a language's or a country's code is two letters: also left apart)
_NOT_LOCAL = frozenset({"http", "https", "ftp", "ftps", "ws", "wss", "www", "www1", "www2", "api",
                        "cdn", "static", "assets", "img", "media", "app", "web", "dev", "test",
                        "staging", "prod", "mail", "smtp", "imap", "pop", "pop3", "mx", "ns1",
                        "ns2", "get", "post", "put", "patch", "delete", "head", "options",
                        "localhost", "domain", "host", "hostname", "server", "url", "origin"})


def _pair_address(local: str, domain: str) -> list[str]:
    """An e-mail address split into a list of its local part and its domain alone
    (``["kira.ng", "example.org"]``; :func:`at_joined` reads one cut at its ``@``): joined when
    the second is a dotted domain ending in a top-level domain of letters and the first a
    local part that is no host name itself (no dot; not two letters, a language's code, nor a
    scheme or a host's label, :data:`_NOT_LOCAL`), or whose words hold a known given or family
    name (``kira.ng``: a list of two host names, ``["example.com", "example.org"]``, stays
    apart)."""
    local, domain = local.strip(), domain.strip()
    if not (_LOCAL.fullmatch(local) and any(c.isalpha() for c in local)
            and "." in domain and _DOMAIN.fullmatch(domain)
            and (tld := _TLD.search(domain)) is not None and tld.end() == len(domain)):
        return []
    if "." not in local and (len(local) < 3 or local.lower() in _NOT_LOCAL):
        return []  # (["en", "wikipedia.org"], ["https", "example.com"], ["www", ...])
    if "." in local:
        from lacuna.classify.namelists import fold, known

        names = known()
        words = [fold(w) for w in re.split(r"[._+-]", local) if len(w) > 1]
        if not any(w in names.given or w in names.family for w in words):
            return []
    return [f"{local}@{domain}"]


def _ndjson(fields: _Fields, prefix: str, text: str, truncated: bool) -> str:
    lines = text.splitlines()
    if truncated and lines and not text.endswith("\n"):
        lines = lines[:-1]  # the cut line
    for line in lines:
        if not line.strip():
            continue
        try:
            _flatten(fields, prefix, _json_loads(line))
        except ValueError:
            _tokens(fields, prefix, line)
    return "ndjson"


def _csv(fields: _Fields, prefix: str, text: str, truncated: bool, delimiter: str | None) -> str:
    if truncated and "\n" in text:
        text = text[: text.rindex("\n") + 1]  # the cut row
    if delimiter is None:
        try:
            delimiter = csv.Sniffer().sniff(text[:4096], delimiters=",;\t|").delimiter
        except csv.Error:
            delimiter = ","
    rows = csv.reader(io.StringIO(text), delimiter=delimiter)
    header = next(rows, None)
    if not header:
        return "csv"
    names = [h.strip() or f"column_{i}" for i, h in enumerate(header)]
    keys = [fields.key(_join(prefix, n)) for n in names]  # (once, not for every cell)
    read = 0
    add = fields.add
    for row in rows:
        read += 1
        for i, value in enumerate(row):  # (values past the header's names are sent too)
            add(keys[i] if i < len(keys) else fields.key(_join(prefix, f"column_{i}")),
                value.strip())
    if not read:  # all header: what it sends is that line, read as text
        _tokens(fields, prefix, text)
        return "text"
    return "csv"


def _xml(fields: _Fields, prefix: str, text: str) -> str:
    """XML: its text as free text (an e-mail in prose), and its elements' text and attributes
    as values by path, like JSON's (``customers.customer.ssn``; namespaces left out), so a
    list of records is read by its names: ``<ssn>123456789</ssn>`` is a column ``ssn``. A
    document cut, or broken, is read as far as it parses."""
    from xml.etree.ElementTree import Element, ParseError, XMLPullParser

    _tokens(fields, prefix, text)
    if "<!ENTITY" in text:  # the text a receiver reads, its entities expanded
        expanded = _entities_expanded(text)
        if expanded is None:
            fields.unread.append(f"{prefix or 'the body'}: XML whose entities expand to more "
                                 f"than {_entity_limit(text)} characters")
            return "xml"
        text = expanded
        _tokens(fields, prefix, text)
    parser: XMLPullParser[Element] = XMLPullParser(events=("start", "end"))
    path: list[str] = []
    with contextlib.suppress(ParseError):  # what parsed before an error is read
        for at in range(0, len(text), XML_PIECE):  # (fed in pieces: elements read and freed)
            parser.feed(text[at:at + XML_PIECE])
            _xml_events(fields, prefix, parser, path)
        parser.close()
        _xml_events(fields, prefix, parser, path)
    return "xml"


XML_PIECE = 64 * 1024  # characters of XML parsed at a time
MAX_ENTITY_TEXT = 4 * 1024 * 1024  # characters an XML document's entities expand it to, at most
ENTITY_GROWTH, MIN_ENTITY_TEXT = 16, 64 * 1024  # ... and at most 16 times its length (or 64 Ki)
MAX_ENTITY_DEPTH = 16  # entities named in entities, expanded this deep at most
# an internal general entity's declaration (not a parameter entity, %; not an external one,
# SYSTEM or PUBLIC, whose text is not in the body), and a reference to one
_ENTITY_DECL = re.compile(r"""<!ENTITY\s+([A-Za-z_:][\w.:-]*)\s+(?:"([^"]*)"|'([^']*)')\s*>""")
_ENTITY_REF = re.compile(r"&([A-Za-z_:][\w.:-]*);")


def _without_doctype(text: str) -> str:
    """``text`` without its DOCTYPE (its internal subset's brackets and quoted strings read as
    a parser reads them), in one pass: a regular expression retried at each ``<!DOCTYPE`` of
    ``<!DOCTYPE<!DOCTYPE...`` read the rest of the text from each (quadratic). A DOCTYPE that
    does not end leaves ``text`` as it is."""
    at = text.find("<!DOCTYPE")
    if at < 0:
        return text
    depth, quote = 0, ""
    for i in range(at + len("<!DOCTYPE"), len(text)):
        ch = text[i]
        if quote:
            quote = "" if ch == quote else quote
        elif depth and ch in "\"'":
            quote = ch
        elif ch == "[":
            depth += 1
        elif ch == "]" and depth:
            depth -= 1
        elif ch == ">" and not depth:
            return text[:at] + text[i + 1:]
    return text


def _entity_limit(text: str) -> int:
    """The characters an XML document ``text`` may expand to: :data:`ENTITY_GROWTH` times its
    length, at least :data:`MIN_ENTITY_TEXT`, at most :data:`MAX_ENTITY_TEXT` (or its own
    length, when longer)."""
    return max(min(MAX_ENTITY_TEXT, max(ENTITY_GROWTH * len(text), MIN_ENTITY_TEXT)), len(text))


def _entities_expanded(text: str) -> str | None:
    """``text`` (XML) with its internal entities expanded, as a parser that expands them reads
    it (``<!ENTITY a "ana.lopez">``, ``&a;@&b;``: each declaration was read as text alone, and
    the e-mail the document holds was no token of it), its DOCTYPE left out; None when they
    expand to more than :func:`_entity_limit` characters (billions of laughs: fail closed; a
    body of 344 bytes expanded to 2.7 million characters held the decision thread a second).
    The first declaration of a name wins, as in XML; the predefined ones (``&amp;``) are the
    parser's."""
    declared: dict[str, str] = {}
    for m in _ENTITY_DECL.finditer(text):
        name = m.group(1)
        if name not in declared and name not in ("lt", "gt", "amp", "apos", "quot"):
            declared[name] = m.group(2) if m.group(2) is not None else m.group(3)
    body = _without_doctype(text)
    if not declared:
        return body
    limit = _entity_limit(text)
    for _ in range(MAX_ENTITY_DEPTH):
        size = len(body)
        for m in _ENTITY_REF.finditer(body):  # (what it would grow to, before it grows)
            if m.group(1) in declared:
                size += len(declared[m.group(1)]) - len(m.group())
                if size > limit:
                    return None
        expanded = _ENTITY_REF.sub(lambda m: declared.get(m.group(1), m.group()), body)
        if expanded == body:
            return body
        body = expanded
    return None if any(m.group(1) in declared for m in _ENTITY_REF.finditer(body)) else body


def _xml_events(fields: _Fields, prefix: str, parser: Any, path: list[str]) -> None:
    """The elements ``parser`` read so far, as values by ``path`` (the open elements' names)."""
    from xml.etree.ElementTree import Element

    for item in parser.read_events():
        event, element = item[0], item[-1]
        if not isinstance(element, Element):
            continue  # (only start and end events were asked for)
        if event == "start":
            path.append(_local(element.tag))
            for name, value in element.attrib.items():
                fields.add(fields.key(_join(prefix, ".".join([*path, _local(name)]))), value)
            continue
        value = (element.text or "").strip()
        if value and not len(element):  # a leaf's text (mixed content is in ``text``)
            fields.add(fields.key(_join(prefix, ".".join(path))), value)
        path.pop()
        element.clear()


def _local(tag: str) -> str:
    """An XML name without its namespace (``{urn:x}ssn``, ``x:ssn``: ``ssn``)."""
    return tag.rpartition("}")[2].rpartition(":")[2]


_YAML = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")
MAX_YAML_NODES = 200_000  # nodes walked in a YAML document (aliases repeat what they name)


def _yaml(fields: _Fields, prefix: str, text: str) -> str:
    """YAML: its text as free text, and its documents flattened like JSON, by path. Aliases are
    walked at most :data:`MAX_YAML_NODES` nodes in all (a few aliases can name a document of
    billions of nodes); past that, the rest is its text."""
    import yaml

    _tokens(fields, prefix, text)
    walked = [0]

    def flat(path: str, data: Any) -> None:
        walked[0] += 1
        if walked[0] > MAX_YAML_NODES:
            return
        if isinstance(data, dict):
            for key, value in data.items():
                fields.add_once(_join(path, KEYS), str(key))
                flat(fields.key(_join(path, str(key))), value)
        elif isinstance(data, list):
            for item in data:
                flat(path, item)
        elif isinstance(data, (str, float)):  # (a float: read as a JSON number is)
            fields.add(path, data)
        else:
            fields.add(path, str(data))

    try:
        for document in yaml.safe_load_all(text):
            flat(prefix, document)
    except (yaml.YAMLError, RecursionError):
        pass  # what loaded before the error is read; the rest is its text
    return "yaml"


def _looks_tabular(text: str) -> str | None:
    lines = [line for line in text.splitlines()[:20] if line.strip()]
    for delimiter in (",", "\t", ";", "|"):
        counts = {line.count(delimiter) for line in lines}
        if len(lines) > 1 and len(counts) == 1 and counts.pop() > 0:
            return delimiter
    return None


_FORM = re.compile(r"[^\s=&]+=[^\s&]*(?:&[^\s=&]+=[^\s&]*)+&?")  # two pairs or more


_YAML_LINE = re.compile(r"\s*(?:-\s+)?[A-Za-z_][\w .-]*:(?:\s|$)|\s*-\s+\S")


def _looks(text: str) -> str:
    """The shape of ``text``: ``json``, ``xml``, ``csv``, ``form`` (``a=1&b=2``), ``yaml``
    (lines of ``key: value`` and ``- item``, as ``yaml.dump(records)`` writes) or ``text``."""
    stripped = text.lstrip()
    if stripped[:1] in ("{", "["):
        return "json"
    if stripped[:1] == "<":
        return "xml"
    if _looks_tabular(text) is not None:
        return "csv"
    head = text.strip()[:4096]  # (a long form: its start)
    if _FORM.match(head) and not any(c.isspace() for c in head):
        return "form"
    lines = [line for line in text.splitlines()[:20] if line.strip()]
    if len(lines) > 1 and all(_YAML_LINE.match(line) for line in lines):
        return "yaml"
    return "text"


def _sniff(fields: _Fields, prefix: str, text: str, truncated: bool) -> str:
    looks = _looks(text)
    if looks in ("json", "text"):  # a GraphQL document (``application/graphql``, a value)
        _graphql(fields, prefix, text)
    if looks in ("xml", "csv", "form", "text"):  # an HTML page's or a script's JSON (a
        # script's lines can look like a table: statements end with a ;)
        _embedded(fields, prefix, text)
    if looks == "json":
        return _json(fields, prefix, text, truncated)
    if looks == "xml":  # XML (a SOAP call, an export), HTML: read as XML, and as text
        return _xml(fields, prefix, text)
    if looks == "csv":
        return _csv(fields, prefix, text, truncated, _looks_tabular(text))
    if looks == "yaml":  # (``data=yaml.dump(records)``: by its keys, and as text)
        return _yaml(fields, prefix, text)
    if looks == "form":  # a form sent without its type (``data=urlencode(...)``), and text
        _form(fields, prefix, text)
    _tokens(fields, prefix, text)
    return "text"


SCRIPT = "(script)"  # JSON embedded in an HTML page or a script, by its names
MAX_EMBEDDED = 4096  # places JSON may start in one text, tried at most
EMBEDDED_PIECE = 4096  # characters of text a value is first parsed from (then 16 times more)
# where JSON embedded in HTML or JavaScript starts: a script's content (``<script
# type="application/json">``), a value assigned or passed (``window.__DATA__ = {...}``,
# ``f({...})``), an attribute's (``data-props='{...}'``)
_EMBEDDED = re.compile(r"[=(:,>\"']\s*([\[{])|JSON\.parse\(\s*(\")")  # (and JSON.parse("..."))
_ATTRIBUTE = re.compile(r"=\s*\"\s*([\[{][^\"<>]*)\"")  # an attribute's: data-x="{&quot;..."


def _embedded(fields: _Fields, prefix: str, text: str) -> None:
    """The JSON objects and lists embedded in HTML or JavaScript ``text``, by their names under
    ``prefix.(script)`` (``(script).customers.ssn``), as the page's scripts read them: as text
    only, records in ``<script type="application/json">`` or ``window.__DATA__ = {...}`` were
    words. Bounded: :data:`MAX_EMBEDDED` places tried, and about eight times the text's length
    read in all (:func:`_json_at`). A value nested deeper than the parser goes is unreadable
    (fail closed)."""
    import html

    decoder = json.JSONDecoder(object_pairs_hook=_all_values)
    texts = [text]  # and attributes' JSON HTML-escaped (``data-props="{&quot;ssn&quot;...``)
    escaped = (m.group(1) for m in _ATTRIBUTE.finditer(text) if "&" in m.group(1))
    texts += ["=" + html.unescape(value)  # (a value, as assigned)
              for value in itertools.islice(escaped, MAX_EMBEDDED)]
    for source in texts:
        budget, end = 8 * len(source) + EMBEDDED_PIECE, 0
        for tried, found in enumerate(_EMBEDDED.finditer(source)):
            at = found.start(1) if found.group(1) else found.start(2)
            if at < end:
                continue  # (inside a value already read)
            if tried >= MAX_EMBEDDED or budget <= 0:
                break
            try:
                value, end, spent = _json_at(decoder, source, at, budget)
                budget -= spent
                if isinstance(value, str) and _json_text(value):  # JSON.parse("{\"...")
                    value = _json_loads(value)
            except RecursionError:
                fields.too_deep = True
                return
            except ValueError:
                continue
            if value and isinstance(value, (dict, list)):
                _flatten(fields, _join(prefix, SCRIPT), value)


def _json_at(decoder: json.JSONDecoder, text: str, at: int, budget: int
             ) -> tuple[Any, int, int]:
    """The JSON value that starts at ``at`` in ``text`` (None when none does), where it ends,
    and the characters it cost to find out. Parsed from a piece of :data:`EMBEDDED_PIECE`
    characters, then from one 16 times longer while it runs past the piece's end, within
    ``budget``: the parser reads, and an error counts the lines of, the text it is given, so
    each place tried in the whole text would cost its length."""
    size, spent = EMBEDDED_PIECE, 0
    while True:
        piece = text[at:at + size]
        spent += len(piece)
        try:
            value, end = decoder.raw_decode(piece)
        except json.JSONDecodeError as exc:
            spent += exc.pos
            cut = at + len(piece) < len(text) and (
                exc.pos >= len(piece) - 1 or exc.msg.startswith("Unterminated"))
            if not cut or spent >= budget:
                return None, at, spent
            size *= 16
            continue
        return value, at + end, spent


def distinct_tokens(data: bytes) -> tuple[str, ...]:
    """The distinct tokens of ``data`` read as text, sorted: free text's values as
    :func:`read_body` finds them (the proxy scans a long body's rest with them), and the
    tokens of its text with HTML/XML character references decoded (:func:`_unescaped`)."""
    text = data.decode("utf-8", "replace")
    unescaped = _unescaped(text)
    tokens = set(_token_values(text))
    if unescaped is not None:
        tokens.update(_token_values(unescaped))
    return tuple(sorted(tokens - {""}))


_CHAR_REF = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")


def _unescaped(text: str) -> str | None:
    """``text`` with its HTML/XML character references decoded (``ana&#64;example.com``,
    ``&#x40;``, ``&commat;``), as an HTML or XML receiver reads it; None when it has none.
    They end a token (``&`` and ``;`` separate tokens), so they are decoded before."""
    import html

    return html.unescape(text) if _CHAR_REF.search(text) else None


def _token_values(text: str) -> Iterator[str]:
    """Free text's values: each token, without the full stop or colon that ends it."""
    return (token.strip(".:") for token in _TOKEN.findall(text))


def _colon_values(text: str) -> Iterator[str]:
    """:func:`_token_values` of ``text`` and the parts of a token joined by colons
    (``mailto:ana@example.com``, ``to:ana@example.com``): a header's or a path's values are
    classified only when a recognizer validates one whole, and such a token is not one."""
    for token in _token_values(text):
        yield token
        if ":" in token:
            yield from (part.strip(".") for part in token.split(":") if part.strip("."))


def segment_values(segment: str) -> tuple[str, ...]:
    """The values one (percent-decoded) path segment sends: itself, its tokens and their parts
    (:func:`_colon_values`), what it decodes to (:func:`decoded_tokens`), and what they read
    to backwards or in ROT47 (:func:`lacuna.classify.encoded.turned`: ``/cards/111...114``
    was refused and recorded with the card in its destination). The gate masks the segment
    in what it records when a recognizer validates any of them."""
    values = (segment, *_colon_values(segment))
    values = (*values, *decoded_tokens(values))
    return tuple(dict.fromkeys((*values, *(t for v in values for t in turned(v)))))


def _tokens(fields: _Fields, prefix: str, text: str) -> None:
    """Free text: one value per token (an e-mail, an id, a card number stays whole: what the
    fingerprints match), and its lines (``lines``, in overlapping pieces the classifier reads
    whole), where the recognizers find values inside text however many words surround them."""
    unescaped = _unescaped(text)  # (an e-mail as ana&#64;example.com: HTML, or XML cut)
    for value in itertools.chain(_token_values(text), _token_values(unescaped or "")):
        fields.add_once(_join(prefix, "text"), value)
    for line in text.splitlines():
        line = line.strip()
        for start in range(0, max(len(line) - LINE_OVERLAP, 1), LINE_PIECE - LINE_OVERLAP):
            fields.add(_join(prefix, "lines"), line[start:start + LINE_PIECE])


def _parts(body: bytes, boundary: str) -> tuple[list[tuple[dict[str, str], bytes, bytes]],
                                                bytes]:
    """The parts of a multipart ``body`` (headers, content, the part's bytes) and what lies
    outside them (preamble, epilogue). A delimiter is ``--boundary`` at the start of a line, as
    receivers read it (RFC 2046): ``--boundary`` inside a line is content."""
    delimiter = re.compile(rb"(?:\A|\r?\n)--" + re.escape(boundary.encode("latin-1"))
                           + rb"(--)?[ \t]*(?:\r?\n|\Z)")
    parts = []
    outside = bytearray()
    start, closed = 0, False
    for found in delimiter.finditer(body):
        chunk = body[start:found.start()]
        if start == 0 or closed:
            outside += chunk  # preamble, or after a close delimiter
        else:
            parts.append(_part(chunk))
        start, closed = found.end(), closed or found.group(1) is not None
    if start and not closed:
        parts.append(_part(body[start:]))  # a body cut before its close delimiter
    else:
        outside += body[start:]
    return parts, bytes(outside)


def _part(chunk: bytes) -> tuple[dict[str, str], bytes, bytes]:
    head, sep, content = chunk.partition(b"\r\n\r\n")
    if not sep:
        head, sep, content = chunk.partition(b"\n\n")
    headers: dict[str, str] = {}
    for line in head.decode("latin-1").splitlines():
        key, colon, value = line.partition(":")
        if colon and key.strip() and " " not in key.strip():
            headers[key.strip().lower()] = value.strip()
        elif line.strip():
            headers[""] = "not a header"  # the head is not headers: the part is read as text
    return headers, content, chunk


def _transfer_decoded(content: bytes, encoding: str) -> bytes:
    """A part's content as receivers decode its ``Content-Transfer-Encoding``."""
    encoding = encoding.strip().lower()
    try:
        if encoding == "base64":
            return base64.b64decode(b"".join(content.split()))
        if encoding == "quoted-printable":
            return quopri.decodestring(content)
    except (binascii.Error, ValueError):
        pass  # not what it says: read as sent
    return content


FILENAME = "(file name)"  # the name a multipart part's file is sent under


def _multipart(fields: _Fields, prefix: str, body: bytes, boundary: str | None,
               truncated: bool, unreadable: list[str]) -> str:
    if not boundary:
        unreadable.append("a multipart body without a boundary")
        return "unreadable"
    parts, outside = _parts(body, boundary)
    if not parts and outside == body:  # not one delimiter
        unreadable.append(f"a multipart body without a part under its boundary {boundary!r}")
        return "unreadable"
    if outside.strip():  # preamble and epilogue: receivers skip them, but they are sent
        _read_into(fields, _join(prefix, "(outside parts)"), outside, "text/plain", truncated,
                   unreadable)
    for headers, content, whole in parts:
        if "" in headers:
            _read_into(fields, _join(prefix, "(part)"), whole, "text/plain", truncated,
                       unreadable)
            continue
        content = _transfer_decoded(content, headers.get("content-transfer-encoding", ""))
        _, disposition = _media("x;" + headers.get("content-disposition", "").partition(";")[2])
        name = disposition.get("name", "")
        filename = disposition.get("filename")
        for sent in (filename, disposition.get("filename*")):  # a file's name is sent too
            if sent:  # (RFC 5987's filename*=UTF-8''ana%40example.com.csv, percent-decoded),
                sent = unquote(sent.partition("''")[2] or sent)  # with and without its
                stem = sent.rpartition("/")[2].rpartition("\\")[2]  # folder and extension
                for value in dict.fromkeys((sent, stem, stem.rpartition(".")[0])):
                    if value:
                        fields.add(_join(prefix, _join(name, FILENAME)), value)
        part_type = headers.get("content-type")
        if filename and (part_type is None or part_type.startswith("application/octet-stream")):
            suffix = filename[filename.rfind("."):].lower() if "." in filename else ""
            part_type = _EXTENSIONS.get(suffix, part_type)
        if filename is None and part_type is None:
            text = _decode(content, None)
            if text is None:
                unreadable.append(f"multipart field {name!r}: binary data")
            else:
                fields.add(fields.key(_join(prefix, name)), text)
            continue
        _read_into(fields, fields.key(_join(prefix, name)), content, part_type, truncated,
                   unreadable)
    return "multipart"
