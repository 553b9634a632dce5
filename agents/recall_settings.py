"""Semantic recall settings: ``Memory(semantic_recall=...)`` and ``options.semanticRecall``.

Parsed once, checked strictly (a bad value is a ``ValidationError`` naming the field,
an HTTP 400), with Mastra's meaning and defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from storage.errors import ValidationError

# Mastra's defaults (@mastra/core processors/memory/semantic-recall.ts: DEFAULT_TOP_K = 4,
# DEFAULT_MESSAGE_RANGE = 1 before and after, scope 'resource' since the scope-default
# change; no threshold). Semantic recall itself is off by default (memoryDefaultOptions
# in @mastra/core memory/memory.ts: semanticRecall: false).
DEFAULT_TOP_K = 4
DEFAULT_MESSAGE_RANGE = 1
MAX_TOP_K = 100  # DynamoDB SearchVectors' TopK limit, and every backend's
MAX_MESSAGE_RANGE = 50  # a window bound, so one call cannot pull a whole history in
_RECALL_KEYS = {"topK": "top_k", "top_k": "top_k", "messageRange": "message_range",
                "message_range": "message_range", "scope": "scope", "threshold": "threshold",
                "indexConfig": None, "index_config": None}


@dataclass(frozen=True)
class SemanticRecall:
    """Semantic recall settings, with Mastra's meaning.

    Attributes:
        top_k: how many similar messages are recalled (1..100).
        before: messages recalled before each match, from its thread.
        after: messages recalled after each match.
        scope: ``"resource"`` (every thread of the resource) or ``"thread"``.
        threshold: the lowest cosine similarity recalled (``-1..1``), or ``None``.
    """

    top_k: int = DEFAULT_TOP_K
    before: int = DEFAULT_MESSAGE_RANGE
    after: int = DEFAULT_MESSAGE_RANGE
    scope: Literal["resource", "thread"] = "resource"
    threshold: float | None = None

    def describe(self) -> dict[str, Any]:
        """Mastra's ``semanticRecall`` object (camelCase)."""
        out: dict[str, Any] = {"topK": self.top_k,
                               "messageRange": {"before": self.before, "after": self.after},
                               "scope": self.scope}
        if self.threshold is not None:
            out["threshold"] = self.threshold
        return out


def semantic_recall_settings(value: object, base: SemanticRecall | None = None,
                             ) -> SemanticRecall | None:
    """Parse ``semantic_recall`` / ``options.semanticRecall``: ``False``, ``True`` or an object.

    An object is merged onto ``base`` (the agent's settings, else the defaults), as
    Mastra deep-merges a call's memory options onto the agent's; ``True`` keeps
    ``base``. Keys: ``topK``, ``messageRange`` (``n`` or ``{"before", "after"}``),
    ``scope``, ``threshold`` (snake_case accepted); ``indexConfig`` is accepted and
    ignored (each backend builds its own index).

    Returns:
        The settings, or ``None`` when semantic recall is off.

    Raises:
        ValidationError: a value outside its range or an unknown key, naming it.
    """
    if value is None or value is False:
        return None
    if value is True:
        return base or SemanticRecall()
    if not isinstance(value, Mapping):
        raise ValidationError("semanticRecall must be true, false or an object")
    fields: dict[str, Any] = {}
    for key, raw in value.items():
        if key not in _RECALL_KEYS:
            raise ValidationError(
                f"semanticRecall takes topK, messageRange, scope and threshold, not {key!r}")
        name = _RECALL_KEYS[key]
        if name is not None and raw is not None:
            fields[name] = raw
    current = base or SemanticRecall()
    top_k = fields.get("top_k", current.top_k)
    if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= MAX_TOP_K:
        raise ValidationError(f"semanticRecall.topK must be an integer in 1..{MAX_TOP_K}, "
                              f"got {top_k!r}")
    before, after = current.before, current.after
    if "message_range" in fields:
        before, after = _message_range(fields["message_range"], current)
    scope = fields.get("scope", current.scope)
    if scope not in ("resource", "thread"):
        raise ValidationError(f"semanticRecall.scope must be 'resource' or 'thread', "
                              f"got {scope!r}")
    threshold = fields.get("threshold", current.threshold)
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(
            threshold, int | float) or not -1.0 <= threshold <= 1.0):
        # Scores are cosine similarities: anything outside [-1, 1] would silently
        # recall everything or nothing.
        raise ValidationError(f"semanticRecall.threshold must be a number in [-1, 1] "
                              f"(cosine similarity), got {threshold!r}")
    return SemanticRecall(top_k=top_k, before=before, after=after, scope=scope,
                          threshold=None if threshold is None else float(threshold))


def _message_range(raw: object, current: SemanticRecall) -> tuple[int, int]:
    if isinstance(raw, Mapping):
        unknown = set(raw) - {"before", "after"}
        if unknown:
            raise ValidationError(f"semanticRecall.messageRange takes before and after, "
                                  f"not {sorted(unknown)}")
        pair = (raw.get("before", current.before), raw.get("after", current.after))
    else:
        pair = (raw, raw)
    for n in pair:
        if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= MAX_MESSAGE_RANGE:
            raise ValidationError(f"semanticRecall.messageRange must be an integer in "
                                  f"0..{MAX_MESSAGE_RANGE} or {{before, after}}, got {raw!r}")
    return int(pair[0]), int(pair[1])  # type: ignore[call-overload,unused-ignore]


__all__ = ["DEFAULT_MESSAGE_RANGE", "DEFAULT_TOP_K", "MAX_MESSAGE_RANGE", "MAX_TOP_K",
           "SemanticRecall", "semantic_recall_settings"]
