"""Neighbour lists: an embedded message item names its nearest messages, so a recalled
window is read with one BatchGetItem instead of two Queries.

Semantic recall fetches each match with ``message_range`` neighbours on either side.
On DynamoDB a window is "the messages just before and after this sort key", which only
a Query answers (two: one per direction), so a turn recalling 4 windows paid 8 Queries.
Instead every message item that holds a vector (only those can be matches) also holds
the sort keys of its :data:`RANGE` neighbours on each side, nearest first:

* ``nbp``: previous messages' sort keys; ``nbn``: next messages' sort keys.

The vector index projects both (``schema.with_vector_index``), so ``SearchVectors``
returns them with each match, and the windows of every match are one BatchGetItem of
known keys (the thread items ride along; see ``windows.py``).

**When a list can be trusted.** Lists are written off the answer's path, by the
vector upsert the embed job runs after each turn, so between a save and that job they
are behind. A point read cannot see that a message was inserted between two listed
neighbours, so trust is decided per thread, with two numbers on the thread item:

* ``sv`` (structure version): every transaction that adds or removes messages in the
  thread (a save, a move, a re-time, a delete) adds their count to it, in the same
  write (``MessageOps._bump``); a re-save in place or an edit adds nothing;
* ``nbc`` (certificate): ``{"sv", "count", "tail"}``, written by the upsert that made
  every list of the thread exact, conditional on ``sv`` being unchanged since it read
  the thread. ``tail`` is the thread's last sort key then, ``count`` its message count.

A thread is *certified* when ``nbc.sv == sv``: no message was added or removed since
its lists were made exact, so every list on an item with a vector is exact. When only
messages were added since (``sv`` and ``message_count`` grew alike: the last turn's
job has not run yet), one Query of the newest messages shows whether they all came
after ``tail``; then the lists still hold and the windows ending at ``tail`` continue
into them (:func:`appended_since_certified`). Otherwise a reader falls back to the two
Queries for that thread's matches (exact, as before). A deletion nobody counted (TTL)
can only remove a listed key, which the BatchGetItem shows as missing: that match
falls back too.

Races: every list and certificate write is conditional on ``sv`` (a racing save
cancels it, the upsert reads again); two upserts of one thread write lists computed
from the same state, or one of them is cancelled. A reader's BatchGetItem is not a
snapshot: a save landing between its reads gives the window as it was just before,
which is what the two Queries gave too. Any writer that adds messages to a thread
must add to ``sv`` in the same write (``MessageOps._bump`` does for every save, move
and delete); one that rewrites the thread item whole must keep ``sv`` and ``nbc``.

**Keeping lists exact, cheaply.** The upsert reads the thread newest first (one Query,
the thread item first). If since the certificate only messages after ``tail`` were
added (``sv`` and ``message_count`` both grew by the number of messages now above
``tail``, so nothing was removed and nothing landed lower), only the lists of the new
messages and of the :data:`RANGE` messages before them can have changed: it reads
``2 * RANGE`` messages below the lower of ``tail`` and the messages it embeds, and
stops. Otherwise (no certificate, a deletion, a move, a message inserted out of order)
it reads the whole thread once and repairs every list that differs. Either way it
writes only lists that changed, in the same TransactWriteItems as the vectors, with
the new certificate, conditional on ``sv``: a save racing the upsert cancels it and
the upsert reads again.

**Bytes.** Each list entry is a sort key (``MSG#`` + 16 digits + ``#`` + the message
id: 57 bytes with a UUID), so an item in mid-thread carries 4 of them, about 240 bytes
with the attribute names (measured in ``bench/vectors/dynamodb.py``); the vector
beside them is ~8 bytes a dimension.

Where each part lives: ``_neighbours_lists.py`` (the attributes and the trust checks
above), ``_neighbours_refresh.py`` (the upsert's read of a thread and the lists it
plans), ``_neighbours_writes.py`` (the conditional writes and their transactions).
"""

from __future__ import annotations

from storage.dynamodb._neighbours_lists import (
    CERTIFICATE,
    NEXT,
    PREVIOUS,
    RANGE,
    VERSION,
    Keys,
    appended_since_certified,
    certificate,
    certified,
    list_bytes,
    list_values,
    lists_of,
    thread_version,
)
from storage.dynamodb._neighbours_refresh import (
    ListWrite,
    Row,
    ThreadState,
    plan,
    read_thread,
    up_to_date,
)
from storage.dynamodb._neighbours_writes import (
    certify_action,
    check_action,
    transactions,
    write_action,
)

__all__ = [
    "CERTIFICATE",
    "NEXT",
    "PREVIOUS",
    "RANGE",
    "VERSION",
    "Keys",
    "ListWrite",
    "Row",
    "ThreadState",
    "appended_since_certified",
    "certificate",
    "certified",
    "certify_action",
    "check_action",
    "list_bytes",
    "list_values",
    "lists_of",
    "plan",
    "read_thread",
    "thread_version",
    "transactions",
    "up_to_date",
    "write_action",
]
