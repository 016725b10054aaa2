"""DevSecSources: every DevSecOps section of a real config file runs, reloads and reports status."""

from __future__ import annotations

import asyncio
import shutil
import sys
from pathlib import Path

from nightowl.scrapers._devsec import DevSecSources
from nightowl.store.memory import MemoryStore

from nightowl.config import parse_config
from nightowl.model import Matcher, MatchOp


def _names(store: MemoryStore) -> set[str]:
    return {lbl.name for lbl in store.series([Matcher("__name__", MatchOp.RE, ".+")])}


async def test_config_sections_run_and_reload(shared_dir: Path, tmp_path: Path) -> None:
    """Logs, commands and reports from one TOML config all write; reload swaps them."""
    shutil.copy(shared_dir / "fixtures" / "ci" / "pytest-junit.xml", tmp_path / "junit.xml")
    log = tmp_path / "app.log"
    log.write_text("")
    log_part = f"""
[[log_configs]]
name = "app"
path = "{log}"
state_file = "{tmp_path / "app.offset"}"
[[log_configs.metrics]]
name = "app_errors_total"
regex = 'ERROR'
"""
    cmd_part = """
[[command_configs]]
name = "seven"
command = ["echo", "7"]
interval = "200ms"
timeout = "200ms"
metric = "seven_value"
"""
    report_part = f"""
[[report_configs]]
path = "{tmp_path / "junit.xml"}"
format = "junit"
interval = "50ms"
"""
    cfg = parse_config(log_part + cmd_part + report_part, base_dir=tmp_path)
    store = MemoryStore()
    wiring = DevSecSources(store)
    assert await wiring.apply(cfg) == []
    want = {"seven_value", "junit_tests", "app_errors_total", "nightowl_command_success"}
    for _ in range(300):
        await asyncio.sleep(0.01)
        if want <= _names(store):
            break
    assert want <= _names(store)
    statuses = {t.job: t for t in wiring.targets()}
    assert set(statuses) == {"log/app", "command/seven", "report/junit.xml"}
    assert statuses["command/seven"].url == "echo 7"

    # Reload with only the command left: the other sources stop.
    cfg2 = parse_config(cmd_part, base_dir=tmp_path)
    assert await wiring.apply(cfg2) == []
    assert [t.job for t in wiring.targets()] == ["command/seven"]
    await wiring.stop()
    assert wiring.targets() == []
    assert (tmp_path / "app.offset").exists()


async def test_one_bad_entry_does_not_stop_the_others(tmp_path: Path) -> None:
    """A source that cannot be built is reported; the rest still run."""
    cfg = parse_config(
        f"""
[[command_configs]]
name = "good"
command = ["{sys.executable}", "-c", "print(1)"]
metric = "good_value"
interval = "1h"
""",
        base_dir=tmp_path,
    )
    bad = type(
        "Bad",
        (),
        {
            "name": "bad",
            "command": (),
            "format": "number",
            "interval": 1000,
            "timeout": 1000,
            "metric": "m",
            "labels": {},
            "metrics": (),
        },
    )()
    cfg = type("Cfg", (), {"command_configs": (*cfg.command_configs, bad)})()
    store = MemoryStore()
    wiring = DevSecSources(store)
    errors = await wiring.apply(cfg)
    assert len(errors) == 1 and "command_configs[bad]" in errors[0]
    assert [t.job for t in wiring.targets()] == ["command/good"]
    await wiring.stop()
