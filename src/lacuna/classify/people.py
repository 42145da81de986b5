"""Validators for values about people: names, street addresses, postal codes, gender.

There is no checksum for a name or an address, so these are heuristics over one value:

- **Person name**: one to five words, each capitalized (or a particle such as ``van``, ``de``;
  or in a script without case: Han, Hangul, kana, Arabic, Hebrew, Devanagari; or, lower case, a
  known name that is not a thing word), letters, hyphens and apostrophes only, after dropping
  titles (``Dr.``, ``Frau``, ``drg.``, ``السيد``) and suffixes (``Jr.``, ``MD``, ``S.Sos``); at
  least one word is a known given or family name (:mod:`lacuna.classify.namelists`: the shipped
  lists and the installed Faker's lists of every locale). Beyond the shipped lists, every word
  must be a known name that is not a thing word (``Cotton Chair`` is no person). A single word
  is a *strong* name only as a given name of the shipped list; any other known single word
  (``Schmidt``, ``Yılmaz``, ``Иванов``) is a *weak* one, and a thing word (``Brown``) none.
  Han and Hangul names come unspaced (``王秀英``, ``김민준``): a known family name of one or two
  characters, then one to three characters, strong when these are a known given name. Values
  with a company marker (``Inc``, ``GmbH``, ``and``) or a place prefix (``North``, ``Lake``,
  ``San``) are not names.
- **Street address**: a house number followed by two capitalized words or a street word
  (``123 Main Street``, ``4759 William Haven``), or street words then a house number
  (``Ullmannweg 9``, ``Calle Mayor 5``, ``rue de la Paix 12``), in a dozen languages.
- **Postal code**: formats that carry letters or a separator (UK, Canada, Netherlands, ZIP+4,
  Poland, Portugal, Brazil, Japan) are strong; bare 4-5 digit codes are weak.
- **Gender**: a value from a closed vocabulary in several languages.
"""

from __future__ import annotations

import re
import unicodedata

from lacuna.classify.base import validator
from lacuna.classify.namelists import Lexicon, lexicon, shipped
from lacuna.classify.namelists import fold as _fold


def _w(text: str) -> frozenset[str]:
    return frozenset(text.split())


TITLES = _w("""
mr mrs ms miss mx dr prof sir dame lady lord herr frau fr hr m mme mlle monsieur madame sr
sra srta don dona dott dottssa ing dipl univ rev hon
""")
SUFFIXES = _w("""
jr sr ii iii iv md phd dds dvm mba bsc msc esq rn cpa b eng sc a ma ba
""")
PARTICLES = _w("""
van von de der den da di del della la le du dos das ten ter y e zu bin al el st mc mac
""")
COMPANY = _w("""
inc llc ltd plc gmbh ag kg sa srl spa sas sarl bv nv co corp company group and und et y e &
holdings partners ohg kgaa ug mbh sl slu
""")
PLACE_PREFIX = _w("""
north south east west new lake port fort saint sainte sankt san santa santo sao mount los las el
bad
""")
STREET_WORDS = _w("""
street st road rd avenue ave lane ln drive dr court ct boulevard blvd way place pl square sq
terrace close crescent parkway highway hwy circle trail alley bridge brook bypass camp
canyon cape causeway center circle cliff club common corner course cove creek crest crossing
curve dale dam divide estate expressway extension falls ferry field flat ford forest forge
fork freeway garden gateway glen green grove harbor harbour haven heights hill hollow inlet
island junction key knoll landing light lock lodge loop mall manor meadow meadows mews mill
mission motorway mountain neck orchard oval overpass park pass path pike pine plain plaza
point prairie ramp ranch rapid ridge river route row run shoal shore skyway spring spur
station stravenue stream summit throughway trace track trafficway tunnel turnpike underpass
union valley via viaduct view village ville vista walk wall well wells apt suite unit
strasse straße str weg gasse platz allee ring damm ufer chaussee pfad steig straat steeg
laan gracht plein singel kade dijk hof rue avenue chemin allee allée impasse place quai
route cours passage square sentier calle avenida plaza paseo camino carretera ronda vía
cañada canada pasaje glorieta travesía travesia urbanización urbanizacion acceso callejón
callejon alameda rambla vial viale piazza corso vicolo largo strada contrada borgo stretto
piazzale rotonda via rua travessa praça praca estrada dreef baan cuesta pasadizo c canale
incrocio contrada appartamento piso piano studio flat
""")
STREET_FIRST = _w("""
rue boulevard chemin avenue allée allee impasse place quai route cours calle avenida plaza
paseo camino carretera ronda cuesta pasadizo c via viale piazza corso vicolo largo strada
canale incrocio rua travessa praça estrada
""")
UNIT_WORDS = frozenset(["studio", "flat", "apartment", "apt", "suite", "unit"])
GENDERS = _w("""
m f male female man woman men women w d x u nb non-binary nonbinary other unknown diverse
divers männlich maennlich weiblich masculino femenino masculin féminin feminin homme femme
maschio femmina h hombre mujer mannlich
""")
_MALE = _w("""
m male man men masculino masculin maschio h hombre männlich mannlich
""")
_FEMALE = _w("""
f female woman women w femenino féminin feminin femme femmina mujer weiblich
""")

_WORD = re.compile(r"^[^\W\d_][^\W\d_'’.-]*(?:['’-][^\W\d_]+)*\.?$")
_HOUSE_FIRST = re.compile(r"^\d{1,6}[A-Za-z]?(?:[-/]\d{1,4})?,?\s+(?P<rest>\S.*)$")
_HOUSE_LAST = re.compile(r"^(?P<rest>[^\d,]{3,60}?)[,\s]+\d{1,5}[A-Za-z]?(?:\s?[-/]\s?\d{1,4})?"
                         r"(?:[,\s].*)?$")
_CITY_LINE = re.compile(r"^[^\W\d_][\w .'-]+, [A-Z]{2} \d{5}(?:-\d{4})?$")
_POSTAL_STRONG = re.compile(
    r"^(?:[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}"  # UK
    r"|[A-Z]\d[A-Z] ?\d[A-Z]\d"  # Canada
    r"|[1-9]\d{3} ?[A-Z]{2}"  # Netherlands
    r"|\d{5}-\d{4}"  # US ZIP+4
    r"|\d{2}-\d{3}|\d{4}-\d{3}|\d{5}-\d{3}|\d{3}-\d{4})$"  # PL, PT, BR, JP
)
_POSTAL_BARE = re.compile(r"^\d{4,5}$")


def given_names() -> frozenset[str]:
    """The shipped given names, lower case without accents."""
    return shipped().given


def surnames() -> frozenset[str]:
    """The shipped family names, lower case without accents."""
    return shipped().family


def name_words(text: str) -> list[str] | None:
    """The words of a value shaped like a person's name (titles dropped), or ``None``."""
    text = text.replace(",", " ").strip()
    words = [w for w in text.split() if w]
    lex = lexicon()
    while words and _affix(words[0], TITLES, lex.known.titles):
        words = words[1:]
    while words and _affix(words[-1], SUFFIXES, lex.known.suffixes):
        words = words[:-1]
    if not 1 <= len(words) <= 5:
        return None
    for w in words:
        low = _fold(w)
        if low in COMPANY or not (_WORD.match(w) or _WORD.match(_unmarked(w))):
            return None
        if not (w[0].isupper() or low in PARTICLES or _caseless(w)
                or (w.islower() and (low in lex.shipped or low in lex.listed))):
            return None
    if len(words) > 1 and (_fold(words[0]) in PLACE_PREFIX or _street(words, lex)):
        return None
    return words


def _street(words: list[str], lex: Lexicon) -> bool:
    """A street name without a number (``Via Greco``, ``Calle Mayor``, ``Gold Stravenue``): a
    street word first (not a shipped name), or last (not a name of any list: ``Kim Park``)."""
    first, last = _fold(words[0]), _fold(words[-1])
    return ((first in STREET_FIRST and first not in lex.shipped)
            or (last in STREET_WORDS and last not in lex.known.family
                and last not in lex.known.given))


def _affix(word: str, builtin: frozenset[str], listed: frozenset[str]) -> bool:
    """Whether a word is a title (or suffix): every dotted part built in, or listed whole."""
    low = _fold(word)
    return all(p in builtin for p in low.split(".") if p) or low in listed


def _unmarked(word: str) -> str:
    """The word without combining marks (Devanagari vowel signs, Arabic vowels), for ``_WORD``."""
    return "".join(c for c in word if not unicodedata.category(c).startswith("M"))


def _caseless(word: str) -> bool:
    """A word in a script without letter case (Han, Hangul, kana, Arabic, Hebrew, Devanagari)."""
    return word[:1].isalpha() and not any(c.isupper() or c.islower() for c in word)


NOT_A_NAME, UNKNOWN, WEAK, STRONG = 0, 1, 2, 3  # name_strength levels
_HAN_HANGUL = re.compile(r"^[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]+$")


def name_strength(text: str) -> int:
    """How much one value says it is a person's name (see the module docstring).

    ``NOT_A_NAME`` (not name-shaped), ``UNKNOWN`` (shaped, no known name), ``WEAK`` (one word,
    a known name but not a shipped given name; an unspaced Han/Hangul value starting with a
    family name; several words, half of them known), ``STRONG`` (a person's name, what
    :func:`is_person_name` accepts).

    Example:
        >>> name_strength("Maria Garcia"), name_strength("Yılmaz"), name_strength("Brown")
        (3, 2, 1)
        >>> name_strength("王秀英"), name_strength("Garcia Holdings Inc")
        (3, 0)
    """
    words = name_words(text)
    if words is None:
        return NOT_A_NAME
    lex = lexicon()
    parts = [_fold(p) for w in words for p in re.split(r"[-'’]", w) if p]
    if len(words) == 1:
        if all(p in lex.shipped_given for p in parts):
            return STRONG
        unspaced = _unspaced(parts[0]) if len(parts) == 1 and _caseless(words[0]) else None
        if unspaced is not None:
            return unspaced
        return WEAK if all(p in lex.listed for p in parts) else UNKNOWN
    if any(p in lex.shipped for p in parts):
        return STRONG
    # Only the big lists: every word (initials and particles aside) must hold a known name that
    # is not also a thing word, or "Cotton Chair" and "Rustic Steel Lamp" would be people.
    words = [w for w in words if not _initial(w) and _fold(w) not in PARTICLES]
    hits = sum(1 for w in words if any(p in lex.listed for p in re.split(r"[-'’]", _fold(w))))
    if words and hits == len(words):
        return STRONG
    return WEAK if 2 * hits >= len(words) > 0 else UNKNOWN


def _initial(word: str) -> bool:
    """``J.``, ``J``, ``А.``: one letter (a Han or Hangul character alone is a name, not this)."""
    low = _fold(word)
    return len(low) == 1 and (word.endswith(".") or low.isascii())


def _unspaced(word: str) -> int | None:
    """A Han or Hangul name written without a space: family name, then the given name."""
    if not 2 <= len(word) <= 4 or not _HAN_HANGUL.match(word):
        return None
    known = lexicon().known
    for cut in (1, 2):
        family, rest = word[:cut], word[cut:]
        if family in known.family and 1 <= len(rest) <= 3:
            return STRONG if rest in known.given else WEAK
    return None


@validator("person_name")
def is_person_name(text: str) -> bool:
    """A name-shaped value with a known given name or family name in it.

    Example:
        >>> is_person_name("Dr. Maria Garcia"), is_person_name("Garcia Holdings Inc")
        (True, False)
        >>> is_person_name("North Kevin"), is_person_name("Maria"), is_person_name("Garcia")
        (False, True, False)
    """
    return name_strength(text) == STRONG


@validator("street_address")
def is_street_address(text: str) -> bool:
    """A street address line, house number first or last (see the module docstring).

    Example:
        >>> is_street_address("4759 William Haven Apt. 194"), is_street_address("Ullmannweg 9-4")
        (True, True)
        >>> is_street_address("12 items"), is_street_address("Room 101")
        (False, False)
    """
    return any(_address_line(line.strip()) for line in text.split("\n")[:3] if line.strip())


def _address_line(line: str) -> bool:
    if _CITY_LINE.match(line):
        return True
    words = line.replace(",", " ").split()
    if len(words) >= 2 and words[0].lower().strip(".") in UNIT_WORDS and words[1][:1].isdigit():
        return True
    if len(words) >= 2 and words[0].lower() in STREET_FIRST and words[-1][:1].isupper():
        return True  # rue Marc Leblanc: French and Spanish streets may come without a number
    m = _HOUSE_FIRST.match(line)
    if m:
        words = m["rest"].replace(",", " ").split()
        if any(_street_word(w) for w in words):
            return True
        caps = [w for w in words if w[:1].isupper() and w.isalpha()]
        return len(caps) >= 2
    last = _HOUSE_LAST.match(line)
    return last is not None and any(_street_word(w)
                                    for w in last["rest"].replace(",", " ").split())


def _street_word(word: str) -> bool:
    low = word.lower().strip(".,")
    if low in STREET_WORDS:
        return True
    # German and Dutch write the street word as a suffix: Ullmannweg, Lisesteeg, Hauptstraße.
    return len(low) > 5 and low.endswith(STREET_SUFFIXES)


STREET_SUFFIXES = ("straße", "str", "dreef", "hof", "baan", "boulevard", "pad", "strasse", "weg",
                   "gasse", "platz", "allee", "straat", "steeg", "laan", "gracht", "plein", "ring",
                   "damm", "dijk", "kade", "singel")


@validator("postal_code")
def is_postal_code(text: str) -> bool:
    """A postal code in a format that carries letters or a separator (strong evidence)."""
    return bool(_POSTAL_STRONG.match(text.upper()))


@validator("postal_code_bare")
def is_bare_postal_code(text: str) -> bool:
    """Four or five bare digits: maybe a postal code (weak evidence only)."""
    return bool(_POSTAL_BARE.match(text))


def gender_values(values: list[str]) -> tuple[int, bool]:
    """How many values are gender words, and whether both a male and a female form occur."""
    folded = [v.strip().lower() for v in values]
    hits = [v for v in folded if v in GENDERS]
    both = any(v in _MALE for v in hits) and any(v in _FEMALE for v in hits)
    return len(hits), both


@validator("postal_code_any")
def is_any_postal_code(text: str) -> bool:
    """A postal code, strong format or bare digits (the recognizer marks bare ones weak)."""
    return is_postal_code(text) or is_bare_postal_code(text)
