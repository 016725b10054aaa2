"""File-based service discovery: JSON/YAML files, globs, change detection, bad files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nightowl.scrapers.file_sd import FileDiscovery, FileSDError, parse_target_file


def touch_later(path: Path) -> None:
    """Make sure an mtime change is visible even on coarse-mtime filesystems."""
    st_ = path.stat()
    os.utime(path, ns=(st_.st_atime_ns, st_.st_mtime_ns + 1_000_000_000))


def test_reads_json_and_yaml_groups(tmp_path: Path) -> None:
    """Both formats, several files, __meta_filepath on every group."""
    (tmp_path / "a.json").write_text(
        json.dumps([{"targets": ["h1:9100", "h2:9100"], "labels": {"env": "prod"}}])
    )
    (tmp_path / "b.yml").write_text("- targets: ['h3:9100']\n  labels:\n    env: dev\n")
    (tmp_path / "ignored.txt").write_text("not a target file")
    disc = FileDiscovery([str(tmp_path / "*")])
    assert disc.refresh() is True
    groups = disc.groups()
    assert [g.targets for g in groups] == [("h1:9100", "h2:9100"), ("h3:9100",)]
    assert groups[0].labels == {"env": "prod", "__meta_filepath": str(tmp_path / "a.json")}
    assert groups[1].labels["env"] == "dev"
    assert disc.errors == []
    assert disc.refresh() is False  # nothing changed


def test_relative_globs_use_base_dir(tmp_path: Path) -> None:
    """Relative patterns resolve against the config file's directory."""
    (tmp_path / "sd").mkdir()
    (tmp_path / "sd" / "t.yaml").write_text("- targets: ['x:1']\n")
    disc = FileDiscovery(["sd/*.yaml"], base_dir=tmp_path)
    disc.refresh()
    assert [g.targets for g in disc.groups()] == [("x:1",)]


def test_change_bad_file_and_removal(tmp_path: Path) -> None:
    """Changes are picked up; a bad file keeps its last good groups; deletion removes them."""
    f = tmp_path / "t.json"
    f.write_text(json.dumps([{"targets": ["a:1"]}]))
    disc = FileDiscovery([str(tmp_path / "*.json")])
    disc.refresh()
    f.write_text(json.dumps([{"targets": ["a:1", "b:2"]}]))
    touch_later(f)
    assert disc.refresh() is True
    assert disc.groups()[0].targets == ("a:1", "b:2")
    f.write_text("[{")
    touch_later(f)
    assert disc.refresh() is False
    assert disc.groups()[0].targets == ("a:1", "b:2")
    assert len(disc.errors) == 1 and str(f) in disc.errors[0]
    # The error stays visible until the file is fixed.
    disc.refresh()
    assert len(disc.errors) == 1
    f.unlink()
    assert disc.refresh() is True
    assert disc.groups() == []
    assert disc.errors == []


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('{"targets": []}', "expected a list of target groups"),
        ('["x"]', "must be a mapping"),
        ('[{"targets": "a:1"}]', "expected a list"),
        ('[{"targets": ["a b:1"]}]', "invalid target address"),
        ('[{"targets": ["a:1"], "labels": {"1bad": "x"}}]', "invalid label name"),
        ('[{"targets": ["a:1"], "labels": {"ok": ["x"]}}]', "must be a string"),
        ('[{"targets": ["a:1"], "extra": 1}]', "unknown keys"),
        ("[{", "not valid JSON"),
    ],
)
def test_bad_files_name_file_and_entry(text: str, fragment: str) -> None:
    """Each malformed shape is reported with the file name."""
    with pytest.raises(FileSDError) as err:
        parse_target_file("/etc/sd/t.json", text)
    assert fragment in str(err.value)
    assert "/etc/sd/t.json" in str(err.value)


@settings(max_examples=200)
@given(st.text(max_size=200))
def test_arbitrary_text_never_crashes(text: str) -> None:
    """Any file content parses or raises FileSDError, for JSON and YAML."""
    for name in ("t.json", "t.yml"):
        try:
            parse_target_file(name, text)
        except FileSDError:
            pass
