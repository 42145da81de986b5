"""Value recognizers for GDPR's special categories (Art. 9) and health conditions, by value.

A column named ``c7`` or ``attr`` holding ``Catholic``, ``Muslim``, ``Jewish`` is a religion
column whatever its name says. Each category has a bounded vocabulary of whole values (census
and survey answers, party and union names, common conditions), matched case-insensitively
against the *whole* value, never inside text: a comment mentioning "catholic" once is not a
religion. A column is of a category when, over its sampled values:

* at least ``MIN_SHARE`` of the values that are not placeholders (``none``, ``n/a``,
  ``prefer not to say``: :data:`PLACEHOLDERS`) are words of its vocabulary, at least
  ``MIN_HITS`` values (a column of free text is mostly other values); an answer with a
  qualifier (``Christian (Catholic)``, ``White/Hispanic``) counts by any of its parts;
* at least two distinct words of it occur, one of them unambiguous: ``White``/``Black`` alone
  are chess pieces or colours, ``Green``/``Labour``/``Independent`` ordinary words,
  ``Cancer`` a star sign, ``Stroke`` a swimming term, ``Christian`` a given name.
"""

from __future__ import annotations

import re
from typing import ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lacuna.classify.base import ValueMatch, ValueRecognizer, value_recognizer
from lacuna.classify.namelists import PLACEHOLDERS as _MISSING
from lacuna.classify.scan import ColumnSample
from lacuna.model import ColumnKind, Sensitivity

MIN_SHARE = 0.6  # of the values that are not placeholders
MIN_HITS = 3
TOP = 32  # the commonest distinct values looked at
MAX_CHARS = 48  # a longer value is text, not an answer from a list
PLACEHOLDERS = frozenset(
    {
        *_MISSING,
        "none",
        "no",
        "n/a",
        "na",
        "nan",
        "null",
        "-",
        "--",
        "?",
        "other",
        "others",
        "not stated",
        "not known",
        "not disclosed",
        "not specified",
        "prefer not to say",
        "prefer not to answer",
        "declined",
        "declined to state",
        "refused",
        "unanswered",
        "blank",
        "missing",
        "keine angabe",
        "sonstige",
        "autre",
        "otro",
        "otra",
        "altro",
        "ninguno",
        "ninguna",
        "aucune",
        "aucun",
        "nessuna",
    }
)
_SPACES = re.compile(r"[\s_]+")
# An answer with its qualifier ("Christian (Catholic)", "White/Hispanic", "Muslim - Sunni"):
# the whole answer or any of its parts
_PARTS = re.compile(r"[()/]| - ")


def _parts(word: str) -> tuple[str, ...]:
    """The parts of a qualified answer; none for a plain one."""
    if not _PARTS.search(word):
        return ()
    return tuple(p.strip() for p in _PARTS.split(word) if p.strip())


def _words(text: str) -> frozenset[str]:
    return frozenset(w.strip() for w in text.split(";") if w.strip())


class _VocabularyRecognizer(ValueRecognizer):
    """A special category recognized from a closed vocabulary of whole values."""

    kind: ClassVar[ColumnKind] = ColumnKind.PII
    sensitivity: ClassVar[Sensitivity] = Sensitivity.HIGH
    words: ClassVar[frozenset[str]]  # unambiguous answers
    ambiguous: ClassVar[frozenset[str]] = frozenset()  # count only beside an unambiguous one
    strength: ClassVar[float] = 0.9  # whole answers from a list: above a name-shape match

    def scan(self, sample: ColumnSample) -> ValueMatch | None:
        n = len(sample)
        if n < MIN_HITS or sample.from_integers or sample.lengths[0] > MAX_CHARS:
            return None
        answers, m = _answers(sample)
        hits = sure = blank = 0
        seen = 0
        for word, (count, parts) in answers.items():
            if word in self.words or (parts and not self.words.isdisjoint(parts)):
                hits, sure, seen = hits + count, sure + count, seen + 1
            elif word in self.ambiguous or (parts and not self.ambiguous.isdisjoint(parts)):
                hits, seen = hits + count, seen + 1
            elif word in PLACEHOLDERS:
                blank += count
        if not sure or seen < 2 or hits < MIN_HITS:
            return None
        share = hits / max(m - blank, 1)
        if share < MIN_SHARE:
            return None
        score = self.strength * (0.6 + 0.4 * share)
        return ValueMatch(self, "column", hits / m, n, m, round(score, 4))


_Answers = dict[str, tuple[int, tuple[str, ...]]]  # answer: (how often, its parts)
_LAST: list[tuple[ColumnSample, _Answers, int]] = []


def _answers(sample: ColumnSample) -> tuple[_Answers, int]:
    """How often each of the ``TOP`` commonest sampled values occurs, lower-cased with its
    spaces collapsed, and how many values there are: counted over every sampled value (an
    evenly spaced subset of a periodic column sees one answer only), once per sample for every
    category (the recognizers run one after another on a sample). The rarer values count as
    no answer: a column whose commonest values are not mostly a vocabulary's is not of it."""
    if _LAST and _LAST[0][0] is sample:
        return _LAST[0][1], _LAST[0][2]
    counted = pc.value_counts(sample.values)
    counts = counted.field("counts").to_numpy()
    top = np.argsort(-counts, kind="stable")[:TOP]
    if counts[top].sum() < MIN_SHARE * len(sample):  # too spread out to be answers from a list
        _LAST[:] = [(sample, {}, len(sample))]
        return _LAST[0][1], len(sample)
    values = counted.field("values").take(pa.array(top)).to_pylist()
    answers: _Answers = {}
    for value, count in zip(values, counts[top].tolist(), strict=True):
        if len(value) <= MAX_CHARS:
            word = _SPACES.sub(" ", value.lower())
            before = answers.get(word)
            answers[word] = (count + (before[0] if before else 0), _parts(word))
    _LAST[:] = [(sample, answers, len(sample))]
    return answers, len(sample)


@value_recognizer
class ReligionValues(_VocabularyRecognizer):
    """Religions and beliefs as a survey records them."""

    name = "religion_values"
    pii_type = "religion"
    label = "religions (Catholic, Muslim, Jewish, ...)"
    words = _words(
        "catholic; roman catholic; protestant; muslim; islam; islamic; jewish; judaism; jew;"
        "hindu; hinduism; buddhist; buddhism; sikh; sikhism; atheist; atheism; agnostic;"
        "anglican; church of england; church of scotland; lutheran; methodist; baptist;"
        "presbyterian; pentecostal; evangelical; mormon; latter-day saints; lds;"
        "jehovah's witness; jehovahs witness; greek orthodox; russian orthodox;"
        "eastern orthodox; orthodox christian; shinto; taoist; taoism; jain; jainism; bahai;"
        "baha'i; zoroastrian; sunni; shia; shiite; no religion; non-religious; irreligious;"
        "christian - catholic; christian - protestant; katholisch; römisch-katholisch;"
        "evangelisch; muslimisch; jüdisch; konfessionslos; catholique; protestant;"
        "musulman; musulmane; juif; juive; católico; católica; catolico; catolica;"
        "musulmán; musulmana; judío; judía; ateo; atea; cattolico; musulmano; ebreo; ateo;"
        "katholiek; protestants; moslim; joods"
    )
    ambiguous = _words("christian; orthodox; pagan; spiritual; humanist; secular; unitarian")


@value_recognizer
class EthnicityValues(_VocabularyRecognizer):
    """Racial or ethnic origin as a census or HR form records it."""

    name = "ethnicity_values"
    pii_type = "ethnicity"
    label = "ethnic origins (Hispanic or Latino, Black British, ...)"
    words = _words(
        "caucasian; hispanic; latino; latina; latinx; hispanic or latino;"
        "not hispanic or latino; non-hispanic; non hispanic; hispanic/latino;"
        "african american; black or african american; black/african american;"
        "american indian or alaska native; american indian; alaska native;"
        "native hawaiian or other pacific islander; native hawaiian; pacific islander;"
        "two or more races; multiracial; mixed race; biracial; white british; white irish;"
        "white - british; white - irish; white other; other white; black british;"
        "black african; black caribbean; black - african; black - caribbean; asian british;"
        "asian - indian; asian - pakistani; asian - bangladeshi; asian - chinese;"
        "british asian; mixed white and black caribbean; mixed white and asian;"
        "mixed white and black african; gypsy or irish traveller; irish traveller;"
        "aboriginal; torres strait islander; aboriginal and torres strait islander; maori;"
        "first nations; inuit; métis; metis; roma; romani; afro-caribbean; white hispanic;"
        "non-hispanic white; non-hispanic black; white non-hispanic; black non-hispanic;"
        "middle eastern or north african; mena; east asian; south asian; southeast asian"
    )
    ambiguous = _words(
        "white; black; asian; mixed; chinese; indian; pakistani; bangladeshi; arab; arabic;"
        "african; caribbean; european; irish; middle eastern; native american"
    )


@value_recognizer
class PoliticalOpinionValues(_VocabularyRecognizer):
    """Parties and political leanings."""

    name = "political_values"
    pii_type = "political_opinion"
    label = "political parties or leanings (Democrat, Republican, ...)"
    words = _words(
        "democrat; democrats; democratic party; republican; republicans; republican party;"
        "libertarian; libertarian party; green party; labour party; conservative party;"
        "liberal democrat; liberal democrats; lib dem; lib dems; scottish national party;"
        "snp; plaid cymru; ukip; reform uk; sinn féin; sinn fein; dup;"
        "cdu; csu; cdu/csu; spd; fdp; afd; die linke; bündnis 90/die grünen; die grünen;"
        "grüne; bsw; rassemblement national; les républicains; la france insoumise;"
        "parti socialiste; psoe; podemos; ciudadanos; partido popular; sumar;"
        "fratelli d'italia; partito democratico; movimento 5 stelle; forza italia; lega;"
        "tory; tories; very liberal; very conservative; somewhat liberal;"
        "somewhat conservative; far left; far right; centre-left; center-left;"
        "centre-right; center-right; strong democrat; strong republican;"
        "lean democrat; lean republican; independent (lean democrat);"
        "independent (lean republican)"
    )
    ambiguous = _words(
        "independent; green; greens; labour; labor; conservative; liberal; moderate;"
        "progressive; socialist; communist; left; right; centre; center; centrist; reform;"
        "renaissance; vox"
    )


@value_recognizer
class TradeUnionValues(_VocabularyRecognizer):
    """Trade unions by name."""

    name = "trade_union_values"
    pii_type = "trade_union"
    label = "trade unions (Unison, Teamsters, IG Metall, ...)"
    words = _words(
        "unison; teamsters; afl-cio; seiu; afscme; uaw; united auto workers; usw;"
        "united steelworkers; ufcw; ibew; cwa; nea; aft; ver.di; verdi; ig metall; ig bce;"
        "gew; cfdt; cgt-fo; force ouvrière; ccoo; comisiones obreras; ugt; cgil; cisl; uil;"
        "fnv; cnv; rcn; royal college of nursing; nasuwt; neu; ucu; pcs; rmt; aslef; usdaw;"
        "bma; cwu; nurses union; teachers union; non-union; non union; not a union member;"
        "union member"
    )
    ambiguous = _words("unite; gmb; cgt; member; non-member; nonmember")


@value_recognizer
class SexualOrientationValues(_VocabularyRecognizer):
    """Sexual orientation as a survey records it."""

    name = "sexual_orientation_values"
    pii_type = "sexual_orientation"
    label = "sexual orientations (heterosexual, gay, bisexual, ...)"
    words = _words(
        "heterosexual; homosexual; lesbian; bisexual; pansexual; asexual; gay or lesbian;"
        "gay/lesbian; lesbian or gay; straight or heterosexual; straight/heterosexual;"
        "heterosexual or straight; heterosexual/straight; gay man; gay woman; queer;"
        "demisexual; heterosexuell; homosexuell; bisexuell; hétérosexuel; homosexuel;"
        "heterosexual/hetero; heterosexual (straight)"
    )
    ambiguous = _words("gay; straight; bi; hetero; questioning")


@value_recognizer
class HealthConditionValues(_VocabularyRecognizer):
    """Health conditions by name (health data, ``phi``)."""

    kind = ColumnKind.PHI
    name = "health_condition_values"
    pii_type = "diagnosis"
    label = "health conditions (diabetes, asthma, HIV, ...)"
    words = _words(
        "diabetes; type 1 diabetes; type 2 diabetes; diabetes mellitus; diabetic; asthma;"
        "hypertension; high blood pressure; hiv; hiv positive; hiv/aids; aids; epilepsy;"
        "copd; arthritis; rheumatoid arthritis; osteoarthritis; multiple sclerosis;"
        "parkinson's; parkinson's disease; parkinsons; alzheimer's; alzheimer's disease;"
        "alzheimers; dementia; schizophrenia; bipolar; bipolar disorder; major depression;"
        "major depressive disorder; generalized anxiety disorder; ptsd; adhd; autism;"
        "autism spectrum disorder; heart disease; coronary artery disease; heart failure;"
        "atrial fibrillation; chronic kidney disease; hepatitis; hepatitis b; hepatitis c;"
        "tuberculosis; breast cancer; lung cancer; prostate cancer; leukemia; leukaemia;"
        "lymphoma; melanoma; cystic fibrosis; sickle cell; sickle cell disease; hemophilia;"
        "celiac disease; coeliac disease; crohn's disease; ulcerative colitis; psoriasis;"
        "hypothyroidism; hyperthyroidism; anorexia; bulimia; eating disorder; ocd;"
        "obsessive-compulsive disorder; covid-19; long covid; chronic pain; fibromyalgia;"
        "migraine; glaucoma; cataract; hiv-positive; pregnant; pregnancy"
    )
    ambiguous = _words(
        "cancer; depression; anxiety; stroke; obesity; allergy; allergies; flu;influenza"
    )
