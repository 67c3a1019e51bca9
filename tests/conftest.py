"""Shared pytest fixtures."""
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def fixtures_dir() -> Path:
    """The tests/fixtures folder."""
    return FIXTURES


@pytest.fixture(autouse=True)
def _no_terminal_size_from_the_runner(monkeypatch):
    """Piped output follows COLUMNS; pytest-xdist workers inherit one (80) from nowhere in particular.

    Each test sees the width a plain pipe gets (200) unless it sets COLUMNS itself.
    """
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.delenv("LINES", raising=False)
    import os

    for name in [n for n in os.environ if n.startswith("POINTS_")]:  # the settings of engine.project
        monkeypatch.delenv(name)
