"""``make bench``: run every benchmark section (or those named) and report which failed.

    python -m bench                        # every section, results in bench/out/
    python -m bench --save                 # the same, results in bench/results/ (committed)
    python -m bench requests_dynamodb      # just one

A section is a module of this package with a ``main() -> int`` that writes its file
through :func:`bench.output.write_json`; add yours to :data:`SECTIONS` with one line
(``needs_postgres=True`` if it uses the PostgreSQL server). Sections that need
PostgreSQL fail fast, with the reason, when the server is unreachable.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from dataclasses import dataclass

from bench import output


@dataclass(frozen=True)
class Section:
    """One benchmark: the module ``bench.<name>`` and what it needs."""

    name: str
    needs_postgres: bool = False


SECTIONS: list[Section] = [
    Section("requests_dynamodb"),
    Section("requests_postgres", needs_postgres=True),
    Section("handlers"),
    Section("cold_start"),
    Section("vectors"),
    Section("recall"),
    Section("memory_search"),
    Section("retention"),
    Section("lifecycle"),
    Section("exports"),
]


def postgres_problem() -> str | None:
    """Why the PostgreSQL server the bench uses is unreachable, or ``None`` when it is up."""
    import psycopg

    from tests.storage.fakes.pg import server_dsn

    try:
        with psycopg.connect(server_dsn(), connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return (f"make bench needs PostgreSQL at {server_dsn()} (set STOWAGE_TEST_PG_DSN "
                f"to another server): {str(exc).strip()}")


def main(argv: list[str]) -> int:
    """Run the sections; the exit status is non-zero if any failed."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--save", action="store_true",
                        help=f"write into {output.SAVED} (committed) instead of {output.SCRATCH}")
    parser.add_argument("sections", nargs="*", metavar="section",
                        help="; ".join(section.name for section in SECTIONS))
    args = parser.parse_args(argv)
    known = {section.name: section for section in SECTIONS}
    unknown = [name for name in args.sections if name not in known]
    if unknown:
        print(f"unknown sections: {', '.join(unknown)}; known: {', '.join(known)}")
        return 2
    chosen = [known[name] for name in args.sections] or SECTIONS
    if args.save:
        os.environ[output.ENV] = str(output.SAVED)
    if any(section.needs_postgres for section in chosen) and (problem := postgres_problem()):
        print(problem, file=sys.stderr)
        return 2

    failed: list[str] = []
    for section in chosen:
        print(f"\n=== bench.{section.name} ===", flush=True)
        started = time.perf_counter()
        try:
            status = importlib.import_module(f"bench.{section.name}").main()
        except Exception as exc:  # one broken section must not hide the others' figures
            print(f"bench.{section.name} crashed: {exc!r}")
            status = 1
        print(
            f"=== bench.{section.name}: {'ok' if status == 0 else 'FAILED'} "
            f"in {time.perf_counter() - started:.0f}s ===",
            flush=True,
        )
        if status != 0:
            failed.append(section.name)
    print(f"\nresults written to {output.folder()}"
          + ("" if args.save else f" (make bench-save writes {output.SAVED})"))
    if failed:
        print(f"failed sections: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
