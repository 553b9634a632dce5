"""The DynamoDB tables, one per domain: keys, indexes and TTL, as plain data.

This module is the single definition of the tables: ``setup()`` creates them from
it (on moto or a local endpoint) and the CDK storage construct builds the deployed
tables from it, so the code that queries a table and the table cannot drift apart.
It imports nothing from boto3 or pynamodb, so ``infra/`` can import it freely.

Every table has a string partition key ``pk`` and sort key ``sk``; item kinds are
told apart by key prefixes (see each table's docstring in :data:`TABLES`). Index
sort keys are strings built as ``<16-digit shifted epoch ms>#<id>`` so they sort by
time, then id. Every index projects ``ALL``: a list is one Query, never a Query
followed by a batch of GetItems.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

AttributeType = Literal["S", "N", "B"]
Projection = Literal["ALL", "KEYS_ONLY"] | tuple[str, ...]


@dataclass(frozen=True)
class KeyAttribute:
    """A key attribute of a table or index.

    Attributes:
        name: the attribute name.
        type: its DynamoDB scalar type: ``S`` (string), ``N`` (number), ``B`` (binary).
    """

    name: str
    type: AttributeType = "S"


@dataclass(frozen=True)
class IndexSchema:
    """A secondary index.

    Attributes:
        name: the index name, as passed to ``Query(IndexName=...)``.
        partition_key: the index's partition key (for a local index, the table's).
        sort_key: the index's sort key, if any.
        local: ``True`` for a local secondary index (strongly consistent reads,
            created with the table only), ``False`` for a global one (eventually
            consistent).
        projection: ``"ALL"``, ``"KEYS_ONLY"`` or a tuple of non-key attributes.
        serves: the access pattern the index exists for (documentation).
    """

    name: str
    partition_key: KeyAttribute
    sort_key: KeyAttribute | None = None
    local: bool = False
    projection: Projection = "ALL"
    serves: str = ""


@dataclass(frozen=True)
class VectorIndexSchema:
    """A DynamoDB vector index (``VectorIndexes`` on CreateTable and in CloudFormation).

    Attributes:
        name: the index name, as passed to ``SearchVectors(IndexName=...)``.
        vector_attribute: the attribute holding the vector (a list of numbers).
        dimensions: the vector length (1-4096), fixed when the index is created.
        partition_key: the search schema's ``HASH`` attribute (every search names it).
        filters: the search schema's ``INLINE_FILTER`` attributes.
        distance: ``COSINE``, ``EUCLIDEAN`` or ``DOT_PRODUCT``.
        projection: ``KEYS_ONLY`` (results carry the table keys and search attributes)
            or a tuple of non-key attributes (``INCLUDE``: those too).
    """

    name: str
    vector_attribute: str
    dimensions: int
    partition_key: KeyAttribute
    filters: tuple[KeyAttribute, ...] = ()
    distance: Literal["COSINE", "EUCLIDEAN", "DOT_PRODUCT"] = "COSINE"
    projection: Projection = "KEYS_ONLY"


@dataclass(frozen=True)
class TableSchema:
    """One domain's table.

    Attributes:
        domain: the storage domain (``memory``, ``workflows``, ...).
        suffix: appended to the URL prefix: the table is ``<prefix>-<suffix>``.
        partition_key: the table's partition key.
        sort_key: the table's sort key.
        indexes: secondary indexes, global and local.
        ttl_attribute: the attribute DynamoDB's TTL reads (epoch seconds), if any.
            The backend writes it only when a retention is configured
            (``storage.dynamodb.retention``); the CDK turns TTL on for the tables whose
            domain has an age (observability always: spans expire by default).
        items: the item kinds and their keys (documentation).
    """

    domain: str
    suffix: str
    partition_key: KeyAttribute
    sort_key: KeyAttribute | None
    indexes: tuple[IndexSchema, ...] = ()
    ttl_attribute: str | None = None
    items: tuple[str, ...] = ()
    vector_index: VectorIndexSchema | None = None

    @property
    def attributes(self) -> dict[str, AttributeType]:
        """Every key attribute of the table and its indexes, name -> type."""
        keys = [self.partition_key, self.sort_key]
        for index in self.indexes:
            keys += [index.partition_key, index.sort_key]
        if self.vector_index is not None:
            keys += [self.vector_index.partition_key, *self.vector_index.filters]
        return {k.name: k.type for k in keys if k is not None}


PK = KeyAttribute("pk")
SK = KeyAttribute("sk")

# Attribute names of index keys, shared by the backend code.
RES = "res"  # resource id (memory, workflows)
UPD = "upd"  # "<updated ms>#<id>"
CRT = "crt"  # "<created ms>#<id>"
ALL = "all"  # a constant partition for "every item of this kind" lists
TTL = "expires_at"

MEMORY = TableSchema(
    domain="memory",
    suffix="memory",
    partition_key=PK,
    sort_key=SK,
    ttl_attribute=TTL,
    items=(
        "thread: pk=THREAD#<thread>, sk=THREAD (sorts after its messages; holds message_count, "
        "sv and nbc: whether its neighbour lists are exact)",
        "message: pk=THREAD#<thread>, sk=MSG#<created ms>#<message> (with a vector: vec, "
        "and nbp/nbn, its neighbours' sort keys)",
        "message locator: pk=MSGID#<message>, sk=MSGID (thread and sort key of the message)",
        "resource: pk=RES#<resource>, sk=RESOURCE",
        "thread counter: pk=RES#<resource>, sk=COUNT (upd=crt='~': first in a desc Query)",
        "expiry tombstone: pk=EXPIRED#<thread>, sk=<expires_at> (a TTL'd thread was counted)",
        "pending blobs: pk=PENDING#BLOBS, sk=<thread> (a pruned thread's blobs still to delete)",
    ),
    indexes=(
        IndexSchema(
            "by-resource-updated",
            KeyAttribute(RES),
            KeyAttribute(UPD),
            serves="a resource's threads by updated_at, with the counter item in the same Query",
        ),
        IndexSchema(
            "by-resource-created",
            KeyAttribute(RES),
            KeyAttribute(CRT),
            serves="a resource's threads by created_at, with the counter item in the same Query",
        ),
        IndexSchema(
            "all-threads",
            KeyAttribute(ALL),
            KeyAttribute(UPD),
            serves="every thread (list_threads without a resource), over 16 shards THREAD#00..15",
        ),
    ),
)

WORKFLOWS = TableSchema(
    domain="workflows",
    suffix="workflows",
    partition_key=PK,
    sort_key=SK,
    ttl_attribute=TTL,
    items=("run: pk=RUN#<run id>, sk=WF#<workflow name> (get_run by id alone is a Query)",),
    indexes=(
        IndexSchema(
            "by-workflow",
            KeyAttribute("wf"),
            KeyAttribute(CRT),
            serves="a workflow's runs, newest first, start/end as a key range",
        ),
        IndexSchema(
            "by-resource",
            KeyAttribute(RES),
            KeyAttribute(CRT),
            serves="a resource's runs, newest first",
        ),
        IndexSchema(
            "all-runs", KeyAttribute(ALL), KeyAttribute(CRT), serves="every run, newest first"
        ),
    ),
)

OBSERVABILITY = TableSchema(
    domain="observability",
    suffix="observability",
    partition_key=PK,
    sort_key=SK,
    ttl_attribute=TTL,
    items=("span: pk=TRACE#<trace>, sk=SPAN#<span> (a trace is one Query)",),
    indexes=(
        IndexSchema(
            "roots",
            KeyAttribute(ALL),
            KeyAttribute("started"),
            serves="root spans (sparse: only roots carry 'all'), newest first",
        ),
        IndexSchema(
            "roots-by-entity",
            KeyAttribute("ent"),
            KeyAttribute("started"),
            serves="root spans of an entity (entity_type#entity_id)",
        ),
        IndexSchema(
            "roots-by-resource",
            KeyAttribute(RES),
            KeyAttribute("started"),
            serves="root spans of a resource",
        ),
        IndexSchema(
            "roots-by-thread",
            KeyAttribute("thr"),
            KeyAttribute("started"),
            serves="root spans of a thread",
        ),
    ),
)

SCORES = TableSchema(
    domain="scores",
    suffix="scores",
    partition_key=PK,
    sort_key=SK,
    ttl_attribute=TTL,
    items=("score: pk=SCORE#<id>, sk=SCORE",),
    indexes=(
        IndexSchema("by-scorer", KeyAttribute("scorer"), KeyAttribute(CRT), serves="a scorer's"),
        IndexSchema("by-run", KeyAttribute("run"), KeyAttribute(CRT), serves="a run's scores"),
        IndexSchema(
            "by-entity",
            KeyAttribute("ent"),
            KeyAttribute(CRT),
            serves="an entity's scores (entity_type#entity_id)",
        ),
        IndexSchema(
            "by-trace", KeyAttribute("trace"), KeyAttribute(CRT), serves="a trace's scores"
        ),
        IndexSchema("all-scores", KeyAttribute(ALL), KeyAttribute(CRT), serves="every score"),
    ),
)

MESSAGE_VECTORS = "message-vectors"
VECTOR_ATTRIBUTE = "vec"
NEIGHBOURS_PREVIOUS = "nbp"
NEIGHBOURS_NEXT = "nbn"
STRUCTURE_VERSION = "sv"
PENDING_EMBEDDINGS = "pe"
"""On a thread item: ids of its messages whose vector a write dropped (to re-embed)."""


def with_vector_index(table: TableSchema, dimensions: int) -> TableSchema:
    """The memory table with the vector index semantic recall searches.

    The vectors live on the message items (attribute ``vec``), so deleting a message or
    a thread deletes its vectors; the index is partitioned by the message's resource
    and filters by thread. It projects the items' neighbour lists (``nbp``, ``nbn``:
    ``neighbours.py``), so each search result says where its window's messages are.

    Raises:
        ValueError: ``dimensions`` outside 1-4096.
    """
    if isinstance(dimensions, bool) or not isinstance(dimensions, int) or not (
        1 <= dimensions <= 4096
    ):
        raise ValueError(f"vector dimensions must be an integer from 1 to 4096, got {dimensions!r}")
    index = VectorIndexSchema(
        name=MESSAGE_VECTORS,
        vector_attribute=VECTOR_ATTRIBUTE,
        dimensions=dimensions,
        partition_key=KeyAttribute("resource_id"),
        filters=(KeyAttribute("thread_id"),),
        projection=(NEIGHBOURS_PREVIOUS, NEIGHBOURS_NEXT),
    )
    return replace(table, vector_index=index)


TABLES: dict[str, TableSchema] = {
    t.domain: t for t in (MEMORY, WORKFLOWS, OBSERVABILITY, SCORES)
}
"""Domain -> table definition (the contract the CDK construct builds from)."""


def table_name(prefix: str, domain: str) -> str:
    """The table of ``domain`` under ``prefix``: ``<prefix>-<suffix>``.

    Raises:
        KeyError: ``domain`` has no DynamoDB table.
    """
    return f"{prefix}-{TABLES[domain].suffix}"


__all__ = [
    "TABLES",
    "IndexSchema",
    "KeyAttribute",
    "TableSchema",
    "VectorIndexSchema",
    "table_name",
    "with_vector_index",
]
