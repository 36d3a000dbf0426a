"""Think-delimiter knowledge shared by the server (reasoning separation) and the eval client.

Reasoning models write their chain of thought between two delimiters. Where the delimiters sit,
and whether the chat template already opened the think block in the prompt, differs per model
family; this module is the one place that knows. It also holds the boxed final-answer convention
(`last_boxed`) that scorers and the tiny reasoner's trainer read answers by.
"""

from reasoning_formats._formats import (
    THINK_FORMATS,
    ReasoningSplitter,
    ThinkFormat,
    UnknownThinkFormatError,
    custom_think_format,
    detect_think_format,
    get_think_format,
    resolve_think_format,
    split_reasoning,
)
from reasoning_formats.answers import last_boxed

__all__ = [
    "THINK_FORMATS",
    "ReasoningSplitter",
    "ThinkFormat",
    "UnknownThinkFormatError",
    "custom_think_format",
    "detect_think_format",
    "get_think_format",
    "last_boxed",
    "resolve_think_format",
    "split_reasoning",
]
