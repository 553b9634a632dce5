"""Spellings of one tenant's blob URI that a substring check would take for another's.

Issue 11 found ``?/attachments/alice/``, ``#/attachments/alice/``, ``FILE:///`` and the
same inside a ``file`` part all passing the attachment-ownership check. Shared by the
blob conformance tests and the HTTP regression tests (tests/reliability).
"""

from __future__ import annotations


def dressed_up(uri: str) -> list[str]:
    """Ways to dress Bob's attachment URI (under ``/attachments/bob/``) up as Alice's."""
    scheme, rest = uri.split("://", 1)
    own = "/attachments/bob/"
    assert own in uri
    tricks = [
        uri,
        uri + "?/attachments/alice/",
        uri + "#/attachments/alice/",
        uri + "?x=1#/attachments/alice/t",
        scheme.upper() + "://" + rest,
        scheme.title() + "://" + rest,
        uri.replace(own, "/attachments/alice/../bob/"),
        uri.replace(own, "/attachments/alice/%2e%2e/bob/"),
        uri.replace(own, "/attachments/alice/%2E%2E%2Fbob/"),
        uri.replace(own, "/attachments/alice//../bob/"),
        uri.replace(own, "/attachments/alice/./../bob/"),
        uri.replace(own, "/attachments/alice\\..\\bob/"),
        uri.replace(own, "/attachments/%61lice/../bob/"),
        uri.replace(own, "/attachments/%62ob/"),
        " " + uri,
        uri + "\n/attachments/alice/",
        uri.replace("://", "://attacker@", 1),
        uri.replace(own, "/attachments/bob%2F..%2Falice/"),
    ]
    if scheme == "file":
        tricks += [uri.replace("file:///", "file://localhost/", 1),
                   uri.replace("file:///", "file://evil.example/", 1),
                   uri.replace("file:///", "file:/", 1)]
    if scheme == "s3":
        bucket = rest.split("/", 1)[0]
        tricks += [uri.replace(f"s3://{bucket}/", f"s3://{bucket.upper()}/", 1),
                   uri.replace(f"s3://{bucket}/", f"s3://{bucket}:443/", 1)]
    if scheme == "memory":
        tricks += [uri.replace("memory://blobs/", "memory://BLOBS/", 1),
                   uri.replace("memory://blobs/", "memory:///blobs/", 1)]
    return tricks
