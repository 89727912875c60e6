"""docs/settings.md is the settings models, rendered: every field with its type, default, meaning and
standard; regenerate with `python -m credlife.settings_reference > docs/settings.md`."""

from __future__ import annotations

from pathlib import Path

from credlife.config import Settings
from credlife.settings_reference import fields, render

DOC = Path(__file__).resolve().parents[2] / "docs" / "settings.md"


def test_the_reference_is_current() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/settings.md is stale: run `python -m credlife.settings_reference > docs/settings.md`"
    )


def test_every_field_has_a_meaning_and_a_row() -> None:
    listed = list(fields())
    assert len(listed) > 80
    missing = [path for path, _, meaning in listed if not meaning]
    assert missing == []
    text = render()
    for path, _, _ in listed:
        assert f"| `{path}` |" in text


def test_every_top_level_setting_is_in_the_reference() -> None:
    text = render()
    for name in Settings.model_fields:
        assert f"| `{name}" in text


def test_exemption_entries_are_documented_field_by_field() -> None:
    text = render()
    for name in ("user", "reason", "approved_by", "until"):
        assert f"| `policy.exemptions[].{name}` |" in text
    assert "| `policy.exemptions[].reason` | str | (required) |" in text
