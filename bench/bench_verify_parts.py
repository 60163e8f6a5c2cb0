"""Benchmark: what a partner verification's own work costs, with the drivers alone.

bench_verify.py measures verifications through gunicorn, Flask, Flask-Limiter and SQLAlchemy,
beside the same server's /healthz. This one measures the work a verification does on top of
/healthz, each part on its own and without the web stack: the two statements run through
psycopg (prepared, as psycopg does from a statement's sixth use), the rate-limit hit through the
`limits` strategy Flask-Limiter calls, the QR check through the same decoder, and the sealing of
the audit rows the writes produced. The sum, less the floor's own `SELECT 1`, is the least CPU
a verification can add to /healthz on this machine whatever serves it; bench/README.md sets it
beside the extra that bench_verify.py measures.

CPU is counted in this process (the client) and in the server process it talks to (the
PostgreSQL backend, Redis), from /proc.

Needs PostgreSQL and Redis.
    .venv/bin/python bench/bench_verify_parts.py \
        --postgres postgresql://postgres@127.0.0.1:5432/test --redis redis://127.0.0.1:6379/14 \
        [--count 3000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
import redis  # noqa: E402
from limits import parse as parse_limit  # noqa: E402
from limits.storage import storage_from_string  # noqa: E402
from limits.strategies import MovingWindowRateLimiter  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.dialects import postgresql  # noqa: E402

from bench.bench_verify import TODAY, _prepare, process_stat  # noqa: E402
from idsys import create_app  # noqa: E402
from idsys.audit.services import seal_all  # noqa: E402
from idsys.crypto import FileKeyProvider, KeyRing, apikeys  # noqa: E402
from idsys.crypto.claim169 import decode_and_verify  # noqa: E402
from idsys.db import db  # noqa: E402
from idsys.verification import services as partners  # noqa: E402

FLOOR = "SELECT 1 of /healthz (subtracted)"


def cpu_ms(pid: int | None) -> float:
    found = process_stat(pid) if pid is not None else None
    return 1000 * found[2] if found else 0.0


def timed(count: int, server_pid: int | None, step: Callable[[], Any]) -> tuple[float, float]:
    """(client, server) CPU milliseconds per call of ``step``, over ``count`` calls."""
    server = cpu_ms(server_pid)
    client = time.process_time()
    for _ in range(count):
        step()
    return (
        1000 * (time.process_time() - client) / count,
        (cpu_ms(server_pid) - server) / count,
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--postgres", required=True)
    parser.add_argument("--redis", required=True)
    parser.add_argument("--count", type=int, default=3000, help="calls of each part per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from tests.servers import scratch_database

    with (
        scratch_database(args.postgres, "idsys_bench") as url,
        tempfile.TemporaryDirectory() as tmp,
    ):
        qr, api_key = _prepare(url, Path(tmp))
        keys = KeyRing.open(
            FileKeyProvider(Path(tmp) / "keyring.json", strict_permissions=True),
            generate_missing=False,
            required=(),
        )
        app = create_app(
            "test",
            {
                "DATABASE_URL": url,
                "INSTANCE_PATH": str(Path(tmp) / "x"),
                "SECRET_KEY": "x" * 40,
                "KEYRING": keys,
            },
        )
        parts, sealing = _measure(args, url, app, keys, qr, api_key)
        app.extensions["idsys.db"].engine.dispose()

    print(
        f"{args.rounds} rounds of {args.count} calls per part; CPU ms per call, median over "
        "rounds (range)"
    )
    print(f"{'part':<40} {'client':>19} {'server':>19} {'both':>6}")
    extra = 0.0
    for label, runs in [*parts.items(), ("sealing its audit row (per row)", sealing)]:
        clients, servers = [c for c, _ in runs], [s for _, s in runs]
        both = statistics.median(c + s for c, s in runs)
        extra += -both if label == FLOOR else both
        print(f"{label:<40} {_spread(clients):>19} {_spread(servers):>19} {both:>6.3f}")
    print(f"a verification's own work over /healthz, drivers alone: {extra:.2f} ms of CPU")
    return 0


def _measure(
    args: argparse.Namespace, url: str, app: Any, keys: KeyRing, qr: str, api_key: str
) -> tuple[dict[str, list[tuple[float, float]]], list[tuple[float, float]]]:
    split = apikeys.split_key(api_key)
    assert split is not None
    prefix, secret = split
    number = decode_and_verify(qr, keys.verification_keys()).claims.card_number
    dialect = postgresql.psycopg.dialect()  # type: ignore[attr-defined]
    read = partners._KEY_AND_CARD.compile(dialect=dialect)
    write = partners._COUNT_AND_AUDIT.compile(dialect=dialect)
    read_sql, write_sql = str(read), str(write)
    read_params = read.construct_params({"prefix": prefix, "number": number})
    limiter = MovingWindowRateLimiter(storage_from_string(args.redis))
    limit = parse_limit("1000000 per minute")
    body = json.dumps({"qr": qr}).encode()

    with psycopg.connect(url, autocommit=True) as connection:
        backend = connection.execute("SELECT pg_backend_pid()").fetchone()
        assert backend is not None
        row = connection.execute(read_sql, read_params).fetchone()
        if row is None or row[8] is None:
            raise SystemExit("the benchmark's card was not found")
        partner = partners.PartnerContext(row[4], row[5], 10**9)
        connection.execute(
            "INSERT INTO partner_usage (partner_id, day, count) VALUES (%s, %s, 0)",
            (partner.id, TODAY),
        )
        outcome = partners.Verification("valid", card=partners._card_of(row))

        def count_and_audit() -> None:
            values = partners.deferred_values(
                keys,
                partners.Actor(None, partners.PARTNER_ACTOR_ROLE),
                "verification.check",
                target_type="card",
                target_id=row[8],
                detail=f"partner={partner.id};{outcome.result}",
            )
            params = {**values, "partner": partner.id, "today": TODAY, "quota": 10**9}
            connection.execute(write_sql, write.construct_params(params), prepare=True).fetchone()

        redis_pid = int(redis.Redis.from_url(args.redis).info("server")["process_id"])
        steps: dict[str, tuple[int | None, Callable[[], Any]]] = {
            FLOOR: (backend[0], lambda: connection.execute("SELECT 1", prepare=True).fetchone()),
            "key-and-card read": (
                backend[0],
                lambda: connection.execute(read_sql, read_params, prepare=True).fetchone(),
            ),
            "count + audit write (MAC, commit)": (backend[0], count_and_audit),
            "rate-limit hit (moving window)": (
                redis_pid,
                lambda: limiter.hit(limit, "bench", prefix),
            ),
            "QR decode + Ed25519 check": (
                None,
                lambda: decode_and_verify(qr, keys.verification_keys(), now=datetime.now(UTC)),
            ),
            "body, key digest, answer (JSON)": (
                None,
                lambda: (
                    json.loads(body),
                    apikeys.matches(secret, row[1]),
                    json.dumps(outcome.as_json()),
                ),
            ),
        }
        parts: dict[str, list[tuple[float, float]]] = {label: [] for label in steps}
        sealing: list[tuple[float, float]] = []
        with app.app_context():
            sealer = db.session.execute(text("SELECT pg_backend_pid()")).scalar_one()
            db.session.commit()
            seal_all(db.session, keys)  # the card's own events, before timing
            for _, step in steps.values():  # warm-up: psycopg prepares from the sixth use
                for _ in range(50):
                    step()
            for number_of_round in range(args.rounds):
                for label, (server, step) in steps.items():
                    parts[label].append(timed(args.count, server, step))
                before, started = cpu_ms(sealer), time.process_time()
                sealed = seal_all(db.session, keys)
                assert sealed >= args.count, (number_of_round, sealed)
                sealing.append(
                    (
                        1000 * (time.process_time() - started) / sealed,
                        (cpu_ms(sealer) - before) / sealed,
                    )
                )
    return parts, sealing


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} ({min(values):.3f}-{max(values):.3f})"


if __name__ == "__main__":
    sys.exit(main())
