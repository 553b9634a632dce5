"""Stowage agents: ``Agent``, ``Memory``, ``App``, models, tools, processors and jobs.

    >>> from agents import Agent, App, Memory
    >>> app = App(agents=[Agent(id="assistant", model="local/echo")], storage=storage.from_env())
    >>> app.get_agent("assistant").generate("hello", memory={"thread": "t-1", "resource": "u-1"})
"""

from __future__ import annotations

from agents.agent import Agent, AgentStream, GenerateResult
from agents.app import AgentNotFoundError, App, load_app
from agents.events import Event
from agents.jobs import BackgroundJobRunner, InlineJobRunner, JobRunner, SQSJobRunner, run_job
from agents.memory import Memory, ThreadOwnershipError
from agents.models.base import Model, ModelError, ToolCall, ToolResult, Usage
from agents.models.registry import resolve_model
from agents.processors import AttachmentUploader, BaseProcessor, Processor, ProcessorContext
from agents.scorers import FunctionScorer, Scorer, ScorerRun
from agents.tools import Tool, ToolContext, tool

__all__ = [
    "Agent",
    "AgentNotFoundError",
    "AgentStream",
    "App",
    "AttachmentUploader",
    "BackgroundJobRunner",
    "BaseProcessor",
    "Event",
    "FunctionScorer",
    "GenerateResult",
    "InlineJobRunner",
    "JobRunner",
    "Memory",
    "Model",
    "ModelError",
    "Processor",
    "ProcessorContext",
    "SQSJobRunner",
    "Scorer",
    "ScorerRun",
    "ThreadOwnershipError",
    "Tool",
    "ToolCall",
    "ToolContext",
    "ToolResult",
    "Usage",
    "load_app",
    "resolve_model",
    "run_job",
    "tool",
]
