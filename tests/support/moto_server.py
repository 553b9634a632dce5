"""``python -m tests.support.moto_server [moto.server options]``: moto's server, patched.

The same server as ``python -m moto.server`` (same options), with the test-support
patches of :mod:`tests.support.moto_dynamodb` installed first, so a DynamoDB table
in a child-process moto behaves, and costs, as it does in the pytest process. It
says on stderr whether it is patched (the guard test reads that line); on a moto
this patch does not mirror it runs unpatched, as the pytest process does.
"""

from __future__ import annotations

import sys

from moto import server

from tests.support import moto_dynamodb

BANNER = "moto server with tests/support/moto_dynamodb.py installed"


def main(argv: list[str] | None = None) -> None:
    """Install the patches, then run moto's server with ``argv``."""
    if moto_dynamodb.install():
        print(BANNER, file=sys.stderr, flush=True)
    server.main(argv)


if __name__ == "__main__":
    main()
