"""What semantic recall adds to a turn on DynamoDB + S3 (moto, the SearchVectors fake).

The issue's budget: at most 3 more requests on the answer's path than with recall off,
no Scan, the turn's save still one TransactWriteItems. Counted with botocore events
(``RequestLog``) around the follow-up turn only; the embed jobs run after it, as SQS
would run them, and are counted apart. ``bench/recall.py`` reports the same figures.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from agents import Agent, App, Memory
from agents.embedders import HashEmbedder
from agents.jobs import run_job
from agents.models import ScriptedModel

DIMENSIONS = 64
FACTS = ["my cat is called Miso", "my sister lives in Lyon", "the car needs new tyres",
         "my dentist is on Friday", "the wifi password is on the fridge",
         "my favourite tea is genmaicha"]
FILLER = [f"is the {n}th thing called anything" for n in range(12)]
QUERY = "what is my cat called"


class HeldJobs:
    """Jobs held until the test runs them (after the answer, as the SQS worker would)."""

    def __init__(self) -> None:
        self.queued: list[dict[str, Any]] = []

    def submit(self, payload: Any) -> None:
        self.queued.append(json.loads(json.dumps(payload)))

    def run(self, app: App) -> None:
        jobs, self.queued = self.queued, []
        for job in jobs:
            run_job(app, job)


@pytest.fixture(scope="module")
def aws() -> Iterator[tuple[Any, Any]]:
    import tests.storage.fakes.dynamodb_vectors  # noqa: F401  (installs SearchVectors)
    from tests.storage.dynamodb_support import moto_dynamodb

    with moto_dynamodb(with_s3=True, vector_dimensions=DIMENSIONS) as opened:
        yield opened


def _turn_cost(aws: Any, name: str, recall: dict[str, Any] | None, *,
               last_job: bool = True) -> tuple[Counter[str], list[str], Counter[str]]:
    """(requests of the follow-up turn, its prompt, requests of the jobs after it).

    ``last_job=False``: the last turn's embed job has not run when the follow-up comes.
    """
    store, log = aws
    jobs = HeldJobs()
    model = ScriptedModel(["noted"])
    agent = Agent(id=f"a-{name}", model=model, memory=Memory(
        last_messages=10, semantic_recall=recall or False,
        embedder=HashEmbedder(dimensions=DIMENSIONS)))
    app = App(agents=[agent], storage=store, jobs=jobs)
    facts = {"thread": f"facts-{name}", "resource": f"u-{name}"}
    now = {"thread": f"now-{name}", "resource": f"u-{name}"}
    for text in FACTS:
        agent.generate(text, memory=facts)
        jobs.run(app)
    for text in FILLER:
        jobs.run(app)
        agent.generate(text, memory=now)
    if last_job:
        jobs.run(app)
    log.reset()
    agent.generate(QUERY, memory=now)
    answer = Counter({k.removeprefix("dynamodb."): v for k, v in log.calls.items()})
    request = model.requests[-1]
    prompt = [p.text for m in request.messages for p in m.parts] + [request.system or ""]
    log.reset()
    jobs.run(app)
    after = Counter({k.removeprefix("dynamodb."): v for k, v in log.calls.items()})
    return answer, prompt, after


@pytest.mark.parametrize(("top_k", "message_range"), [(4, 1), (3, 2)],
                         ids=["defaults", "issue-scenario"])
def test_recall_adds_two_requests_to_the_answers_path(
    aws: Any, top_k: int, message_range: int
) -> None:
    off, _, off_jobs = _turn_cost(aws, f"off-{top_k}", None)
    on, prompt, on_jobs = _turn_cost(
        aws, f"on-{top_k}", {"topK": top_k, "messageRange": message_range})

    assert "User: my cat is called Miso" in prompt[-1]  # recalled from the other thread
    extra = on - off
    assert extra == Counter({"SearchVectors": 1, "BatchGetItem": 1})  # every window: 1
    assert on.total() - off.total() <= 3
    assert on["TransactWriteItems"] == off["TransactWriteItems"] == 1  # the turn's save
    assert "Scan" not in on and "Scan" not in on_jobs
    # The embed job: its messages read back, one Query of the thread's newest messages
    # for the neighbour lists, one transaction of vectors, lists and certificate.
    assert on_jobs == Counter({"BatchGetItem": 2, "Query": 1, "TransactWriteItems": 1})
    assert off_jobs == Counter()


def test_before_the_last_job_ran_one_query_proves_the_lists_still_hold(aws: Any) -> None:
    # The last turn's embed job has not run yet: this thread's lists are exact up to the
    # tail they were certified at, and one Query of its newest messages shows that only
    # that turn came since. Still within the budget: +3.
    store, _ = aws
    off, _, _ = _turn_cost(aws, "late-off", None, last_job=False)
    on, prompt, _ = _turn_cost(aws, "late-on", {"topK": 4, "messageRange": 1},
                               last_job=False)
    embedder = HashEmbedder(dimensions=DIMENSIONS)
    matches = store.vectors.search(embedder.embed([QUERY])[0], embedder=embedder.id,
                                   resource_id="u-late-on", top_k=4)
    newest = {m.id for m in store.memory.list_messages(
        "now-late-on", per_page=12, direction="desc").items}  # before the follow-up's 2
    read = [m for m in matches if m.thread_id == "now-late-on" and m.message_id not in newest]

    assert read and "User: my cat is called Miso" in prompt[-1]
    assert on - off == Counter({"SearchVectors": 1, "BatchGetItem": 1, "Query": 1})
    assert on["TransactWriteItems"] == 1 and "Scan" not in on
