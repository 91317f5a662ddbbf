#!/usr/bin/env python3
"""How long the adversarial card number takes against evil card number patterns.

For each pattern (each catastrophic for a backtracking engine), a brand admin saves it through the
API and a shopper adds a card whose number is a long run of matching characters and one that does
not match; the script prints the time of that request (the median and the slowest of ``--repeat``),
in process through Flask's test client, on a throwaway SQLite database. Every answer must be a 422:
the number does not match. The target is under 50 ms whatever pattern a brand saves.

    PYTHONPATH=. python scripts/bench_patterns.py [--repeat 20]
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

EVIL = [
    (r"(a+)+$", "a" * 30 + "!"),
    (r"^(\d+)+$", "1" * 30 + "!"),
    (r"^(a|aa)+$", "a" * 40 + "!"),
    (r"^(a|a?)+$", "a" * 30 + "!"),
    (r"^(\w+\s?)*$", "a" * 30 + "!"),
    (r"^(.*a){20}$", "a" * 30 + "!"),
    (r"^(\d+)+$", "1" * 127 + "!"),  # the longest number a card may have (128 characters)
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20, help="requests per pattern")
    args = parser.parse_args()

    from wallet import create_app
    from wallet.auth import secrets as auth_secrets
    from wallet.auth import services as auth_services
    from wallet.auth.models import Role, StaffMember
    from wallet.auth.tokens import SHOPPER_AUDIENCE, STAFF_AUDIENCE
    from wallet.brands.models import Brand
    from wallet.core.transaction import transaction
    from wallet.extensions import db

    password = "bench-password-123"
    with tempfile.TemporaryDirectory() as folder:
        app = create_app({"DATABASE_URL": f"sqlite:///{folder}/bench.db", "RATELIMIT_ENABLED": False,
                          "SECRET_KEY": secrets.token_urlsafe(48),
                          "ARGON2_TIME_COST": 1, "ARGON2_MEMORY_COST": 1024, "ARGON2_PARALLELISM": 1})
        with app.app_context():
            db.create_all()
            with transaction() as session:
                brand = Brand(name="Bench", name_key="bench", default_symbology="code128")
                session.add(brand)
                session.flush()
                session.add(StaffMember(brand_id=brand.id, email="admin@bench.test", display_name="Admin",
                                        password_hash=auth_secrets.hash_password(password), role=Role.BRAND_ADMIN))
            auth_services.sign_up_shopper(email="shopper@bench.test", password=password, display_name="Shopper")
            admin = {"Authorization": "Bearer " + auth_services.sign_in(
                audience=STAFF_AUDIENCE, email="admin@bench.test", password=password).access_token}
            shopper = {"Authorization": "Bearer " + auth_services.sign_in(
                audience=SHOPPER_AUDIENCE, email="shopper@bench.test", password=password).access_token}
            client = app.test_client()
            print(f"{'pattern':<16} {'number':<14} {'median ms':>10} {'max ms':>8}  status")
            for pattern, number in EVIL:
                saved = client.patch(f"/v1/brands/{brand.id}", json={"card_number_pattern": pattern}, headers=admin)
                if saved.status_code != 200:
                    print(f"{pattern:<16} refused when saved: {saved.get_json()['message']}")
                    continue
                timings, statuses = [], set()
                for _ in range(args.repeat):
                    started = time.perf_counter()
                    response = client.post("/v1/me/cards", json={"brand_id": str(brand.id), "number": number,
                                                                 "label": uuid.uuid4().hex[:8]}, headers=shopper)
                    timings.append((time.perf_counter() - started) * 1000)
                    statuses.add(response.status_code)
                shown = f"{number[:1]}×{len(number) - 1}+{number[-1]!r}"
                print(f"{pattern:<16} {shown:<14} {statistics.median(timings):>10.1f} {max(timings):>8.1f}  "
                      f"{','.join(map(str, sorted(statuses)))}")


if __name__ == "__main__":
    main()
