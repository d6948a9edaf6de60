"""Helpers for the training tests: the fixture recipes, rewritten with overrides."""

from __future__ import annotations

from pathlib import Path

import pytest
import tomllib

FIXTURES = Path(__file__).parent / "fixtures"


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def dump_toml(content: dict) -> str:
    """A minimal TOML writer for recipe dicts (tables of scalars and lists, one nesting level)."""
    lines = []

    def table(name: str, values: dict) -> None:
        lines.append(f"[{name}]")
        nested = {}
        for key, value in values.items():
            if isinstance(value, dict):
                nested[key] = value
            else:
                lines.append(f"{key} = {_toml_value(value)}")
        lines.append("")
        for key, value in nested.items():
            table(f"{name}.{key}", value)

    for name, values in content.items():
        table(name, values)
    return "\n".join(lines)


def write_recipe(directory: Path, fixture: str, **overrides: dict) -> Path:
    """Copies fixture recipe `fixture` into `directory` with section overrides; data paths are
    made absolute so the copy finds the fixture data. Returns the new recipe path."""
    content = tomllib.loads((FIXTURES / fixture).read_text())
    content["data"] = {key: str(FIXTURES / value) for key, value in content["data"].items()}
    for section, values in overrides.items():
        if values is None:
            content.pop(section, None)
        else:
            content.setdefault(section, {}).update(values)
    path = Path(directory) / fixture
    path.write_text(dump_toml(content))
    return path


@pytest.fixture
def recipe_writer(tmp_path):
    return lambda fixture, **overrides: write_recipe(tmp_path, fixture, **overrides)
