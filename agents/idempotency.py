"""Idempotent turns: a turn is keyed on the id of the caller's message (DESIGN §8).

When a call names a thread and a resource and its last message carries an id, the
turn's other ids follow from it: the run id from (agent, thread, message id), the
answer's id and the ids of the call's id-less messages from (thread, message id).
A retry of the same request then finds the first attempt with **one read** (the run's
snapshot, written ``running`` when a run starts) besides the read of the call's own
message ids (:func:`check_message_ids`, done first for any call whose messages carry
ids) and:

* no run: a first attempt; the turn runs.
* ``running`` and its lease not expired: the first attempt is still running; the
  retry is refused with :class:`TurnInProgressError` (HTTP 409).
* anything else (``success``, ``failed``, ``canceled``, or ``running`` past its
  lease: a crashed attempt): the turn's messages are read; if the answer is stored
  it is replayed (no model call, nothing stored), otherwise the turn runs again.

Two attempts that race past the lookup both run the model, but their saves carry the
same ids into the same thread, so the second overwrites the first: a thread never
holds two answers to one question, nor an answer before its question. A call whose
messages carry no id costs no read and is never deduplicated.

The lease is how long a ``running`` snapshot is trusted: a run with a deadline (the
api function's generate) cannot save after it, so its lease is the deadline plus
:data:`LEASE_MARGIN_SECONDS`; a run without one (the stream) gets
:data:`DEFAULT_LEASE_SECONDS`, the stream function's timeout, past which no deployed
run is alive.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from storage.errors import ConflictError, MessageIdConflictError, StorageError
from storage.records import Message
from storage.timeutil import to_epoch_ms, utcnow

log = logging.getLogger(__name__)

# Fixed forever: ids derived by one version must be derived the same by the next.
TURN_NAMESPACE = uuid.UUID("6f1b6c43-3f0e-4a53-9a43-5a8f0d2f7a10")
DEFAULT_LEASE_SECONDS = 15 * 60
LEASE_MARGIN_SECONDS = 5.0


class TurnInProgressError(ConflictError):
    """A retry arrived while the first attempt of the same turn is still running.

    Attributes:
        retryable: ``True``: once the first attempt ends, the retry replays its answer.
    """

    retryable = True

    def __init__(self) -> None:
        super().__init__("this turn is already running (same message id); retry shortly")


@dataclass(frozen=True)
class TurnKey:
    """What identifies a turn: the agent, the thread and the caller's message id."""

    agent_id: str
    thread_id: str
    message_id: str

    def _derive(self, *parts: object) -> str:
        return str(uuid.uuid5(TURN_NAMESPACE, "\n".join(str(p) for p in parts)))

    @property
    def run_id(self) -> str:
        """The run's id (its workflow snapshot is the lookup)."""
        return self._derive("run", self.agent_id, self.thread_id, self.message_id)

    @property
    def answer_id(self) -> str:
        """The assistant message's id (one answer per question and thread)."""
        return self._derive("answer", self.thread_id, self.message_id)

    def message_id_at(self, index: int) -> str:
        """The id of the call's ``index``-th message when the caller gave it none."""
        return self._derive("message", self.thread_id, self.message_id, index)


def turn_key(agent_id: str, thread_id: str, given_ids: Sequence[str | None]) -> TurnKey | None:
    """The key of a call saved to ``thread_id`` whose messages carry ``given_ids``.

    Returns:
        ``None`` unless the call's last message has a caller-given id.
    """
    if not given_ids or not given_ids[-1]:
        return None
    return TurnKey(agent_id, thread_id, given_ids[-1])


@dataclass(frozen=True)
class StoredTurn:
    """A turn found complete: its messages as stored, and its run's snapshot if any."""

    messages: list[Message]
    answer: Message
    snapshot: dict[str, Any] | None


def lease_until(lease_seconds: float) -> int:
    """The epoch milliseconds a run started now is trusted ``running`` until."""
    return to_epoch_ms(utcnow()) + int(lease_seconds * 1000)


def is_in_flight(snapshot: dict[str, Any]) -> bool:
    """Whether a snapshot is of a run still running (``running``, lease not expired)."""
    if snapshot.get("status") != "running":
        return False
    context = snapshot.get("context")
    lease = context.get("leaseExpiresAt") if isinstance(context, dict) else None
    if not isinstance(lease, int | float) or isinstance(lease, bool):
        started = snapshot.get("timestamp")
        if not isinstance(started, int | float) or isinstance(started, bool):
            return False
        lease = started + DEFAULT_LEASE_SECONDS * 1000
    return to_epoch_ms(utcnow()) < lease


def turn_ids(key: TurnKey | None, message_ids: Sequence[str], given: Sequence[str]) -> list[str]:
    """The ids a call's messages may already be stored under: every id of the turn
    (its messages' and its answer's) when it is keyed, else the ids the caller gave."""
    if key is None:
        return list(given)
    return [*message_ids, key.answer_id]


def check_message_ids(memory: Any, thread_id: str, ids: Sequence[str]) -> list[Message]:
    """The stored messages of ``ids`` (one read), refusing any that lives in another thread.

    Run before anything of the turn is stored or the model is called, so a request
    reusing another thread's message id is refused up front (HTTP 409), on generate and
    stream alike. It is a check, not the guarantee: a message saved with one of the
    ids between this read and the turn's save is refused by the save itself
    (``save_messages(..., allow_move=False)``, atomic on every backend).

    Raises:
        MessageIdConflictError: one of the ids lives in another thread (the error
            names the id only, never that thread).
    """
    found: list[Message] = list(memory.get_messages(list(dict.fromkeys(ids))))
    for message in found:
        if message.thread_id != thread_id:
            raise MessageIdConflictError(message.id)
    return found


def find_stored_turn(
    key: TurnKey | None,
    message_ids: Sequence[str],
    *,
    run_id: str,
    workflows: Any,
    memory: Any,
    caller_named: bool = False,
    stored: Sequence[Message] | None = None,
) -> StoredTurn | None:
    """Look up an earlier attempt of the turn ``key`` (see the module docstring).

    Args:
        key: the turn (``None``: the caller gave no message id, only a run id).
        message_ids: the ids of the call's messages (given or derived), in order.
        run_id: the run's id: derived from ``key``, or the caller's.
        workflows: the domain runs are recorded in (``None``: runs are not recorded,
            so the messages are the lookup, and a running attempt goes unseen).
        memory: the memory domain.
        caller_named: the caller chose ``run_id`` (Mastra Studio does): a run of that
            id that is not this turn's refuses the call, as its record would be
            overwritten.
        stored: the turn's messages as :func:`check_message_ids` already read them
            (``turn_ids``): not read again.

    Returns:
        The stored turn when its answer is stored, else ``None`` (run the turn).

    Raises:
        TurnInProgressError: the first attempt is still running.
        MessageIdConflictError: one of the ids lives in another thread.
        ConflictError: ``caller_named`` and the run id belongs to another run.
    """
    snapshot: dict[str, Any] | None = None
    if workflows is not None:
        try:
            snapshot = _snapshot(workflows, key, run_id, caller_named)
        except StorageError:
            # A lookup that fails must not fail the turn: the save's ids still make a
            # duplicate overwrite rather than append.
            log.warning("turn lookup failed run_id=%s", run_id, exc_info=True)
            return None
        if snapshot is None:
            return None
        if key is None or not _is_turn(snapshot, key):
            if caller_named:
                raise ConflictError(f"run id {run_id!r} is already used")
            return None
        if is_in_flight(snapshot):
            raise TurnInProgressError()
    elif key is None:
        return None
    if stored is None:
        found = check_message_ids(memory, key.thread_id, turn_ids(key, message_ids, ()))
    else:
        found = list(stored)
    by_id = {m.id: m for m in found}
    answer = by_id.get(key.answer_id)
    if answer is None:
        return None
    turn = [by_id[i] for i in message_ids if i in by_id]
    return StoredTurn(messages=[*turn, answer], answer=answer, snapshot=snapshot)


_OTHER_RUN: dict[str, Any] = {"status": "other"}


def _snapshot(workflows: Any, key: TurnKey | None, run_id: str, caller_named: bool
              ) -> dict[str, Any] | None:
    """The run's snapshot; a caller's run id is looked up in every workflow."""
    if not caller_named:
        assert key is not None
        found: dict[str, Any] | None = workflows.load_snapshot(f"agent:{key.agent_id}", run_id)
        return found
    run = workflows.get_run(run_id)
    if run is None:
        return None
    if key is None or run.workflow_name != f"agent:{key.agent_id}":
        return _OTHER_RUN
    return dict(run.snapshot)


def _is_turn(snapshot: dict[str, Any], key: TurnKey) -> bool:
    """Whether a run's snapshot is of the turn ``key`` (its thread and message id)."""
    context = snapshot.get("context")
    if not isinstance(context, dict):
        return False
    return (context.get("threadId"), context.get("messageId")) == (key.thread_id,
                                                                    key.message_id)


__all__ = [
    "DEFAULT_LEASE_SECONDS",
    "LEASE_MARGIN_SECONDS",
    "StoredTurn",
    "TurnInProgressError",
    "TurnKey",
    "check_message_ids",
    "find_stored_turn",
    "is_in_flight",
    "lease_until",
    "turn_ids",
    "turn_key",
]
