"""Think-delimiter knowledge shared by the server (reasoning separation) and the eval client.

Reasoning models write their chain of thought between two delimiters. Where the delimiters sit,
and whether the chat template already opened the think block in the prompt, differs per model
family; this module is the one place that knows.
"""

from reasoning_formats._formats import (
    THINK_FORMATS,
    ReasoningSplitter,
    ThinkFormat,
    detect_think_format,
    get_think_format,
    split_reasoning,
)

__all__ = [
    "THINK_FORMATS",
    "ReasoningSplitter",
    "ThinkFormat",
    "detect_think_format",
    "get_think_format",
    "split_reasoning",
]
