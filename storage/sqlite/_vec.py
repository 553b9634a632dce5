"""The vector encoding and distance the SQLite vector store uses (sqlite-vec's, or ours).

Vectors are stored unit-length as little-endian float32 bytes, the format sqlite-vec
reads; :func:`cosine_distance` is its ``vec_distance_cosine`` in Python, registered
on connections whose driver cannot load the extension.
"""

from __future__ import annotations

import math
import operator
from array import array
from collections.abc import Sequence

PYTHON_DISTANCE = "stowage_cosine_distance"
"""The SQL name of :func:`cosine_distance` on connections without sqlite-vec."""


def to_blob(vector: Sequence[float]) -> bytes:
    """The vector scaled to unit length, as float32 bytes."""
    norm = math.sqrt(math.fsum(x * x for x in vector))
    return array("f", (x / norm for x in vector)).tobytes()


def cosine_distance(a: bytes, b: bytes) -> float:
    """``1 - cos`` of two unit-length float32 blobs (a dot product: both have length 1)."""
    x = array("f")
    x.frombytes(a)
    y = array("f")
    y.frombytes(b)
    return 1.0 - float(sum(map(operator.mul, x, y)))
