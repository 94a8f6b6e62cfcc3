"""The `payments` command. Until the HTTP API lands, `payments demo` shows the ledger at work."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from entrypoints.demo import run_demo


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="payments", description="payments-core")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="take a payment, withdraw under four-eyes, print the ledger")
    args = parser.parse_args(argv)
    if args.command == "demo":
        return run_demo(sys.stdout)
    return 2  # pragma: no cover - argparse refuses unknown commands first


if __name__ == "__main__":
    raise SystemExit(main())
