"""One botocore data loader for the whole test process.

Every store a test opens builds its own botocore session, and each session parses
botocore's JSON data afresh: ``endpoints.json``, the service model, the endpoint
ruleset, a listing of every service folder (about 0.3 s a client on this machine,
a third of a DynamoDB conformance test's setup). A Lambda container builds its
clients once; the tests build thousands. Sharing one :class:`botocore.loaders.Loader`
(its results are cached per instance, and botocore already shares them between the
clients of one session) parses each file once per process. Nothing a test checks
depends on the parse being repeated.
"""

from __future__ import annotations

import functools

import botocore.loaders
import botocore.session


def share() -> None:
    """Make every new botocore session use one loader per data path (idempotent)."""
    if isinstance(botocore.session.create_loader, functools._lru_cache_wrapper):
        return
    botocore.session.create_loader = functools.cache(botocore.loaders.create_loader)
