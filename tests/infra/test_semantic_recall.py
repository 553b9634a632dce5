"""Semantic recall in the stack: the embedder named in every function's environment and
InvokeModel granted on that one embedding model, only when ``vectorDimensions`` is set."""

from __future__ import annotations

from typing import Any

import pytest

from infra.config import ConfigError, StowageConfig

from .conftest import Synth, _synth
from .test_iam import HANDLERS, _actions, _resources, _statements

EMBEDDING_MODEL = "foundation-model/amazon.titan-embed-text-v2:0"


@pytest.fixture(scope="module")
def recall(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return _synth(tmp_path_factory, "recall", {"stage": "dev", "vectorDimensions": "512"})


def _environment(synth: Synth, name: str) -> dict[str, str]:
    function = next(r["Properties"] for r in synth.resources("AWS::Lambda::Function").values()
                    if r["Properties"]["Handler"] == HANDLERS[name])
    return dict(function["Environment"]["Variables"])


def _embedding_grants(synth: Synth, name: str) -> list[dict[str, Any]]:
    return [s for s in _statements(synth, name)
            if any(EMBEDDING_MODEL in str(r) for r in _resources(s))]


@pytest.mark.parametrize("name", list(HANDLERS))
def test_every_function_embeds_with_the_configured_model(recall: Synth, name: str) -> None:
    env = _environment(recall, name)
    assert env["STOWAGE_EMBEDDER"] == "bedrock/amazon.titan-embed-text-v2:0"
    assert env["STOWAGE_EMBEDDER_DIMENSIONS"] == env["STOWAGE_VECTOR_DIMENSIONS"] == "512"
    (statement,) = _embedding_grants(recall, name)
    assert _actions(statement) == ["bedrock:InvokeModel"]  # not the streaming action
    assert len(_resources(statement)) == 1


@pytest.mark.parametrize("name", list(HANDLERS))
def test_off_by_default(dev: Synth, name: str) -> None:
    assert "STOWAGE_EMBEDDER" not in _environment(dev, name)
    assert _embedding_grants(dev, name) == []


@pytest.mark.parametrize("context", [
    {"vectorDimensions": "300"},
    {"vectorDimensions": "lots"},
    {"embedder": "bedrock/amazon.titan-embed-text-v2:0"},
    {"vectorDimensions": "1024", "embedder": "openai/text-embedding-3-small"},
])
def test_bad_semantic_recall_context_is_refused(context: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        StowageConfig.from_context(context)


def test_titan_sizes_are_accepted() -> None:
    for size in (256, 512, 1024):
        config = StowageConfig.from_context({"vectorDimensions": size})
        assert (config.vector_dimensions, config.embedder_model_id) == (
            size, "amazon.titan-embed-text-v2:0")
