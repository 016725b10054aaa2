"""The daemon's code path never imports the terminal UI's libraries."""

from __future__ import annotations

import subprocess
import sys

CODE = """
import sys
from nightowl.cli import build_parser
build_parser("daemon")
import nightowl.server.daemon, nightowl.server.app, nightowl.server.remote_write
import nightowl.commands.serve, nightowl.runtime, nightowl.alerts.manager
import nightowl.scrapers.manager, nightowl.scrapers.push
leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("textual", "plotext"))
print(",".join(leaked))
"""


def test_daemon_imports_no_ui_packages() -> None:
    """textual and plotext stay out of the daemon's process (rich comes with httpx)."""
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""
