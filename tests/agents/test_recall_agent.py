"""Semantic recall end to end on the embedded default (SQLite + sqlite-vec) with the real model.

After 60 turns about other things, a question about something said in turn 3 brings
turn 3's messages back into the prompt the model receives.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

import storage
from agents import Agent, App, InlineJobRunner, Memory
from agents.app import default_agents
from agents.models import ScriptedModel

OTHER_THINGS = [
    "Can you suggest a quick pasta recipe with spinach?",
    "What is the difference between a list and a tuple in Python?",
    "How often should I water a cactus?",
    "Explain how compound interest works.",
    "What are good stretches after cycling?",
    "How do I remove a red wine stain from cotton?",
    "Recommend a science fiction novel for a long flight.",
    "What is the boiling point of water at high altitude?",
    "How do noise cancelling headphones work?",
    "Give me a tip for keeping basil fresh.",
    "Why is the sky blue?",
    "How do I center a div with CSS?",
    "What is a good warm-up before lifting weights?",
    "How many hours of sleep do adults need?",
    "Explain what a hash table is.",
    "What should I look for when buying a used bicycle?",
    "How do I descale a kettle?",
    "Suggest a name for a goldfish.",
    "What is the capital of Canada?",
    "How does a heat pump heat a house?",
    "What is the rule of thirds in photography?",
    "How do I make sourdough starter?",
    "What is the difference between weather and climate?",
    "How do I write a good cover letter?",
    "Explain recursion with a simple example.",
    "What vegetables grow well in shade?",
    "How can I improve my chess openings?",
    "What causes hiccups?",
    "How do I back up my phone photos?",
    "Give me a five minute breathing exercise.",
    "What is the best way to learn touch typing?",
    "How do vaccines train the immune system?",
    "What are the rules of pickleball?",
    "How do I fix a squeaky door hinge?",
    "What is inflation and why does it happen?",
    "Suggest a board game for four players.",
    "How do I cook rice without it sticking?",
    "What is the Pythagorean theorem?",
    "How can I reduce screen time in the evening?",
    "What is a mutual fund?",
    "How do I tune a guitar by ear?",
    "Why do cats purr?",
    "What is the difference between RAM and storage?",
    "How do I prune a rose bush?",
    "Explain the offside rule in football.",
    "What is a good beginner running pace?",
    "How do solar panels make electricity?",
    "How do I clean a cast iron pan?",
    "What is the plot of Hamlet in two sentences?",
    "How do I start journaling?",
    "What are prime numbers used for in cryptography?",
    "How do I get rid of fruit flies?",
    "What is a haiku?",
    "How should I store coffee beans?",
    "What is machine learning in simple terms?",
    "How do I patch a hole in drywall?",
    "What is the speed of light?",
    "How can I memorise a speech?",
    "What is the difference between baking soda and baking powder?",
    "How do tides work?",
    "What is a good gift for a coworker who likes tea?",
    "How do I convert Celsius to Fahrenheit?",
]
TURN_3 = "By the way, my sister Clara is getting married in Lisbon on the 14th of June."
ANSWER_3 = "How wonderful, congratulations to Clara!"
QUESTION = "Remind me, where is my sister's wedding taking place?"


def _answer(request: Any) -> str:
    last = request.messages[-1].parts[0].text
    return ANSWER_3 if last == TURN_3 else "Good question, here is a short answer."


def test_turn_3_comes_back_after_60_turns(tmp_path: Path, local_embedder: Any) -> None:
    store = storage.from_env({"STOWAGE_STORAGE_URL": f"sqlite:///{tmp_path}/stowage.db",
                              "STOWAGE_BLOBS_URL": f"file:///{tmp_path}/blobs"})
    store.setup()
    model = ScriptedModel([_answer])
    agent = Agent(id="assistant", model=model, memory=Memory(
        last_messages=10, semantic_recall=True, embedder=local_embedder))
    App(agents=[agent], storage=store, jobs=InlineJobRunner())
    memory = {"thread": "t-1", "resource": "u-1"}
    script = [*OTHER_THINGS[:2], TURN_3, *OTHER_THINGS[2:]]
    assert len(script) - 3 == 60

    for text in script:
        agent.generate(text, memory=memory)
    agent.generate(QUESTION, memory=memory)

    prompt = [p.text for m in model.requests[-1].messages for p in m.parts]
    assert TURN_3 in prompt and ANSWER_3 in prompt  # turn 3, far outside the last 10
    assert prompt.index(TURN_3) + 1 == prompt.index(ANSWER_3)  # in order
    assert prompt[-11:] == [*[p.text for m in model.requests[-2].messages for p in m.parts][-9:],
                            "Good question, here is a short answer.", QUESTION]
    assert len(prompt) == len(set(prompt)) + prompt.count(  # the window is not duplicated
        "Good question, here is a short answer.") - 1
    # Each message embedded once: 64 turns of (question, answer).
    embedded = local_embedder.texts
    assert embedded.count(TURN_3) == 1 and embedded.count(ANSWER_3) == 1
    assert len(embedded) == 2 * (len(script) + 1)
    assert store.vectors.index() == ("local/all-minilm-l6-v2", 384)
    store.close()


def test_default_agent_gets_semantic_recall_with_the_local_model(
        local_embedder: Any, caplog: pytest.LogCaptureFixture) -> None:
    (agent,) = default_agents({})
    assert agent.memory is not None and agent.memory.semantic_recall is not None
    assert agent.memory.embedder.id == "local/all-minilm-l6-v2"

    with caplog.at_level(logging.INFO):
        (off,) = default_agents({"STOWAGE_SEMANTIC_RECALL": "off"})
    assert off.memory is not None and off.memory.semantic_recall is None
    assert "semantic recall off" in caplog.text


def test_default_agent_without_an_embedder_says_so(monkeypatch: pytest.MonkeyPatch,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    import agents.embedders.local

    monkeypatch.setattr(agents.embedders.local, "available", lambda: False)
    with caplog.at_level(logging.INFO):
        (agent,) = default_agents({})
    assert agent.memory is not None and agent.memory.semantic_recall is None
    assert "no embedder" in caplog.text

    (bedrock,) = default_agents({"STOWAGE_EMBEDDER": "bedrock/amazon.titan-embed-text-v2:0",
                                 "STOWAGE_EMBEDDER_DIMENSIONS": "512"})
    assert bedrock.memory is not None and bedrock.memory.semantic_recall is not None
    assert (bedrock.memory.embedder.id, bedrock.memory.embedder.dimensions) == (
        "bedrock/amazon.titan-embed-text-v2:0", 512)
