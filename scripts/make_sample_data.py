"""Regenerate the demo's bundled sample data (src/lacuna/data/*.csv), deterministically.

    python scripts/make_sample_data.py

Every person is invented: names from short lists, e-mails at example.com/example.org (reserved
for documentation), phone numbers in the fictional 555-01xx range.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "src" / "lacuna" / "data"
FIRST = [
    "Ada",
    "Ben",
    "Chloe",
    "Dev",
    "Elena",
    "Farid",
    "Grace",
    "Hugo",
    "Ines",
    "Jonas",
    "Kira",
    "Liam",
    "Maya",
    "Noah",
    "Olga",
    "Priya",
    "Quinn",
    "Rosa",
    "Sam",
    "Tara",
]
LAST = [
    "Abbott",
    "Berg",
    "Castro",
    "Dubois",
    "Eze",
    "Fischer",
    "Garcia",
    "Hansen",
    "Ito",
    "Jensen",
    "Kowalski",
    "Lopez",
    "Moreau",
    "Nakamura",
    "Okafor",
    "Petrov",
]
STREETS = ["Maple Street", "Oak Avenue", "Harbor Road", "Elm Court", "Mill Lane", "Park Drive"]
REGIONS = {
    "EMEA": ["Berlin", "Lyon", "Dublin"],
    "AMER": ["Denver", "Austin", "Boston"],
    "APAC": ["Osaka", "Perth", "Pune"],
    "LATAM": ["Lima", "Quito", "Recife"],
}
AREA = ["212", "303", "415", "512", "617", "720"]


def main() -> None:
    rng = random.Random(20250115)
    OUT.mkdir(parents=True, exist_ok=True)
    customers = []
    for i in range(1, 61):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        region = list(REGIONS)[i % len(REGIONS)]
        customers.append(
            {
                "customer_id": f"C{i:04d}",
                "name": f"{first} {last}",
                "email": f"{first.lower()}.{last.lower()}{i}@example.{'com' if i % 3 else 'org'}",
                "phone": f"+1 {rng.choice(AREA)}-555-01{rng.randrange(100):02d}",
                "address": f"{rng.randrange(1, 999)} {rng.choice(STREETS)}, "
                f"{rng.choice(REGIONS[region])}",
                "region": region,
                "signup_date": f"202{rng.randrange(2, 5)}-{rng.randrange(1, 13):02d}-"
                f"{rng.randrange(1, 29):02d}",
            }
        )
    with (OUT / "customers.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(customers[0]))
        writer.writeheader()
        writer.writerows(customers)
    with (OUT / "sales.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["order_id", "customer_id", "product_category", "revenue", "order_date"])
        for n in range(1, 241):
            c = rng.choice(customers)
            writer.writerow(
                [
                    f"O{n:05d}",
                    c["customer_id"],
                    rng.choice(["books", "garden", "toys", "audio", "kitchen"]),
                    f"{rng.uniform(5, 900):.2f}",
                    f"2025-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}",
                ]
            )


if __name__ == "__main__":
    main()
