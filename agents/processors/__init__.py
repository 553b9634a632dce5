"""Input and output processors."""

from __future__ import annotations

from agents.processors.attachments import AttachmentUploader
from agents.processors.base import BaseProcessor, Processor, ProcessorContext

__all__ = ["AttachmentUploader", "BaseProcessor", "Processor", "ProcessorContext"]
