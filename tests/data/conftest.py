"""Shared fixtures for the corpus builder tests: paths of the small committed sample inputs."""

from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture
def libreoffice_tree() -> Path:
    return FIXTURES / "libreoffice"
