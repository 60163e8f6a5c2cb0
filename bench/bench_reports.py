"""Benchmark: the statistics dashboard over 1,000,000 applicants on PostgreSQL.

A scratch database is created on the server, migrated, and loaded with COPY:
  - applicants: placeholder rows, marked erased with NULL ciphertexts (the statistics never
    read an applicant row; they only need the ids that cards and applications point to);
  - one application per applicant, submitted evenly over --months months up to now: ~85%
    approved (then printed or issued), 8% rejected, the rest waiting or withdrawn, with enrolment
    site, age band, gender designation and language drawn at random;
  - a card per approved application, released in daily print batches; renewals (3%) and
    replacements (2%) as extra cards without an application; revocations (lost, stolen, damaged,
    fraud, superseded); reprints;
  - 200 partners of the four kinds with a usage count for every day.
Then it times the dashboard service (the default twelve months, and every month loaded) and the
HTTP page and CSV as a signed-in admin, each --runs times after one warm-up, and reports p50/p99.
The first view after loading also stores the months (and this month's days) that have ended:
its time is shown apart.

Usage (from the repository root, with the virtual environment):
    .venv/bin/python bench/bench_reports.py --postgres postgresql://postgres@127.0.0.1:5432/test
Options: --applicants N (default 1000000), --months N (default 36), --runs N (default 30).
The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from flask import Flask  # noqa: E402
from flask_migrate import upgrade  # noqa: E402
from psycopg import sql  # noqa: E402

from idsys import create_app  # noqa: E402
from idsys.audit.services import SYSTEM  # noqa: E402
from idsys.auth import services as auth  # noqa: E402
from idsys.auth.models import Role  # noqa: E402
from idsys.crypto import FileKeyProvider, KeyPurpose, KeyRing  # noqa: E402
from idsys.db import db  # noqa: E402
from idsys.policy import local_date  # noqa: E402
from idsys.reports import services  # noqa: E402

SITES = ("main", "north-library", "south", "east", "city-hall")
BANDS = ("0-13", "14-17", "18-24", "25-34", "35-44", "45-54", "55-64", "65+")
BAND_WEIGHTS = (2, 3, 14, 26, 22, 15, 10, 8)
GENDERS = ("F", "M", "X", "none")
GENDER_WEIGHTS = (48, 47, 1, 4)
LANGUAGES = ("es", "en", "zh", "bn", "ht", "fr", "ar", "ru", "pl", "ko", "wo", "nah", "none")
LANGUAGE_WEIGHTS = (40, 25, 8, 5, 5, 4, 3, 3, 2, 2, 1, 1, 1)
REJECTIONS = (
    "identity_insufficient",
    "residency_insufficient",
    "residency_insufficient,documents_doubtful",
    "duplicate_enrolment",
    "under_minimum_age",
    "other",
)
PARTNER_KINDS = ("library", "bank", "clinic", "other")
PASSWORD = "bench statistics password"


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {p50 * 1e3:.1f} ms, p99 {p99 * 1e3:.1f} ms, max {ordered[-1] * 1e3:.1f} ms"


def timed(runs: int, work: Callable[[], object]) -> list[float]:
    work()  # warm-up
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        samples.append(time.perf_counter() - start)
    return samples


class Loader:
    """Generates the synthetic programme and streams it into PostgreSQL with COPY."""

    def __init__(self, conn: psycopg.Connection[Any], applicants: int, months: int) -> None:
        self.conn = conn
        self.applicants = applicants
        self.now = datetime.now(UTC)
        self.start = self.now - timedelta(days=round(months * 30.44))
        self.span = (self.now - self.start).total_seconds()
        self.random = random.Random(169)  # the same programme on every run
        self.card_id = 0

    def _copy(self, table: str, columns: tuple[str, ...], rows: Iterator[tuple[Any, ...]]) -> int:
        count = 0
        with (
            self.conn.cursor() as cursor,
            cursor.copy(
                sql.SQL("COPY {} ({}) FROM STDIN").format(
                    sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
                )
            ) as copy,
        ):
            for row in rows:
                copy.write_row(row)
                count += 1
        return count

    def load(self) -> None:
        rnd = self.random
        ids = [uuid.UUID(int=rnd.getrandbits(128), version=4) for _ in range(self.applicants)]
        started = time.perf_counter()
        self._copy(
            "applicants",
            ("id", "created_at", "updated_at", "erased_at"),
            ((i, self.start, self.start, self.start) for i in ids),
        )
        approved: list[tuple[int, uuid.UUID, datetime]] = []
        self._copy(
            "applications",
            (
                "id",
                "reference",
                "intake_token",
                "applicant_id",
                "kind",
                "status",
                "policy_id",
                "has_caretaker",
                "created_by",
                "created_at",
                "updated_at",
                "submitted_at",
                "decided_at",
                "decision_codes",
                "age_band",
                "site",
                "gender_designation",
                "preferred_language",
            ),
            self._applications(ids, approved),
        )
        print(f"  applicants and applications: {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        self._cards(approved)
        self._partners()
        with self.conn.cursor() as cursor:
            for table in ("applications", "cards", "print_batches"):  # ids were given explicitly
                cursor.execute(
                    sql.SQL(
                        "SELECT setval(pg_get_serial_sequence({name}, 'id'), "
                        "(SELECT max(id) FROM {table}))"
                    ).format(name=sql.Literal(table), table=sql.Identifier(table))
                )
        self.conn.commit()
        print(f"  cards, batches and partner usage: {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        self.conn.autocommit = True
        self.conn.execute("VACUUM ANALYZE")
        self.conn.autocommit = False
        print(f"  VACUUM ANALYZE: {time.perf_counter() - started:.1f} s")

    def _applications(
        self, ids: list[uuid.UUID], approved: list[tuple[int, uuid.UUID, datetime]]
    ) -> Iterator[tuple[Any, ...]]:
        rnd = self.random
        for n, applicant_id in enumerate(ids, start=1):
            submitted = self.start + timedelta(seconds=self.span * n / (len(ids) + 1))
            decided = submitted + timedelta(hours=rnd.uniform(2, 120))
            outcome = rnd.random()
            codes = band = gender = language = None
            if decided > self.now or outcome < 0.04:
                status, decided_at = "submitted", None
            elif outcome < 0.07:
                status, decided_at = "withdrawn", decided
            elif outcome < 0.15:
                status, decided_at, codes = "rejected", decided, rnd.choice(REJECTIONS)
            else:
                status, decided_at, codes = rnd.choice(("issued", "issued", "printed")), decided, ""
                approved.append((n, applicant_id, decided))
            if status in {"rejected", "issued", "printed"}:
                band = rnd.choices(BANDS, BAND_WEIGHTS)[0]
                gender = rnd.choices(GENDERS, GENDER_WEIGHTS)[0]
                language = rnd.choices(LANGUAGES, LANGUAGE_WEIGHTS)[0]
            yield (
                n,
                f"B{n:09d}",
                f"bench-{n}",
                applicant_id,
                "new",
                status,
                "mexico_city",
                False,
                1,
                submitted,
                submitted,
                submitted,
                decided_at,
                codes or ("rules_satisfied" if status in {"issued", "printed"} else None),
                band,
                rnd.choice(SITES),
                gender,
                language,
            )

    def _cards(self, approved: list[tuple[int, uuid.UUID, datetime]]) -> None:
        """A card per approval, in a daily print batch; some are later replaced (revoked as
        lost, stolen or damaged), renewed (superseded) or revoked for fraud; a few reprinted."""
        rnd = self.random
        batches: dict[date, int] = {}
        cards: list[list[Any]] = []
        items: list[tuple[int, int, int, str]] = []

        def batch_for(moment: datetime) -> int:
            day = min(moment + timedelta(days=1), self.now).date()
            return batches.setdefault(day, len(batches) + 1)

        def card(applicant: uuid.UUID, application: int | None, at: datetime, kind: str) -> int:
            self.card_id += 1
            items.append((batch_for(at), self.card_id, len(items) + 1, kind))
            expires = at.date() + timedelta(days=4 * 365)
            # id, number, applicant, application, status, issued_at, issued_on, expires_on,
            # revoked_at, revocation_reason, superseded_by, created_at
            number = f"{self.card_id:012d}"
            row = [self.card_id, number, applicant, application, "active", at, at.date()]
            cards.append([*row, expires, None, None, None, at])
            return self.card_id

        def revoke(row: list[Any], at: datetime, reason: str) -> None:
            row[4], row[8], row[9] = "revoked", at, reason

        for application, applicant, decided in approved:
            first = card(applicant, application, decided, "new")
            row = cards[-1]
            fate = rnd.random()
            later = decided + timedelta(days=rnd.uniform(30, 700))
            if fate < 0.05 and later < self.now:
                lost = fate < 0.02
                revoke(
                    row, later, rnd.choice(("lost", "stolen", "damaged")) if lost else "superseded"
                )
                row[10] = card(applicant, None, later, "replacement" if lost else "renewal")
            elif fate < 0.051 and decided + timedelta(days=90) < self.now:
                revoke(row, decided + timedelta(days=90), "fraud")
            if rnd.random() < 0.01:
                items.append((batch_for(decided), first, len(items) + 1, "reprint"))
        self._copy(
            "print_batches",
            ("id", "status", "released_by", "released_at", "render_done"),
            (
                (n, "printed", 1, datetime.combine(day, datetime.min.time(), UTC), 0)
                for day, n in batches.items()
            ),
        )
        self._copy(
            "cards",
            (
                "id",
                "number",
                "applicant_id",
                "application_id",
                "status",
                "issued_at",
                "issued_on",
                "expires_on",
                "revoked_at",
                "revocation_reason",
                "superseded_by",
                "created_at",
            ),
            (tuple(row) for row in cards),
        )
        self._copy("print_batch_items", ("batch_id", "card_id", "position", "kind"), iter(items))
        print(f"  {len(cards):,} cards in {len(batches):,} batches, {len(items):,} batch items")

    def _partners(self) -> None:
        rnd = self.random
        partners = [(n, f"Partner {n}", PARTNER_KINDS[n % 4]) for n in range(1, 201)]
        self._copy(
            "partners",
            ("id", "name", "kind", "contact", "scope", "daily_quota", "is_enabled", "created_at"),
            ((n, name, kind, "", "status", 5000, True, self.start) for n, name, kind in partners),
        )
        days = (self.now.date() - self.start.date()).days + 1
        rows = (
            (n, self.start.date() + timedelta(days=d), rnd.randint(0, 60))
            for n, _name, _kind in partners
            for d in range(days)
        )
        count = self._copy("partner_usage", ("partner_id", "day", "count"), rows)
        print(f"  {count:,} partner usage days")


def _app(url: str, workdir: Path) -> Flask:
    keys = KeyRing.open(
        FileKeyProvider(workdir / "keyring.json", strict_permissions=True),
        generate_missing=True,
        required=tuple(KeyPurpose),
    )
    return create_app(
        "test",
        {
            "DATABASE_URL": url,
            "INSTANCE_PATH": str(workdir / "instance"),
            "KEYRING": keys,
            "SECRET_KEY": "bench-" + "x" * 40,
            "RATELIMIT_STORAGE_URI": "memory://",
        },
    )


def run(url: str, applicants: int, months: int, runs: int, workdir: Path) -> None:
    app = _app(url, workdir)
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
        user, _ = auth.create_user(
            db.session,
            app.extensions["idsys.keyring"],
            SYSTEM,
            username="bench.admin",
            display_name="Bench",
            role=Role.ADMIN,
            password=PASSWORD,
        )
        user.must_change_password = False
        db.session.commit()
    print(f"Loading {applicants:,} applicants over {months} months (COPY):")
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        Loader(conn, applicants, months).load()

    with app.app_context():
        policy = app.extensions["idsys.policy"]
        today = local_date(policy, datetime.now(UTC))
        default = services.default_period(today)
        everything = services.Period(services.add_months(default.last, -(months - 1)), default.last)

        def view(period: services.Period) -> None:
            services.dashboard(db.session, policy, period, now=datetime.now(UTC))
            db.session.commit()

        start = time.perf_counter()
        view(everything)
        print(
            f"First view ({len(everything.months())} months; stores the months and the days of "
            f"this month that have ended): {time.perf_counter() - start:.2f} s"
        )
        print(f"Dashboard service, default period ({len(default.months())} months), {runs} runs:")
        print("  " + percentiles(timed(runs, lambda: view(default))))
        print(f"Dashboard service, all {len(everything.months())} months, {runs} runs:")
        print("  " + percentiles(timed(runs, lambda: view(everything))))
        print(f"  of which counting today live: {runs} runs:")
        day = services.Span.DAY
        print(
            "  "
            + percentiles(timed(runs, lambda: services.count_span(db.session, policy, today, day)))
        )
        print(f"  one month counted whole from the rows (history, first view only), {runs} runs:")
        month = services.add_months(default.last, -1)
        whole = services.Span.MONTH
        print(
            "  "
            + percentiles(
                timed(runs, lambda: services.count_span(db.session, policy, month, whole))
            )
        )

    client = app.test_client()
    login = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', login)
    assert token, "no CSRF token on /login"
    signed = client.post(
        "/login",
        data={"csrf_token": token.group(1), "username": "bench.admin", "password": PASSWORD},
    )
    assert signed.status_code == 302, signed.status_code

    def get(path: str, query: dict[str, str] | None = None) -> None:
        response = client.get(path, query_string=query)
        assert response.status_code == 200, response.status_code

    full = {"start": everything.first.isoformat(), "end": today.isoformat()}
    print(f"HTTP GET /statistics/ (default period, render included), {runs} runs:")
    print("  " + percentiles(timed(runs, lambda: get("/statistics/"))))
    print(f"HTTP GET /statistics/ (all {len(everything.months())} months), {runs} runs:")
    print("  " + percentiles(timed(runs, lambda: get("/statistics/", full))))
    print(f"HTTP GET /statistics/figures.csv (default period), {runs} runs:")
    print("  " + percentiles(timed(runs, lambda: get("/statistics/figures.csv"))))
    app.extensions["idsys.db"].engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--postgres", metavar="URL", required=True)
    parser.add_argument("--applicants", type=int, default=1_000_000)
    parser.add_argument("--months", type=int, default=36)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    if not 2 <= args.months <= services.MAX_MONTHS:
        parser.error(f"--months must be between 2 and {services.MAX_MONTHS}")
    name = f"idsys_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.postgres, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        with tempfile.TemporaryDirectory() as tmp:
            url = args.postgres.rsplit("/", 1)[0] + "/" + name
            run(url, args.applicants, args.months, args.runs, Path(tmp))
    finally:
        with psycopg.connect(args.postgres, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
