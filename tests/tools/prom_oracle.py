"""Fill in the expectations of a PromQL `.test` file from the real Prometheus.

Not used by the test suite: this is how the expected values in
`tests/query/testdata/*.test` were obtained. For each section of the file (the
part before and between `clear` commands) it starts a fresh `prometheus`
(2.42, `/usr/bin/prometheus`) on 127.0.0.1 with the remote-write receiver,
sends the section's `load` data through remote write (staleness markers keep
their bit pattern, which OpenMetrics backfilling cannot carry; samples are
sent in time order, in windows shorter than the head's appendable range), then
runs each `eval` through `/api/v1/query` or `/api/v1/query_range` and writes
Prometheus's answer as the case's expected block (`eval_fail` cases get
Prometheus's error message). The result goes to stdout, or in place with
`--write`::

    python tests/tools/prom_oracle.py tests/query/testdata/at_modifier.test --write

Times in `.test` files count from the Unix epoch (`load 1m` puts the first
sample at 0), so the script queries exactly those times.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
from nightowl.query.promqltest import parse_script
from nightowl.server import _rwproto

PROMETHEUS = "/usr/bin/prometheus"
WINDOW_MS = 30 * 60_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Prometheus:
    """A throwaway Prometheus on 127.0.0.1 with an empty TSDB."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="prom-oracle-")
        self.port = _free_port()
        cfg = Path(self.dir, "prometheus.yml")
        cfg.write_text("global: {}\n")
        self.proc = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={cfg}",
                f"--storage.tsdb.path={self.dir}/data",
                "--storage.tsdb.retention.time=100y",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--web.enable-remote-write-receiver",
                "--log.level=warn",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/-/ready", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        self.close()
        raise RuntimeError("prometheus did not become ready")

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def write(self, series: list[tuple[list[tuple[str, str]], np.ndarray, np.ndarray]]) -> None:
        """Remote-write the samples, in time windows so the head accepts them all."""
        if not series:
            return
        t_max = max(int(ts[-1]) for _, ts, _ in series if len(ts))
        lo = min(int(ts[0]) for _, ts, _ in series if len(ts))
        while lo <= t_max:
            hi = lo + WINDOW_MS
            parts = []
            for labels, ts, vs in series:
                keep = (ts >= lo) & (ts < hi)
                if not keep.any():
                    continue
                buf, _ = _rwproto.encode_samples(ts[keep], vs[keep])
                parts.append(
                    _rwproto.encode_timeseries(_rwproto.encode_labels(labels), buf.tobytes())
                )
            if parts:
                req = urllib.request.Request(
                    self.url + "/api/v1/write",
                    data=_rwproto.compress(b"".join(parts)),
                    headers={
                        "Content-Encoding": "snappy",
                        "Content-Type": "application/x-protobuf",
                        "X-Prometheus-Remote-Write-Version": "0.1.0",
                    },
                )
                with urllib.request.urlopen(req, timeout=10) as r:
                    r.read()
            lo = hi

    def api(self, path: str, params: dict[str, str]) -> dict:
        """GET an API path; returns the decoded envelope (errors included)."""
        url = f"{self.url}{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=30) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as exc:
            return json.loads(exc.read())


def _secs(ms: int) -> str:
    return f"{ms / 1000:.3f}"


def _num(v: str) -> str:
    f = float(v)
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "Inf" if f > 0 else "-Inf"
    return repr(f).removesuffix(".0") if f == int(f) and abs(f) < 1e15 else repr(f)


def _labels(metric: dict[str, str]) -> str:
    name = metric.get("__name__", "")
    rest = [
        f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for k, v in sorted(metric.items())
        if k != "__name__"
    ]
    return f"{name}{{{', '.join(rest)}}}"


def _expected(case, prom: Prometheus) -> list[str]:
    if case.instant:
        body = prom.api("/api/v1/query", {"query": case.expr, "time": _secs(case.start)})
    else:
        body = prom.api(
            "/api/v1/query_range",
            {
                "query": case.expr,
                "start": _secs(case.start),
                "end": _secs(case.end),
                "step": _secs(case.step),
            },
        )
    if body["status"] != "success":
        if not case.fail:
            raise RuntimeError(f"line {case.line}: {case.expr}: Prometheus failed: {body['error']}")
        # the API prefixes parse errors with the parameter's name; the engine does not
        message = body["error"].removeprefix('invalid parameter "query": ')
        return [f"  expected_fail_message {message}"]
    if case.fail:
        raise RuntimeError(f"line {case.line}: {case.expr}: Prometheus did not fail")
    data = body["data"]
    kind, result = data["resultType"], data["result"]
    if kind == "scalar":
        return [f"  {_num(result[1])}"]
    if kind == "string":
        return [f'  expect string "{result[1]}"']
    if kind == "vector":
        return [f"  {_labels(r['metric'])} {_num(r['value'][1])}" for r in result]
    if case.instant:
        raise RuntimeError(f"line {case.line}: matrix answers to instant evals are not handled")
    steps = list(range(case.start, case.end + 1, case.step))
    out = []
    for r in result:
        got = {round(float(t) * 1000): v for t, v in r["values"]}
        out.append(
            f"  {_labels(r['metric'])} "
            + " ".join(_num(got[s]) if s in got else "_" for s in steps)
        )
    return out


def _sections(cmds: list) -> list[list]:
    out: list[list] = [[]]
    for cmd in cmds:
        if type(cmd).__name__ == "_Clear":
            out.append([])
        else:
            out[-1].append(cmd)
    return out


def fill(text: str) -> str:
    """The script with every eval's expected block replaced by Prometheus's answer."""
    cmds = parse_script(text)
    answers: dict[int, list[str]] = {}
    for section in _sections(cmds):
        evals = [c for c in section if type(c).__name__ == "EvalCase"]
        if not evals:
            continue
        prom = Prometheus()
        try:
            series = []
            for load in (c for c in section if type(c).__name__ == "_Load"):
                for labels, vals in dict(load.series).items():
                    pts = [(i * load.interval_ms, v.value) for i, v in enumerate(vals)]
                    pts = [(t, v) for t, v in pts if v is not None]
                    ts = np.array([t for t, _ in pts], dtype=np.int64)
                    vs = np.array([v for _, v in pts], dtype=np.float64)
                    series.append((list(labels), ts, vs))
            prom.write(series)
            for case in evals:
                answers[case.line] = _expected(case, prom)
        finally:
            prom.close()
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        out.append(lines[i])
        i += 1
        if i in answers:
            line = i
            # drop the old expectation block (until a blank line), keep `expect` lines
            while i < len(lines) and lines[i].strip():
                s = lines[i].strip()
                if s.startswith("expect ") and not s.startswith("expect string"):
                    out.append(lines[i])
                i += 1
            out.extend(answers[line])
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: fill one or more files (stdout, or in place with --write)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("--write", action="store_true", help="rewrite the files in place")
    args = ap.parse_args(argv)
    if not os.path.exists(PROMETHEUS):
        print(f"{PROMETHEUS} not found", file=sys.stderr)
        return 1
    for path in args.files:
        new = fill(path.read_text(encoding="utf-8"))
        if args.write:
            path.write_text(new, encoding="utf-8")
        else:
            sys.stdout.write(new)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
