"""Real processes on one database: readers see no errors; a killed writer loses nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from nightowl.store import Store, StoreOptions

from nightowl.model import Labels, Matcher

WRITER = textwrap.dedent(
    """
    import json, sys, time
    import numpy as np
    from nightowl.model import Labels, SampleBatch
    from nightowl.store import Store, StoreOptions

    path, duration = sys.argv[1], float(sys.argv[2])
    opts = StoreOptions(compaction_interval_ms=200, retention_time_ms=0,
                        rollup_5m_after_ms=0, rollup_1h_after_ms=0)
    series = [Labels.of("load", job=f"j{i % 7}", instance=f"i{i}") for i in range(300)]
    refs = np.arange(300)
    with Store.open(path, options=opts) as store:
        print("ready", flush=True)
        k = 0
        accepted = 0
        end = time.monotonic() + duration
        while time.monotonic() < end:
            t = 1_700_000_000_000 + k * 60_000
            batch = SampleBatch(series, refs, np.full(300, t), np.full(300, float(k)))
            accepted += store.append_sync(batch).accepted
            k += 1
        print(json.dumps({"batches": k, "accepted": accepted}), flush=True)
    """
)

READER = textwrap.dedent(
    """
    import json, sys, time
    from nightowl.model import Matcher
    from nightowl.store import Store

    path, duration = sys.argv[1], float(sys.argv[2])
    errors, queries, most = [], 0, 0
    store = Store.open(path, readonly=True)
    end = time.monotonic() + duration
    while time.monotonic() < end:
        try:
            got = store.select([Matcher("__name__", "=", "load")], 0, 2**62)
            n = sum(len(s.timestamps) for s in got)
            if n < most:
                errors.append(f"samples went backwards: {n} < {most}")
            most = max(most, n)
            store.series([Matcher("job", "=~", "j[0-3]")])
            store.label_values("instance")
            store.rollups([], 0, 2**62, 300_000)
            queries += 1
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
    store.close()
    print(json.dumps({"errors": errors[:5], "n_errors": len(errors), "queries": queries,
                      "samples": most}))
    """
)


@pytest.mark.slow
def test_one_writer_four_readers_no_errors(tmp_path: Path) -> None:
    """A writer ingests (with background compaction) while four reader processes query
    for about 10 s: no reader ever sees an error or loses samples."""
    db = tmp_path / "shared.db"
    (tmp_path / "writer.py").write_text(WRITER)
    (tmp_path / "reader.py").write_text(READER)
    writer = subprocess.Popen(
        [sys.executable, str(tmp_path / "writer.py"), str(db), "10"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "ready"
        readers = [
            subprocess.Popen(
                [sys.executable, str(tmp_path / "reader.py"), str(db), "9"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(4)
        ]
        results = []
        for r in readers:
            out, err = r.communicate(timeout=60)
            assert r.returncode == 0, err
            results.append(json.loads(out))
        wout, werr = writer.communicate(timeout=60)
        assert writer.returncode == 0, werr
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
    summary = json.loads(wout.strip().splitlines()[-1])
    assert summary["batches"] > 50
    print("writer:", summary, "readers:", results)
    for res in results:
        assert res["n_errors"] == 0, res["errors"]
        assert res["queries"] > 5
        assert res["samples"] > 0
    with Store.open(db, readonly=True) as s:
        got = s.select([Matcher("__name__", "=", "load")], 0, 2**62)
        assert sum(len(x.timestamps) for x in got) == summary["accepted"]
        assert s.integrity_check() == "ok"


CRASHER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from nightowl.model import Labels, SampleBatch
    from nightowl.store import Store, StoreOptions

    path = sys.argv[1]
    series = [Labels.of("crash", i=str(i)) for i in range(20)]
    opts = StoreOptions(compaction_interval_ms=50, retention_time_ms=0)
    with Store.open(path, options=opts) as store:
        k = 0
        while True:
            # Batch k: 20 series x 500 samples, timestamps [k*500, (k+1)*500) seconds.
            n = 500
            refs = np.repeat(np.arange(20), n)
            ts = np.tile((k * n + np.arange(n)) * 1000, 20)
            vs = np.full(20 * n, float(k))
            store.append_sync(SampleBatch(series, refs, ts, vs))
            # Also a scrape-sized batch that lands in the head.
            last = np.full(20, (k + 1) * n * 1000 - 1)
            store.append_sync(SampleBatch(series, np.arange(20), last, np.full(20, -1.0)))
            print(f"committed {k}", flush=True)
            k += 1
    """
)


def test_kill_9_mid_ingest_loses_no_committed_batch(tmp_path: Path) -> None:
    """kill -9 a writer mid-ingest: the file is sound and every reported batch is there."""
    db = tmp_path / "crash.db"
    (tmp_path / "crasher.py").write_text(CRASHER)
    proc = subprocess.Popen(
        [sys.executable, str(tmp_path / "crasher.py"), str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    committed = -1
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        while committed < 25 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            committed = int(line.split()[1])
        os.kill(proc.pid, signal.SIGKILL)
        # Anything printed before the kill landed counts as committed too.
        rest = proc.stdout.read()
        for line in rest.splitlines():
            committed = int(line.split()[1])
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()
        if proc.stdout is not None:
            proc.stdout.close()
    assert committed >= 25, "the writer did not get going"
    with Store.open(db, options=StoreOptions(compaction_interval_ms=0, retention_time_ms=0)) as s:
        assert s.integrity_check() == "ok"
        got = {x.labels: x for x in s.select([], 0, 2**62)}
        assert len(got) == 20
        for i in range(20):
            data = got[Labels.of("crash", i=str(i))]
            t, v = data.timestamps, data.values
            # Every committed batch k is complete.
            for k in range(committed + 1):
                sel = (t >= k * 500_000) & (t < (k + 1) * 500_000)
                assert sel.sum() == 501, (i, k)  # 500 bulk samples + 1 scrape sample
                assert np.all(v[sel][:-1] == float(k)) and v[sel][-1] == -1.0
            # A batch in flight at the kill is all there or not there at all.
            extra = t >= (committed + 1) * 500_000
            assert extra.sum() in (0, 500, 501)
