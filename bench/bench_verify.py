"""Benchmark: partner verifications per second and p99 latency under gunicorn, beside /healthz.

One run: a scratch PostgreSQL database is created and migrated, a card is issued and a partner
registered; gunicorn serves the app (production config, Redis rate-limit storage, N workers);
wrk drives first GET /healthz (the floor: the cheapest request that touches the database) and
then POST /api/v1/verifications with a real signed QR at the same concurrency. Every
verification is audited as in production (an intake row, sealed into the hash chain in batches);
the audit rows are counted at the end. --sealer chooses who seals: a thread in each gunicorn
worker (the default configuration), or `flask idsys audit-seal --every 0.25` as a process of its
own, with IDSYS_AUDIT_SEAL_INTERVAL=0 (its CPU is counted as "sealer").

Needs: wrk (Debian package wrk), PostgreSQL and Redis.
    .venv/bin/python bench/bench_verify.py --postgres postgresql://postgres@127.0.0.1:5432/test \
        --redis redis://127.0.0.1:6379/15 [--workers 3] [--connections 16] [--seconds 8] \
        [--rounds 3] [--sealer workers|process]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from idsys import create_app  # noqa: E402
from idsys.applications import services as applications  # noqa: E402
from idsys.applications.profile import Address, ApplicantProfile  # noqa: E402
from idsys.audit.models import AuditEvent, AuditIntake  # noqa: E402
from idsys.audit.services import SYSTEM  # noqa: E402
from idsys.cards import services as cards  # noqa: E402
from idsys.crypto import FileKeyProvider, KeyRing  # noqa: E402
from idsys.db import db  # noqa: E402
from idsys.verification import services as partners  # noqa: E402
from idsys.verification.models import PartnerKind, Scope  # noqa: E402
from tests.servers import free_port, migrated_app, scratch_database, server_env, start_gunicorn  # noqa: E402

TODAY = date(2026, 11, 22)  # any fixed day: the card is issued and checked on it
LUA = """
wrk.method = "POST"
wrk.body = '{"qr": "%s"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %s"
"""


def _prepare(url: str, workdir: Path) -> tuple[str, str]:
    """Migrate, issue one active card, register a partner; returns (QR text, API key)."""
    app, keys = migrated_app(url, workdir)
    with app.app_context():
        rules = app.extensions["idsys.policy"]
        profile = ApplicantProfile(
            given_names="Ana María",
            family_names="Quispe Mamani",
            date_of_birth=date(1991, 4, 12),
            address=Address(line1="Calle 1", city="Ciudad de México"),
        )
        applicant = applications.create_applicant(db.session, keys, SYSTEM, profile, today=TODAY)
        card = cards.new_card(db.session, keys, rules, applicant, None, TODAY)
        card.status = "active"
        _, key = partners.create_partner(
            db.session,
            keys,
            SYSTEM,
            name="Bench library",
            kind=PartnerKind.LIBRARY,
            contact="",
            scope=Scope.STATUS,
            daily_quota=1_000_000,
        )
        db.session.commit()
        qr = cards.qr_text(keys, card, applicant, rules, "https://id.example.org")
    app.extensions["idsys.db"].engine.dispose()
    return qr, key


# CPU time by program, from /proc: what a request costs each of the processes sharing the cores.
SERVICES = {"postgres": "PostgreSQL", "redis-server": "Redis"}
TICK = os.sysconf("SC_CLK_TCK")
FLASK = [sys.executable, "-m", "flask", "--app", "wsgi"]


def process_stat(pid: int | str) -> tuple[str, int, float] | None:
    """(program name, parent pid, CPU seconds used so far, user + system) of a process, from
    /proc; None when it has ended or there is no /proc."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name = raw[raw.index("(") + 1 : raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2 :].split()  # from the state on: ppid is [1]
    return name, int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK


def cpu_seconds(server_pid: int, sealer_pid: int | None = None) -> dict[str, float]:
    """CPU seconds (user + system) used so far by gunicorn (the process ``server_pid`` and its
    workers), the sealer process if any, PostgreSQL and Redis; empty where there is no /proc to
    read."""
    totals: dict[str, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        found = process_stat(stat.parent.name)
        if found is None:
            continue
        name, ppid, used = found
        pid = int(stat.parent.name)
        program = (
            "gunicorn"
            if server_pid in (pid, ppid)
            else "sealer"
            if pid == sealer_pid
            else SERVICES.get(name)
        )
        if program is not None:
            totals[program] = totals.get(program, 0.0) + used
    return totals


@dataclass(frozen=True)
class Run:
    rps: float
    p50: float
    p99: float
    errors: int
    cpu_ms: dict[str, float]  # CPU milliseconds per request, by program

    def cpu_text(self) -> str:
        return ", ".join(f"{name} {ms:.2f}" for name, ms in sorted(self.cpu_ms.items()))


def _wrk(server_pid: int, args: list[str], sealer_pid: int | None = None) -> Run:
    """Run wrk; its figures, and the CPU each program spent per request meanwhile."""
    before = cpu_seconds(server_pid, sealer_pid)
    out = subprocess.run(
        ["wrk", "--latency", *args], capture_output=True, text=True, check=True
    ).stdout
    after = cpu_seconds(server_pid, sealer_pid)
    rps, p50, p99, errors = parse_wrk(out)
    done = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    cpu = {name: 1000 * (after[name] - before.get(name, 0.0)) / max(done, 1) for name in after}
    return Run(rps, p50, p99, errors, cpu)


def parse_wrk(out: str) -> tuple[float, float, float, int]:
    """(requests/s, p50 ms, p99 ms, non-2xx and socket errors) from wrk --latency output."""
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]

    def pct(label: str) -> float:
        found = re.search(rf"\s{label}%\s+([\d.]+)(us|ms|s)", out)
        assert found, out
        value, unit = found.groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    broken = sum(int(n) for n in socket.groups()) if socket else 0
    return rps, pct("50"), pct("99"), (int(errors.group(1)) if errors else 0) + broken


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--postgres", required=True)
    parser.add_argument("--redis", required=True)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--sealer",
        choices=("workers", "process"),
        default="workers",
        help="who seals the audit intake: each gunicorn worker (default) or a process of its own",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        parser.error("wrk is not installed (apt-get install wrk)")
    with scratch_database(args.postgres, "idsys_bench") as url:
        server = sealer = None
        try:
            with tempfile.TemporaryDirectory() as tmp:
                workdir = Path(tmp)
                qr, key = _prepare(url, workdir)
                port = free_port()
                env = server_env(
                    url,
                    workdir / "keyring.json",
                    workdir / "i",
                    IDSYS_RATELIMIT_STORAGE_URI=args.redis,
                    IDSYS_PARTNER_RATE_LIMIT="1000000 per minute",
                    IDSYS_AUDIT_SEAL_INTERVAL="0" if args.sealer == "process" else "2",
                )
                server = start_gunicorn(env, port, args.workers, workdir / "gunicorn.err")
                if args.sealer == "process":
                    sealer = subprocess.Popen(
                        [*FLASK, "idsys", "audit-seal", "--every", "0.25"],
                        cwd=ROOT,
                        env=env,
                        stdout=subprocess.DEVNULL,
                    )
                sealer_pid = sealer.pid if sealer is not None else None
                base = f"http://127.0.0.1:{port}"
                script = workdir / "verify.lua"
                script.write_text(LUA % (qr, key))
                common = [f"-c{args.connections}", "-t2", f"-d{args.seconds}s"]
                _wrk(server.pid, [*common[:2], "-d3s", f"{base}/healthz"], sealer_pid)  # warm-up
                # Alternating rounds: on a shared machine the speed drifts over a minute, and
                # the ratio is only fair between measurements taken side by side.
                rounds = []
                for _ in range(args.rounds):
                    floor = _wrk(server.pid, [*common, f"{base}/healthz"], sealer_pid)
                    verify = _wrk(
                        server.pid,
                        [*common, "-s", str(script), f"{base}/api/v1/verifications"],
                        sealer_pid,
                    )
                    rounds.append((floor, verify))
                app = create_app(
                    "test",
                    {
                        "DATABASE_URL": url,
                        "INSTANCE_PATH": str(workdir / "x"),
                        "SECRET_KEY": "x" * 40,
                        "KEYRING": KeyRing.open(
                            FileKeyProvider(workdir / "keyring.json", strict_permissions=True),
                            generate_missing=False,
                            required=(),
                        ),
                    },
                )
                with app.app_context():
                    # Sealed into the chain, or still in the intake waiting for the next seal.
                    audited = sum(
                        db.session.scalar(
                            select(func.count())
                            .select_from(table)
                            .where(table.action == "verification.check")
                        )
                        or 0
                        for table in (AuditEvent, AuditIntake)
                    )
                app.extensions["idsys.db"].engine.dispose()
        finally:
            if sealer is not None:
                sealer.send_signal(signal.SIGTERM)
                sealer.wait(timeout=30)
            if server is not None:
                server.send_signal(signal.SIGTERM)
                server.wait(timeout=30)
    print(
        f"gunicorn {args.workers} sync workers, sealer in {args.sealer}, "
        f"{args.connections} connections, "
        f"{args.rounds} alternating rounds of {args.seconds} s, PostgreSQL + Redis, "
        f"{os.cpu_count()} cores"
    )
    print(
        f"{'round':<6} {'endpoint':<28} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}"
        "  CPU ms per request"
    )
    for number, (floor, verify) in enumerate(rounds, 1):
        for label, run in (
            ("GET /healthz (floor)", floor),
            ("POST /api/v1/verifications", verify),
        ):
            print(
                f"{number:<6} {label:<28} {run.rps:>9.0f} {run.p50:>8.2f} {run.p99:>8.2f} "
                f"{run.errors:>7}  {run.cpu_text()}"
            )
    ratios = sorted(verify.rps / floor.rps for floor, verify in rounds)
    p99s = sorted(verify.p99 for _, verify in rounds)
    print(
        f"median over rounds: verifications/floor {statistics.median(ratios):.2f} "
        f"(range {ratios[0]:.2f}-{ratios[-1]:.2f}); verification p99 "
        f"{statistics.median(p99s):.1f} ms (range {p99s[0]:.1f}-{p99s[-1]:.1f})"
    )
    # wrk keeps every connection busy, so the mean latency is fixed by the throughput alone.
    best = max(verify.rps for _, verify in rounds)
    print(
        f"Little's law: at {args.connections} connections the mean latency is connections / "
        f"throughput, {1000 * args.connections / best:.1f} ms at the best round's {best:.0f} "
        f"verifications/s; a p99 under 25 ms needs a mean below it, over "
        f"{1000 * args.connections / 25:.0f}/s"
    )
    errors = sum(floor.errors + verify.errors for floor, verify in rounds)
    print(f"verifications audited: {audited} (chain + intake); errors: {errors}")
    if errors:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
