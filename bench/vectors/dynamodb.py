"""Part 1 of the vectors bench: DynamoDB + S3 under moto, with the SearchVectors fake.

The requests that store one turn's vectors (the first upsert of a process also reads
the index binding; each reads the thread's newest messages for the neighbour lists),
one search (resource and thread scope, and the first one of a fresh process), the
windows of a search's matches (with the search's hints, and from a fresh process),
deleting a 50-message thread with and without vectors; the bytes a vector and its
neighbour lists add to a message item at 256, 384 and 1024 dimensions.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from bench import aws
from bench.vectors.common import EMBEDDER, gauss, message, ms, vector_of

# Budgets this bench checks (the DESIGN's: a turn's vectors batched; a search is one request;
# the windows of a search's matches one more, their neighbour lists kept by the upsert).
TURN_UPSERT_REQUESTS = {"Query": 1, "TransactWriteItems": 1}
SEARCH_REQUESTS = 1
WINDOWS_REQUESTS = {"BatchGetItem": 1}


def dynamodb_requests() -> dict[str, Any]:
    """Requests and item bytes of the vector operations on DynamoDB + S3 under moto."""
    import moto

    from bench.requests_dynamodb import DynamoProbe
    from storage.dynamodb.itemsize import attribute_size, item_size
    from storage.dynamodb.keys import message_sk
    from storage.dynamodb.store import DynamoDBStore
    from storage.records import Include, Thread

    rng = random.Random("dynamodb")
    steps: dict[str, Any] = {}
    with moto.mock_aws():
        store, _, meter = aws.metered_store("bench-vectors", "stowage-bench-vectors",
                                            vector_dimensions=384)

        def step(name: str, action: Callable[[], Any]) -> Any:
            meter.reset()
            started = time.perf_counter()
            result = action()
            steps[name] = {"requests": meter.requests(), "total": sum(meter.requests().values()),
                           "items_read": meter.items_read(),
                           "wall_ms": ms(time.perf_counter() - started)}
            return result

        store.memory.save_thread(Thread(id="t-1", resource_id="u-1"))
        turn = step("save a turn (for reference)", lambda: store.memory.save_messages(
            [message("m-1", "t-1", 1), message("m-2", "t-1", 2)]))
        step("upsert a turn's 2 vectors, first in the process",
             lambda: store.vectors.upsert([vector_of(m, gauss(rng, 384)) for m in turn]))
        turn = store.memory.save_messages([message("m-3", "t-1", 3), message("m-4", "t-1", 4)])
        step("upsert a turn's 2 vectors",
             lambda: store.vectors.upsert([vector_of(m, gauss(rng, 384)) for m in turn]))
        query = gauss(rng, 384)
        step("search, resource scope (top_k 4)", lambda: store.vectors.search(
            query, embedder=EMBEDDER, resource_id="u-1", top_k=4))
        step("search, thread scope (top_k 4)", lambda: store.vectors.search(
            query, embedder=EMBEDDER, resource_id="u-1", thread_id="t-1", top_k=4))
        fresh = DynamoDBStore("bench-vectors", region="us-east-1", vector_dimensions=384)
        meter.attach(fresh.dynamo.client)
        step("search, first of a fresh process", lambda: fresh.vectors.search(
            query, embedder=EMBEDDER, resource_id="u-1", top_k=4))

        # Semantic recall's windows: three threads of 40 messages, embedded a turn at a
        # time (the embed job's upserts), then the windows of a search's matches.
        for n in range(3):
            thread_id = f"t-w{n}"
            store.memory.save_thread(Thread(id=thread_id, resource_id="u-w"))
            saved = store.memory.save_messages(
                [message(f"{thread_id}-{i:02d}", thread_id, 1000 * n + i) for i in range(40)])
            for start in range(0, 40, 2):
                store.vectors.upsert([vector_of(m, gauss(rng, 384))
                                      for m in saved[start:start + 2]])
        turn = store.memory.save_messages([message("t-w0-new-a", "t-w0", 500),
                                           message("t-w0-new-b", "t-w0", 501)])
        step("upsert a turn's 2 vectors in a 40-message thread",
             lambda: store.vectors.upsert([vector_of(m, gauss(rng, 384)) for m in turn]))
        for top_k, message_range in ((4, 1), (3, 2)):
            matches = store.vectors.search(query, embedder=EMBEDDER, resource_id="u-w",
                                           top_k=top_k)
            includes = [Include(m.message_id, with_previous=message_range,
                                with_next=message_range) for m in matches]
            step(f"windows of a search's {top_k} matches, range {message_range}",
                 lambda i=includes: store.memory.get_windows(i, resource_id="u-w"))
        step("the same windows, a fresh process (no hints)",
             lambda i=includes: fresh.memory.get_windows(i, resource_id="u-w"))

        for thread_id, with_vectors in (("t-plain", False), ("t-vectors", True)):
            store.memory.save_thread(Thread(id=thread_id, resource_id="u-1"))
            saved = store.memory.save_messages(
                [message(f"{thread_id}-{i}", thread_id, 100 + i) for i in range(50)])
            if with_vectors:
                store.vectors.upsert([vector_of(m, gauss(rng, 384)) for m in saved])
            label = "with" if with_vectors else "without"
            step(f"delete a 50-message thread {label} vectors",
                 lambda t=thread_id: store.memory.delete_thread(t))

        sizes = {}
        for dims in (256, 384, 1024):
            sized = DynamoDBStore(f"bench-vectors-{dims}", region="us-east-1",
                                  vector_dimensions=dims)
            sized.setup()
            sized.memory.save_thread(Thread(id="t-s", resource_id="u-1"))
            # UUID-length ids, as the agent runtime makes them.
            ids = [f"{i:08d}-0000-4000-8000-000000000000" for i in range(5)]
            messages = sized.memory.save_messages(
                [message(m, "t-s", i) for i, m in enumerate(ids)])
            probe = DynamoProbe(sized.dynamo, sized.memory.table)
            before = probe.message_item_size("t-s", ids[2]) or 0
            sized.vectors.upsert([vector_of(m, gauss(rng, dims)) for m in messages])
            middle = messages[2]
            item = sized.dynamo.get(sized.memory.table, {
                "pk": {"S": "THREAD#t-s"}, "sk": {"S": message_sk(middle.created_at, middle.id)},
            }) or {}
            lists = sum(attribute_size(n, item[n]) for n in ("nbp", "nbn") if n in item)
            sizes[str(dims)] = {"item_bytes_without": before, "item_bytes_with": item_size(item),
                                "vector_bytes": attribute_size("vec", item["vec"]),
                                "neighbour_list_bytes": lists}
    checks = {
        "a turn's vectors: one Query (its neighbours) and one TransactWriteItems": all(
            steps[s]["requests"] == TURN_UPSERT_REQUESTS for s in (
                "upsert a turn's 2 vectors", "upsert a turn's 2 vectors in a 40-message thread")),
        "the windows of a search's matches are one BatchGetItem": all(
            steps[f"windows of a search's {k} matches, range {r}"]["requests"]
            == WINDOWS_REQUESTS for k, r in ((4, 1), (3, 2))),
        "a search is one SearchVectors": steps["search, resource scope (top_k 4)"][
            "requests"] == {"SearchVectors": SEARCH_REQUESTS},
        "vectors add no request to a thread's deletion": steps[
            "delete a 50-message thread with vectors"]["total"] == steps[
            "delete a 50-message thread without vectors"]["total"],
        "no Scan": all("Scan" not in s["requests"] for s in steps.values()),
    }
    return {"backend": "dynamodb+s3 (moto, SearchVectors fake)", "steps": steps,
            "item_sizes": sizes, "checks": checks}



def table_dynamodb(part: dict[str, Any]) -> str:
    """The requests and item sizes as text."""
    lines = [f"DynamoDB + S3 (moto): {'requests':>8}  by operation"]
    for name, data in part["steps"].items():
        ops = ", ".join(f"{op} {n}" for op, n in data["requests"].items())
        read = f" ({data['items_read']} items read)" if data.get("items_read") else ""
        lines.append(f"  {name:<48}{data['total']:>4}  {ops}{read}")
    for dims, size in part["item_sizes"].items():
        lines.append(f"  a {dims}-dimension vector adds {size['vector_bytes']} bytes to a "
                     f"message item, its neighbour lists {size['neighbour_list_bytes']} "
                     f"({size['item_bytes_without']} -> {size['item_bytes_with']})")
    lines += [f"  {'ok  ' if ok else 'FAIL'} {check}" for check, ok in part["checks"].items()]
    return "\n".join(lines)
