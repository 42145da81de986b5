"""Name recognizers for vehicles, organisations and the many plainly non-sensitive columns.

A confident *public* answer matters as much as a sensitive one: without it every ``status`` or
``created_at`` column would look unknown and go on to the slower layers. Public names still
lose to sensitive value evidence (a ``notes`` column full of e-mail addresses is PII).
"""

from __future__ import annotations

from lacuna.classify.base import PhraseRecognizer, name_recognizer
from lacuna.model import ColumnKind, Sensitivity

PII, PUBLIC = ColumnKind.PII, ColumnKind.PUBLIC


@name_recognizer
class Vehicle(PhraseRecognizer):
    """Vehicle identification numbers: tied to the vehicle's registered keeper."""

    name, kind, pii_type, sensitivity = "vin", PII, "vin", Sensitivity.MEDIUM
    label = "a vehicle identification number"
    phrases = ("vin", "vin number", "vin no", "vehicle identification number", "chassis number",
               "vehicle id number", "fahrgestellnummer", "numero de bastidor", "bastidor",
               "numero de chassis", "telaio", "veh vin", "car vin")


@name_recognizer
class Organization(PhraseRecognizer):
    """Companies and organisational units: about businesses, not people."""

    name, kind, score = "organization", PUBLIC, 0.8
    label = "an organisation"
    phrases = ("company", "company name", "organization", "organisation", "org name",
               "employer", "vendor", "vendor name", "supplier", "supplier name", "department",
               "dept", "team", "division", "business unit", "job title", "occupation", "position",
               "industry", "sector", "store name", "branch", "warehouse", "empresa", "firma",
               "unternehmen", "entreprise", "societe", "société", "azienda", "bedrijf",
               "abteilung", "departamento", "bank name", "merchant", "merchant name", "carrier",
               "manufacturer", "publisher", "school", "university")


@name_recognizer
class EventTime(PhraseRecognizer):
    """When something happened to a record: not a date about a person."""

    name, kind, score, generic = "event_time", PUBLIC, 0.8, True
    label = "a record timestamp"
    phrases = ("created at", "updated at", "modified at", "deleted at", "created", "updated",
               "modified", "timestamp", "ts", "created on", "updated on", "order date",
               "ship date", "shipped at", "delivery date", "due date", "event time",
               "event date", "transaction date", "txn date", "invoice date", "start date",
               "end date", "start time", "end time", "last login", "load date", "etl ts",
               "fecha", "datum", "date", "fecha alta", "fecha pedido", "bestelldatum",
               "date commande", "data ordine", "year", "month", "quarter", "week", "day",
               "fiscal year", "period", "hour", "duration")


@name_recognizer
class Descriptive(PhraseRecognizer):
    """Attributes of records and things: statuses, counts, measures, free descriptions."""

    name, kind, score, generic = "descriptive", PUBLIC, 0.8, True
    label = "a descriptive attribute"
    phrases = ("status", "state code desc", "type", "kind", "flag", "is active", "active",
               "enabled", "deleted", "archived", "quantity", "qty", "count", "total count",
               "num items", "units", "score", "rating", "rank", "priority", "weight", "length",
               "width", "depth", "volume", "percentage", "pct", "ratio", "rate", "version",
               "description", "desc", "title", "subject", "summary", "comment", "comments",
               "notes", "note", "remarks", "url", "website", "link", "image url", "file name",
               "filename", "path", "tag", "tags", "label", "channel", "campaign", "utm source",
               "source", "medium", "referrer", "sku", "barcode", "ean", "upc", "color", "colour",
               "material", "inventory", "stock", "stock level", "temperature", "humidity",
               "speed", "distance", "lat", "lng", "latitude", "longitude", "sequence", "seq",
               "position index", "sort order", "estado pedido", "cantidad", "anzahl", "menge",
               "quantité", "quantita", "beschreibung", "descripcion", "descripción",
               "commentaire", "kommentar", "bemerkung", "notas", "estado", "statut", "stato",
               "language code", "page views", "clicks", "impressions", "sessions", "visits")
