"""``SQLiteVectorStore``: message vectors in the same SQLite file as the messages.

Vectors are unit-length float32 blobs (sqlite-vec's format) in
``stowage_message_vectors``; ``stowage_vector_index`` holds the one
``(embedder, dimensions)`` the file is bound to. A search is an exact k-NN over the
resource's rows (an index on ``(resource_id, thread_id)`` narrows them): the distance
is sqlite-vec's ``vec_distance_cosine`` when the driver can load it, else the same
cosine computed in Python. Triggers on ``mastra_messages`` delete a message's vector
in the transaction that deletes or changes the message (see ``schema``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from storage import validation as v
from storage import vector_rules as rules
from storage.records import MessageVector, VectorMatch
from storage.sqlite._codec import iso
from storage.sqlite._sql import chunks, marks
from storage.sqlite._vec import PYTHON_DISTANCE, to_blob
from storage.sqlite.db import SQLiteDatabase
from storage.sqlite.schema import MESSAGES, VECTOR_INDEX, VECTORS
from storage.timeutil import from_iso, utcnow


class SQLiteVectorStore:
    """Message vectors beside the messages (see ``VectorStore``).

    Args:
        db: the database the memory domain of the same file uses.
    """

    def __init__(self, db: SQLiteDatabase) -> None:
        self._db = db
        self._check_messages = True

    @property
    def db(self) -> SQLiteDatabase:
        """The database file the vectors live in."""
        return self._db

    def attach_memory(self, memory: Any) -> None:
        """Check upserts against the messages only when ``memory`` is this file's."""
        self._check_messages = getattr(memory, "_db", None) is self._db

    # --- writes ---------------------------------------------------------------------

    def upsert(self, vectors: Sequence[MessageVector]) -> None:
        """Store each message's vector (see :meth:`storage.protocols.VectorStore.upsert`)."""
        batch = rules.check_vectors(vectors)
        if not batch:
            return
        embedder, dimensions = batch[0].embedder, batch[0].dimensions
        with self._db.write("upsert vectors") as conn:
            rules.check_binding(self._binding(conn), embedder, dimensions)
            if self._check_messages:
                batch = self._still_stored(conn, batch)
            if not batch:
                return
            conn.execute(
                f'INSERT INTO {VECTOR_INDEX} (id, embedder, dimensions, "createdAt") '
                "VALUES (1, ?, ?, ?) ON CONFLICT(id) DO NOTHING",
                (embedder, dimensions, iso(utcnow())),
            )
            conn.executemany(
                f'INSERT INTO {VECTORS} (message_id, thread_id, resource_id, "createdAt", '
                "embedder, vector) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(message_id) DO UPDATE "
                "SET thread_id = excluded.thread_id, resource_id = excluded.resource_id, "
                '"createdAt" = excluded."createdAt", embedder = excluded.embedder, '
                "vector = excluded.vector",
                [
                    (
                        item.message_id, item.thread_id, item.resource_id,
                        iso(item.created_at), item.embedder, to_blob(item.vector),
                    )
                    for item in batch
                ],
            )

    def delete(self, message_ids: Sequence[str]) -> None:
        """Delete these messages' vectors; unknown ids are ignored."""
        ids = list(dict.fromkeys(v.check_ids(message_ids, "message id")))
        if not ids:
            return
        with self._db.write("delete vectors") as conn:
            for batch in chunks(ids):
                conn.execute(
                    f"DELETE FROM {VECTORS} WHERE message_id IN ({marks(len(batch))})", batch
                )

    def delete_thread(self, thread_id: str) -> None:
        """Delete the vectors of a thread's messages."""
        v.check_id(thread_id, "thread id")
        with self._db.write("delete thread vectors") as conn:
            conn.execute(f"DELETE FROM {VECTORS} WHERE thread_id = ?", (thread_id,))

    def delete_resource(self, resource_id: str) -> int:
        """Delete the vectors of a resource's messages; how many."""
        v.check_id(resource_id, "resource id")
        with self._db.write("delete resource vectors") as conn:
            cursor = conn.execute(f"DELETE FROM {VECTORS} WHERE resource_id = ?", (resource_id,))
            return int(cursor.rowcount)

    # --- reads ----------------------------------------------------------------------

    def search(
        self,
        vector: Sequence[float],
        *,
        embedder: str,
        resource_id: str,
        thread_id: str | None = None,
        top_k: int = rules.DEFAULT_TOP_K,
        threshold: float | None = None,
    ) -> list[VectorMatch]:
        """The nearest messages of the resource (see ``VectorStore.search``), exactly."""
        query = rules.check_query(
            vector, embedder=embedder, resource_id=resource_id, thread_id=thread_id,
            top_k=top_k, threshold=threshold,
        )
        distance = "vec_distance_cosine" if self._db.has_sqlite_vec else PYTHON_DISTANCE
        where = "resource_id = ?"
        args: list[Any] = [to_blob(query.vector), query.resource_id]
        if query.thread_id is not None:
            where += " AND thread_id = ?"
            args.append(query.thread_id)
        with self._db.read("search vectors") as conn:
            bound = self._binding(conn)
            if bound is None:
                return []
            rules.check_binding(bound, query.embedder, query.dimensions)
            # Best first; the threshold is applied to these top_k rows by rank(): once
            # one scores below it, every later one does too.
            rows = conn.execute(
                f'SELECT message_id, thread_id, resource_id, "createdAt", '
                f"{distance}(vector, ?) AS distance FROM {VECTORS} WHERE {where} "
                'ORDER BY distance, "createdAt", message_id LIMIT ?',
                [*args, query.top_k],
            ).fetchall()
        matches = [
            VectorMatch(
                message_id=row[0], thread_id=row[1], resource_id=row[2],
                created_at=from_iso(row[3]), score=1.0 - float(row[4]),
            )
            for row in rows
        ]
        return rules.rank(matches, query.top_k, query.threshold)

    def index(self) -> tuple[str, int] | None:
        """The ``(embedder, dimensions)`` this file's vectors are bound to, or ``None``."""
        with self._db.read("vector index") as conn:
            return self._binding(conn)

    # --- helpers (inside a transaction) ---------------------------------------------

    @staticmethod
    def _binding(conn: Any) -> tuple[str, int] | None:
        row = conn.execute(f"SELECT embedder, dimensions FROM {VECTOR_INDEX}").fetchone()
        return (row[0], int(row[1])) if row is not None else None

    @staticmethod
    def _still_stored(conn: Any, batch: list[MessageVector]) -> list[MessageVector]:
        """The vectors whose message is stored with that thread, resource and time."""
        found: dict[str, tuple[str, str, str]] = {}
        for ids in chunks([item.message_id for item in batch]):
            for row in conn.execute(
                f'SELECT id, thread_id, "resourceId", "createdAt" FROM {MESSAGES} '
                f"WHERE id IN ({marks(len(ids))})",
                ids,
            ):
                found[row[0]] = (row[1], row[2], row[3])
        kept = []
        for item in batch:
            stored = found.get(item.message_id)
            if stored is None or stored[:2] != (item.thread_id, item.resource_id):
                continue
            if from_iso(stored[2]) != item.created_at:
                continue
            kept.append(item)
        return kept

    def __repr__(self) -> str:
        return f"SQLiteVectorStore({str(self._db.path)!r})"
