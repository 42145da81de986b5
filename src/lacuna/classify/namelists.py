"""The lists of given and family names that the person-name validator looks words up in.

Each *name list* is a registered loader returning a frozen :class:`NameList`; the validator
(:mod:`lacuna.classify.people`) looks words up in the union (:func:`known`), built once per
state of the registry. Words are folded: lower case, accents dropped (``Müller`` → ``muller``).

Built in:

- ``shipped``: ``data/given_names.txt`` and ``data/surnames.txt`` (~1,500 common names across
  a dozen traditions, written by hand).
- ``faker``: the person providers of the installed Faker (a runtime dependency, MIT licence),
  every locale: ~30,000 given names and ~33,000 family names in Latin, Cyrillic, Greek, Han,
  Hangul, kana, Arabic, Hebrew, Devanagari and other scripts, with each locale's titles and
  suffixes (``drg.``, ``S.Sos``, ``السيد``, ``श्री``). Read from the provider classes, nothing is
  downloaded; it costs ~0.4 s once per process, on the first person-name check.

*Thing words* are words that name things as often as people — colours (``Brown``, ``Rose``)
and Faker's lorem words — taken from Faker's colour and lorem providers. A value of one such
word is not taken for a family name (see ``people.is_person_name``).
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from lacuna._registry import Registry


@dataclass(frozen=True, slots=True)
class NameList:
    """Folded given names, family names, titles, suffixes and thing words from one source."""

    given: frozenset[str] = frozenset()
    family: frozenset[str] = frozenset()
    titles: frozenset[str] = frozenset()
    suffixes: frozenset[str] = frozenset()
    things: frozenset[str] = frozenset()

    def __or__(self, other: NameList) -> NameList:
        return NameList(self.given | other.given, self.family | other.family,
                        self.titles | other.titles, self.suffixes | other.suffixes,
                        self.things | other.things)


name_lists = Registry[Callable[[], NameList]](kind="name list")


def fold(word: str) -> str:
    """Lower case without accents or surrounding punctuation: ``Müller,`` → ``muller``."""
    low = word.lower().strip(".,'’")
    if low.isascii():
        return low
    plain = unicodedata.normalize("NFD", low)
    return unicodedata.normalize("NFC", "".join(
        c for c in plain if unicodedata.category(c) != "Mn"))


def _folded(words: Iterable[Any]) -> frozenset[str]:
    """``fold`` over many words at once: whole-string operations (word by word costs seconds)."""
    unique = set(" ".join(map(str, words)).replace(",", " ").lower().split())
    text = unicodedata.normalize("NFD", " ".join(unique))
    marks = "".join(c for c in set(text) if unicodedata.category(c) == "Mn")
    if marks:
        text = re.sub(f"[{re.escape(marks)}]", "", text)
    folded = {w.strip(".,'’") for w in unicodedata.normalize("NFC", text).split()}
    return frozenset(w for w in folded if len(w) >= 2 or (w and not w.isascii()))  # "J"; "李"


@name_lists.register("shipped")
@cache
def shipped() -> NameList:
    """The hand-written lists ``data/given_names.txt`` and ``data/surnames.txt``."""
    def read(kind: str) -> list[str]:
        text = (resources.files("lacuna.classify") / "data" / f"{kind}.txt").read_text("utf-8")
        return [line for line in text.splitlines() if not line.startswith("#")]

    return NameList(given=_folded(read("given_names")), family=_folded(read("surnames")))


# A person provider's word lists, by what its attribute is called: ``first_names``,
# ``first_names_female``, ``middle_names_male``, ``last_names``, ``unisex_last_names``,
# ``prefixes_female``, ``suffixes``, ... (locales name them differently).
_KINDS = (("first_name", "given"), ("first_romanized_name", "given"), ("middle_name", "given"),
          ("last_name", "family"), ("last_romanized_name", "family"), ("prefix", "titles"),
          ("suffix", "suffixes"))


# Words a form puts where a value is missing; Faker's en lists hold "Unknown" among given
# names (a column of "unknown" was pii/name)
PLACEHOLDERS = ("unknown", "anonymous", "nobody", "unbekannt", "inconnu", "desconocido",
                "sconosciuto", "onbekend", "desconhecido")


@name_lists.register("faker")
def _faker() -> NameList:
    return faker_names()


def faker_names(leave_out: frozenset[str] = frozenset()) -> NameList:
    """The name lists of the installed Faker's person providers.

    Args:
        leave_out: languages whose locales are skipped (``{"tr", "ru"}`` skips ``tr_TR``,
            ``ru_RU``): the benchmark measures names of a language missing from the lists.
    """
    try:
        import faker.providers.color as colors
        import faker.providers.lorem as lorem
        import faker.providers.person as person
    except ImportError:  # pragma: no cover - Faker is a dependency of lacuna
        return NameList()
    found: dict[str, list[Any]] = {"given": [], "family": [], "titles": [], "suffixes": []}
    for provider in _providers(person):
        if provider.__module__.rsplit(".", 1)[-1].split("_")[0] in leave_out:
            continue
        for attr in dir(provider):
            key = next((k for part, k in _KINDS if part in attr), None)
            if key is not None and not attr.startswith("_"):
                found[key].extend(_words(getattr(provider, attr, None)))
    things: list[Any] = []
    for provider in _providers(colors):
        things.extend(_words(getattr(provider, "all_colors", None)))
    for provider in _providers(lorem):
        things.extend(_words(getattr(provider, "word_list", None)))
    things.extend(PLACEHOLDERS)
    return NameList(given=_folded(found["given"]), family=_folded(found["family"]),
                    titles=_folded(found["titles"]), suffixes=_folded(found["suffixes"]),
                    things=_folded(things))


@cache
def _providers(package: Any) -> tuple[Any, ...]:
    """The ``Provider`` class of a Faker provider package and of each of its locales."""
    out = [package.Provider]
    for module in pkgutil.iter_modules(package.__path__):
        mod = importlib.import_module(f"{package.__name__}.{module.name}")
        if hasattr(mod, "Provider"):
            out.append(mod.Provider)
    return tuple(out)


def _words(value: Any) -> Iterable[Any]:
    """The words of a provider attribute: a tuple, a list, or a dict of word -> weight."""
    if isinstance(value, (tuple, list, dict)):
        return value
    return ()


@dataclass(frozen=True, slots=True)
class Lexicon:
    """The look-ups of the person-name validator, precomputed from the registered lists."""

    known: NameList  # the union of every registered list
    shipped_given: frozenset[str]  # a single word that is one of these is a strong name
    shipped: frozenset[str]  # shipped given and family names: any of them makes a strong name
    listed: frozenset[str]  # any known given or family name that is not a thing word


def lexicon() -> Lexicon:
    """The look-ups over all registered name lists (built once per state of the registry)."""
    return _lexicon(name_lists.names())


def known() -> NameList:
    """The union of all registered name lists."""
    return lexicon().known


@cache
def _lexicon(names: tuple[str, ...]) -> Lexicon:
    union = NameList()
    for name in names:
        union = union | name_lists.get(name)()
    own = shipped()
    return Lexicon(union, own.given, own.given | own.family,
                   (union.given | union.family) - union.things)
