# ruff: noqa: ARG001, ARG005, E501 - generators share one (faker, rng) signature; rows are data
"""The concepts of the evaluation set: what a column holds, its label and its names by style.

Each concept has a label (``kind``, ``type``), a value generator (Faker, seeded per column) and
column names in several naming styles, drawn from public-domain schemas (Northwind, Sakila,
AdventureWorks, Chinook, MIMIC-style clinical tables, Stripe- and Salesforce-like exports, HR
and vehicle registries) and their translations. Style ``opaque`` names say nothing (``col_7``);
those columns can only be classified by their values.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

Gen = Callable[[Any, random.Random], Any]  # (faker, rng) -> one value

ICD10 = ("E11.9", "I10", "J45.909", "M54.5", "F32.9", "K21.9", "E78.5", "N39.0", "J06.9",
         "R51", "Z00.00", "I25.10", "E03.9", "F41.1", "G43.909", "M17.11", "K58.9", "J44.9",
         "L40.0", "C50.911", "I48.91", "N18.3", "E66.9", "R10.9", "S93.401A", "B34.9")
LOCALE = {"en": "en_US", "gb": "en_GB", "de": "de_DE", "fr": "fr_FR", "es": "es_ES",
          "it": "it_IT", "nl": "nl_NL"}


@dataclass(frozen=True)
class Concept:
    """A kind of column: label, value generator, names by naming style."""

    key: str
    kind: str  # pii, phi, financial, identifier, public
    type: str  # pii_type, or the kind for columns without one
    gen: Gen
    names: dict[str, tuple[str, ...]]  # style -> names (style "de" uses German values, ...)
    locale: str | None = None  # values always from this Faker locale (national numbers)


def _dob(f: Any, r: random.Random) -> str:
    d = f.date_of_birth(minimum_age=18, maximum_age=90)
    return d.strftime(r.choice(("%Y-%m-%d", "%m/%d/%Y", "%d.%m.%Y")))


def _recent(f: Any, r: random.Random) -> str:
    d = date(2021, 1, 1) + timedelta(days=r.randrange(1400))
    return d.isoformat()


def _licence(f: Any, r: random.Random) -> str:
    letters = "ABCDEFGHJKLMNPRSTUVWXYZ"
    pick = r.randrange(4)
    if pick == 0:
        return r.choice(letters) + "".join(str(r.randrange(10)) for _ in range(7))  # CA
    if pick == 1:
        d = "".join(str(r.randrange(10)) for _ in range(12))
        return f"{r.choice(letters)}{d[:3]}-{d[3:6]}-{d[6:8]}-{d[8:11]}-{d[11]}"  # FL
    if pick == 2:
        return "".join(str(r.randrange(10)) for _ in range(9))  # NY
    surname = "".join(r.choice(letters) for _ in range(5))
    return f"{surname}{r.randrange(10**5, 10**6)}{r.choice(letters)}{r.choice(letters)}9AB"


def _dni(f: Any, r: random.Random) -> str:
    n = r.randrange(10**7, 10**8)
    return f"{n}{'TRWAGMYFPDXBNJZSQVHLCKE'[n % 23]}"


def _mrn(f: Any, r: random.Random) -> str:
    return f"MRN-{r.randrange(10**7, 10**8)}" if r.random() < 0.7 else f"MR{r.randrange(10**6)}"


def _note_pii(f: Any, r: random.Random) -> str:
    if r.random() < 0.35:
        return f"Customer asked to be reached at {f.email()} about the {f.word()} order."
    return f.sentence(nb_words=10)


def _note_phone(f: Any, r: random.Random) -> str:
    if r.random() < 0.35:
        return f"Call back on +1 {r.randrange(201, 989)}-555-{r.randrange(10000):04d} tomorrow."
    return f.sentence(nb_words=9)


def _money(f: Any, r: random.Random) -> str:
    amount = r.uniform(5, 5000)
    return r.choice((f"${amount:,.2f}", f"{amount:.2f} EUR", f"€{amount:,.2f}"))


def _vat(f: Any, r: random.Random) -> str:
    from stdnum.eu import vat

    while True:
        base = str(r.randrange(10**7, 10**8))
        for check in range(10):
            cand = f"DE{base}{check}"
            if vat.is_valid(cand):
                return cand


C = Concept
OPAQUE = ("col_{n}", "field_{n}", "attr_{n}", "c{n}", "x{n}", "column{n}", "var_{n}", "f{n}")


def concepts() -> list[Concept]:
    """All concepts; personal ones first."""
    return [
        # ---- personal data (pii, phi) ----
        C("email", "pii", "email", lambda f, r: f.email(), {
            "snake": ("email", "email_address", "contact_email", "work_email"),
            "camel": ("EmailAddress", "customerEmail"),
            "abbr": ("eml", "cust_eml", "e_mail"),
            "de": ("email_adresse",), "fr": ("courriel", "adresse_email"),
            "es": ("correo", "correo_electronico"), "it": ("posta_elettronica",),
            "odd": ("contact",), "opaque": ("{o}", "{o}")}),
        C("phone", "pii", "phone", lambda f, r: f.phone_number(), {
            "snake": ("phone", "phone_number", "mobile", "home_phone"),
            "camel": ("PhoneNumber", "mobilePhone"), "abbr": ("tel_no", "ph_num", "mob_no"),
            "de": ("telefonnummer", "handynummer"), "fr": ("telephone", "portable"),
            "es": ("telefono", "movil"), "it": ("cellulare",), "nl": ("telefoonnummer",),
            "opaque": ("{o}", "{o}")}),
        C("full_name", "pii", "name", lambda f, r: f.name(), {
            "snake": ("full_name", "customer_name", "contact_name", "employee_name"),
            "camel": ("FullName", "ContactName"), "abbr": ("cust_nm", "emp_name"),
            "de": ("kundenname",), "fr": ("nom_complet",), "es": ("nombre_completo",),
            "it": ("nome_completo",), "opaque": ("{o}", "{o}")}),
        C("first_name", "pii", "name", lambda f, r: f.first_name(), {
            "snake": ("first_name", "given_name"), "camel": ("FirstName",), "abbr": ("fname",),
            "de": ("vorname",), "fr": ("prenom",), "es": ("nombre",), "nl": ("voornaam",),
            "opaque": ("{o}",)}),
        C("last_name", "pii", "name", lambda f, r: f.last_name(), {
            "snake": ("last_name", "surname"), "camel": ("LastName",), "abbr": ("lname",),
            "de": ("nachname",), "fr": ("nom_de_famille",), "es": ("apellido",),
            "it": ("cognome",)}),
        C("address", "pii", "address", lambda f, r: f.street_address(), {
            "snake": ("address", "street_address", "home_address", "billing_address"),
            "camel": ("StreetAddress", "shippingAddress"), "abbr": ("addr_line1", "addr1"),
            "de": ("anschrift", "strasse"), "fr": ("adresse",), "es": ("direccion",),
            "it": ("indirizzo",), "nl": ("adres",), "opaque": ("{o}", "{o}")}),
        C("postal_code", "pii", "postal_code", lambda f, r: f.postcode(), {
            "snake": ("zip", "zip_code", "postal_code"), "camel": ("ZipCode", "PostalCode"),
            "abbr": ("zipcd", "post_cd"), "de": ("postleitzahl", "plz"),
            "fr": ("code_postal",), "es": ("codigo_postal",), "gb": ("postcode", "{o}")}),
        C("ssn", "pii", "ssn", lambda f, r: f.ssn(), {
            "snake": ("ssn", "social_security_number"), "camel": ("SSN", "SocialSecurityNo"),
            "abbr": ("soc_sec_no", "ssn_num"), "opaque": ("{o}", "{o}")}, "en_US"),
        C("national_id_es", "pii", "national_id", _dni, {
            "es": ("dni", "nif", "documento_identidad"), "snake": ("national_id", "tax_id"),
            "opaque": ("{o}",)}),
        C("national_id_it", "pii", "national_id", lambda f, r: f.ssn(), {
            "it": ("codice_fiscale",), "camel": ("TaxCode",), "opaque": ("{o}",)}, "it_IT"),
        C("national_id_fr", "pii", "national_id", lambda f, r: f.ssn(), {
            "fr": ("numero_securite_sociale", "nir"), "opaque": ("{o}",)}, "fr_FR"),
        C("national_id_nl", "pii", "national_id", lambda f, r: f.ssn(), {
            "nl": ("bsn", "burgerservicenummer")}, "nl_NL"),
        C("passport", "pii", "passport", lambda f, r: f.passport_number(), {
            "snake": ("passport_number", "passport"), "camel": ("PassportNo",),
            "de": ("reisepassnummer",), "fr": ("passeport",), "es": ("pasaporte",)}),
        C("drivers_license", "pii", "drivers_license", _licence, {
            "snake": ("drivers_license", "driver_license_number"),
            "camel": ("DriverLicenseNumber",), "abbr": ("dl_no", "drv_lic"),
            "de": ("fuehrerschein",), "fr": ("permis_de_conduire",),
            "es": ("licencia_conducir",)}),
        C("card", "pii", "card_number", lambda f, r: f.credit_card_number(), {
            "snake": ("credit_card_number", "card_number"), "camel": ("CardNumber", "ccNumber"),
            "abbr": ("cc_num", "ccn"), "de": ("kreditkartennummer",),
            "fr": ("numero_carte",), "es": ("numero_tarjeta",), "opaque": ("{o}", "{o}")}),
        C("dob", "pii", "dob", _dob, {
            "snake": ("date_of_birth", "dob", "birth_date"), "camel": ("BirthDate", "DoB"),
            "abbr": ("bdate", "dt_of_birth"), "de": ("geburtsdatum",),
            "fr": ("date_naissance",), "es": ("fecha_nacimiento",), "it": ("data_nascita",),
            "opaque": ("{o}", "{o}")}),
        C("age", "pii", "age", lambda f, r: r.randrange(18, 90), {
            "snake": ("age", "customer_age"), "camel": ("Age", "PatientAge"),
            "de": ("alter_jahre",), "es": ("edad",), "fr": ("age_client",)}),
        C("gender", "pii", "gender", lambda f, r: r.choice(("M", "F", "Male", "Female", "F", "M")), {
            "snake": ("gender", "sex"), "camel": ("Gender",), "abbr": ("gndr",),
            "de": ("geschlecht",), "es": ("sexo",), "fr": ("sexe",), "opaque": ("{o}",)}),
        C("ipv4", "pii", "ip_address", lambda f, r: f.ipv4_public(), {
            "snake": ("ip_address", "client_ip", "remote_addr"), "camel": ("IpAddress",),
            "abbr": ("ip", "src_ip"), "es": ("direccion_ip",), "fr": ("adresse_ip",),
            "opaque": ("{o}", "{o}")}),
        C("ipv6", "pii", "ip_address", lambda f, r: f.ipv6(), {
            "snake": ("ipv6_address",), "opaque": ("{o}",)}),
        C("username", "pii", "username", lambda f, r: f.user_name(), {
            "snake": ("username", "login", "user_name"), "camel": ("UserName",),
            "de": ("benutzername",), "es": ("usuario",)}),
        C("mac", "pii", "device_id", lambda f, r: f.mac_address(), {
            "snake": ("mac_address", "device_mac"), "opaque": ("{o}",)}),
        C("vin", "pii", "vin", lambda f, r: f.vin(), {
            "snake": ("vin", "vehicle_vin"), "camel": ("VIN", "VehicleIdentificationNumber"),
            "de": ("fahrgestellnummer",), "es": ("numero_bastidor",), "opaque": ("{o}", "{o}")}),
        C("notes_email", "pii", "email", _note_pii, {
            "snake": ("notes", "comments", "ticket_body"), "camel": ("Remarks",),
            "opaque": ("{o}",)}),
        C("notes_phone", "pii", "phone", _note_phone, {
            "snake": ("call_notes", "agent_comment"), "opaque": ("{o}",)}),
        C("diagnosis", "phi", "diagnosis", lambda f, r: r.choice(ICD10), {
            "snake": ("diagnosis_code", "icd10", "primary_diagnosis"),
            "camel": ("DiagnosisCode",), "abbr": ("dx_code", "diag_cd"),
            "de": ("diagnose",), "es": ("diagnostico",), "opaque": ("{o}", "{o}")}),
        C("mrn", "phi", "medical_record_number", _mrn, {
            "snake": ("mrn", "medical_record_number", "patient_id"), "camel": ("MedicalRecordNo",),
            "abbr": ("med_rec_no",), "de": ("patientennummer",), "opaque": ("{o}", "{o}")}),
        # ---- not personal: financial, identifier, public ----
        C("salary", "financial", "financial", lambda f, r: round(r.uniform(30e3, 200e3), -2), {
            "snake": ("salary", "annual_salary", "base_pay"), "camel": ("AnnualIncome",),
            "abbr": ("sal_amt",), "de": ("gehalt",), "fr": ("salaire",), "es": ("sueldo",),
            "it": ("stipendio",)}),
        C("amount", "financial", "financial", lambda f, r: round(r.uniform(1, 900), 2), {
            "snake": ("amount", "order_total", "payment_amount", "balance", "revenue", "unit_price", "freight", "discount_amount", "credit_limit"),
            "camel": ("TotalAmount", "InvoiceTotal", "LineRevenue"),
            "abbr": ("pmt_amt", "txn_amt"), "de": ("betrag", "umsatz"), "fr": ("montant",),
            "es": ("importe",), "it": ("importo",)}),
        C("money_text", "financial", "financial", _money, {
            "snake": ("price_display", "charge"), "opaque": ("{o}", "{o}")}),
        C("iban", "financial", "iban", lambda f, r: f.iban(), {
            "snake": ("iban", "bank_iban"), "camel": ("IBAN",), "de": ("iban_nummer",),
            "opaque": ("{o}", "{o}")}),
        C("bic", "financial", "swift_bic", lambda f, r: f.swift(), {
            "snake": ("swift_code", "bic"), "camel": ("SwiftBic",), "opaque": ("{o}",)}),
        C("bank_account", "financial", "bank_account", lambda f, r: f.bban(), {
            "snake": ("account_number", "bank_account"), "camel": ("AccountNo",),
            "de": ("kontonummer",), "es": ("numero_de_cuenta",)}),
        C("int_id", "identifier", "identifier", lambda f, r: r.randrange(10**5, 10**9), {
            "snake": ("customer_id", "order_id", "product_id", "account_id", "store_id", "film_id", "employee_id", "supplier_id"),
            "camel": ("CustomerId", "OrderID", "invoiceId"), "abbr": ("cust_id", "txn_id"),
            "de": ("kunden_id",), "es": ("id_pedido",)}),
        C("id10", "identifier", "identifier", lambda f, r: r.randrange(2 * 10**9, 9 * 10**9), {
            "snake": ("id", "record_id", "tracking_id")}),
        C("uuid", "identifier", "identifier", lambda f, r: f.uuid4(), {
            "snake": ("session_id", "request_id", "event_uuid"), "camel": ("CorrelationId",),
            "opaque": ("{o}", "{o}")}),
        C("invoice_no", "identifier", "identifier", lambda f, r: f"INV-{r.randrange(10**6):06d}", {
            "snake": ("invoice_number", "reference"), "camel": ("OrderNumber",),
            "opaque": ("{o}",)}),
        C("sku", "identifier", "identifier", lambda f, r: f.bothify("??-####").upper(), {
            "snake": ("sku", "product_code", "part_number"), "camel": ("ItemCode",),
            "opaque": ("{o}",)}),
        C("vat", "identifier", "identifier", _vat, {
            "snake": ("vat_number", "company_vat"), "de": ("ust_id",), "opaque": ("{o}",)}),
        C("country", "public", "public", lambda f, r: f.country(), {
            "snake": ("country", "country_name", "ship_country", "origin_country"), "camel": ("Country",), "de": ("land",),
            "es": ("pais",), "fr": ("pays",), "opaque": ("{o}",)}),
        C("city", "public", "public", lambda f, r: f.city(), {
            "snake": ("city", "ship_city", "store_city", "branch_town"), "camel": ("City", "BillingCity"), "de": ("stadt",),
            "es": ("ciudad",), "fr": ("ville",), "it": ("citta",), "opaque": ("{o}",)}),
        C("state", "public", "public", lambda f, r: f.state() if hasattr(f, "state") else f.city(), {
            "snake": ("state", "region", "sales_region", "province"), "camel": ("StateProvince",), "de": ("bundesland",)}),
        C("company", "public", "public", lambda f, r: f.company(), {
            "snake": ("company_name", "employer", "supplier", "vendor_name", "carrier"), "camel": ("CompanyName",),
            "de": ("firma",), "es": ("empresa",), "opaque": ("{o}",)}),
        C("job", "public", "public", lambda f, r: f.job(), {
            "snake": ("job_title", "occupation", "position"), "camel": ("JobTitle",), "opaque": ("{o}",)}),
        C("product", "public", "public", lambda f, r: f"{f.color_name()} {f.word().title()}", {
            "snake": ("product_name", "item_name", "track_name", "film_title"), "camel": ("ProductName",),
            "es": ("nombre_producto",), "de": ("produktname",), "opaque": ("{o}",)}),
        C("category", "public", "public", lambda f, r: r.choice(
            ("Books", "Garden", "Toys", "Electronics", "Grocery", "Sports")), {
            "snake": ("category", "segment", "genre", "department"), "camel": ("ProductCategory",),
            "es": ("categoria",), "opaque": ("{o}",)}),
        C("status", "public", "public", lambda f, r: r.choice(
            ("open", "closed", "pending", "shipped", "cancelled")), {
            "snake": ("status", "order_status", "payment_status", "stage"), "camel": ("TicketStatus",), "es": ("estado",),
            "fr": ("statut",), "opaque": ("{o}",)}),
        C("event_date", "public", "public", _recent, {
            "snake": ("created_at", "order_date", "updated_at", "ship_date", "incorporation_date"),
            "camel": ("CreatedDate", "LastModified"), "de": ("bestelldatum",),
            "es": ("fecha_pedido",), "opaque": ("{o}", "{o}")}),
        C("quantity", "public", "public", lambda f, r: r.randrange(1, 50), {
            "snake": ("quantity", "qty", "units", "stock_level", "page_views", "clicks"), "camel": ("Quantity", "PageViews"),
            "de": ("menge",), "es": ("cantidad",), "opaque": ("{o}", "{o}")}),
        C("score", "public", "public", lambda f, r: round(r.uniform(0, 5), 1), {
            "snake": ("rating", "score", "discount_pct", "weight_kg"), "camel": ("AvgRating",), "opaque": ("{o}",)}),
        C("description", "public", "public", lambda f, r: f.sentence(nb_words=12), {
            "snake": ("description", "summary", "notes", "review_text", "title"), "camel": ("ProductDescription",),
            "es": ("descripcion",), "de": ("beschreibung",), "opaque": ("{o}", "{o}")}),
        C("url", "public", "public", lambda f, r: f.url(), {
            "snake": ("website", "url", "landing_page", "image_url"), "camel": ("HomePage",),
            "opaque": ("{o}",)}),
        C("currency", "public", "public", lambda f, r: f.currency_code(), {
            "snake": ("currency", "currency_code"), "camel": ("CurrencyCode",),
            "opaque": ("{o}",)}),
        C("color", "public", "public", lambda f, r: f.color_name(), {
            "snake": ("color", "colour"), "camel": ("Color",), "opaque": ("{o}",)}),
        C("seat", "public", "public", lambda f, r: f"{r.choice('ABCDEF')}{r.randrange(10, 40)}", {
            "snake": ("seat", "shelf_code", "gate"), "opaque": ("{o}",)}),
        C("version", "public", "public", lambda f, r: f"{r.randrange(1, 5)}.{r.randrange(20)}.{r.randrange(30)}", {
            "snake": ("app_version", "version"), "opaque": ("{o}",)}),
        C("flag", "public", "public", lambda f, r: r.random() < 0.5, {
            "snake": ("is_active", "opted_in", "has_email"), "camel": ("IsDeleted",)}),
        C("language", "public", "public", lambda f, r: f.language_name(), {
            "snake": ("language", "preferred_language"), "es": ("idioma",)}),
    ]
