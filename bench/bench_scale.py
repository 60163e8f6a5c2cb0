"""Scale: 1,000,000 synthetic applicants with cards in PostgreSQL, and the look-ups that matter.

The generator writes what the application writes: a per-applicant data key wrapped by the KEK, an
AES-GCM profile, the five blind-index digests, a decided application with its reference, and an
active card with its number, all through the project's own crypto and normalisation code, in bulk
(multi-row INSERTs in batches). Then it times, each over many random samples:

- duplicate check (blind-index candidates, decrypt and rank),
- residents' status look-up (reference + date of birth),
- partner verification of a genuine QR (signature, card, status),
- staff search by reference number.

    .venv/bin/python bench/bench_scale.py --postgres postgresql://postgres@127.0.0.1:5432/test \
        [--applicants 1000000] [--samples 300] [--keep]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from sqlalchemy import insert, text  # noqa: E402

from idsys.applications import services as applications  # noqa: E402
from idsys.applications.matching import match_values  # noqa: E402
from idsys.applications.models import (  # noqa: E402
    Applicant,
    ApplicantMatchKey,
    Application,
)
from idsys.applications.profile import Address, ApplicantProfile  # noqa: E402
from idsys.applications.reference import new_reference  # noqa: E402
from idsys.audit.services import SYSTEM  # noqa: E402
from idsys.cards import services as cards  # noqa: E402
from idsys.cards.models import Card  # noqa: E402
from idsys.cards.numbers import new_card_number  # noqa: E402
from idsys.crypto import KeyPurpose, KeyRing, blind_index, new_data_key  # noqa: E402
from idsys.db import db  # noqa: E402
from idsys.verification import services as partners  # noqa: E402
from idsys.verification.models import PartnerKind, Scope  # noqa: E402
from tests.servers import migrated_app  # noqa: E402

TODAY = date(2026, 11, 22)
GIVEN = [
    "María",
    "José",
    "Nguyễn Thị",
    "Fatou",
    "Olena",
    "Wei",
    "Marie-Claire",
    "João",
    "Kwame",
    "Aisha",
    "Dmitri",
    "Guadalupe",
    "Thanh",
    "Ibrahim",
    "Rosa",
    "Jean",
    "Mei",
    "Carlos",
]
FAMILY = [
    "García",
    "Trần",
    "Diallo",
    "Kovalenko",
    "Li",
    "Jean-Baptiste",
    "Silva",
    "Mensah",
    "Hernández",
    "Nguyễn",
    "Pérez",
    "Okafor",
    "Dubois",
    "Rodríguez",
    "Kim",
    "Santos",
]
BATCH = 5000


def _profile(rng: random.Random, i: int) -> ApplicantProfile:
    born = date(1940, 1, 1) + timedelta(days=rng.randrange(365 * 66))
    return ApplicantProfile(
        given_names=f"{rng.choice(GIVEN)} {rng.choice(GIVEN)}",
        family_names=f"{rng.choice(FAMILY)} {rng.choice(FAMILY)}",
        date_of_birth=born,
        address=Address(
            line1=f"Calle {i % 997} #{i % 89}",
            city="Ciudad de México",
            postal_code=f"0{6000 + i % 900}",
        ),
        phone=f"+52 55 {i % 10000:04d} {i % 7919:04d}",
        languages=("es",),
    )


def _generate(keys: KeyRing, count: int, seed: int) -> list[tuple[str, str, date]]:
    """Insert ``count`` people; returns a sample of (reference, card number, date of birth)."""
    rng = random.Random(seed)
    session = db.session
    kek_id = keys.active(KeyPurpose.KEK).kid
    sample: list[tuple[str, str, date]] = []
    issued_at = datetime(2026, 11, 1, tzinfo=UTC)
    started = time.perf_counter()
    # At a million, random 11-digit numbers collide a few times (the birthday bound); the app
    # retries on the unique index, the generator draws again.
    numbers: set[str] = set()
    references: set[str] = set()
    for offset in range(0, count, BATCH):
        people, matches, apps, card_rows = [], [], [], []
        for i in range(offset, min(count, offset + BATCH)):
            profile = _profile(rng, i)
            applicant_id = uuid.uuid4()
            dek, wrapped = new_data_key(keys, str(applicant_id))
            assert wrapped.kek_id == kek_id
            people.append(
                {
                    "id": applicant_id,
                    "kek_id": kek_id,
                    "wrapped_dek": wrapped.blob,
                    "profile_ct": dek.encrypt(
                        profile.to_json(), f"applicant|{applicant_id}|profile".encode()
                    ),
                    "created_at": issued_at,
                    "updated_at": issued_at,
                }
            )
            values = match_values(profile.given_names, profile.family_names, profile.date_of_birth)
            digests = {}
            for kind, value in values.items():
                key_id, digest = blind_index(keys, kind, value)
                digests.setdefault(digest, (kind, key_id))
            for digest, (kind, key_id) in digests.items():
                matches.append(
                    {"applicant_id": applicant_id, "kind": kind, "key_id": key_id, "digest": digest}
                )
            reference = new_reference()
            while reference in references:
                reference = new_reference()
            references.add(reference)
            apps.append(
                {
                    "reference": reference,
                    "intake_token": uuid.uuid4().hex,
                    "applicant_id": applicant_id,
                    "kind": "new",
                    "status": "issued",
                    "policy_id": "mexico_city",
                    "has_caretaker": False,
                    "created_by": 1,
                    "created_at": issued_at,
                    "updated_at": issued_at,
                    "submitted_at": issued_at,
                    "decided_at": issued_at,
                    "decided_by": 2,
                    "decision_codes": "rules_satisfied",
                    "identity_points": 1,
                    "residency_points": 1,
                    "rules_satisfied": True,
                    "documents_purged_at": issued_at,
                    "age_band": "25-34",
                }
            )
            number = new_card_number()
            while number in numbers:
                number = new_card_number()
            numbers.add(number)
            card_rows.append(
                {
                    "number": number,
                    "applicant_id": applicant_id,
                    "status": "active",
                    "issued_at": issued_at,
                    "issued_on": issued_at.date(),
                    "expires_on": date(2031, 11, 1),
                    "signing_kid": keys.active(KeyPurpose.SIGNING).kid,
                    "printed_at": issued_at,
                    "created_at": issued_at,
                }
            )
            if rng.random() < 0.001:
                sample.append((reference, number, profile.date_of_birth))
        session.execute(insert(Applicant), people)
        session.execute(insert(ApplicantMatchKey), matches)
        session.execute(insert(Application), apps)
        session.execute(insert(Card), card_rows)
        session.commit()
        done = min(count, offset + BATCH)
        if done % 100_000 == 0 or done == count:
            rate = done / (time.perf_counter() - started)
            print(f"  {done:>9,} applicants ({rate:,.0f}/s)", flush=True)
    session.execute(text("ANALYZE"))
    session.commit()
    return sample


def _time(label: str, samples: int, operation: Callable[[int], object]) -> None:
    durations = []
    for i in range(samples):
        start = time.perf_counter()
        operation(i)
        durations.append(time.perf_counter() - start)
        db.session.rollback()
        db.session.expunge_all()
    ordered = sorted(durations)
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
    print(f"  {label:<38} p50 {p50:7.2f} ms   p99 {p99:7.2f} ms   ({samples} samples)")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--postgres", required=True)
    parser.add_argument("--applicants", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()
    name = f"idsys_scale_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.postgres, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = args.postgres.rsplit("/", 1)[0] + "/" + name
    try:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            app, keys = migrated_app(url, workdir)
            with app.app_context():
                print(f"generating {args.applicants:,} applicants with cards ...")
                started = time.perf_counter()
                sample = _generate(keys, args.applicants, seed=20261122)
                print(
                    f"  done in {time.perf_counter() - started:.0f} s; "
                    f"{len(sample)} sampled for look-ups"
                )
                rules = app.extensions["idsys.policy"]
                _, api_key = partners.create_partner(
                    db.session,
                    keys,
                    SYSTEM,
                    name="Scale library",
                    kind=PartnerKind.LIBRARY,
                    contact="",
                    scope=Scope.STATUS,
                    daily_quota=1_000_000,
                )
                db.session.commit()
                qrs = []
                for reference, _number, _born in sample[: args.samples]:
                    application = applications.get_application(db.session, reference)
                    card = (
                        db.session.query(Card)
                        .filter_by(applicant_id=application.applicant_id)
                        .one()
                    )
                    applicant = db.session.get(Applicant, application.applicant_id)
                    assert applicant is not None
                    qrs.append(
                        cards.qr_text(keys, card, applicant, rules, "https://id.example.org")
                    )
                people = [
                    applications.read_profile(
                        keys,
                        applications.get_applicant(
                            db.session,
                            applications.get_application(db.session, ref).applicant_id
                            or uuid.uuid4(),
                        ),
                    )
                    for ref, _n, _b in sample[: args.samples]
                ]
                count = min(args.samples, len(sample))
                print(f"look-ups at {args.applicants:,} applicants:")
                _time(
                    "duplicate check (find_duplicates)",
                    count,
                    lambda i: applications.find_duplicates(
                        db.session,
                        keys,
                        people[i].given_names,
                        people[i].family_names,
                        people[i].date_of_birth,
                    ),
                )
                from idsys.residents import services as residents

                _time(
                    "status look-up (reference + DOB)",
                    count,
                    lambda i: residents.look_up_status(
                        db.session, keys, rules, sample[i][0], sample[i][2]
                    ),
                )
                _time(
                    "verification (genuine QR)",
                    count,
                    lambda i: partners.verify(
                        db.session, keys, api_key, partners.QrCheck(qrs[i]), today=TODAY
                    ),
                )
                _time(
                    "staff search by reference",
                    count,
                    lambda i: applications.get_application(db.session, sample[i][0]),
                )
            app.extensions["idsys.db"].engine.dispose()
    finally:
        if not args.keep:
            with psycopg.connect(args.postgres, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        else:
            print(f"kept database {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
