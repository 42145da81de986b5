"""Values and names read as they look: invisible characters, compatibility forms, digits of
other scripts, Latin look-alike letters and nested values hide nothing from layer 1."""

import sys
import unicodedata

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from lacuna.classify import classify_columns, classify_frame, tokens
from lacuna.classify.checks import is_email
from lacuna.classify.tokens import tokenize
from lacuna.model import ColumnKind

EMAILS = [f"user{i}@example.com" for i in range(40)]


def col(values, name="c1"):
    return classify_columns([name], {name: values}, cascade=False)[name]


@pytest.mark.parametrize(
    ("values", "pii_type"),
    [
        ([e.replace("@", "\u200b@") for e in EMAILS], "email"),  # zero-width space
        ([e.replace("@", "\u2060@\u200d") for e in EMAILS], "email"),  # word joiner, ZWJ
        ([e.replace("@", "＠") for e in EMAILS], "email"),  # fullwidth at sign
        (["\u202e" + e for e in EMAILS], "email"),  # a direction mark in front
        (["+44 ٢٠ ٧٩٤٦ ٠٩٥٨", "+49 ٣٠ ١٢٣٤٥٦٧"] * 10, "phone"),  # Arabic-Indic digits
        (["＋４４ ２０ ７９４６ ０９５８"] * 10, "phone"),  # fullwidth
        (["１２３-４５-６７８９", "078-05-１１２０"] * 10, "ssn"),
        (["DE89\u00ad3704\u00ad0044\u00ad0532\u00ad0130\u00ad00"] * 10, "iban"),  # soft hyphens
        # combining marks over digits and letters (an overline, an underline, a stroke)
        (["".join(c + "\u0305" for c in "4111111111111111")] * 10, "card_number"),
        ([f"card {'5' + chr(0x20DD)}500 0055 5555 5559 ok"] * 10, "card_number"),
        (["".join(c + "\u0332" for c in e) for e in EMAILS], "email"),
        ([e.replace("@", "\u0336@") for e in EMAILS], "email"),
    ],
)
def test_invisible_and_compatibility_characters_hide_nothing(values, pii_type):
    got = col(values)
    assert got.classification != ColumnKind.PUBLIC
    assert got.pii_type == pii_type


@pytest.mark.parametrize(
    "values",
    [
        ["١٢", "٣٤", "٥٦", "٧"] * 10,  # small quantities in Arabic-Indic digits
        ["東京タワー", "ｶﾀｶﾅ", "大阪城", "富士山"] * 10,  # places, halfwidth katakana
        ["ＡＢＣ", "ｘｙｚ", "status\u200bok"] * 10,
        ["٢٠٢٤", "١٩٩٩"] * 10,  # years
        # accents NFKC does not compose, on words and numbers that are no value
        ["q\u0303uantity", "n\u0332ote 12", "Nguyễn Văn", "x\u0305 = 4\u0305"] * 10,
    ],
)
def test_other_scripts_stay_public(values):
    assert col(values).classification == ColumnKind.PUBLIC


def test_visible_reads_text_as_shown():
    assert tokens.visible("ｕｓｅｒ\u200b＠example.com") == "user@example.com"
    assert tokens.visible("٠٧٩١١ ۱۲ १२") == "07911 12 12"
    assert tokens.visible("Müller 王秀英") == "Müller 王秀英"


def test_format_characters_are_dropped_and_every_digit_is_read():
    cf = [chr(i) for i in range(sys.maxunicode + 1) if unicodedata.category(chr(i)) == "Cf"]
    assert [hex(ord(c)) for c in cf if tokens.visible("a" + c + "b") != "ab"] == []
    nd = [chr(i) for i in range(128, sys.maxunicode + 1) if unicodedata.category(chr(i)) == "Nd"]
    wrong = [hex(ord(c)) for c in nd if tokens.visible(c) != str(unicodedata.decimal(c))]
    assert wrong == []
    assert tokens.visible("\ufdfa" * 100, 50) == tokens.visible("\ufdfa" * 100)[:50]


@pytest.mark.parametrize(
    "wrap",
    [
        lambda e: [e],
        lambda e: (e, "x"),
        lambda e: {"contact": {"email": e}},
        lambda e: np.array([e, "y"], dtype=object),
        lambda e: {e},
    ],
)
def test_nested_values_are_read(wrap):
    got = col(pd.Series([wrap(e) for e in EMAILS], dtype=object))
    assert (got.classification, got.pii_type) == (ColumnKind.PII, "email")


def test_arrow_lists_and_structs_are_read():
    lists = pd.Series([[e, "n/a"] for e in EMAILS], dtype=pd.ArrowDtype(pa.list_(pa.string())))
    structs = pd.Series(
        [{"e": e, "n": 1} for e in EMAILS],
        dtype=pd.ArrowDtype(pa.struct([("e", pa.string()), ("n", pa.int64())])),
    )
    out = classify_frame(pd.DataFrame({"c1": lists, "c2": structs}), cascade=False).columns
    assert {(c.classification, c.pii_type) for c in out.values()} == {(ColumnKind.PII, "email")}


def test_nested_public_values_stay_public_and_huge_ones_are_bounded():
    colours = pd.Series([["red", "green"], {"a": "blue"}, ("x", 3), np.array([1, 2])] * 10)
    assert col(colours).classification == ColumnKind.PUBLIC
    huge = [list(range(1_000_000)), [["a"] * 10_000] * 100]
    assert col(pd.Series(huge, dtype=object)).classification == ColumnKind.PUBLIC


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("еmail", ("email",)),  # Cyrillic е
        ("рһоnе", ("phone",)),  # Cyrillic р, һ, о, е
        ("ѕѕn", ("ssn",)),
        ("customerΕmail", ("customer", "email")),  # Greek Ε keeps the case boundary
        ("s\u200bsn", ("ssn",)),
        ("ｃｕｓｔｏｍｅｒＥｍａｉｌ", ("customer", "email")),
        ("date\u00adof\u00adbirth", ("dateofbirth",)),  # soft hyphens join, as they show
        # genuine other-script words keep their letters
        ("телефон", ("телефон",)),
        ("straße_nr", ("straße", "nr")),
        ("氏名", ("氏名",)),
        ("сорт_товара", ("сорт", "товара")),
    ],
)
def test_names_are_read_as_they_look(name, words):
    assert tokenize(name) == words


@pytest.mark.parametrize(
    "name", ["еmail", "рһоnе", "ѕѕn", "e\u200bmail_аddress", "ＳＳＮ", "date\u00adof\u00adbirth"]
)
def test_lookalike_names_are_not_public(name):
    assert col(["a", "b", "c"], name).classification == ColumnKind.PII


@pytest.mark.parametrize("name", ["ѕtаtuѕ", "сreated_аt", "ｑｕａｎｔｉｔｙ"])
def test_lookalike_public_names_stay_public(name):
    got = col(["a", "b", "c"], name)
    assert got.classification == ColumnKind.PUBLIC


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("jörg.müller@müller.de", True),
        ("иван@почта.рф", True),
        ("ada@example.org", True),
        ("a..b@example.org", False),
        ("a@-x.org", False),
        ("a@x-.org", False),
        ("a@x_y.org", False),
        ("x@y.c0m", False),
        ("a@b", False),
        ("a@" + "a" * 63 + ".org", True),
        ("a@" + "a" * 64 + ".org", False),
    ],
)
def test_internationalised_addresses(value, ok):
    assert is_email(value) is ok


def test_a_column_of_internationalised_addresses_is_pii():
    got = col([f"jörg{i}@müller-straße.de" for i in range(30)])
    assert (got.classification, got.pii_type) == (ColumnKind.PII, "email")
    assert col([f"müller-straße{i}.de" for i in range(30)]).classification == ColumnKind.PUBLIC


@pytest.mark.parametrize(
    ("values", "pii_type"),
    [
        (['"Ada Lovelace"', "'Alan Turing'", '"Grace Hopper"', "“Linus Torvalds”"] * 10, "name"),
        ([f'"{e}"' for e in EMAILS], "email"),
        (["'+1 415 555 0100'", '"+44 20 7946 0958"'] * 10, "phone"),
    ],
)
def test_values_quoted_again_are_read_inside_their_quotes(values, pii_type):
    got = col(values)
    assert got.pii_type == pii_type
    assert got.confidence >= 0.8


def test_quoted_public_values_stay_public():
    assert col(['"red"', "'green'", '"n/a"', "`blue`"] * 10).classification == ColumnKind.PUBLIC


def test_a_parquet_list_column_and_a_fullwidth_csv_read_from_files(tmp_path):
    from lacuna.classify import classify

    lists = tmp_path / "lists.parquet"
    pd.DataFrame({"x": [[e] for e in EMAILS]}).to_parquet(lists)
    assert pd.read_parquet(lists)["x"].map(list).tolist()[0] == [EMAILS[0]]  # as written
    fullwidth = tmp_path / "fw.csv"
    fullwidth.write_text("c\n" + "\n".join(e.replace("@", "＠") for e in EMAILS), "utf-8")
    for path in (lists, fullwidth):
        got = classify(str(path)).columns
        assert [(c.classification, c.pii_type) for c in got.values()] == [(ColumnKind.PII, "email")]


def test_a_value_that_nfkc_lengthens_is_still_cut():
    from lacuna.classify.scan import MAX_VALUE_CHARS, column_sample

    sample = column_sample("c", pd.Series(["\ufdfa" * 5000, "٣" * 5000 + "\u200b" * 10]))
    assert sample.lengths[1] == MAX_VALUE_CHARS
    assert sample.values.to_pylist()[1] == "3" * MAX_VALUE_CHARS


@pytest.mark.parametrize(
    ("name", "pii_type"),
    [
        ("телефон", "phone"),
        ("фамилия", "name"),
        ("имя", "name"),
        ("дата_рождения", "dob"),
        ("электронная почта", "email"),
        ("電話番号", "phone"),
        ("メールアドレス", "email"),
        ("氏名", "name"),
        ("住所", "address"),
        ("生年月日", "dob"),
        ("手机号", "phone"),
        ("邮箱", "email"),
        ("地址", "address"),
        ("이메일", "email"),
        ("전화번호", "phone"),
        ("이름", "name"),
        ("الاسم", "name"),
        ("هاتف", "phone"),
    ],
)
def test_common_names_in_other_scripts_are_known(name, pii_type):
    assert classify_columns([name], cascade=False)[name].pii_type == pii_type


@pytest.mark.parametrize("name", ["имя_файла", "商品名", "名称", "数量", "статус", "город"])
def test_other_script_names_of_things_stay_public(name):
    assert col(["a", "b"], name).classification == ColumnKind.PUBLIC


# --- e-mail addresses written out; look-alike letters inside values ----------------------

SPELLED = [
    "ana dot lopez at example dot com",
    "bob(at)example(dot)org",
    "carl [at] mail [dot] de",
    "dora AT example DOT net",
    "eve (at) corp (dot) co (dot) uk",
    "fred at example.com",
    "gina{at}example{dot}io",
    "hank@example dot com",
]


@pytest.mark.parametrize("values", [SPELLED * 3, [f"write to {v} please" for v in SPELLED]])
def test_email_addresses_written_out_are_personal(values):
    got = col(values)
    assert (got.classification, got.pii_type) == (ColumnKind.PII, "email"), got.reasoning
    assert any(e.rule == "value:email_spelled" for e in got.evidence)


USERS = ["ana", "bob.lee", "carl_92", "dora", "eve-k", "fred", "gina.m", "hank7"]


@pytest.mark.parametrize(
    ("at", "dot"),
    [
        ("AT", "DOT"),  # anaATexampleDOTcom
        ("_AT_", "_DOT_"),
        ("_at_", "_dot_"),
        ("-at-", "-dot-"),
        ("__at__", "__dot__"),
        (" [@] ", " [.] "),
        ("(@)", "."),
        (" @ ", "."),
        ("@", "[.]"),  # defanged: ana@example[.]com
        ("AT", "."),  # anaATexample.co.uk: AT without DOT
        ("#at#", "#dot#"),
        ("#AT#", "."),
        ("(a)", "."),  # ana(a)example.co.uk
        ("(A)", "[.]"),
        ("%40", "."),  # percent-encoded, as in a logged URL's query
        ("&#64;", "."),  # HTML entities
        ("&#x40;", "."),
        ("&commat;", "."),
        (" at ", "DOT"),  # one word spaced, the other joined
        ("AT", " dot "),
        ("@", "DOT"),
        (" At ", " DoT "),  # mixed case
        ("(at)", "DOT"),
        # each was PUBLIC too: spaces around the dots, the "@" encoded twice or more, the
        # sign named, encoded as HTML twice or in a JSON string
        (" @ ", " . "),  # ana @ example . co . uk
        ("@ ", " . "),
        (" @", " . "),
        ("@ ", "."),
        (" at ", " . "),
        (" [at] ", " . "),
        (" @ ", " .  "),
        ("%2540", "."),  # percent-encoded twice
        ("%252540", "%252E"),
        ("%40", "%2e"),
        ("(at-sign)", "."),
        (" (at sign) ", " (dot) "),
        ("[at-symbol]", "."),
        ("{atsign}", "."),
        (" (arroba) ", "."),
        (" at sign ", " dot "),
        ("&amp;#64;", "."),
        ("&amp;amp;#x40;", "&#46;"),
        ("\\u0040", "."),
        ("\\x40", "\\u002e"),
    ],
)
@pytest.mark.parametrize("in_text", [False, True])
def test_email_addresses_written_out_without_spaces_or_brackets_are_personal(at, dot, in_text):
    """Each form was PUBLIC: the joined words (AT/DOT in capitals, between underscores or
    hyphens) and a bracketed or spaced '@' or '.' hid the addresses from the e-mail pattern;
    so did AT before a real dot, #at#, (a), %40, &#64; and one word joined, the other
    spaced."""
    values = [f"{u}{at}example{i}{dot}co{dot}uk" for i, u in enumerate(USERS)] * 2
    if in_text:
        values = [f"please write to {v} today" for v in values]
    got = col(values)
    assert (got.classification, got.pii_type) == (ColumnKind.PII, "email"), got.reasoning
    # an encoded "@" (%40, &#64;, \u0040) is decoded as the value is read, before any
    # pattern: the address is then found as written
    encoded = any(c in at for c in "%&\\")
    assert any(e.rule == ("value:email" if encoded else "value:email_spelled")
               for e in got.evidence)


@pytest.mark.parametrize(
    "values",
    [
        ["arrived at noon", "meeting at 5 pm", "look at the dot", "at home", "dot"] * 6,
        ["Paris at night", "Dot at the beach", "seen at London dot"] * 10,
        ["(at) risk", "[dot] matrix", "Ana"] * 10,
        # words and identifiers holding AT and DOT: product names, URLs, camelCase, files
        ["CATalog Pro", "DOTnet Runtime", "ATtack Helicopter", "myATtack", "getATtribute",
         "isATtachedDOTvisible", "formATtingDOTtemplate", "userATdomainDOThelper", "toDOTnet",
         "www.CATalogDOTcom.com", "myATMDOTlocator"] * 3,
        ["https://stay-at-home.org", "www.made-at-home.co.uk", "eat-at-joes.com",
         "polka-dot-dress.com", "report_created_at_2024.csv", "updated_at_dot",
         "looked_at_dot_matrix", "stay_at_home_dot_com_rate", "backup_at_noon.sql",
         "clicked_at_dot_com_bubble", "img-at-dot-1.png"] * 3,
        ["meet @ noon", "price @ 5 each", "[.] bullet", "end (.) here"] * 8,
        # AT in capitals before a real dot: files, code, brands
        ["sendATcommand.py", "parseATresponse.js", "getATMstatus.py", "CATalog.com",
         "DATA.gov", "STATE.org", "AT&T.com", "lastSeenAT.de", "https://example.com/fooATbar",
         "isATtached.md", "runATstartup.sh", "x.py"] * 3,
        # (a) in lists, #at# in tags, %40 in numbers
        ["(a) example.com is ours", "item (a) foo.org", "see (a) and (b) in mail.com",
         "Part (a) of the form", "#at# the end", "issue #at#123", "tags: #at #dot",
         "100%40", "rate 5%40 of test.com", "&#64; sign", "(a)example.com"] * 3,
        # spaced dots: prose, versions, prices and sentences after an "@" or an "at"
        ["meet me @ 5 . then", "see you @ noon . ok", "lunch @ home . It was fine",
         "back @ work . in the end", "release @ 1 . 2", "python @ 3 . 11", "2 @ $5 . 00",
         "qty 10 @ 1 . 99 each"] * 4,
        ["we arrived at home . it was late", "i looked at it . in the end",
         "stay at the office . no way", "he is at school . be there",
         "they met at Harvard . us too", "we met at noon. Net income rose",
         "Email me at home. Com is short", "seen at work. De facto"] * 4,
        # a mention, the sign named in prose, encodings that encode no address
        ["follow us @acme.com", "thanks @bob.smith", "cc @ana", "the at sign is used",
         "(at sign) denotes a user", "stop at sign 5", "50%2540", "a%252Eb", "\\u0040 is @",
         "path%2Efile", "&amp;#64; sign", "la arroba es un signo"] * 3,
    ],
)
def test_words_at_and_dot_in_public_text_stay_public(values):
    assert col(values).classification == ColumnKind.PUBLIC


def test_a_column_named_email_of_written_out_addresses_is_not_a_near_miss():
    got = col(SPELLED * 3, "email")
    assert got.pii_type == "email"
    assert not any(e.rule.startswith("near-miss") for e in got.evidence)


LOOKALIKE_VALUES = [
    # IBANs with a Cyrillic В, Е, А: no IBAN pattern matched them
    (
        ["\u0412\u041571096123456769", "D\u041589370400440532013000", "NL91\u0410BNA0417164300"]
        * 6,
        "iban",
    ),
    # names written entirely in look-alikes: Аdа Lоvеlасе
    (
        [
            "\u0410d\u0430 L\u043ev\u0435l\u0430\u0441\u0435",
            "\u0410l\u0430n Turing",
            "Gr\u0430\u0441\u0435 H\u043epp\u0435r",
            "\u041a\u0430th\u0435rin\u0435 J\u043ehns\u043en",
        ]
        * 5,
        "name",
    ),
    # Greek look-alikes in e-mail addresses (ο, α, ν, ι)
    ([f"\u03bfwner{i}@ex\u03b1mple.com" for i in range(20)], "email"),
    # a fullwidth e-mail address
    ([f"ｕｓｅｒ{i}@ｅｘａｍｐｌｅ.ｃｏｍ" for i in range(20)], "email"),
]


@pytest.mark.parametrize(("values", "pii_type"), LOOKALIKE_VALUES)
def test_lookalike_letters_inside_values_hide_nothing(values, pii_type):
    got = col(values)
    assert got.pii_type == pii_type, got.reasoning
    assert got.classification != ColumnKind.PUBLIC


PHONES = ["+44 20 7946 0958", "+44 20 7946 0123", "+1 415 555 0100", "+49 30 1234 5670",
          "+33 1 42 68 53 00", "(415) 555-0132", "+44 161 496 0000", "+1 212 555 0199",
          "+44 121 496 0101", "+61 2 9374 4000", "+1 312 555 0111", "+44 113 496 0010"]


def _disguised(values, digits, letter):
    changed = [v.translate(str.maketrans(digits, letter * len(digits))) for v in values]
    return [v for v, was in zip(changed, values, strict=True) if v != was]


@pytest.mark.parametrize(
    ("values", "pii_type"),
    [
        (_disguised(PHONES, "0", "O"), "phone"),  # Latin O for zero
        (_disguised(PHONES, "0", "o"), "phone"),
        (_disguised(PHONES, "0", "\u041e"), "phone"),  # Cyrillic О
        (_disguised(PHONES, "0", "\u043e"), "phone"),  # Cyrillic о
        (_disguised(PHONES, "0", "\u039f"), "phone"),  # Greek Ο
        (_disguised(PHONES, "1", "l"), "phone"),  # l for one
        (_disguised(PHONES, "1", "I"), "phone"),
        (_disguised(PHONES, "1", "\u0406"), "phone"),  # Cyrillic І
        (_disguised(PHONES, "1", "\u04cf"), "phone"),  # Cyrillic palochka
        (["536-9O-4399", "4O1-2O-3456", "61O-12-34O9", "3O1-O4-556O"] * 4, "ssn"),
        (["4O12 8888 8888 l88l", "5lO5 lO5l O5lO 5lOO"] * 4, "card_number"),
        (["192.168.O.1", "10.120.3O.40", "172.16.O.25"] * 4, "ip_address"),
        # S for five, B for eight, Z for two (+49 30 1234 S670: "+49 30 1234" is a number)
        (_disguised(PHONES[:3] + PHONES[4:], "5", "S"), "phone"),
        (_disguised(PHONES, "8", "B"), "phone"),
        (_disguised(PHONES, "2", "Z"), "phone"),
        (_disguised(PHONES[:3] + PHONES[4:], "5", "Ѕ"), "phone"),  # Cyrillic Ѕ
        (_disguised(PHONES, "8", "В"), "phone"),  # Cyrillic В
        (["4S32 O1S1 1Z83 O366", "4S2S BB1Z 34S6 7B9O", "S1Z3 4S67 B9O1 Z346",
          "4BZZ 3S1Z 34S6 7B94"] * 4, "card_number"),
        (["DE89 37O4 OO44 OS32 O13O OO", "GB82 WEST 1Z34 S69B 7654 3Z",
          "DE89 37O4 OO44 O5BZ O13O OO"] * 4, "iban"),
    ],
)
@pytest.mark.parametrize("in_text", [False, True])
def test_letters_drawn_like_digits_inside_numbers_hide_nothing(values, pii_type, in_text):
    """Each was PUBLIC: an O (Latin, Cyrillic, Greek) for 0 or an l/I for 1 inside the
    number kept every pattern from matching it."""
    if in_text:
        values = [f"call or write, ref: {v} today" for v in values]
    got = col(values)
    assert got.pii_type == pii_type, got.reasoning
    assert got.classification != ColumnKind.PUBLIC


# French IBANs whose account number holds a letter drawn like a digit: valid as written
FR_IBANS = ["FR87 3000 6000 0100 0123 4O56 795", "FR32 1009 6000 0100 0123 4B56 761",
            "FR37 3000 4000 0100 0123 S456 749", "FR62 3000 6000 0100 01Z3 4567 845",
            "FR42 2004 1000 0100 012B 4S67 811"]


@pytest.mark.parametrize("iban", FR_IBANS)
@pytest.mark.parametrize("in_text", [False, True])
def test_a_value_valid_as_written_keeps_its_letters(iban, in_text):
    """Letters among digits were read as digits even in a value valid as written: these
    IBANs then failed their check and the column was PUBLIC (with an O since letters drawn
    like digits were read, with S, B and Z too once they were)."""
    values = [iban] * 3
    if in_text:
        values = [f"pay to {v} by Friday" for v in values]
    got = col(values)
    assert (got.classification, got.pii_type) == (ColumnKind.FINANCIAL, "iban"), got.reasoning
    text = f"+44 2O 7946 O958 or {FR_IBANS[1]}"  # the phone is read, the IBAN kept
    start = text.index("FR")
    assert tokens.undisguised(text, [(start, len(text))]) == f"+44 20 7946 0958 or {FR_IBANS[1]}"


@pytest.mark.parametrize(
    "values",
    [
        ["C6H12O6", "H2O", "CO2", "C2H5OH", "Fe2O3", "SiO2 1000000"] * 4,
        ["ISO 9001:2015", "ISO 27001:2013", "IEC 61508-1:2010", "ISO/IEC 17025:2017"] * 4,
        ["SKU-1O0-2000", "AB-10O-99", "ITEM 100l 2000000", "X1O0", "PO-100234-O1"] * 4,
        ["Flight 1O1 departs at 10:OO from gate 12345", "Order 1O of 2O, ref 99887766",
         "Boeing 7O7 and Airbus 32O first flew in 1957 and 1987", "Windows 1O Pro build 19045",
         "Room lO1, floor 2, building 334455", "the lOl of 2024 and 2025"] * 4,
        ["v1.0.1", "1.O.2-rc1 build 123456", "2.l.O", "10.0.19045.1234", "3.11.O"] * 4,
        ["10:OO", "12:3O-14:OO", "O9:15 to 17:45 on 2024-01-02", "lOO ml", "Tank 100l"] * 4,
        # S, B, Z beginning or ending the code of a thing, in values of many digits
        ["Samsung Galaxy S23 Ultra 256GB 1234567", "BMW Z4 M40i 2023 123456",
         "Vitamin B12 1000mg 60 caps 123456", "B737-800 S/N 123456", "B2B 123456 789",
         "Block 12B, build 1234567", "S3 bucket 20240101", "SOS ref 1234567",
         "Birmingham B15 1AY 0123456", "5G 4G 3G 1800 2100"] * 4,
        ["978-3-16-148410-0", "0-306-40615-2", "ISBN 978-0-306-40615-7", "SKU-12S3",
         "AB-1234-XYZ", "SB-12-34", "Catch-22 9780684833392"] * 4,
    ],
)
def test_letters_beside_digits_in_public_values_stay_public(values):
    assert col(values).classification == ColumnKind.PUBLIC


def test_undisguised_reads_digits_only_inside_numbers():
    assert tokens.undisguised("+44 2O 7946 O958") == "+44 20 7946 0958"
    assert tokens.undisguised("ref 4O1-2O-3456") == "ref 401-20-3456"
    assert tokens.undisguised("192.168.O.1") == "192.168.0.1"
    for kept in ("ISO 9001, OX1 2JD, SO15 2JX", "Tank 100l", "lOl 2024", "Fe2O3 and 123456",
                 "I was 12345678", "4lll llll llll llll", "id_1O0 123456", "O-RING 12X3456",
                 "Galaxy S23 1234567", "Z4 2023 123456", "B12 1000mg 123456", "B2B 123456",
                 "Apt 12B, 1234567", "SOS 123456", "5555 SSSS SSSS 4444"):
        assert tokens.undisguised(kept) == kept
    assert tokens.undisguised("+44 20 7946 O9SB") == "+44 20 7946 0958"
    assert tokens.undisguised("+44 B0 7946 0958") == "+44 80 7946 0958"
    assert tokens.undisguised("4S2S BB1Z 34S6 7B9O") == "4525 8812 3456 7890"


@pytest.mark.parametrize(
    "values",
    [
        ["Москва", "Санкт-Петербург", "Новосибирск", "сор", "рос"] * 6,  # Russian places
        ["αβγ", "κιν", "Αθήνα", "ορος"] * 6,  # Greek words
        ["Βερολίνο", "Ρώμη", "Παρίσι"] * 10,
    ],
)
def test_cyrillic_and_greek_public_values_stay_public(values):
    assert col(values).classification == ColumnKind.PUBLIC


def test_russian_names_are_still_read_as_russian_names():
    values = ["Иванов Иван", "Петрова Анна", "Смирнов Сергей", "Кузнецова Ольга"] * 5
    assert col(values).pii_type == "name"
    assert tokens.unconfused("Иванов") == "Иванов"
    assert tokens.unconfused("\u0430na@ex\u0430mple.com") == "ana@example.com"


def test_text_in_cyrillic_or_greek_is_not_read_as_latin():
    """Only a look-alike touching a Latin letter, a digit or '@' marks a value for folding: a
    Russian sentence keeps its words (a preposition "с" is not the Latin "c")."""
    got = col(["Встреча с клиентом в офисе.", "Заказ оформлен."] * 10)
    assert got.classification == ColumnKind.PUBLIC
    from lacuna.classify.scan import column_sample

    sample = column_sample("c1", pd.Series(["Встреча с клиентом.", "D\u041589 0000"]))
    assert sample.values.to_pylist() == ["Встреча с клиентом.", "DE89 0000"]


# --- numbers split by other separators than a space or a dash ------------------------------

CARDS = ["4111111111111111", "5500005555555559", "4012888888881881", "6011111111111117",
         "5105105105105100", "4242424242424242"]
SSNS = ["536904399", "219099999", "457555462", "401203456", "078151120", "212674321"]
IBANS = ["DE89370400440532013000", "GB82WEST12345698765432", "NL91ABNA0417164300",
         "ES9121000418450200051332", "IT60X0542811101000000123456"]
INTL_PHONES = ["+44 20 7946 0958", "+1 415 555 0100", "+49 30 1234 5670", "+33 1 42 68 53 00",
               "+61 2 9374 4000", "+1 212 555 0199"]


def _split(number, sep, sizes=(4,) * 8):
    groups, at = [], 0
    for size in sizes:
        groups.append(number[at:at + size])
        at += size
    return sep.join(g for g in groups if g)


def _separated(pii_type, sep):
    if pii_type == "card_number":
        return [_split(c, sep) for c in CARDS]
    if pii_type == "ssn":
        return [_split(s, sep, (3, 2, 4)) for s in SSNS]
    if pii_type == "iban":
        return [_split(i, sep) for i in IBANS]
    return [p.replace(" ", sep) for p in INTL_PHONES]


SEPARATED = [
    *((t, s) for t in ("card_number", "ssn", "phone")
      for s in (".", "/", "_", " - ", " . ", "\t", "\u2013", "\u2011", "\u2212")),
    ("card_number", "*"), ("card_number", "|"), ("card_number", "~"), ("phone", "*"),
    *(("iban", s) for s in (".", "-", " - ", " . ", "\u2013", "\u2212")),
]
SEPARATED_IN_TEXT = [
    *((t, s) for t in ("card_number", "ssn", "phone", "iban") for s in (".", "\u2013")),
    ("card_number", "/"), ("card_number", "_"), ("card_number", " - "), ("card_number", "|"),
    ("ssn", "/"), ("ssn", "_"), ("ssn", " - "), ("phone", "/"), ("phone", " - "), ("iban", "-"),
]


@pytest.mark.parametrize(("pii_type", "sep"), SEPARATED)
def test_numbers_split_by_other_separators_hide_nothing(pii_type, sep):
    """Each was PUBLIC: 4111.1111.1111.1111, 536.90.4399, 536 90 4399, +44/20/7946/0958,
    DE89-3704-..., groups split by underscores, spaced dashes, tabs, en dashes, non-breaking
    hyphens or minus signs (a word processor's) matched no pattern."""
    got = col(_separated(pii_type, sep))
    assert got.pii_type == pii_type, got.reasoning
    assert got.classification != ColumnKind.PUBLIC


@pytest.mark.parametrize(("pii_type", "sep"), SEPARATED_IN_TEXT)
def test_numbers_split_by_other_separators_in_text_hide_nothing(pii_type, sep):
    got = col([f"pay with {v}. thanks" for v in _separated(pii_type, sep)])
    assert got.pii_type == pii_type, got.reasoning
    assert got.classification != ColumnKind.PUBLIC


def test_lower_case_ibans_in_text_are_found():
    got = col([f"pay to {_split(i.lower(), ' ')} now" for i in IBANS])
    assert (got.classification, got.pii_type) == (ColumnKind.FINANCIAL, "iban"), got.reasoning


@pytest.mark.parametrize(
    "values",
    [
        # stamps, paths, fractions and ids split as numbers are: no phone without + or 0
        ["20210419_012738", "20230101_235959", "2019_05_27_1450", "2197_6233_88",
         "844/85/2319", "2004/9313/7910/6617", "/data/2013/06/10/97944.csv", "1700_000_123"] * 4,
        ["08.10.2017", "2024/03/14", "12/05/2024", "136.78.11.43", "10.0.0.1", "1.2.3",
         "v10.15.7", "978-3-16-148410-0", "SKU_3310_3583_8924"] * 4,
        # decimals in a list, hex ids and lower-case words before digits in text
        ["36.8 38.4 39.1 39.7 37.6 39.2 39.6 38.9", "37.1 36.9 38.0 38.2 36.6 37.7 39.0 38.8",
         "d5e38fc092bd06e4 48945da57506d5bd 09f8e35e6494d45b", "ab31 984c 7ee9 ead4 ea4c",
         "de12 3456 7890 1234 5678 90 is not an iban"] * 4,
    ],
)
def test_numbers_split_by_separators_in_public_values_stay_public(values):
    assert col(values).classification == ColumnKind.PUBLIC, col(values).reasoning
