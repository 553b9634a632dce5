"""The DESIGN §7 workload (W1-W5, X1), backend-neutral.

Every phase runs against a store's domains through the storage protocols only; what
a backend counts (requests by operation, items read) comes from a :class:`Meter` the
caller supplies, and backend-specific checks (the stored size of an item, leftovers
after a delete) from an optional :class:`Probe`. The PostgreSQL bench can reuse the
phases it has (W1-W4) with its own meter.

W1: resource ``user-1``, 20 threads, 25 turns each (``save_messages([user,
assistant])``, 200-character texts). W2: the last 20 messages of each thread. W3: the
first page (10) of the resource's threads by ``updated_at`` desc. W4: get a thread,
rename it, delete a thread of 50 messages. W5: one message with a 500 KB base64
image attachment. X1: one thread of 200 messages (~1.7 MB): read the last 20, read
all, delete.
"""

from __future__ import annotations

import base64
import hashlib
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from storage.keys import attachment_key
from storage.records import Message, Thread

RESOURCE = "user-1"
THREADS = 20
TURNS = 25
TEXT_CHARS = 200
X1_MESSAGES = 200
X1_TEXT_CHARS = 4_250  # held twice (part + content): 200 messages make ~1.7 MB
IMAGE_BYTES = 375_000  # 500 KB once base64-encoded
T0 = datetime(2025, 1, 1, tzinfo=UTC)


class Meter(Protocol):
    """What a backend counts while a phase runs."""

    def reset(self) -> None:
        """Start counting from zero."""
        ...

    def requests(self) -> dict[str, int]:
        """Requests by operation since the last reset."""
        ...

    def items_read(self) -> int:
        """Items (rows) read since the last reset."""
        ...


class Probe(Protocol):
    """Backend-specific looks behind the protocols (optional)."""

    def message_item_size(self, thread_id: str, message_id: str) -> int | None:
        """The stored size in bytes of a message's record, or ``None`` if absent."""
        ...

    def leftovers(self, thread_id: str, message_ids: list[str]) -> int:
        """How many records of a deleted thread (and its messages) remain."""
        ...


def _text(seed: str, chars: int) -> str:
    block = hashlib.sha256(seed.encode()).hexdigest()
    return (block * (chars // len(block) + 1))[:chars]


def _content(text: str) -> dict[str, Any]:
    return {"format": 2, "parts": [{"type": "text", "text": text}], "content": text}


def _message(thread_id: str, index: int, role: str, text: str, *, at: datetime) -> Message:
    return Message(
        id=f"{thread_id}-m{index:04d}",
        thread_id=thread_id,
        role=role,
        content=_content(text),
        created_at=at,
        resource_id=RESOURCE,
    )


class Workload:
    """Runs the phases in order on ``store`` and records each one.

    Args:
        store: a store with ``memory`` (and ``blobs`` for W5).
        meter: the backend's request counter.
        probe: backend-specific checks; skipped when ``None``.
    """

    def __init__(self, store: Any, meter: Meter, probe: Probe | None = None) -> None:
        self.store = store
        self.memory = store.memory
        self.meter = meter
        self.probe = probe
        self.phases: dict[str, dict[str, Any]] = {}
        self.thread_ids = [f"thread-{t:02d}" for t in range(THREADS)]

    def measure(self, fn: Callable[[], dict[str, bool]]) -> dict[str, Any]:
        """Run ``fn`` (which returns its checks) and what the meter counted."""
        self.meter.reset()
        started = time.perf_counter()
        checks = fn()
        wall = time.perf_counter() - started
        requests = self.meter.requests()
        return {
            "requests": dict(sorted(requests.items())),
            "total_requests": sum(requests.values()),
            "items_read": self.meter.items_read(),
            "wall_ms": round(wall * 1000, 1),
            "checks": checks,
        }

    def run(self, phases: tuple[str, ...] = ("W1", "W2", "W3", "W4", "W5", "X1")) -> dict[str, Any]:
        """Run the named phases (W1 first: the others read what it wrote)."""
        self.phases["setup"] = self.measure(self._create_threads)
        for name in phases:
            self.phases[name] = getattr(self, name.lower())()
        return self.phases

    # --- phases ---------------------------------------------------------------------

    def _create_threads(self) -> dict[str, bool]:
        for t, tid in enumerate(self.thread_ids):
            at = T0 + timedelta(minutes=t)
            self.memory.save_thread(
                Thread(id=tid, resource_id=RESOURCE, created_at=at, updated_at=at)
            )
        return {"20 threads created": True}

    def w1(self) -> dict[str, Any]:
        per_turn: list[int] = []

        def turns() -> dict[str, bool]:
            for t, tid in enumerate(self.thread_ids):
                for turn in range(TURNS):
                    at = T0 + timedelta(hours=1 + t, seconds=2 * turn)
                    before = sum(self.meter.requests().values())
                    self.memory.save_messages(
                        [
                            _message(
                                tid, 2 * turn, "user", _text(f"{tid}u{turn}", TEXT_CHARS), at=at
                            ),
                            _message(
                                tid,
                                2 * turn + 1,
                                "assistant",
                                _text(f"{tid}a{turn}", TEXT_CHARS),
                                at=at + timedelta(seconds=1),
                            ),
                        ]
                    )
                    per_turn.append(sum(self.meter.requests().values()) - before)
            return {}

        result = self.measure(turns)
        result["checks"] = {
            "500 turns in at most 500 requests": result["total_requests"] <= THREADS * TURNS,
            "every turn is one request": set(per_turn) == {1},
        }
        return result

    def w2(self) -> dict[str, Any]:
        pages: list[Any] = []

        def last_twenty() -> dict[str, bool]:
            for tid in self.thread_ids:
                pages.append(self.memory.list_messages(tid, per_page=20, direction="desc"))
            return {}

        result = self.measure(last_twenty)
        newest = all(
            [m.id for m in page.items]
            == [f"{tid}-m{i:04d}" for i in range(2 * TURNS - 1, 2 * TURNS - 21, -1)]
            for tid, page in zip(self.thread_ids, pages, strict=True)
        )
        result["checks"] = {
            "20 requests in all": result["total_requests"] == THREADS,
            "at most 21 items read per thread": result["items_read"] <= 21 * THREADS,
            "each page is the newest 20, newest first": newest,
            "total is 50 and has_more": all(p.total == 50 and p.has_more for p in pages),
        }
        return result

    def w3(self) -> dict[str, Any]:
        box: list[Any] = []

        def first_page() -> dict[str, bool]:
            box.append(
                self.memory.list_threads(
                    resource_id=RESOURCE, per_page=10, order_by="updated_at", direction="desc"
                )
            )
            return {}

        result = self.measure(first_page)
        page = box[0]
        result["checks"] = {
            "one request": result["total_requests"] == 1,
            "at most 11 items read": result["items_read"] <= 11,
            "10 threads, last updated first": [t.id for t in page.items]
            == list(reversed(self.thread_ids))[:10],
            "total 20, has_more": page.total == THREADS and page.has_more,
        }
        return result

    def w4(self) -> dict[str, Any]:
        target = self.thread_ids[0]
        ids = [f"{target}-m{i:04d}" for i in range(2 * TURNS)]
        box: dict[str, Any] = {}
        steps = {
            "get": self.measure(lambda: {"found": self.memory.get_thread(target) is not None}),
            "rename": self.measure(
                lambda: {
                    "renamed": self.memory.update_thread(target, title="Renamed").title == "Renamed"
                }
            ),
        }

        def delete() -> dict[str, bool]:
            box["before"] = len(self.memory.get_messages(ids[:1]))
            self.meter.reset()
            self.memory.delete_thread(target)
            return {}

        steps["delete"] = self.measure(delete)
        gone = self.memory.get_thread(target) is None and not self.memory.get_messages(ids)
        checks = {
            "get thread is one request": steps["get"]["total_requests"] == 1,
            "rename is one request": steps["rename"]["total_requests"] == 1,
            "delete of 50 messages in at most 5 requests": _dynamo_total(steps["delete"]) <= 5,
            "thread and messages gone": gone,
        }
        if self.probe is not None:
            checks["no item left"] = self.probe.leftovers(target, ids) == 0
        requests: dict[str, int] = {}
        for step in steps.values():
            for op, count in step["requests"].items():
                requests[op] = requests.get(op, 0) + count
        return {
            "requests": requests,
            "total_requests": sum(requests.values()),
            "items_read": sum(s["items_read"] for s in steps.values()),
            "wall_ms": round(sum(s["wall_ms"] for s in steps.values()), 1),
            "steps": steps,
            "checks": checks,
        }

    def w5(self) -> dict[str, Any]:
        """A 500 KB base64 image: offloaded as DESIGN §2 "Attachments" says, then saved."""
        blobs = self.store.blobs
        tid = self.thread_ids[1]
        image = os.urandom(IMAGE_BYTES)
        data_url = "data:image/png;base64," + base64.b64encode(image).decode()
        box: dict[str, Any] = {}

        def save() -> dict[str, bool]:
            # What the AttachmentUploader does before a turn is persisted: the bytes go
            # to a content-addressed key of the thread, the message keeps the blob URI.
            uri = blobs.put(
                attachment_key(RESOURCE, tid, hashlib.sha256(image).hexdigest()),
                image,
                content_type="image/png",
            )
            message = Message(
                id=f"{tid}-image",
                thread_id=tid,
                role="user",
                content={
                    "format": 2,
                    "parts": [
                        {"type": "text", "text": "What is in this picture?"},
                        {"type": "file", "mimeType": "image/png", "data": uri},
                    ],
                    "experimental_attachments": [
                        {"name": "photo.png", "contentType": "image/png", "url": uri}
                    ],
                },
                created_at=T0 + timedelta(days=1),
                resource_id=RESOURCE,
            )
            self.memory.save_messages([message])
            box["uri"] = uri
            return {}

        result = self.measure(save)
        uri = box["uri"]
        stored = self.memory.get_messages([f"{tid}-image"])
        content = stored[0].content if stored else {}
        checks = {
            "base64 attachment was 500 KB": len(data_url) >= 500_000,
            "message saved": bool(stored),
            "attachment is one blob object": sum(
                n for op, n in result["requests"].items() if op.startswith("s3:Put")
            )
            == 1,
            "read back holds the blob URI": content.get("experimental_attachments", [{}])[0].get(
                "url"
            )
            == uri,
            "bytes through the blob store are identical": blobs.get(uri) == image,
        }
        if self.probe is not None:
            size = self.probe.message_item_size(tid, f"{tid}-image")
            result["item_bytes"] = size
            checks["item under 4 KB"] = size is not None and size < 4096
        result["checks"] = checks
        return result

    def x1(self) -> dict[str, Any]:
        tid = "thread-x1"
        ids = [f"{tid}-m{i:04d}" for i in range(X1_MESSAGES)]
        at = T0 + timedelta(days=2)
        self.memory.save_thread(Thread(id=tid, resource_id=RESOURCE, created_at=at, updated_at=at))
        box: dict[str, Any] = {}

        def save() -> dict[str, bool]:
            for turn in range(X1_MESSAGES // 2):
                when = at + timedelta(seconds=2 * turn)
                self.memory.save_messages(
                    [
                        _message(tid, 2 * turn, "user", _text(f"x{turn}u", X1_TEXT_CHARS), at=when),
                        _message(
                            tid,
                            2 * turn + 1,
                            "assistant",
                            _text(f"x{turn}a", X1_TEXT_CHARS),
                            at=when + timedelta(seconds=1),
                        ),
                    ]
                )
            return {}

        def last() -> dict[str, bool]:
            box["last"] = self.memory.list_messages(tid, per_page=20, direction="desc")
            return {}

        def everything() -> dict[str, bool]:
            box["all"] = self.memory.list_messages(tid, per_page=None)
            return {}

        def delete() -> dict[str, bool]:
            self.memory.delete_thread(tid)
            return {}

        steps = {
            "save": self.measure(save),
            "last20": self.measure(last),
            "all": self.measure(everything),
            "delete": self.measure(delete),
        }
        all_ids = [m.id for m in box["all"].items]
        checks = {
            "thread holds about 1.7 MB": sum(
                len(m.content["content"]) * 2 for m in box["all"].items
            )
            >= 1_700_000,
            "last 20 are the newest 20": [m.id for m in box["last"].items]
            == list(reversed(ids))[:20],
            "reading all returns 200, in order": all_ids == ids,
            "delete leaves no message": not self.memory.get_messages(ids)
            and self.memory.get_thread(tid) is None,
        }
        if self.probe is not None:
            checks["delete leaves no item"] = self.probe.leftovers(tid, ids) == 0
        return {
            "requests": steps["last20"]["requests"],
            "total_requests": sum(s["total_requests"] for s in steps.values()),
            "items_read": steps["last20"]["items_read"],
            "wall_ms": round(sum(s["wall_ms"] for s in steps.values()), 1),
            "steps": steps,
            "checks": checks,
        }


def _dynamo_total(step: dict[str, Any]) -> int:
    """Requests of a step that are not blob-store requests."""
    return sum(n for op, n in step["requests"].items() if not op.startswith("s3:"))
