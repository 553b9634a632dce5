"""``make bench``: run every benchmark suite (or those named) and report which failed.

    python -m bench                        # every suite
    python -m bench requests_dynamodb      # just one

A suite is a module of this package with a ``main() -> int``; add yours with one line.
"""

from __future__ import annotations

import importlib
import sys
import time

SUITES: list[str] = [
    "requests_dynamodb",
    "requests_postgres",
    "handlers",
    "cold_start",
]


def main(argv: list[str]) -> int:
    """Run the suites; the exit status is non-zero if any failed."""
    chosen = argv or SUITES
    unknown = [name for name in chosen if name not in SUITES]
    if unknown:
        print(f"unknown suites: {', '.join(unknown)}; known: {', '.join(SUITES)}")
        return 2
    failed: list[str] = []
    for name in chosen:
        print(f"\n=== bench.{name} ===", flush=True)
        started = time.perf_counter()
        try:
            status = importlib.import_module(f"bench.{name}").main()
        except Exception as exc:  # one broken suite must not hide the others' figures
            print(f"bench.{name} crashed: {exc!r}")
            status = 1
        print(
            f"=== bench.{name}: {'ok' if status == 0 else 'FAILED'} "
            f"in {time.perf_counter() - started:.0f}s ===",
            flush=True,
        )
        if status != 0:
            failed.append(name)
    if failed:
        print(f"\nfailed suites: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
