"""Benchmark: applicant encryption and data-key rotation.

Reports, per database:
  - encrypt+store: create_applicant (validate, new data key, AES-GCM profile, blind indexes,
    audit row, commit), per applicant;
  - load+decrypt: fetch by id and decrypt the profile, per applicant;
  - rotation of N applicants' data keys (re-wrap under a new KEK, batches of 1,000, commit each).

Usage (from the repository root, with the virtual environment):
    .venv/bin/python bench/bench_applicants.py --sqlite
    .venv/bin/python bench/bench_applicants.py --postgres postgresql://postgres@127.0.0.1/test
Options: --rotate N (default 100000), --sample N (default 1000).
The PostgreSQL run creates and drops its own scratch database on that server.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from sqlalchemy import insert  # noqa: E402

from idsys.applications import services  # noqa: E402
from idsys.applications.models import Applicant  # noqa: E402
from idsys.applications.profile import Address, ApplicantProfile  # noqa: E402
from idsys.audit.services import SYSTEM  # noqa: E402
from idsys.crypto import new_data_key  # noqa: E402
from idsys.db import db  # noqa: E402
from tests.servers import migrated_app  # noqa: E402

TODAY = date(2026, 11, 22)


def profile(i: int) -> ApplicantProfile:
    return ApplicantProfile(
        given_names=f"Nguyễn Thị {i}",
        family_names="García-Øster",
        date_of_birth=date(1980, 1, 1 + i % 28),
        address=Address(line1=f"Calle {i}", city="Ciudad de México", postal_code="06500"),
        phone="+52 55 1234 5678",
        email=f"p{i}@example.org",
        gender="F",
        languages=("es",),
    )


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    mean = statistics.fmean(ordered)
    return f"mean {mean * 1e3:.3f} ms, p50 {p50 * 1e3:.3f} ms, p99 {p99 * 1e3:.3f} ms"


def run(url: str, rotate: int, sample: int, workdir: Path) -> None:
    app, keys = migrated_app(url, workdir)
    with app.app_context():
        session = db.session
        writes, ids = [], []
        for i in range(sample):
            start = time.perf_counter()
            applicant = services.create_applicant(session, keys, SYSTEM, profile(i), today=TODAY)
            session.commit()
            writes.append(time.perf_counter() - start)
            ids.append(applicant.id)
        session.expunge_all()
        reads = []
        for applicant_id in ids:
            start = time.perf_counter()
            services.read_profile(keys, services.get_applicant(session, applicant_id))
            reads.append(time.perf_counter() - start)
            session.expunge_all()
        print(f"  encrypt+store ({sample}): {percentiles(writes)}")
        print(f"  load+decrypt  ({sample}): {percentiles(reads)}")

        # Seed the rest for the rotation with real envelope encryption, inserted in bulk.
        start = time.perf_counter()
        rows = []
        for i in range(rotate - sample):
            applicant_id = uuid.uuid4()
            dek, wrapped = new_data_key(keys, str(applicant_id))
            rows.append(
                {
                    "id": applicant_id,
                    "kek_id": wrapped.kek_id,
                    "wrapped_dek": wrapped.blob,
                    "profile_ct": dek.encrypt(
                        profile(i).to_json(), f"applicant|{applicant_id}|profile".encode()
                    ),
                }
            )
            if len(rows) == 5000:
                session.execute(insert(Applicant), rows)
                session.commit()
                rows = []
        if rows:
            session.execute(insert(Applicant), rows)
            session.commit()
        print(f"  seeded {rotate} applicants in {time.perf_counter() - start:.1f} s")

        start = time.perf_counter()
        report = services.rotate_data_keys(session, keys, batch_size=1000, settle_seconds=0)
        elapsed = time.perf_counter() - start
        print(
            f"  rotation of {report.rewrapped} data keys: {elapsed:.1f} s "
            f"({report.rewrapped / elapsed:,.0f} per second); retired {len(report.retired)}"
        )
    app.extensions["idsys.db"].engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sqlite", action="store_true")
    parser.add_argument("--postgres", metavar="URL")
    parser.add_argument("--rotate", type=int, default=100_000)
    parser.add_argument("--sample", type=int, default=1000)
    args = parser.parse_args()
    if not (args.sqlite or args.postgres):
        parser.error("choose --sqlite and/or --postgres URL")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        if args.sqlite:
            print("SQLite (file, WAL):")
            run(f"sqlite:///{workdir / 'bench.sqlite3'}", args.rotate, args.sample, workdir)
        if args.postgres:
            name = f"idsys_bench_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(args.postgres, autocommit=True) as admin:
                admin.execute(f'CREATE DATABASE "{name}"')
            try:
                print("PostgreSQL:")
                url = args.postgres.rsplit("/", 1)[0] + "/" + name
                run(url, args.rotate, args.sample, workdir / "pg")
            finally:
                with psycopg.connect(args.postgres, autocommit=True) as admin:
                    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
