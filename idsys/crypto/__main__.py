"""Key ring set-up for production, usable before the app can start (it needs its keys to start).

python -m idsys.crypto init-keyring /etc/idsys/keyring.json
python -m idsys.crypto show /etc/idsys/keyring.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from idsys.crypto.keyring import FileKeyProvider, KeyPurpose, KeyRingError, new_key


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m idsys.crypto",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    init = sub.add_parser("init-keyring", help="create a complete new key ring file (mode 0600)")
    init.add_argument("path", type=Path)
    init.add_argument("--signing-alg", choices=["EdDSA", "ES256"], default="EdDSA")
    show = sub.add_parser("show", help="list the keys of a ring file, without their material")
    show.add_argument("path", type=Path)
    args = parser.parse_args(argv)

    provider = FileKeyProvider(args.path, strict_permissions=True)
    try:
        if args.command == "init-keyring":
            if args.path.exists():
                print(f"{args.path} exists already; refusing to overwrite keys.", file=sys.stderr)
                return 1
            entries = [
                new_key(p, args.signing_alg if p is KeyPurpose.SIGNING else None)
                for p in KeyPurpose
            ]
            provider.store(entries)
            print(f"Wrote {len(entries)} keys to {args.path} (mode 0600). Back it up offline.")
        else:
            for entry in provider.load():
                print(json.dumps(entry.public_dict()))
    except KeyRingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
