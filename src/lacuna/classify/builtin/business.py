"""Name recognizers for health, financial, identifier and public columns.

Floe's reference table (ADR-0012) is the anchor: ``diagnosis``/``prescription`` are ``phi``;
``revenue``/``salary``/``account_number`` are ``financial``; ``customer_id``/``order_id`` are
``identifier``; ``product_name``/``category`` are ``public``. Coarse geography (city, region,
country) is ``public``: it identifies nobody on its own.
"""

from __future__ import annotations

from lacuna.classify.base import PhraseRecognizer, name_recognizer
from lacuna.model import ColumnKind, Sensitivity

PHI, FIN = ColumnKind.PHI, ColumnKind.FINANCIAL
ID, PUBLIC = ColumnKind.IDENTIFIER, ColumnKind.PUBLIC
LOW, MEDIUM = Sensitivity.LOW, Sensitivity.MEDIUM
HIGH, CRITICAL = Sensitivity.HIGH, Sensitivity.CRITICAL


@name_recognizer
class Diagnosis(PhraseRecognizer):
    """Diagnoses and diagnosis codes (ICD-9/10)."""

    name, kind, pii_type, sensitivity = "diagnosis", PHI, "diagnosis", HIGH
    label = "a diagnosis"
    translations = ("diagnostico", "diagnóstico", "diagnose", "diagnostic", "diagnosi",
                    "diagnosecode", "icd10 code", "icd cd", "dx cd", "diag code", "diag cd",
                    "krankheit", "enfermedad", "maladie", "condition code")
    phrases = ("diagnosis", "diagnoses", "diagnosis code", "dx code", "icd", "icd 10", "icd 9",
               "icd code", "icd 10 code", "medical condition", "primary diagnosis", "disease",
               "symptom", "symptoms")
    ambiguous = ("dx",)


@name_recognizer
class Prescription(PhraseRecognizer):
    """Prescriptions and medication."""

    name, kind, pii_type, sensitivity = "prescription", PHI, "prescription", HIGH
    label = "a prescription or medication"
    translations = ("medicamento", "medikament", "medicament", "médicament", "farmaco",
                    "receta", "rezept", "ordonnance", "ricetta", "med name", "meds")
    phrases = ("prescription", "medication", "medications", "drug name", "dosage", "ndc",
               "prescribed drug")
    ambiguous = ("rx", "drug", "dose")


@name_recognizer
class MedicalRecordNumber(PhraseRecognizer):
    """Medical record numbers and patient identifiers (HIPAA identifiers)."""

    name, kind, pii_type, sensitivity = "mrn", PHI, "medical_record_number", HIGH
    label = "a medical record number"
    translations = ("numero historia clinica", "historia clinica", "patientennummer",
                    "patienten id", "numero dossier medical", "dossier medical", "cartella clinica",
                    "med rec no", "med rec num", "mrn no", "mrn nbr", "pat id", "pt id",
                    "chart no", "chart number", "hospital number", "hosp no")
    phrases = ("mrn", "medical record number", "medical record no", "medical record",
               "patient id", "patient number", "health record", "health plan id",
               "insurance member id")


@name_recognizer
class HealthData(PhraseRecognizer):
    """Other clinical facts about a person."""

    name, kind, pii_type, sensitivity = "health", PHI, "health_data", HIGH
    whether_is_personal = True
    label = "health data"
    translations = ("blutgruppe", "grupo sanguineo", "groupe sanguin", "alergias", "allergien",
                    "tratamiento", "behandlung", "traitement", "lab value", "test result")
    phrases = ("treatment", "procedure code", "cpt code", "lab result", "allergy",
               "allergies", "blood type", "blood group", "vaccination", "hiv status",
               "disability", "pregnancy", "blood pressure", "clinical notes", "medical notes",
               "medical history")
    ambiguous = ("cpt", "bmi", "heart rate")


@name_recognizer
class BankAccount(PhraseRecognizer):
    """Bank account and routing numbers (Floe: ``account_number`` is financial)."""

    name, kind, pii_type, sensitivity, score = "bank_account", FIN, "bank_account", HIGH, 0.85
    label = "a bank account number"
    translations = ("kontonummer", "bankkonto", "numero de cuenta", "cuenta bancaria",
                    "numero de compte", "compte bancaire", "numero conto", "conto corrente",
                    "rekeningnummer", "bankrekening", "acct nbr", "bank acct no", "routing no",
                    "aba routing", "blz", "bankleitzahl")
    phrases = ("account number", "account no", "account num", "acct number", "acct num",
               "acct no", "bank account", "bank account number", "bank acct", "routing number",
               "sort code", "aba number")


@name_recognizer
class Iban(PhraseRecognizer):
    """International bank account numbers."""

    name, kind, pii_type, sensitivity, score = "iban", FIN, "iban", HIGH, 0.95
    label = "an IBAN"
    phrases = ("iban", "iban number", "iban code")


@name_recognizer
class SwiftBic(PhraseRecognizer):
    """SWIFT/BIC bank codes: they identify a bank, not a person."""

    name, kind, pii_type, sensitivity = "swift_bic", FIN, "swift_bic", LOW
    label = "a SWIFT/BIC code"
    translations = ("swift bic code", "bic swift", "swiftcode", "bic swift code")
    phrases = ("swift code", "bic", "bic code", "swift bic")
    ambiguous = ("swift",)


@name_recognizer
class Compensation(PhraseRecognizer):
    """What a person earns."""

    name, kind, sensitivity = "compensation", FIN, HIGH
    label = "compensation"
    translations = ("salario", "sueldo", "gehalt", "lohn", "jahresgehalt", "bruttogehalt",
                    "salaire", "remuneration", "rémunération", "stipendio", "retribuzione",
                    "salário", "salaris", "loon", "sal amt", "base pay", "annual pay",
                    "emp salary", "hourly wage")
    phrases = ("salary", "wage", "wages", "pay rate", "hourly rate", "compensation", "bonus",
               "income", "annual income", "commission", "payroll", "net pay", "gross pay",
               "credit score", "credit rating", "fico")


@name_recognizer
class Revenue(PhraseRecognizer):
    """Business results."""

    name, kind, sensitivity = "revenue", FIN, MEDIUM
    label = "revenue or profit"
    translations = ("ingresos", "facturacion", "umsatz", "erlös", "erloes", "gewinn",
                    "chiffre d affaires", "benefice", "fatturato", "ricavi", "utile", "omzet",
                    "winst", "net income", "gross revenue")
    phrases = ("revenue", "revenues", "sales amount", "turnover", "profit", "ebitda",
               "earnings", "gross margin")
    ambiguous = ("margin", "gmv", "arr", "mrr")


@name_recognizer
class Amount(PhraseRecognizer):
    """Monetary amounts: payments, balances, costs."""

    name, kind, sensitivity, score = "amount", FIN, MEDIUM, 0.8
    label = "a monetary amount"
    translations = ("importe", "monto", "cantidad pagada", "betrag", "summe", "montant",
                    "importo", "valor", "bedrag", "saldo", "solde", "pmt amt", "txn amt",
                    "trans amt", "paid amt", "tot amt", "amount usd", "amount eur", "total",
                    "freight", "shipping cost", "tax amount", "discount amount", "subtotal",
                    "order total", "line total", "deposit", "withdrawal", "premium")
    phrases = ("amount", "amt", "balance", "payment", "payment amount", "cost", "fee", "fees",
               "tax", "vat amount", "sales tax",
               "charge", "invoice amount", "total amount", "credit limit", "debt", "loan amount",
               "transaction amount", "spend", "refund")


@name_recognizer
class Price(PhraseRecognizer):
    """Prices: often published, so a weak signal of financial data."""

    name, kind, sensitivity, score = "price", FIN, LOW, 0.6
    label = "a price"
    translations = ("precio", "preis", "prix", "prezzo", "preco", "prijs", "unit cost")
    phrases = ("price", "unit price", "list price", "sale price", "msrp")


@name_recognizer
class Credential(PhraseRecognizer):
    """Secrets: passwords, keys, tokens. Critical: whoever holds one can act as its owner."""

    name, kind, pii_type, sensitivity = "credential", ID, "credential", CRITICAL
    label = "a credential"
    translations = ("contraseña", "contrasena", "passwort", "kennwort", "mot de passe",
                    "wachtwoord", "token", "secret hash", "pass hash", "pwd hash")
    phrases = ("password", "passwd", "pwd", "password hash", "api key", "api secret",
               "access token", "refresh token", "auth token", "private key", "secret key",
               "client secret")
    ambiguous = ("secret", "pin")


@name_recognizer
class Identifier(PhraseRecognizer):
    """A bare ``id``/``uuid``/``key``: generic, so it loses to any sensitive match."""

    name, kind, score, generic = "id", ID, 0.85, True
    label = "an identifier"
    phrases = ("id", "uuid", "guid", "pk", "fk", "key")


@name_recognizer
class BusinessIdentifier(PhraseRecognizer):
    """Business keys: ``customer_id``, ``order_id``, ``invoice_number``."""

    name, kind = "business_id", ID
    label = "a business identifier"
    phrases = ("customer id", "order id", "customer number", "customer no", "order number",
               "order no", "invoice id", "invoice number", "transaction id", "txn id",
               "account id", "user id", "session id", "record id", "product id", "ticket id",
               "employee id", "employee number", "reference number", "confirmation number",
               "sku")
    translations = ("part number", "part no", "product code", "item code", "item number",
                    "reference", "ref no", "ref", "invoice no", "order no", "tracking number",
                    "tracking id", "vat number", "vat id", "ust id", "ust idnr", "tax id company",
                    "company registration number", "lei", "duns", "ein", "kunden id",
                    "kundennummer", "id pedido", "id cliente", "numero pedido", "numero factura",
                    "rechnungsnummer", "bestellnummer", "numero commande")


@name_recognizer
class Geography(PhraseRecognizer):
    """Coarse geography: public on its own (a street address is ``address``, not this)."""

    name, kind, score = "geography", PUBLIC, 0.8
    label = "coarse geography"
    translations = ("ciudad", "stadt", "ort", "ville", "città", "citta", "cidade", "stad",
                    "pais", "país", "land", "pays", "paese", "estado", "bundesland",
                    "provincia", "région", "regione", "comunidad", "kanton", "departement",
                    "country cd", "cntry", "ctry", "st cd", "city nm", "metro area",
                    "idioma", "sprache", "langue", "lingua", "taal", "moneda", "wahrung",
                    "devise", "valuta")
    phrases = ("city", "town", "region", "country", "country code", "country name", "state",
               "state code", "province", "county", "continent", "territory", "locale",
               "timezone", "time zone", "language", "currency", "currency code")


@name_recognizer
class Catalog(PhraseRecognizer):
    """Product and catalog attributes."""

    name, kind, score = "catalog", PUBLIC, 0.8
    label = "catalog data"
    translations = ("producto", "produkt", "produit", "prodotto", "categoria", "categoría",
                    "kategorie", "catégorie", "marca", "marke", "marque", "nombre producto",
                    "nombre del producto", "produktname", "nom produit", "nome prodotto",
                    "item desc", "prod nm", "prod name", "sku desc")
    phrases = ("product name", "product", "product category", "category", "sub category",
               "subcategory", "brand", "item name", "product title", "color", "colour", "size")
