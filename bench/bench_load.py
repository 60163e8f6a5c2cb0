"""Load: a realistic mix against gunicorn for 60 seconds, per-endpoint throughput and latency.

One run: a scratch PostgreSQL database is migrated and seeded through the real services (people
with printed cards, a clerk, a partner); gunicorn serves it with the production configuration
(Redis rate-limit storage, several workers, one proxy in front so client addresses come from
X-Forwarded-For); three wrk processes then run at the same time:

- partner verifications (a random genuine QR per request),
- residents' status look-ups (random reference and date of birth, many client addresses),
- clerk intake pages (the counter page and application review pages, signed in).

Each wrk reports its own requests/s, p50, p99 and non-2xx count; the errors must be zero.

    .venv/bin/python bench/bench_load.py --postgres postgresql://postgres@127.0.0.1:5432/test \
        --redis redis://127.0.0.1:6379/13 [--people 300] [--seconds 60] [--workers 3]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


from bench.bench_verify import parse_wrk  # noqa: E402
from idsys.applications import services as applications  # noqa: E402
from idsys.applications.models import ApplicationKind  # noqa: E402
from idsys.applications.profile import Address, ApplicantProfile  # noqa: E402
from idsys.audit.services import SYSTEM, Actor  # noqa: E402
from idsys.auth import services as auth  # noqa: E402
from idsys.auth.models import Role  # noqa: E402
from idsys.cards import services as cards  # noqa: E402
from idsys.cards.labels import card_labels  # noqa: E402
from idsys.db import db  # noqa: E402
from idsys.policy import PresentedDocument  # noqa: E402
from idsys.verification import services as partners  # noqa: E402
from idsys.verification.models import PartnerKind, Scope  # noqa: E402
from tests.servers import free_port, migrated_app, scratch_database, server_env, start_gunicorn  # noqa: E402

TODAY = date(2026, 11, 22)
CLERK_PASSWORD = "load test clerk phrase"
GIVEN = ["Ana", "José", "Nguyễn Thị", "Fatou", "Olena", "Wei", "Marie-Claire", "João", "Kwame"]
FAMILY = ["García", "Trần", "Diallo", "Kovalenko", "Li", "Jean-Baptiste", "Silva", "Mensah"]


@dataclass
class Seed:
    qrs: list[str]
    lookups: list[tuple[str, str]]  # (reference, date of birth)
    references: list[str]
    api_key: str


def _photo() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (480, 640), (180, 150, 130)).save(out, format="JPEG")
    return out.getvalue()


def _seed(url: str, workdir: Path, people: int) -> Seed:
    app, keys = migrated_app(url, workdir)
    photo = _photo()
    qrs, lookups, references = [], [], []
    with app.app_context():
        session, rules = db.session, app.extensions["idsys.policy"]
        clerk, _ = auth.create_user(
            session,
            keys,
            SYSTEM,
            username="loadclerk",
            display_name="Load Clerk",
            role=Role.CLERK,
            password=CLERK_PASSWORD,
        )
        clerk.must_change_password = False
        supervisor, _ = auth.create_user(
            session,
            keys,
            SYSTEM,
            username="loadsuper",
            display_name="Load Supervisor",
            role=Role.SUPERVISOR,
            password=CLERK_PASSWORD + "!",
        )
        session.commit()
        as_clerk, as_supervisor = Actor(clerk.id, "clerk"), Actor(supervisor.id, "supervisor")
        documents = (
            PresentedDocument(
                code="voter_card",
                name_matches=True,
                issue_date=date(2020, 1, 10),
                expiry_date=date(2030, 12, 31),
            ),
            PresentedDocument(
                code="electricity_receipt",
                name_matches=True,
                address_matches=True,
                issue_date=date(2026, 10, 13),
            ),
        )
        for i in range(people):
            born = date(1950 + i % 50, 1 + i % 12, 1 + i % 28)
            profile = ApplicantProfile(
                given_names=f"{GIVEN[i % len(GIVEN)]} {i}",
                family_names=FAMILY[i % len(FAMILY)],
                date_of_birth=born,
                address=Address(line1=f"Calle {i}", city="Ciudad de México", postal_code="06500"),
            )
            application = applications.start_application(
                session,
                keys,
                as_clerk,
                kind=ApplicationKind.NEW,
                intake_token=uuid.uuid4().hex,
                policy_id=rules.id,
            )
            applications.save_profile(
                session, keys, as_clerk, application, profile, has_caretaker=False, today=TODAY
            )
            applications.save_photo(session, keys, as_clerk, application, photo)
            for document in documents:
                applications.add_document(session, keys, as_clerk, application, rules, document)
            applications.submit_application(session, keys, as_clerk, application, rules, TODAY)
            if i % 3:  # two in three are decided and printed; the rest wait in the queue
                applications.decide_application(
                    session,
                    keys,
                    as_supervisor,
                    application,
                    rules,
                    TODAY,
                    approve=True,
                    codes=["rules_satisfied", "duplicate_checked"],
                )
            session.commit()
            lookups.append((application.reference, born.isoformat()))
            references.append(application.reference)
        result = cards.release_batch(
            session,
            keys,
            as_supervisor,
            rules,
            today=TODAY,
            issuer="https://id.example.org",
            labels=card_labels(rules),
        )
        assert result.batch is not None, result.problems
        cards.mark_batch_printed(session, keys, as_supervisor, result.batch)
        for item in result.batch.items:
            applicant = session.get(applications.Applicant, item.card.applicant_id)
            assert applicant is not None
            qrs.append(cards.qr_text(keys, item.card, applicant, rules, "https://id.example.org"))
        _, api_key = partners.create_partner(
            session,
            keys,
            SYSTEM,
            name="Load library",
            kind=PartnerKind.LIBRARY,
            contact="",
            scope=Scope.IDENTITY,
            daily_quota=1_000_000,
        )
        session.commit()
    app.extensions["idsys.db"].engine.dispose()
    return Seed(qrs, lookups, references, api_key)


def _cookies(headers: list[str]) -> dict[str, str]:
    jar = {}
    for header in headers:
        name, _, rest = header.partition("=")
        jar[name.strip()] = rest.split(";", 1)[0]
    return jar


def _request(
    url: str, data: dict[str, str] | None, jar: dict[str, str]
) -> tuple[str, dict[str, str]]:
    """One HTTP exchange by hand: the session cookie is Secure, which cookie jars keep off http."""
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    request = urllib.request.Request(url, data=body)  # noqa: S310  (a loopback URL)
    request.add_header("Cookie", "; ".join(f"{k}={v}" for k, v in jar.items()))

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        response = opener.open(request, timeout=10)
    except urllib.error.HTTPError as exc:  # 302 after a successful sign-in
        response = exc
    jar = {**jar, **_cookies(response.headers.get_all("Set-Cookie") or [])}
    return response.read().decode(), jar


def _csrf(page: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert match, "no CSRF token"
    return match.group(1)


def _lua_list(values: list[str]) -> str:
    return (
        "{"
        + ",".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)
        + "}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--postgres", required=True)
    parser.add_argument("--redis", required=True)
    parser.add_argument("--people", type=int, default=300)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--workers", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        parser.error("wrk is not installed (apt-get install wrk)")
    with scratch_database(args.postgres, "idsys_load") as url:
        server = None
        try:
            with tempfile.TemporaryDirectory() as tmp:
                workdir = Path(tmp)
                started = time.perf_counter()
                seed = _seed(url, workdir, args.people)
                print(
                    f"seeded {args.people} people, {len(seed.qrs)} printed cards in "
                    f"{time.perf_counter() - started:.0f} s"
                )
                port = free_port()
                env = server_env(
                    url,
                    workdir / "keyring.json",
                    workdir / "i",
                    IDSYS_RATELIMIT_STORAGE_URI=args.redis,
                    IDSYS_PROXY_COUNT="1",
                    IDSYS_PARTNER_RATE_LIMIT="1000000 per minute",
                )
                server = start_gunicorn(env, port, args.workers, workdir / "gunicorn.err")
                base = f"http://127.0.0.1:{port}"
                page, jar = _request(f"{base}/login", None, {})
                _, staff = _request(
                    f"{base}/login",
                    {
                        "csrf_token": _csrf(page),
                        "username": "loadclerk",
                        "password": CLERK_PASSWORD,
                    },
                    jar,
                )
                counter, _ = _request(f"{base}/intake/", None, staff)
                assert 'name="intake_token"' in counter, (
                    "the clerk's session did not open the counter"
                )
                status_page, resident = _request(f"{base}/status", None, {})
                status_token = _csrf(status_page)
                scripts = {
                    "verify": f"""
    local qrs = {_lua_list(seed.qrs)}
    request = function()
      local body = '{{"qr": "' .. qrs[math.random(#qrs)] .. '"}}'
      return wrk.format("POST", "/api/v1/verifications", {{["Content-Type"] = "application/json",
        ["Authorization"] = "Bearer {seed.api_key}"}}, body)
    end""",
                    "status": f"""
    local refs = {_lua_list([r for r, _ in seed.lookups])}
    local dobs = {_lua_list([d for _, d in seed.lookups])}
    local cookie = "{"; ".join(f"{k}={v}" for k, v in resident.items())}"
    request = function()
      local i = math.random(#refs)
      local ip = "10." .. math.random(0, 255) .. "." .. math.random(0, 255) .. "." ..
        math.random(1, 254)
      local body = "csrf_token={urllib.parse.quote(status_token)}&reference=" .. refs[i] ..
        "&date_of_birth=" .. dobs[i]
      return wrk.format("POST", "/status", {{["Content-Type"] = "application/x-www-form-urlencoded",
        ["Cookie"] = cookie, ["X-Forwarded-For"] = ip}}, body)
    end""",
                    "intake": f"""
    local refs = {_lua_list(seed.references)}
    local cookie = "{"; ".join(f"{k}={v}" for k, v in staff.items())}"
    request = function()
      local path = "/intake/"
      if math.random(2) == 1 then path = "/intake/" .. refs[math.random(#refs)] .. "/review" end
      return wrk.format("GET", path, {{["Cookie"] = cookie}})
    end""",
                }
                connections = {"verify": 8, "status": 4, "intake": 4}
                paths = {
                    "verify": "/api/v1/verifications",
                    "status": "/status",
                    "intake": "/intake/",
                }
                runs = {}
                for label, script in scripts.items():
                    lua = workdir / f"{label}.lua"
                    lua.write_text(script)
                    runs[label] = subprocess.Popen(
                        [
                            "wrk",
                            "--latency",
                            f"-c{connections[label]}",
                            "-t1",
                            f"-d{args.seconds}s",
                            "-s",
                            str(lua),
                            f"{base}{paths[label]}",
                        ],
                        stdout=subprocess.PIPE,
                        text=True,
                    )
                outputs = {label: run.communicate()[0] for label, run in runs.items()}
        finally:
            if server is not None:
                server.send_signal(signal.SIGTERM)
                server.wait(timeout=30)
    print(
        f"gunicorn {args.workers} workers, {args.seconds} s, PostgreSQL + Redis, "
        f"{os.cpu_count()} cores; all three loads at once"
    )
    print(f"{'endpoint':<34} {'conns':>5} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    total_errors = 0
    for label, out in outputs.items():
        rps, p50, p99, errors = parse_wrk(out)
        total_errors += errors
        print(
            f"{label + ' ' + paths[label]:<34} {connections[label]:>5} {rps:>8.0f} "
            f"{p50:>8.2f} {p99:>8.2f} {errors:>7}"
        )
    print(f"errors: {total_errors}")
    return 1 if total_errors else 0


if __name__ == "__main__":
    sys.exit(main())
