"""The host scraper: node_exporter's names, labels, types and HELP, sane values on this machine."""

from __future__ import annotations

import os
import re
import socket
import time
from pathlib import Path

import pytest
from nightowl.scrapers import _procfs as procfs
from nightowl.scrapers.exposition import parse
from nightowl.scrapers.host import HostCollector, HostOptions, HostScrapeLoop
from nightowl.store.api import AppendResult

from nightowl.model import Labels, MetricType, SampleBatch, TargetHealth

REQUIRED = {
    "node_cpu_seconds_total",
    "node_memory_MemTotal_bytes",
    "node_memory_MemAvailable_bytes",
    "node_memory_MemFree_bytes",
    "node_memory_Buffers_bytes",
    "node_memory_Cached_bytes",
    "node_memory_SwapTotal_bytes",
    "node_memory_SwapFree_bytes",
    "node_load1",
    "node_load5",
    "node_load15",
    "node_disk_read_bytes_total",
    "node_disk_written_bytes_total",
    "node_disk_reads_completed_total",
    "node_disk_writes_completed_total",
    "node_disk_io_time_seconds_total",
    "node_filesystem_size_bytes",
    "node_filesystem_avail_bytes",
    "node_filesystem_free_bytes",
    "node_filesystem_files",
    "node_filesystem_files_free",
    "node_filesystem_readonly",
    "node_network_receive_bytes_total",
    "node_network_transmit_bytes_total",
    "node_network_receive_packets_total",
    "node_network_transmit_packets_total",
    "node_network_receive_errs_total",
    "node_network_transmit_errs_total",
    "node_network_receive_drop_total",
    "node_network_transmit_drop_total",
    "node_procs_running",
    "node_procs_blocked",
    "node_forks_total",
    "node_context_switches_total",
    "node_intr_total",
    "node_boot_time_seconds",
    "node_time_seconds",
    "node_uname_info",
}


@pytest.fixture(scope="module")
def collected() -> tuple[dict[Labels, float], dict]:
    page = HostCollector(HostOptions(instance="test-host")).collect()
    values = dict(zip(page.series, page.values.tolist(), strict=True))
    return values, page.metadata


def families(values: dict[Labels, float]) -> dict[str, list[Labels]]:
    out: dict[str, list[Labels]] = {}
    for labels in values:
        out.setdefault(labels.name, []).append(labels)
    return out


def test_emits_the_required_families(collected: tuple[dict[Labels, float], dict]) -> None:
    """Every family node_exporter dashboards rely on is present on this machine."""
    values, _ = collected
    missing = REQUIRED - set(families(values))
    assert not missing


def test_names_labels_types_and_help_match_node_exporter(
    collected: tuple[dict[Labels, float], dict], shared_dir: Path
) -> None:
    """Families also in a real node_exporter page have the same labels, TYPE and HELP."""
    page = (shared_dir / "fixtures/node_exporter/metrics.txt").read_bytes()
    ref = parse(page)
    ref_labels: dict[str, set[str]] = {}
    for s in ref.series:
        ref_labels.setdefault(s.name, set()).update(k for k, _ in s if k != "__name__")
    values, meta = collected
    fams = families(values)
    common = set(fams) & set(ref_labels)
    assert len(common) >= 100, sorted(set(fams) - set(ref_labels))
    for name in sorted(common):
        ours = {k for s in fams[name] for k, _ in s if k != "__name__"}
        assert ours == ref_labels[name], name
        assert meta[name].type == ref.metadata[name].type, name
        assert meta[name].help == ref.metadata[name].help, name
    # Every family we emit is named as node_exporter names it.
    for name in fams:
        assert name.startswith("node_"), name
        assert meta[name].help, name


def test_values_are_sane(collected: tuple[dict[Labels, float], dict]) -> None:
    """Memory, CPU, load, filesystems and clocks hold plausible numbers."""
    values, meta = collected
    by = {labels: v for labels, v in values.items()}

    def one(name: str) -> float:
        return next(v for labels, v in by.items() if labels.name == name)

    total = one("node_memory_MemTotal_bytes")
    assert total > 64 * 1024 * 1024
    assert 0 < one("node_memory_MemAvailable_bytes") <= total
    assert 0 <= one("node_memory_MemFree_bytes") <= total
    cpus = {labels.get("cpu") for labels in by if labels.name == "node_cpu_seconds_total"}
    assert len(cpus) == os.cpu_count()
    modes = {labels.get("mode") for labels in by if labels.name == "node_cpu_seconds_total"}
    assert modes == {"user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"}
    idle = [v for labels, v in by.items() if labels.get("mode") == "idle"]
    assert all(v > 0 for v in idle)
    assert one("node_load1") >= 0
    now = time.time()
    assert abs(one("node_time_seconds") - now) < 60
    assert 0 < one("node_boot_time_seconds") < now
    assert one("node_procs_running") >= 1
    root = [
        labels
        for labels in by
        if labels.name == "node_filesystem_size_bytes" and labels.get("mountpoint") == "/"
    ]
    assert root, "the root filesystem is reported"
    size = by[root[0]]
    avail = by[root[0].with_(__name__="node_filesystem_avail_bytes")]
    free = by[root[0].with_(__name__="node_filesystem_free_bytes")]
    assert 0 <= avail <= free <= size
    # Pseudo filesystems are skipped, as node_exporter does.
    fstypes = {labels.get("fstype") for labels in by if labels.name.startswith("node_filesystem")}
    assert not fstypes & {"proc", "sysfs", "cgroup", "cgroup2", "devpts", "devtmpfs"}
    mounts = {
        labels.get("mountpoint") for labels in by if labels.name.startswith("node_filesystem")
    }
    assert "/" in mounts
    assert not any(m.startswith(("/proc", "/sys")) for m in mounts)
    # Partitions, loop and ram devices are skipped like node_exporter's default.
    devices = {labels.get("device") for labels in by if labels.name.startswith("node_disk_")}
    assert not any(re.match(r"^(loop|ram)\d+$", d) for d in devices)
    uname = next(labels for labels in by if labels.name == "node_uname_info")
    assert uname.get("nodename") == socket.gethostname()
    assert uname.get("sysname") == os.uname().sysname
    assert meta["node_cpu_seconds_total"].type is MetricType.COUNTER
    assert meta["node_memory_MemTotal_bytes"].help == "Memory information field MemTotal_bytes."


def test_collectors_can_be_chosen() -> None:
    """Only the configured collectors run."""
    page = HostCollector(HostOptions(instance="h", collectors=("loadavg",))).collect()
    assert {s.name for s in page.series} == {"node_load1", "node_load5", "node_load15"}


def test_fake_proc_root_and_missing_files(tmp_path: Path) -> None:
    """A /proc without PSI or diskstats silences those collectors only."""
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "loadavg").write_text("0.50 0.25 0.10 1/100 1234\n")
    (proc / "stat").write_text(
        "cpu  10 0 5 100 1 0 0 0 0 0\n"
        "cpu0 10 0 5 100 1 0 0 0 2 3\n"
        "intr 999 1 2\nctxt 4242\nbtime 1700000000\nprocesses 77\n"
        "procs_running 3\nprocs_blocked 1\n"
    )
    collector = HostCollector(
        HostOptions(
            instance="h",
            proc_path=str(proc),
            collectors=("cpu", "stat", "loadavg", "pressure", "diskstats"),
        )
    )
    page = collector.collect()
    values = {str(s): v for s, v in zip(page.series, page.values.tolist(), strict=True)}
    tck = os.sysconf("SC_CLK_TCK")
    assert values['node_cpu_seconds_total{cpu="0", mode="user"}'] == 10 / tck
    assert values['node_cpu_guest_seconds_total{cpu="0", mode="nice"}'] == 3 / tck
    assert values["node_intr_total"] == 999
    assert values["node_context_switches_total"] == 4242
    assert values["node_boot_time_seconds"] == 1_700_000_000
    assert values["node_forks_total"] == 77
    assert values["node_procs_blocked"] == 1
    assert values["node_load15"] == 0.10
    assert not any(k.startswith("node_pressure") for k in values)
    assert any(e.startswith("diskstats") for e in collector.errors)


def test_procfs_parsers_on_fixed_text() -> None:
    """The /proc parsers read the kernel's formats."""
    mem = procfs.parse_meminfo(
        "MemTotal:       16384 kB\nActive(anon):      8 kB\nHugePages_Total:       0\n"
    )
    assert mem == {"MemTotal_bytes": 16384 * 1024, "Active_anon_bytes": 8192, "HugePages_Total": 0}
    disks = procfs.parse_diskstats(
        " 253 0 vda 100 1 2000 50 20 2 400 30 0 60 80 0 0 0 0 5 7\n"
        " 253 1 vda1 1 1 1 1 1 1 1 1 0 1 1\n"
    )
    assert disks["vda"][:3] == [100, 1, 2000]
    assert len(disks["vda"]) == 17
    net = procfs.parse_netdev(
        "Inter-|   Receive  |  Transmit\n face |bytes packets|bytes\n"
        "  eth0: 100 2 0 0 0 0 0 0 200 3 0 1 0 0 0 0\n"
    )
    assert net == {"eth0": ([100, 2, 0, 0, 0, 0, 0, 0], [200, 3, 0, 1, 0, 0, 0, 0])}
    psi = procfs.parse_pressure(
        "some avg10=0.00 avg60=0.00 avg300=0.00 total=1500000\n"
        "full avg10=0.00 avg60=0.00 avg300=0.00 total=250\n"
    )
    assert psi == {"some": 1.5, "full": 0.00025}
    mounts = procfs.parse_mounts("/dev/sda1 /mnt/my\\040disk ext4 ro,relatime 0 0\n")
    assert mounts == [("/dev/sda1", "/mnt/my disk", "ext4", ("ro", "relatime"))]
    osr = procfs.parse_os_release('NAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n# c\n')
    assert osr == {"NAME": "Debian GNU/Linux", "VERSION_ID": "12", "ID": "debian"}


class Recorder:
    def __init__(self) -> None:
        self.batches: list[SampleBatch] = []

    async def append(self, batch: SampleBatch) -> AppendResult:
        self.batches.append(batch)
        return AppendResult(accepted=len(batch))


async def test_host_loop_writes_up_and_target_labels() -> None:
    """The host loop behaves like a target: job/instance labels, up=1, status UP."""
    rec = Recorder()
    loop = HostScrapeLoop(HostOptions.from_config({"instance": "bastion-1"}), rec)
    batch = await loop.scrape_once()
    up = [s for s in batch if s.labels.name == "up"]
    assert [(s.labels, s.v) for s in up] == [
        (Labels.of("up", job="host", instance="bastion-1"), 1.0)
    ]
    cpu = next(s for s in batch if s.labels.name == "node_cpu_seconds_total")
    assert cpu.labels.get("job") == "host"
    assert cpu.labels.get("instance") == "bastion-1"
    assert loop.status().health is TargetHealth.UP
    assert batch.metadata["node_load1"].help == "1m load average."


def test_host_options_defaults_and_errors() -> None:
    """No [host] section: on, every 5 s, job=host, instance=hostname; bad collectors refused."""
    from nightowl.errors import ConfigError

    opts = HostOptions.from_config(None)
    assert opts.enabled
    assert opts.scrape_interval_ms == 5000
    assert opts.job == "host"
    assert opts.instance == socket.gethostname()
    assert HostOptions.from_config({"scrape_interval": "10s"}).scrape_interval_ms == 10_000
    with pytest.raises(ConfigError) as err:
        HostOptions.from_config({"collectors": ["cpu", "gpu"]})
    assert "gpu" in str(err.value)


def test_network_parsers_on_fixed_text() -> None:
    """netstat/snmp pairs, snmp6, sockstat, softnet, conntrack stats and UDP queues."""
    netstat = procfs.parse_netstat(
        "TcpExt: SyncookiesSent ListenDrops\nTcpExt: 1 7\nIpExt: InOctets\nIpExt: 99\n"
    )
    assert netstat == {
        ("TcpExt", "SyncookiesSent"): 1.0,
        ("TcpExt", "ListenDrops"): 7.0,
        ("IpExt", "InOctets"): 99.0,
    }
    assert procfs.parse_snmp6("Ip6InOctets   \t5\nUdp6NoPorts 2\n") == {
        ("Ip6", "InOctets"): 5.0,
        ("Udp6", "NoPorts"): 2.0,
    }
    sock = procfs.parse_sockstat("sockets: used 22\nTCP: inuse 3 orphan 0 tw 63 alloc 3 mem 172\n")
    assert sock == [
        ("sockets", {"used": 22.0}),
        ("TCP", {"inuse": 3.0, "orphan": 0.0, "tw": 63.0, "alloc": 3.0, "mem": 172.0}),
    ]
    assert procfs.parse_softnet("00001fae 00000001 00000002 0\n0000000a 0 0 0\n") == [
        (0x1FAE, 1, 2),
        (10, 0, 0),
    ]
    stats = procfs.parse_conntrack_stat(
        "entries found drop\n00000001 0000000a 00000001\n00000001 00000005 00000000\n"
    )
    assert stats == {"entries": 2.0, "found": 15.0, "drop": 1.0}
    udp = procfs.parse_udp_queues(
        "  sl  local_address rem_address   st tx_queue rx_queue tr\n"
        "   0: 00000000:0044 00000000:0000 07 00000010:00000020 00:00000000\n"
    )
    assert udp == (16.0, 32.0)


def test_network_collectors_on_this_machine(collected: tuple[dict[Labels, float], dict]) -> None:
    """netclass, sockstat and softnet report this machine's interfaces, sockets and CPUs."""
    values, meta = collected
    devices = set(os.listdir("/sys/class/net"))
    info = {labels.get("device") for labels in values if labels.name == "node_network_info"}
    assert info == devices
    assert meta["node_network_carrier_changes_total"].type is MetricType.COUNTER
    assert any(labels.name == "node_sockstat_TCP_inuse" for labels in values)
    cpus = {labels.get("cpu") for labels in values if labels.name == "node_softnet_processed_total"}
    assert len(cpus) >= 1
    assert meta["node_sockstat_TCP_mem_bytes"].help == "Number of TCP sockets in state mem_bytes."


def test_processes_collector_counts_this_machine(
    collected: tuple[dict[Labels, float], dict],
) -> None:
    """Process states add up to the PID count; this test's own process is counted."""
    values, _ = collected
    states = {
        lab.get("state"): v for lab, v in values.items() if lab.name == "node_processes_state"
    }
    pids = next(v for lab, v in values.items() if lab.name == "node_processes_pids")
    assert sum(states.values()) == pids >= 1
    assert states.get("R", 0) >= 1
    threads = next(v for lab, v in values.items() if lab.name == "node_processes_threads")
    assert threads >= pids


def test_textfile_directory(tmp_path: Path) -> None:
    """*.prom files join the host's samples; a bad file sets node_textfile_scrape_error."""
    (tmp_path / "backup.prom").write_text(
        "# HELP backup_last_success_timestamp_seconds Last good backup.\n"
        "# TYPE backup_last_success_timestamp_seconds gauge\n"
        'backup_last_success_timestamp_seconds{set="db"} 1700000000\n'
    )
    (tmp_path / "notes.txt").write_text("ignored")
    opts = HostOptions(instance="h", collectors=("textfile",), textfile_directory=str(tmp_path))
    collector = HostCollector(opts)
    page = collector.collect()
    values = {str(s): v for s, v in zip(page.series, page.values.tolist(), strict=True)}
    assert values['backup_last_success_timestamp_seconds{set="db"}'] == 1_700_000_000
    assert values["node_textfile_scrape_error"] == 0.0
    mtime = f'node_textfile_mtime_seconds{{file="{tmp_path / "backup.prom"}"}}'
    assert values[mtime] == (tmp_path / "backup.prom").stat().st_mtime
    assert page.metadata["backup_last_success_timestamp_seconds"].help == "Last good backup."

    (tmp_path / "broken.prom").write_text("oops{ 1\n")
    (tmp_path / "stamped.prom").write_text("x 1 1600000000000\n")
    page = collector.collect()
    values = {str(s): v for s, v in zip(page.series, page.values.tolist(), strict=True)}
    assert values["node_textfile_scrape_error"] == 1.0
    assert 'backup_last_success_timestamp_seconds{set="db"}' in values  # the good file still counts
    assert "x" not in values
    assert len(collector.errors) == 2
    assert any("broken.prom" in e for e in collector.errors)

    missing = HostCollector(
        HostOptions(instance="h", collectors=("textfile",), textfile_directory=str(tmp_path / "no"))
    ).collect()
    assert dict(zip(missing.series, missing.values.tolist(), strict=True)) == {
        Labels.of("node_textfile_scrape_error"): 1.0
    }
    # No directory configured: the collector emits nothing.
    assert len(HostCollector(HostOptions(instance="h", collectors=("textfile",))).collect()) == 0
