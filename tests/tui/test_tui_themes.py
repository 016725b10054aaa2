"""Themes: built-ins load, user files load, bad files warn instead of crashing."""

from __future__ import annotations

from pathlib import Path

import pytest
from nightowl.themes.loader import (
    SERIES_COUNT,
    ThemeError,
    builtin_themes,
    load_theme_file,
    load_themes,
)


def test_builtins() -> None:
    """dark, light, high-contrast and a 16-colour theme, each with every series colour."""
    themes = builtin_themes()
    assert {"dark", "light", "high-contrast", "ansi16"} <= set(themes)
    assert themes["ansi16"].ansi and not themes["light"].dark
    for t in themes.values():
        for i in range(SERIES_COUNT):
            assert f"series-{i}" in t.variables


def test_user_theme_with_only_primary(tmp_path: Path) -> None:
    """A minimal user theme gets series colours filled in and can replace a built-in."""
    (tmp_path / "mine.toml").write_text('name = "mine"\n[colors]\nprimary = "#ff8800"\n')
    (tmp_path / "dark.toml").write_text('name = "dark"\n[colors]\nprimary = "red"\n')
    result = load_themes(tmp_path)
    assert result.warnings == []
    assert result.themes["mine"].variables["series-0"] == "#ff8800"
    assert result.themes["dark"].primary == "red"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("not = [toml", "not valid TOML"),
        ('name = "x"\n[colors]\nprimary = "blurple"\n', "colors.primary"),
        ('name = "x"\n[colors]\nsecondary = "red"\n', "colors.primary: required"),
        ('name = "x"\n[colors]\nprimary = "red"\nglow = "red"\n', "colors.glow"),
        ('name = "x"\nsparkle = true\n[colors]\nprimary = "red"\n', "unknown key 'sparkle'"),
        ('name = "x"\ndark = "yes"\n[colors]\nprimary = "red"\n', "dark: expected true or false"),
        (
            'name = "x"\n[colors]\nprimary = "red"\n[variables]\nseries-1 = 7\n',
            "variables.series-1",
        ),
    ],
)
def test_bad_user_theme_is_a_warning(tmp_path: Path, text: str, needle: str) -> None:
    """Each kind of bad file is reported by name and key; built-ins still load."""
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    with pytest.raises(ThemeError, match=r"bad\.toml"):
        load_theme_file(bad)
    result = load_themes(tmp_path)
    assert len(result.warnings) == 1 and needle in result.warnings[0]
    assert "dark" in result.themes


def test_missing_user_dir_is_fine(tmp_path: Path) -> None:
    """No user theme dir: just the built-ins."""
    assert set(load_themes(tmp_path / "nope").themes) == set(builtin_themes())
