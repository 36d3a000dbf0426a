from __future__ import annotations

from collections.abc import Callable

import pytest

from evalclient.stub import StubThread
from launcher import free_port


@pytest.fixture
def stub() -> Callable[..., StubThread]:
    """Start an instant stub endpoint (in a thread) with the given answers and fault injection."""
    return lambda answers=None, **options: StubThread(free_port(), answers, **options)
