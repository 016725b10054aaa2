"""The `ui` command: argument and config errors exit 2 with a message before any UI starts;
NO_COLOR is honoured; the daemon side never loads Textual."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from nightowl.cli import main


def test_source_and_db_together_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """--source reads a remote API; combining it with --db is refused."""
    assert main(["--source", "http://127.0.0.1:9", "--db", "x.db"]) == 2
    assert "cannot be combined with --db" in capsys.readouterr().err


def test_bad_refresh_and_missing_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A bad duration or a missing explicit config file is a clean exit 2."""
    assert main(["ui", "--refresh", "soon"]) == 2
    assert "invalid duration 'soon'" in capsys.readouterr().err
    assert main(["--config", str(tmp_path / "nope.toml")]) == 2
    assert "nope.toml" in capsys.readouterr().err


def test_bad_config_names_file_and_key(tmp_path: Path) -> None:
    """A config with a bad dashboard panel exits 2 naming the key, without a traceback."""
    cfg = tmp_path / "config.toml"
    cfg.write_text('[[dashboards]]\nname = "x"\n[[dashboards.panels]]\nexpr = "up"\nkind = "pie"\n')
    out = subprocess.run(
        [sys.executable, "-m", "nightowl", "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert "dashboards[0].panels[0].kind" in out.stderr
    assert "Traceback" not in out.stderr


async def test_no_color_is_honoured(
    source, clock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With NO_COLOR set the app renders without colour."""
    from nightowl.tui.app import NightowlApp

    monkeypatch.setenv("NO_COLOR", "1")
    app = NightowlApp(source, clock=clock, history_path=tmp_path / "h")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.no_color


def test_ui_help_lists_the_flags() -> None:
    """`nightowl ui --help` documents every flag."""
    out = subprocess.run(
        [sys.executable, "-m", "nightowl", "ui", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    for flag in ("--source", "--db", "--config", "--low-bandwidth", "--theme", "--refresh"):
        assert flag in out.stdout


def test_not_a_database_exits_2_with_the_message(tmp_path: Path) -> None:
    """`--db` naming a file that is not an SQLite database: refused before the UI draws
    anything (no alternate screen), exit 2, the error on stderr."""
    bogus = tmp_path / "notes.txt"
    bogus.write_text("shopping list\n" * 100)
    out = subprocess.run(
        [sys.executable, "-m", "nightowl", "--db", str(bogus)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "cfg")},
    )
    assert out.returncode == 2, out.stderr
    assert "notes.txt" in out.stderr and "Traceback" not in out.stderr
    assert "not an SQLite database" in out.stderr
    assert "\x1b[?1049h" not in out.stderr + out.stdout  # the UI never took the screen
    assert not (tmp_path / "notes.txt-wal").exists()  # and the file was not touched


def test_unknown_theme_is_a_usage_error(tmp_path: Path) -> None:
    """`--theme nosuch` exits 2 listing the themes there are, user themes included."""
    themes = tmp_path / "cfg" / "nightowl" / "themes"
    themes.mkdir(parents=True)
    (themes / "mine.toml").write_text('[colors]\nprimary = "#336699"\n')
    out = subprocess.run(
        [sys.executable, "-m", "nightowl", "--theme", "nosuch"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "cfg")},
    )
    assert out.returncode == 2, out.stderr
    available = "available: dark, light, high-contrast, ansi16, mine"
    assert f"unknown theme 'nosuch'; {available}" in out.stderr
    assert "Traceback" not in out.stderr
    assert "\x1b[?1049h" not in out.stderr + out.stdout


def test_known_themes_pass_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every built-in theme name is accepted by the `--theme` check."""
    from nightowl.commands.ui import _check_theme

    for name in ("dark", "light", "high-contrast", "ansi16"):
        _check_theme(name)


async def test_unknown_config_theme_is_a_warning(source, clock, tmp_path: Path) -> None:
    """`[tui] theme` naming no theme: the UI starts in `dark` and says why."""
    from nightowl.tui.app import NightowlApp

    app = NightowlApp(source, clock=clock, theme="nosuch", history_path=tmp_path / "h")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.theme == "dark"
        assert any("unknown theme 'nosuch'" in n.message for n in app._notifications)
