"""`nightowl init` and `nightowl check config`, run as real subprocesses."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from nightowl.config import load_config
from nightowl.paths import default_config_path

DATA = Path(__file__).parent / "data" / "config"
EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run `nightowl ARGS` in a fresh interpreter with this test's XDG dirs."""
    return subprocess.run(
        [sys.executable, "-m", "nightowl", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env=dict(os.environ),
    )


def test_check_config_bad_file_exits_2_with_every_problem_and_no_traceback() -> None:
    """A bad file: exit 2, each problem on its own line naming file and key path."""
    bad = DATA / "bad_duration.toml"
    r = run("check", "config", str(bad))
    assert r.returncode == 2
    assert "Traceback" not in r.stderr + r.stdout
    lines = r.stderr.splitlines()
    assert any(
        ln.startswith(f"{bad}:16: scrape_configs[2].scrape_interval: invalid duration '15 sec")
        for ln in lines
    )
    assert sum(1 for ln in lines if ln.startswith(f"{bad}:")) == 3
    assert lines[-1] == f"FAILED: {bad} (3 problems)"
    assert r.stdout == ""


def test_check_config_syntax_error_names_line_and_column() -> None:
    """TOML syntax errors carry line:column."""
    bad = DATA / "toml_syntax.toml"
    r = run("check", "config", str(bad))
    assert r.returncode == 2
    assert r.stderr.startswith(f"{bad}:6:17: invalid TOML")
    assert "Traceback" not in r.stderr


def test_check_config_example_is_ok_with_summary(tmp_path: Path) -> None:
    """The documented example passes; missing run-time files are warnings only."""
    r = run("check", "config", str(EXAMPLE))
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert out[0] == f"OK: {EXAMPLE}"
    raw = tomllib.loads(EXAMPLE.read_text())  # count independently of nightowl.config
    jobs = raw["scrape_configs"]
    targets = sum(len(sc["targets"]) for j in jobs for sc in j.get("static_configs", []))
    rules = sum(len(g.get("rules", [])) for g in raw["rule_groups"])
    assert out[1].startswith(f"{len(jobs)} scrape jobs ({targets} static targets, ")
    assert f"{len(raw['rule_groups'])} rule group" in out[1] and f"({rules} rules)" in out[1]
    assert "host scraper every 5s" in out[1]
    assert f"warning: {EXAMPLE}: rule_files[0]:" in r.stderr
    assert "Traceback" not in r.stderr


def test_check_config_without_file_uses_defaults_or_xdg_file() -> None:
    """No FILE: the XDG config if present, else the embedded defaults (exit 0)."""
    r = run("check", "config")
    assert r.returncode == 0
    assert r.stdout.startswith(f"OK: no config file at {default_config_path()}")
    default_config_path().parent.mkdir(parents=True)
    default_config_path().write_text('[host]\nenabled = "no"\n')
    r = run("check", "config")
    assert r.returncode == 2
    assert "host.enabled: expected true or false" in r.stderr


def test_check_config_missing_explicit_file_and_config_flag(tmp_path: Path) -> None:
    """--config works like FILE; a missing file is a user error (exit 2)."""
    r = run("check", "config", "--config", str(tmp_path / "none.toml"))
    assert r.returncode == 2
    assert "does not exist" in r.stderr and "Traceback" not in r.stderr
    good = tmp_path / "good.toml"
    good.write_text('[[scrape_configs]]\njob_name = "n"\n')
    r = run("check", "config", "--config", str(good))
    assert r.returncode == 0 and r.stdout.startswith(f"OK: {good}")


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_check_config_refuses_world_readable_secrets(tmp_path: Path) -> None:
    """Issue 7: inline secrets in a world-readable file fail the check, value not shown."""
    f = tmp_path / "s.toml"
    f.write_text('[[scrape_configs]]\njob_name = "n"\nbearer_token = "tok-123456"\n')
    f.chmod(0o644)
    r = run("check", "config", str(f))
    assert r.returncode == 2
    assert "scrape_configs[0].bearer_token" in r.stderr and "chmod 600" in r.stderr
    assert "tok-123456" not in r.stderr + r.stdout


def test_init_writes_a_valid_private_file_and_refuses_to_overwrite() -> None:
    """`nightowl init`: XDG path, mode 0600, valid; again: exit 2; --force replaces."""
    path = default_config_path()
    r = run("init")
    assert r.returncode == 0, r.stderr
    assert path.is_file() and f"wrote {path}" in r.stdout
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_config(path).host.enabled
    path.write_text("# mine\n")
    r = run("init")
    assert r.returncode == 2
    assert "already exists" in r.stderr and "--force" in r.stderr
    assert "Traceback" not in r.stderr
    assert path.read_text() == "# mine\n"
    r = run("init", "--force")
    assert r.returncode == 0
    assert path.read_text() != "# mine\n"
    assert run("check", "config", str(path)).returncode == 0


def test_init_with_config_path_creates_folders(tmp_path: Path) -> None:
    """--config names the file; missing parent folders are created."""
    target = tmp_path / "a" / "b" / "night.toml"
    r = run("init", "--config", str(target))
    assert r.returncode == 0, r.stderr
    assert target.is_file()
    r = run("init", "--config", str(tmp_path))
    assert r.returncode == 2 and "is a directory" in r.stderr


def test_check_without_kind_is_a_usage_error() -> None:
    """`nightowl check` alone lists the kinds and exits 2."""
    r = run("check")
    assert r.returncode == 2
    assert "KIND" in r.stderr


def test_check_config_several_files_fails_if_any_fails(tmp_path: Path) -> None:
    """Like promtool, several files are checked in one run; exit 2 if one is bad."""
    good = tmp_path / "good.toml"
    good.write_text("[tui]\nbell = true\n")
    bad = DATA / "bad_enum.toml"
    r = run("check", "config", str(good), str(bad))
    assert r.returncode == 2
    assert f"OK: {good}" in r.stdout
    assert f"FAILED: {bad} (3 problems)" in r.stderr
    assert run("check", "config", str(good), str(good)).returncode == 0


def test_check_config_parses_file_sd_target_files(tmp_path: Path) -> None:
    """Like promtool, existing file_sd target files must parse; bad ones fail the check."""
    sd = tmp_path / "targets"
    sd.mkdir()
    (sd / "good.json").write_text('[{"targets": ["10.0.0.1:9100"], "labels": {"env": "a"}}]')
    (sd / "bad.yml").write_text("- targets: ['10.0.0.2:9100']\n  labels: {'bad-name': x}\n")
    f = tmp_path / "c.toml"
    f.write_text(
        '[[scrape_configs]]\njob_name = "j"\nfile_sd_configs = [{ files = ["targets/*"] }]\n'
    )
    r = run("check", "config", str(f))
    assert r.returncode == 2
    assert "scrape_configs[0].file_sd_configs[0]:" in r.stderr
    assert "bad.yml" in r.stderr and "bad-name" in r.stderr and "good.json" not in r.stderr
    assert "Traceback" not in r.stderr
    (sd / "bad.yml").unlink()
    r = run("check", "config", str(f))
    assert r.returncode == 0, r.stderr
