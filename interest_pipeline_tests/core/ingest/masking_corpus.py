"""A corpus of real-looking user text for contact masking: what must be masked and what must stay.

Each kind is generated from formats written as data ('d' is a random digit) placed in sentences,
with a fixed seed, so the corpus is the same on every run. A contact case holds its expected
output (the contact replaced by its mask); a non-contact case must come back unchanged.

    python -m interest_pipeline_tests.core.ingest.masking_corpus

prints the confusion counts (masked / not masked per kind).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from interest_pipeline.core.ingest.privacy import EMAIL_MASK, PHONE_MASK, mask_contact_details

PER_KIND = 120


@dataclass(frozen=True)
class Case:
    kind: str
    text: str
    expected: str  # the masked text; equal to ``text`` for non-contact kinds

    @property
    def is_contact(self) -> bool:
        return self.text != self.expected


# A run of 'd' that touches no other lower-case letter is a run of random digits ("0170 ddddddd",
# "Gddd1B"), so that words such as "model" or "dpi" can be written as they are.
_DIGIT_PLACEHOLDERS = re.compile(r"(?<![a-ce-z])d+(?![a-ce-z])")


def fill(rng: random.Random, pattern: str) -> str:
    """The pattern with its digit placeholders replaced by random digits."""
    return _DIGIT_PLACEHOLDERS.sub(lambda m: "".join(str(rng.randrange(10)) for _ in m.group()), pattern)


# Phone numbers as written in many countries; the forms that only a label word makes a phone
# number ("555-1234" alone also reads as a range) are in LABELLED_PHONE_FORMATS.
PHONE_FORMATS = [
    "(2dd) 5dd-dddd",
    "2dd-5dd-dddd",
    "2dd.5dd.dddd",
    "+1 2dd 5dd dddd",
    "1-800-5dd-dddd",
    "+1 (2dd) 5dd-dddd",
    "2dd5dddddd",
    "1 (8dd) 5dd-dddd",  # United States, Canada
    "+44 20 7946 dddd",
    "020 7946 dddd",
    "07700 9ddddd",
    "+44 (0)7700 9ddddd",
    "01632 9ddddd",
    "0044 20 7946 dddd",  # UK
    "+49 30 dddddddd",
    "030 dddddddd",
    "0170 ddddddd",
    "0170/ddddddd",
    "+49 (0)170 ddddddd",
    "089-dddddddd",
    "0049 170 ddddddd",
    "0151 dddd dddd",  # Germany
    "01 23 dd dd dd",
    "06.12.dd.dd.dd",
    "+33 6 12 dd dd dd",
    "+33 (0)1 dd dd dd dd",
    "06 dd dd dd dd",  # France
    "912 345 ddd",
    "+34 612 dd dd dd",
    "612 34 dd dd",  # Spain
    "02 1234 dddd",
    "+39 333 ddd dddd",
    "333 ddd dddd",  # Italy
    "06-1234dddd",
    "+31 20 ddd dddd",
    "020-ddd dddd",  # Netherlands
    "03-1234-dddd",
    "090-1234-dddd",
    "+81 90-1234-dddd",  # Japan
    "138 0013 dddd",
    "13800dddddd",
    "+86 138 0013 dddd",
    "010-1234dddd",  # China
    "98765 4dddd",
    "+91 98765 4dddd",
    "022-2345-dddd",
    "9876543ddd",  # India
    "(11) 91234-dddd",
    "+55 11 91234-dddd",  # Brazil
    "8 (495) 123-dd-dd",
    "+7 495 123-dd-dd",
    "+7 (916) 123-45-dd",  # Russia
    "04dd ddd ddd",
    "(02) 9876 dddd",
    "+61 4dd ddd ddd",
    "1300 123 ddd",  # Australia
    "55 1234 dddd",
    "+52 55 1234 dddd",  # Mexico
    "010-1234-dddd",
    "+82 10-1234-dddd",  # Korea
    "082 123 dddd",
    "+27 82 123 dddd",  # South Africa
    "044 668 dd dd",
    "+41 44 668 dd dd",  # Switzerland
    "070-123 dd dd",
    "+46 70 123 dd dd",  # Sweden
    "512 345 ddd",
    "+48 512 345 ddd",  # Poland
    "0532 123 dd dd",
    "+90 532 123 dd dd",  # Turkey
    "9123 dddd",
    "+65 9123 dddd",
    "+852 2123 dddd",
    "6123 dddd",  # Singapore, Hong Kong
    "050-123-dddd",
    "+972 50-123-dddd",  # Israel
    "087 123 dddd",
    "+353 87 123 dddd",  # Ireland
    "0803 123 dddd",
    "+234 803 123 dddd",  # Nigeria
    "011 4123-dddd",
    "+54 9 11 4123-dddd",  # Argentina
    "0917 123 dddd",
    "+63 917 123 dddd",  # Philippines
    "0812-3456-dddd",
    "+62 812-3456-dddd",  # Indonesia
    "20 12 dd dd",
    "+45 20 12 dd dd",  # Denmark
    "412 34 ddd",
    "+47 412 34 ddd",  # Norway
    "091 234 dd dd",
    "+84 91 234 dd dd",  # Vietnam
    "081 234 dddd",
    "+66 81 234 dddd",  # Thailand
    "021 123 dddd",
    "+64 21 123 dddd",  # New Zealand
    "+20 10 1234 dddd",
    "+971 50 123 dddd",
    "+966 50 123 dddd",
    "+351 912 345 ddd",
    "+30 691 234 dddd",
]
LABELLED_PHONE_FORMATS = ["5dd-dddd", "5dd dddd", "dddddddd", "23 45 67 dd"]
PHONE_SENTENCES = [
    "call me on {}",
    "Call {} for the warranty",
    "my number is {}",
    "text me at {} if it's still available",
    "{} - ask for Anna",
    "WhatsApp {}",
    "tel. {}",
    "Tel.: {}",
    "phone: {}",
    "reach the seller on {} (evenings)",
    "Ring {} before 9",
    "contact: {}",
    "Fax {}",
    "Mobil/Handy: {}",
    "電話 {}",
    "the hotline {} was useless",
    "I called {} three times",
    "or just call {}.",
    "numéro : {}",
    "seller's phone {}, very helpful",
    "{}",
    "questions? {}",
    "Kontakt {} ab 18 Uhr",
    "call {} in the evening",
    "{} or e-mail",
    "ring {} at 6",
    "Tel {} (Mo-Fr)",
    "{} m-f 9-5",
]
LABELLED_PHONE_SENTENCES = [
    "call me on {}",
    "tel. {}",
    "phone: {}",
    "Ring {} before 9",
    "WhatsApp {}",
    "my cell {}",
    "Tel.: {}",
]

EMAIL_LOCALS = [
    "jo.doe",
    "anna_k",
    "m.mueller",
    "bob%work",
    "first.last+shop",
    "li.wei1987",
    "x",
    "O'Neil",
    "sales-team",
    "r2d2",
]
EMAIL_DOMAINS = [
    "example.com",
    "mail.example.co.uk",
    "uni-bonn.de",
    "posteo.de",
    "gmail.com",
    "web.de",
    "shop.example.org",
    "qq.com",
]
EMAIL_FORMS = [
    "{local}@{domain}",
    "{local}@{domain}",
    "{local}@{domain}",
    "{upper}@{domain}",
    "{local}\uff20{domain}",
    "{local} [at] {spelt}",
    "{local}(at){domain}",
    "{local} (at) {spelt_brackets}",
    "{word} at {spelt}",
    "{local}{{at}}{domain}",
    "{local} <at> {domain}",
]
EMAIL_SENTENCES = [
    "mail me: {}",
    "write to {} please",
    "{}",
    "contact {} for returns",
    "send it to {}.",
    "my email is {} (work)",
    "Email {} and ask for the invoice",
    "questions to {} - thanks!",
    "E-Mail: {}",
    "reach me at {} anytime",
]

YEAR_RANGE_FORMS = ["{a}-{b}", "{a} - {b}", "{a}/{b}", "{a}-{b2}", "{a}–{b}", "{a} to {b}"]
YEAR_RANGE_SENTENCES = [
    "used it {} without problems",
    "fits the {} models",
    "we owned it {}",
    "the {} edition is better",
    "made {}",
    "bought every year ({})",
    "tested on cars from {}",
    "{} was the golden age of this brand",
]
PRICE_FORMS = [
    "${a}-{b}",
    "$1,{c}.99",
    "€ 1.{c},00",
    "{a} €",
    "£{a}.50",
    "{a}-{b} USD",
    "USD {a}-{b}",
    "¥{a}{c}",
    "Rs. {a}{c}",
    "{a},99 €",
    "€{a}-{b}",
    "$2,{c},000",
    "€1.{c}.000",
    "{a} {c} 000 ₽",
    "CHF {a}-{b}",
    "{a}-{b} EUR",
    "${a}.{c}",
]
PRICE_SENTENCES = [
    "paid {} for two",
    "was {} last week",
    "price dropped to {}",
    "worth {}",
    "expected {} but got more",
    "sells for {} elsewhere",
    "{} is too much",
    "cost me {} with shipping",
]
MEASUREMENT_FORMS = [
    "{a}-{b}mg",
    "{a}-{b} mg",
    "{a}-{b}mAh",
    "{a}-{b} MHz",
    "{a}-{b}K",
    "{a}-{b} W",
    "{a}-{b}ml",
    "{a}-{b} rpm",
    "{a} {b} mAh",
    "{a}-{b} steps",
    "{a}-{b}kcal",
    "{a}-{b} lbs",
    "{a}-{b}GB",
    "{a}-{b} dpi",
    "{a}-{b}%",
]
MEASUREMENT_SENTENCES = [
    "take {} daily",
    "battery is {}",
    "rated {}",
    "colour temperature {}",
    "draws {}",
    "holds {}",
    "spins at {}",
    "I do {} a day",
    "supports {}",
    "about {} in my tests",
]
CODE_FORMS = [
    "dd3-0dddd",
    "753-0dddd",
    "dddd-ddddd",
    "ddddd-ddd",
    "d-ddddd-ddd-d",
    "978-3-dd-dddddd-d",
    "978-0-ddd-ddddd-d",
    "40ddddddddddd",
    "03dddddddddd",
    "dd3-dd-ddd-d",
    "A7-ddddddd",
    "SKU-dddddddd",
    "X-dddd-ddddd",
]
CODE_SENTENCES = [
    "replacement part {} fits",
    "the code {} on the box",
    "look for {} on the label",
    "{} is printed inside",
    "filter {} works too",
    "came with {}",
    "use cartridge {}",
    "{}",
]
DATE_FORMS = [
    "{y}-{m}-{d}",
    "{d}/{m}/{y}",
    "{m}/{d}/{y}",
    "{y}-{m}-{d} {H}:{M}:{S}",
    "{y}-{m}-{d}T{H}:{M}:{S}Z",
    "{d}.{m}.{y}",
    "{d}.{m}.{y2}",
    "{y}/{m}/{d}",
    "{m}-{d}-{y} {H}:{M}",
    "{y}.{m}.{d}",
    "{d} {m} {y}",
    "{y}-{m}-{d} {H}:{M}",
    "{y}{m}{d}",
    "{H}:{M}-{H2}:{M}",
]
DATE_SENTENCES = [
    "ordered on {}",
    "arrived {} as promised",
    "since {} it works",
    "delivered {}",
    "{} - still fine",
    "review updated {}",
    "returned it on {}",
    "opening hours {}",
]
ORDER_FORMS = [
    "order {n10}",
    "Order #ddd-ddddddd-ddddddd",
    "order no. 0170dddddd",
    "invoice 2026-00dddd",
    "tracking 1Z999AAdddddddddd",
    "ref 555dddddddd",
    "Bestellnummer 302dddddddd",
    "ticket #45ddddd",
    "confirmation {n10}",
    "ddd-ddddddd-ddddddd",
    "order number 0151 dddd dddd",
    "case 0dddddddddd",
    "Auftrag 0170-ddddddd",
    "order #{n10}",
    "receipt 20dd ddd dddd",
]
ORDER_SENTENCES = ["{} never arrived", "about {}: refund please", "my {} was late", "re {}", "{} shipped in two boxes"]
MODEL_FORMS = [
    "model {n10}",
    "Model dddd-dddd",
    "SM-Gddd1B",
    "WH-1000XMd",
    "KD-55Xd5J",
    "model no. 0170 ddd dddd",
    "part 0d-dddd-dddd",
    "P/N 123-ddd-dddd",
    "serial 0ddddddddd",
    "article 98765 ddddd",
    "item 2dd 5dd dddd",
    "ISBN 0-ddd-ddddd-d",
    "ASIN 0ddddddddd",
    "RTX 30d0",
    "Dell XPS 93d0",
    "iPhone 1d Pro",
    "model 555-dddd",
]
MODEL_SENTENCES = ["{} works great", "bought the {}", "the {} is louder", "compared to {}", "{} replaced my old one"]

# Ids as stored in event rows (event_id, item_id, user_id): masking must never change them.
IDENTIFIER_FORMS = [
    "amz-review-AEdddXYZ-B0dddddd-1588ddddddddd",
    "amz-purchase-AGddd-B07XddddK-16dddddddddd",
    "ml-rate-dd-ddd-12607ddddd",
    "ml-tag-ddd-dddd-1445dddddd-ab12",
    "mind-dddddd-dd",
    "mind-hist-Uddddd-Ndddd",
    "ev-2026dddd-dddddd",
    "e-2026-10-0d 12:30:00-d",
    "17914536ddd",
    "0170/ddddddd",
    "+49 170 ddddddd",
    "2026-10-0dT12:30:00-ddd",
    "u_0151dddddddd",
    "item-0dd-ddd-dddd",
]

# Known limits, with the outcome the masking gives (True: masked). Listed so that a change shows.
LIMITS = [
    ("local number without a label: reads as a range", "available 555-1234 weekdays", False),
    ("a spelt-out domain after a bare 'at'", "I looked at amazon dot com first", True),
    ("a ten-digit order number without a label", "2345678901 never arrived", True),
    ("a 2-3-3 code without a label has a phone's form", "use cartridge 12-345-678", True),
    ("dotted thousands in a count", "12.345.678 visitors", False),
    ("a phone label before a range: the unit after it decides", "I'd call it a 1000-2000 word essay", False),
]


def _years(rng: random.Random) -> dict:
    a = rng.randrange(1960, 2025)
    b = rng.randrange(a + 1, 2027)
    return {"a": a, "b": b, "b2": f"{b % 100:02d}"}


def _range(rng: random.Random) -> dict:
    a = rng.randrange(1, 90) * 100
    return {"a": a, "b": a + rng.randrange(1, 50) * 100, "c": f"{rng.randrange(1000):03d}"}


def _date(rng: random.Random) -> dict:
    return {
        "y": rng.randrange(1990, 2031),
        "y2": f"{rng.randrange(100):02d}",
        "m": f"{rng.randrange(1, 13):02d}",
        "d": f"{rng.randrange(1, 29):02d}",
        "H": f"{rng.randrange(24):02d}",
        "H2": f"{rng.randrange(24):02d}",
        "M": f"{rng.randrange(60):02d}",
        "S": f"{rng.randrange(60):02d}",
    }


def _cases(
    kind: str, seed: int, forms: list[str], sentences: list[str], values=None, mask: str | None = None
) -> list[Case]:
    """PER_KIND cases: every form at least once, in sentences drawn at random."""
    rng = random.Random(seed)
    cases = []
    for i in range(max(PER_KIND, len(forms))):
        form = forms[i % len(forms)]
        filled = fill(rng, form.format(**values(rng)) if values else form)
        sentence = rng.choice(sentences)
        cases.append(Case(kind, sentence.format(filled), sentence.format(mask) if mask else sentence.format(filled)))
    return cases


def _email_values(rng: random.Random) -> dict:
    local, domain = rng.choice(EMAIL_LOCALS), rng.choice(EMAIL_DOMAINS)
    return {
        "local": local,
        "upper": local.upper(),
        "domain": domain,
        "spelt": domain.replace(".", " dot "),
        "spelt_brackets": domain.replace(".", " (dot) "),
        "word": local.replace(".", " dot ").replace("%", ""),
    }


def _email_cases() -> list[Case]:
    rng = random.Random(2)
    cases = []
    for i in range(max(PER_KIND, len(EMAIL_FORMS))):
        address = EMAIL_FORMS[i % len(EMAIL_FORMS)].format(**_email_values(rng))
        sentence = rng.choice(EMAIL_SENTENCES)
        cases.append(Case("email", sentence.format(address), sentence.format(EMAIL_MASK)))
    return cases


def corpus() -> list[Case]:
    ten_digits = lambda rng: {"n10": fill(rng, "2ddd5ddddd")}  # noqa: E731
    return [
        *_cases("phone", 1, PHONE_FORMATS, PHONE_SENTENCES, mask=PHONE_MASK),
        *_cases("phone with label", 11, LABELLED_PHONE_FORMATS, LABELLED_PHONE_SENTENCES, mask=PHONE_MASK),
        *_email_cases(),
        *_cases("year range", 3, YEAR_RANGE_FORMS, YEAR_RANGE_SENTENCES, _years),
        *_cases("price or price range", 4, PRICE_FORMS, PRICE_SENTENCES, _range),
        *_cases("measurement or range with unit", 5, MEASUREMENT_FORMS, MEASUREMENT_SENTENCES, _range),
        *_cases("product code", 6, CODE_FORMS, CODE_SENTENCES),
        *_cases("date or time", 7, DATE_FORMS, DATE_SENTENCES, _date),
        *_cases("order number", 8, ORDER_FORMS, ORDER_SENTENCES, ten_digits),
        *_cases("model or part number", 9, MODEL_FORMS, MODEL_SENTENCES, ten_digits),
    ]


def identifiers() -> list[str]:
    rng = random.Random(10)
    return [fill(rng, IDENTIFIER_FORMS[i % len(IDENTIFIER_FORMS)]) for i in range(max(PER_KIND, len(IDENTIFIER_FORMS)))]


def confusion_counts(cases: list[Case]) -> dict[str, dict[str, int]]:
    """Per kind: how many came back masked (exactly as expected, for contact kinds) and how many not.

    A contact case counts as masked only when its output is the expected one (the contact and
    nothing else replaced); a non-contact case counts as masked when its output differs at all.
    """
    counts: dict[str, dict[str, int]] = {}
    for case in cases:
        out = mask_contact_details(case.text)
        masked = out == case.expected if case.is_contact else out != case.text
        row = counts.setdefault(case.kind, {"masked": 0, "not masked": 0})
        row["masked" if masked else "not masked"] += 1
    return counts


def main() -> None:
    counts = confusion_counts(corpus())
    print(f"{'kind':34s} {'masked':>7s} {'not masked':>11s}")
    for kind, row in counts.items():
        print(f"{kind:34s} {row['masked']:>7d} {row['not masked']:>11d}")
    for name, text, masked in LIMITS:
        print(f"limit: {name}: {text!r} -> {mask_contact_details(text)!r} (masked: {masked})")


if __name__ == "__main__":
    main()
