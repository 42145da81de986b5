"""Name recognizers for personal data (Floe class ``pii``), one per ``pii_type``.

Sensitivity follows one rule: numbers that alone enable identity or payment fraud (SSN,
national id, passport, card number, card security code) are ``critical``; direct contact and
identity data (e-mail, phone, name, address, date of birth, driver's license) is ``high``;
quasi-identifiers (postal code, gender, IP address, device id, username) are ``medium``; age is
``low``.
"""

from __future__ import annotations

from lacuna.classify.base import PhraseRecognizer, name_recognizer
from lacuna.model import ColumnKind, Sensitivity

PII, LOW, MEDIUM = ColumnKind.PII, Sensitivity.LOW, Sensitivity.MEDIUM
HIGH, CRITICAL = Sensitivity.HIGH, Sensitivity.CRITICAL


@name_recognizer
class Email(PhraseRecognizer):
    """E-mail addresses: ``email``, ``e_mail``, ``EmailAddress``, ``cust_eml``."""

    name, kind, pii_type, sensitivity, score = "email", PII, "email", HIGH, 0.95
    label = "an e-mail address"
    translations = ("электронная почта", "эл почта", "邮箱", "电子邮件", "电子邮箱",
                    "メールアドレス", "メール", "이메일", "البريد الإلكتروني",
                    "correo", "correo electronico", "correo electrónico", "email adresse",
                    "e mail adresse", "mail adresse", "courriel", "adresse email",
                    "adresse mail", "adresse electronique", "posta elettronica",
                    "indirizzo email", "endereco email", "email adres", "emailadres",
                    "emailadresse")
    phrases = ("email", "e mail", "email address", "email addr", "eml", "mail address")
    ambiguous = ("mail",)


@name_recognizer
class Phone(PhraseRecognizer):
    """Phone and fax numbers: ``phone``, ``mobile``, ``tel``, ``fax``, ``msisdn``."""

    name, kind, pii_type, sensitivity = "phone", PII, "phone", HIGH
    label = "a phone number"
    translations = ("телефон", "номер телефона", "моб телефон", "电话", "电话号码", "手机",
                    "手机号", "手机号码", "電話番号", "電話", "携帯電話", "携帯番号", "전화번호",
                    "휴대폰", "هاتف", "رقم الهاتف",
                    "telefono", "teléfono", "telefon", "telefonnummer", "tel nr", "handy",
                    "handynummer", "mobilnummer", "rufnummer", "movil", "móvil", "celular",
                    "numero telefono", "num telefono", "no telefono", "numero de telefono",
                    "téléphone", "telephone", "numero de telephone", "portable", "cellulare",
                    "numero di telefono", "telemovel", "telefoonnummer", "mobiel", "ph no",
                    "ph num", "phone nbr", "tel num", "mob no", "cell nbr", "fax nr", "telefax")
    phrases = ("phone", "phone number", "phone no", "phone num", "phone nr", "telephone",
               "tel", "tel no", "mobile", "mobile number", "mobile phone", "mobile no",
               "cell phone", "cell number", "cell no", "fax", "fax number", "msisdn",
               "contact number", "contact phone")
    ambiguous = ("cell", "mob")


@name_recognizer
class Ssn(PhraseRecognizer):
    """US Social Security numbers."""

    name, kind, pii_type, sensitivity, score = "ssn", PII, "ssn", CRITICAL, 0.95
    label = "a US Social Security number"
    translations = ("ss number", "ssn no", "ssn num", "social sec", "soc sec", "ss no")
    phrases = ("ssn", "social security number", "social security no", "social security",
               "soc sec no", "soc sec number")


@name_recognizer
class NationalId(PhraseRecognizer):
    """National and tax identity numbers other than the US SSN."""

    name, kind, pii_type, sensitivity = "national_id", PII, "national_id", CRITICAL
    label = "a national identity or tax number"
    translations = ("dni", "nif", "nie", "numero seguridad social", "nss", "curp", "rfc",
                    "sozialversicherungsnummer", "steuer id", "steuernummer",
                    "steueridentifikationsnummer", "personalausweisnummer", "ausweisnummer",
                    "personalausweis", "numero securite sociale", "numéro de sécurité sociale",
                    "nir", "insee", "codice fiscale", "burgerservicenummer", "sofinummer",
                    "documento identidad", "numero documento", "cedula", "cédula", "id number",
                    "national id no", "natl id", "tax no", "tax number")
    phrases = ("national id", "national identifier", "national identification number",
               "national insurance number", "ni number", "nino", "tax id", "taxpayer id",
               "tax identification number", "identity number", "id card number",
               "personal id number", "personnummer", "aadhaar", "aadhar", "nric", "bsn",
               "cpf", "pesel", "citizen id", "nhs number", "nhs no", "chi number",
               "medicare number")
    ambiguous = ("tin", "nin", "sin")


@name_recognizer
class Passport(PhraseRecognizer):
    """Passport numbers."""

    name, kind, pii_type, sensitivity = "passport", PII, "passport", CRITICAL
    label = "a passport number"
    translations = ("pasaporte", "numero pasaporte", "reisepass", "reisepassnummer", "passnummer",
                    "passeport", "numero passeport", "passaporto", "passaporte", "paspoort",
                    "paspoortnummer", "pass no", "passport nbr", "ppt no", "travel document",
                    "travel document number", "travel doc", "travel doc no")
    phrases = ("passport", "passport number", "passport no", "passport num", "passport id")


@name_recognizer
class DriversLicense(PhraseRecognizer):
    """Driver's license numbers."""

    name, kind, pii_type, sensitivity = "drivers_license", PII, "drivers_license", HIGH
    label = "a driver's license number"
    translations = ("licencia de conducir", "licencia conducir", "carnet de conducir",
                    "fuhrerschein", "führerschein", "fuehrerschein", "führerscheinnummer",
                    "permis de conduire", "numero permis", "patente di guida", "rijbewijs",
                    "rijbewijsnummer", "carta de conducao", "driver lic", "drv lic", "driving lic",
                    "dl nbr")
    ambiguous = ("dl", "licence number", "license number", "licence no", "license no",
                 "lic no")
    phrases = ("drivers license", "driver license", "driver licence", "drivers licence",
               "driving license", "driving licence", "dl number", "dl no", "dl num")


@name_recognizer
class CardNumber(PhraseRecognizer):
    """Payment card numbers (PCI DSS cardholder data): ``card_number``, ``cc_num``, ``pan``."""

    name, kind, pii_type, sensitivity, score = "card_number", PII, "card_number", CRITICAL, 0.95
    label = "a payment card number"
    translations = ("tarjeta", "numero tarjeta", "tarjeta de credito", "tarjeta credito",
                    "kreditkarte", "kreditkartennummer", "kartennummer", "carte bancaire",
                    "numero carte", "numéro de carte", "carte de credit", "carta di credito",
                    "numero carta", "cartao de credito", "creditcard", "creditcardnummer",
                    "card nbr", "cc nbr", "credit card no")
    phrases = ("card number", "card num", "card no", "card nr", "credit card",
               "credit card number", "debit card", "debit card number", "cc number", "cc num",
               "cc no", "ccn", "primary account number", "card pan")
    ambiguous = ("cc", "pan")


@name_recognizer
class CardSecurityCode(PhraseRecognizer):
    """Card verification codes, which PCI DSS forbids storing at all."""

    name, kind, pii_type, sensitivity = "card_cvv", PII, "card_cvv", CRITICAL
    label = "a card security code"
    phrases = ("cvv", "cvc", "cvv 2", "cvc 2", "card verification", "card security code")


@name_recognizer
class DateOfBirth(PhraseRecognizer):
    """Dates (and years) of birth."""

    name, kind, pii_type, sensitivity = "dob", PII, "dob", HIGH
    label = "a date of birth"
    translations = ("дата рождения", "出生日期", "生日", "生年月日", "생년월일", "تاريخ الميلاد",
                    "geburtsdatum", "geburtstag", "geb datum", "fecha de nacimiento",
                    "fecha nacimiento", "fec nac", "nacimiento", "date de naissance",
                    "date naissance", "naissance", "data di nascita", "data nascita",
                    "data de nascimento", "geboortedatum", "birth dt", "dt of birth", "dt birth",
                    "date birth", "b date", "bdate", "birthdate", "do b")
    phrases = ("dob", "date of birth", "birth date", "birth dt", "birthday", "birth day",
               "birth year", "year of birth", "yob", "born on", "bday")


@name_recognizer
class Age(PhraseRecognizer):
    """Ages: a quasi-identifier, low sensitivity on its own."""

    name, kind, pii_type, sensitivity, score = "age", PII, "age", LOW, 0.8
    label = "a person's age"
    translations = ("edad", "âge", "età", "idade", "leeftijd", "lebensalter", "patient age",
                    "customer age", "age yrs", "alter jahre", "alter in jahren")
    phrases = ("age", "age years", "age in years")


@name_recognizer
class Gender(PhraseRecognizer):
    """Gender and sex."""

    name, kind, pii_type, sensitivity = "gender", PII, "gender", MEDIUM
    label = "a gender"
    translations = ("genero", "género", "sexo", "geschlecht", "sexe", "sesso",
                    "geslacht", "gndr", "sex cd", "gender cd")
    ambiguous = ("genre",)  # French for gender; in English a music or film genre
    phrases = ("gender", "sex", "gender identity")


class _SpecialCategory(PhraseRecognizer):
    """GDPR's special categories (Art. 9: racial or ethnic origin, political opinions,
    religious or philosophical beliefs, trade union membership, genetic and biometric data,
    sex life or sexual orientation) and criminal convictions (Art. 10), one ``pii_type`` each.
    Health data is ``phi`` (``health_data``)."""

    kind, sensitivity = PII, HIGH
    whether_is_personal = True


@name_recognizer
class Ethnicity(_SpecialCategory):
    """Racial or ethnic origin."""

    name = pii_type = "ethnicity"
    label = "a racial or ethnic origin"
    translations = ("ethnie", "etnia", "etnicidad", "ethnische herkunft", "origine ethnique",
                    "herkunft ethnisch", "etnische afkomst")
    phrases = ("ethnicity", "ethnic origin", "ethnic group", "ethnic background",
               "racial origin", "race ethnicity", "hispanic origin")
    whole = ("race", "hispanic")


@name_recognizer
class Religion(_SpecialCategory):
    """Religious or philosophical beliefs."""

    name = pii_type = "religion"
    label = "a religious or philosophical belief"
    translations = ("religione", "religión", "konfession", "religionszugehorigkeit",
                    "religionszugehörigkeit", "confession religieuse", "geloof")
    phrases = ("religion", "religious belief", "religious affiliation", "religiousness",
               "philosophical belief")
    whole = ("faith", "religious")


@name_recognizer
class PoliticalOpinion(_SpecialCategory):
    """Political opinions and party affiliation."""

    name = pii_type = "political_opinion"
    label = "a political opinion"
    translations = ("parteizugehorigkeit", "parteizugehörigkeit", "afiliacion politica",
                    "afiliación política", "opinion politique")
    phrases = ("political opinion", "political opinions", "political party",
               "political affiliation", "party affiliation", "party membership",
               "voting intention")


@name_recognizer
class TradeUnion(_SpecialCategory):
    """Trade union membership."""

    name = pii_type = "trade_union"
    label = "a trade union membership"
    translations = ("gewerkschaft", "gewerkschaftsmitglied", "syndicat", "sindicato",
                    "sindacato", "vakbond")
    phrases = ("trade union", "union member", "union membership")


@name_recognizer
class SexualOrientation(_SpecialCategory):
    """Sex life or sexual orientation."""

    name = pii_type = "sexual_orientation"
    label = "a sexual orientation"
    translations = ("orientation sexuelle", "orientacion sexual", "orientación sexual",
                    "sexuelle orientierung", "orientamento sessuale")
    phrases = ("sexual orientation", "sex life", "sexuality")


@name_recognizer
class Biometric(_SpecialCategory):
    """Biometric and genetic data."""

    name = pii_type = "biometric"
    label = "biometric or genetic data"
    translations = ("fingerabdruck", "empreinte digitale", "huella dactilar",
                    "impronta digitale")
    phrases = ("biometric", "biometrics", "biometric data", "fingerprint image",
               "fingerprint template", "fingerprint scan", "fingerprints", "face template",
               "facial image", "face encoding", "iris scan", "retina scan", "voiceprint",
               "genetic data", "genotype", "dna sample", "dna profile")
    whole = ("fingerprint", "dna", "genetic")


@name_recognizer
class CriminalRecord(_SpecialCategory):
    """Criminal convictions and offences (GDPR Art. 10)."""

    name = pii_type = "criminal_record"
    label = "a criminal record"
    translations = ("vorstrafen", "casier judiciaire", "antecedentes penales",
                    "casellario giudiziale", "strafregister")
    phrases = ("criminal record", "criminal records", "criminal conviction",
               "criminal convictions", "criminal history", "convictions", "arrest record",
               "offences", "offenses")


@name_recognizer
class PersonName(PhraseRecognizer):
    """People's names. A bare ``name`` counts only when it is the whole column name."""

    name, kind, pii_type, sensitivity = "name", PII, "name", HIGH
    label = "a person's name"
    translations = ("фамилия", "фио", "отчество", "姓名", "氏名", "이름", "성명",
                    "vorname", "nachname", "familienname", "apellido", "apellidos",
                    "primer apellido", "segundo apellido", "nombre completo", "nombre cliente",
                    "nombre del cliente", "nombre y apellidos", "prenom", "prénom",
                    "nom de famille", "nom complet", "nom client", "cognome", "nome completo",
                    "nome cliente", "voornaam", "achternaam", "sobrenome", "full nm", "cust nm",
                    "customer nm", "emp name", "emp nm", "first nm", "last nm", "f name",
                    "l name", "given nm", "fam name", "surname nm", "contact person",
                    "kundenname", "mitarbeiter name", "patient nm", "pat name")
    phrases = ("first name", "last name", "full name", "given name", "family name",
               "middle name", "maiden name", "surname", "forename", "fname", "lname",
               "first nm", "last nm", "name first", "name last", "customer name", "client name",
               "patient name", "employee name", "contact name", "person name", "member name",
               "holder name", "cardholder name", "card holder name", "account holder",
               "account holder name", "recipient name", "sender name", "beneficiary name",
               "applicant name", "student name", "guardian name", "spouse name", "legal name")
    ambiguous = ("initials", "display name")
    whole = ("name", "nombre", "nom", "nome", "naam", "nm", "имя", "名前", "名字", "الاسم")


@name_recognizer
class Username(PhraseRecognizer):
    """Login names: an online identifier under GDPR."""

    name, kind, pii_type, sensitivity = "username", PII, "username", MEDIUM
    label = "a username"
    translations = ("usuario", "nombre de usuario", "benutzername", "benutzer",
                    "nom d utilisateur", "identifiant", "utente", "nome utente", "gebruikersnaam",
                    "user nm", "usr name", "uname")
    phrases = ("username", "user name", "login", "login name", "user login", "screen name",
               "nickname")
    ambiguous = ("handle", "user handle", "social handle")


@name_recognizer
class Address(PhraseRecognizer):
    """Street addresses. ``web``/``mac``/``memory`` before ``address`` are not places."""

    name, kind, pii_type, sensitivity, score = "address", PII, "address", HIGH, 0.85
    label = "a street address"
    translations = ("адрес", "地址", "住址", "住所", "주소", "العنوان",
                    "direccion", "dirección", "domicilio", "calle", "anschrift", "adresse",
                    "strasse", "straße", "wohnadresse", "adresse postale", "indirizzo",
                    "endereco", "endereço", "morada", "adres", "straat", "woonadres",
                    "addr 1", "addr 2", "addr line 1", "street addr", "st addr", "home addr",
                    "mailing addr", "billing addr", "ship addr")
    phrases = ("address", "addr", "street", "street address", "street name", "street line",
               "address line", "addr line", "house number", "house no", "home address",
               "mailing address", "billing address", "shipping address", "postal address",
               "residential address", "residence")
    ambiguous = ("apt", "apartment")
    not_after = ("web", "mac", "memory", "url", "server", "host", "network", "wallet",
                 "bitcoin", "contract", "ethernet", "hardware", "mem")


@name_recognizer
class PostalCode(PhraseRecognizer):
    """Postal codes: a quasi-identifier."""

    name, kind, pii_type, sensitivity = "postal_code", PII, "postal_code", MEDIUM
    label = "a postal code"
    translations = ("codigo postal", "código postal", "cod postal", "postleitzahl", "code postal",
                    "cep", "postcode nl", "zip cd", "zipcd", "postal cd", "post cd", "zip4",
                    "zip5")
    phrases = ("zip", "zip code", "postcode", "post code", "postal code", "postal", "plz",
               "zip plus 4")
    ambiguous = ("pin code",)  # India's postal code; a bare "pin" is a credential


@name_recognizer
class IpAddress(PhraseRecognizer):
    """IP addresses: personal data under GDPR (online identifiers)."""

    name, kind, pii_type, sensitivity = "ip_address", PII, "ip_address", MEDIUM
    label = "an IP address"
    translations = ("direccion ip", "dirección ip", "adresse ip", "ip adresse", "indirizzo ip",
                    "endereco ip", "ip adres", "client addr", "ip nbr")
    phrases = ("ip", "ip address", "ip addr", "ipv4", "ipv6", "ip4", "ip6", "remote addr",
               "remote address", "client ip", "source ip", "src ip")


@name_recognizer
class DeviceId(PhraseRecognizer):
    """Device and advertising identifiers: online identifiers under GDPR."""

    name, kind, pii_type, sensitivity = "device_id", PII, "device_id", MEDIUM
    label = "a device identifier"
    translations = ("device identifier", "hardware id", "id dispositivo", "geraete id")
    phrases = ("device id", "mac address", "mac addr", "imei", "idfa", "advertising id",
               "gaid", "android id", "udid", "cookie id")
