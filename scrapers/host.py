"""The built-in host scraper: this machine's metrics under node_exporter's names.

nightowl's embedded default is to watch the host it runs on (a bastion, a
build box) without installing node_exporter. :class:`HostCollector` reads /proc
and /sys directly and emits the metric names, labels, types and HELP texts of
node_exporter 1.x's default Linux collectors, so standard dashboards and alert
rules (`node_cpu_seconds_total{mode="idle"}`, `node_filesystem_avail_bytes`,
...) work unchanged:

========== ===============================================================
collector  series
========== ===============================================================
cpu        node_cpu_seconds_total{cpu,mode}, node_cpu_guest_seconds_total
stat       node_boot_time_seconds, node_context_switches_total,
           node_intr_total, node_forks_total, node_procs_running/blocked
meminfo    node_memory_<Field>_bytes (every /proc/meminfo field)
loadavg    node_load1, node_load5, node_load15
diskstats  node_disk_*{device} (partitions, loop and ram devices skipped)
filesystem node_filesystem_*{device,fstype,mountpoint} (pseudo filesystems skipped)
netdev     node_network_receive_*/transmit_*{device}
netclass   node_network_info, node_network_up, mtu, speed, carrier... {device}
netstat    node_netstat_* (node_exporter's default fields of /proc/net/{netstat,snmp,snmp6})
sockstat   node_sockstat_*
softnet    node_softnet_{processed,dropped,times_squeezed}_total{cpu}
conntrack  node_nf_conntrack_entries, _entries_limit, node_nf_conntrack_stat_*
arp        node_arp_entries{device}
udp_queues node_udp_queues{ip,queue}
pressure   node_pressure_{cpu,memory,io}_{waiting,stalled}_seconds_total
vmstat     node_vmstat_{pgpgin,pgpgout,pswpin,pswpout,pgfault,pgmajfault,oom_kill}
filefd     node_filefd_allocated, node_filefd_maximum
processes  node_processes_state{state}, node_processes_pids/threads, limits
entropy    node_entropy_available_bits, node_entropy_pool_size_bits
time       node_time_seconds, node_time_zone_offset_seconds, node_time_clocksource_*_info
timex      node_timex_* (adjtimex(2): sync status, offset, max error, PPS counters)
uname      node_uname_info{sysname,release,version,machine,nodename,domainname}
os         node_os_info{id,name,pretty_name,version,...}, node_os_version
textfile   the samples of `[host] textfile_directory`/*.prom, node_textfile_scrape_error,
           node_textfile_mtime_seconds{file} (node_exporter's textfile collector)
========== ===============================================================

A collection costs a few milliseconds (file reads and string splits; label
sets are built once and reused), well under 1% of a core at the 5 s default.
`statvfs` runs in a worker thread with a deadline: a mount that hangs (a dead
NFS server) is skipped with `node_filesystem_device_error 1` until it answers,
as node_exporter does, and never blocks the event loop.

:class:`HostScrapeLoop` runs the collector through the common scrape loop, so
the host also gets `up{job="host"}`, `scrape_duration_seconds` and staleness
markers like any target; its series carry `job="host"` and
`instance=<hostname>` (both configurable in `[host]`).
"""

from __future__ import annotations

import asyncio
import ctypes
import functools
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from nightowl.scrapers import _procfs as procfs
from nightowl.scrapers.exposition import parse as parse_exposition
from nightowl.scrapers.loop import BaseLoop, Page, ScrapeError
from nightowl.scrapers.target import ScrapeOptions, Target
from nightowl.store.api import Appender

from nightowl.errors import ConfigError, ParseError
from nightowl.model import METRIC_NAME, Labels, MetricMeta, MetricType
from nightowl.timeutil import now_ms, parse_duration

__all__ = ["COLLECTORS", "HostCollector", "HostOptions", "HostScrapeLoop"]

#: Every collector, all on by default.
COLLECTORS = (
    "cpu",
    "stat",
    "meminfo",
    "loadavg",
    "diskstats",
    "filesystem",
    "netdev",
    "netclass",
    "netstat",
    "sockstat",
    "softnet",
    "conntrack",
    "arp",
    "udp_queues",
    "pressure",
    "vmstat",
    "filefd",
    "entropy",
    "processes",
    "time",
    "timex",
    "uname",
    "os",
    "textfile",
)

# node_exporter's defaults (collector/diskstats_linux.go, filesystem_linux.go, vmstat_linux.go).
_DISK_EXCLUDE = re.compile(r"^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$")
_MOUNT_EXCLUDE = re.compile(
    r"^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)"
)
_FSTYPE_EXCLUDE = re.compile(
    r"^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|"
    r"iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|"
    r"sysfs|tracefs)$"
)
_VMSTAT_INCLUDE = re.compile(r"^(oom_kill|pgpg|pswp|pg.*fault).*")

# node_exporter's default --collector.netstat.fields.
_NETSTAT_FIELDS = re.compile(
    r"^(.*_(InErrors|InErrs)|Ip_Forwarding|Ip(6|Ext)_(InOctets|OutOctets)|Icmp6?_(InMsgs|OutMsgs)|"
    r"TcpExt_(Listen.*|Syncookies.*|TCPSynRetrans|TCPTimeouts)|"
    r"Tcp_(ActiveOpens|InSegs|OutSegs|OutRsts|PassiveOpens|RetransSegs|CurrEstab)|"
    r"Udp6?_(InDatagrams|OutDatagrams|NoPorts|RcvbufErrors|SndbufErrors))$"
)

_C = MetricType.COUNTER
_G = MetricType.GAUGE
_U = MetricType.UNKNOWN

_DISK_METRICS: tuple[tuple[int, str, MetricType, str, float], ...] = (
    # (DISK_FIELDS index, name, type, help, scale)
    (0, "reads_completed_total", _C, "The total number of reads completed successfully.", 1),
    (1, "reads_merged_total", _C, "The total number of reads merged.", 1),
    (2, "read_bytes_total", _C, "The total number of bytes read successfully.", 512),
    (3, "read_time_seconds_total", _C, "The total number of seconds spent by all reads.", 1e-3),
    (4, "writes_completed_total", _C, "The total number of writes completed successfully.", 1),
    (5, "writes_merged_total", _C, "The number of writes merged.", 1),
    (6, "written_bytes_total", _C, "The total number of bytes written successfully.", 512),
    (
        7,
        "write_time_seconds_total",
        _C,
        "This is the total number of seconds spent by all writes.",
        1e-3,
    ),
    (8, "io_now", _G, "The number of I/Os currently in progress.", 1),
    (9, "io_time_seconds_total", _C, "Total seconds spent doing I/Os.", 1e-3),
    (
        10,
        "io_time_weighted_seconds_total",
        _C,
        "The weighted # of seconds spent doing I/Os.",
        1e-3,
    ),
    (11, "discards_completed_total", _C, "The total number of discards completed successfully.", 1),
    (12, "discards_merged_total", _C, "The total number of discards merged.", 1),
    (13, "discarded_sectors_total", _C, "The total number of sectors discarded successfully.", 1),
    (
        14,
        "discard_time_seconds_total",
        _C,
        "This is the total number of seconds spent by all discards.",
        1e-3,
    ),
    (
        15,
        "flush_requests_total",
        _C,
        "The total number of flush requests completed successfully",
        1,
    ),
    (
        16,
        "flush_requests_time_seconds_total",
        _C,
        "This is the total number of seconds spent by all flush requests.",
        1e-3,
    ),
)

_FS_METRICS = (
    ("size_bytes", "Filesystem size in bytes."),
    ("free_bytes", "Filesystem free space in bytes."),
    ("avail_bytes", "Filesystem space available to non-root users in bytes."),
    ("files", "Filesystem total file nodes."),
    ("files_free", "Filesystem total free file nodes."),
    ("readonly", "Filesystem read-only status."),
    ("device_error", "Whether an error occurred while getting statistics for the given device."),
)

# /sys/class/net/<iface>/<file> -> node_network_<name> (scale), as node_exporter's netclass.
_NETCLASS_PROPERTIES: tuple[tuple[str, str, float], ...] = (
    ("addr_assign_type", "address_assign_type", 1),
    ("carrier", "carrier", 1),
    ("carrier_changes", "carrier_changes_total", 1),
    ("carrier_up_count", "carrier_up_changes_total", 1),
    ("carrier_down_count", "carrier_down_changes_total", 1),
    ("dev_id", "device_id", 1),
    ("dormant", "dormant", 1),
    ("flags", "flags", 1),
    ("ifindex", "iface_id", 1),
    ("iflink", "iface_link", 1),
    ("link_mode", "iface_link_mode", 1),
    ("mtu", "mtu_bytes", 1),
    ("name_assign_type", "name_assign_type", 1),
    ("netdev_group", "net_dev_group", 1),
    ("speed", "speed_bytes", 1000 * 1000 / 8),
    ("tx_queue_len", "transmit_queue_length", 1),
    ("type", "protocol_type", 1),
)

_CONNTRACK_STATS = (
    ("found", "Number of searched entries which were successful."),
    ("invalid", "Number of packets seen which can not be tracked."),
    ("ignore", "Number of packets seen which are already connected to a conntrack entry."),
    ("insert", "Number of entries inserted into the list."),
    (
        "insert_failed",
        "Number of entries for which list insertion was attempted but failed.",
    ),
    ("drop", "Number of packets dropped due to conntrack failure."),
    (
        "early_drop",
        "Number of dropped conntrack entries to make room for new ones, if maximum table "
        "size was reached.",
    ),
    (
        "search_restart",
        "Number of conntrack table lookups which had to be restarted due to hashtable resizes.",
    ),
)

_STATIC_META: dict[str, MetricMeta] = {
    "node_cpu_seconds_total": MetricMeta(_C, "Seconds the CPUs spent in each mode."),
    "node_cpu_guest_seconds_total": MetricMeta(
        _C, "Seconds the CPUs spent in guests (VMs) for each mode."
    ),
    "node_boot_time_seconds": MetricMeta(_G, "Node boot time, in unixtime."),
    "node_context_switches_total": MetricMeta(_C, "Total number of context switches."),
    "node_intr_total": MetricMeta(_C, "Total number of interrupts serviced."),
    "node_forks_total": MetricMeta(_C, "Total number of forks."),
    "node_procs_running": MetricMeta(_G, "Number of processes in runnable state."),
    "node_procs_blocked": MetricMeta(
        _G, "Number of processes blocked waiting for I/O to complete."
    ),
    "node_load1": MetricMeta(_G, "1m load average."),
    "node_load5": MetricMeta(_G, "5m load average."),
    "node_load15": MetricMeta(_G, "15m load average."),
    "node_pressure_cpu_waiting_seconds_total": MetricMeta(
        _C, "Total time in seconds that processes have waited for CPU time"
    ),
    "node_pressure_memory_waiting_seconds_total": MetricMeta(
        _C, "Total time in seconds that processes have waited for memory"
    ),
    "node_pressure_memory_stalled_seconds_total": MetricMeta(
        _C, "Total time in seconds no process could make progress due to memory congestion"
    ),
    "node_pressure_io_waiting_seconds_total": MetricMeta(
        _C, "Total time in seconds that processes have waited due to IO congestion"
    ),
    "node_pressure_io_stalled_seconds_total": MetricMeta(
        _C, "Total time in seconds no process could make progress due to IO congestion"
    ),
    "node_filefd_allocated": MetricMeta(_G, "File descriptor statistics: allocated."),
    "node_filefd_maximum": MetricMeta(_G, "File descriptor statistics: maximum."),
    "node_entropy_available_bits": MetricMeta(_G, "Bits of available entropy."),
    "node_entropy_pool_size_bits": MetricMeta(_G, "Bits of entropy pool."),
    "node_processes_state": MetricMeta(_G, "Number of processes in each state."),
    "node_processes_pids": MetricMeta(_G, "Number of PIDs"),
    "node_processes_threads": MetricMeta(_G, "Allocated threads in system"),
    "node_processes_max_processes": MetricMeta(_G, "Number of max PIDs limit"),
    "node_processes_max_threads": MetricMeta(_G, "Limit of threads in the system"),
    "node_textfile_scrape_error": MetricMeta(
        _G, "1 if there was an error opening or reading a file, 0 otherwise"
    ),
    "node_textfile_mtime_seconds": MetricMeta(_G, "Unixtime mtime of textfiles successfully read."),
    "node_time_seconds": MetricMeta(_G, "System time in seconds since epoch (1970)."),
    "node_time_zone_offset_seconds": MetricMeta(_G, "System time zone offset in seconds."),
    "node_time_clocksource_available_info": MetricMeta(
        _G, "Available clocksources read from '/sys/devices/system/clocksource'."
    ),
    "node_time_clocksource_current_info": MetricMeta(
        _G, "Current clocksource read from '/sys/devices/system/clocksource'."
    ),
    "node_uname_info": MetricMeta(
        _G, "Labeled system information as provided by the uname system call."
    ),
    "node_os_info": MetricMeta(
        _G,
        "A metric with a constant '1' value labeled by build_id, id, id_like, image_id, "
        "image_version, name, pretty_name, variant, variant_id, version, version_codename, "
        "version_id.",
    ),
    "node_os_version": MetricMeta(_G, "Metric containing the major.minor part of the OS version."),
    "node_network_up": MetricMeta(_G, "Value is 1 if operstate is 'up', 0 otherwise."),
    "node_network_info": MetricMeta(
        _G, "Non-numeric data from /sys/class/net/<iface>, value is always 1."
    ),
    "node_softnet_processed_total": MetricMeta(_C, "Number of processed packets"),
    "node_softnet_dropped_total": MetricMeta(_C, "Number of dropped packets"),
    "node_softnet_times_squeezed_total": MetricMeta(
        _C, "Number of times processing packets ran out of quota"
    ),
    "node_nf_conntrack_entries": MetricMeta(
        _G, "Number of currently allocated flow entries for connection tracking."
    ),
    "node_nf_conntrack_entries_limit": MetricMeta(_G, "Maximum size of connection tracking table."),
    "node_arp_entries": MetricMeta(_G, "ARP entries by device"),
    "node_udp_queues": MetricMeta(
        _G, "Number of allocated memory in the kernel for UDP datagrams in bytes."
    ),
}
for _file, _name, _scale in _NETCLASS_PROPERTIES:
    _STATIC_META[f"node_network_{_name}"] = MetricMeta(
        _C if _name.endswith("_total") else _G, f"Network device property: {_name}"
    )
for _field, _help in _CONNTRACK_STATS:
    _STATIC_META[f"node_nf_conntrack_stat_{_field}"] = MetricMeta(_G, _help)
for _idx, _name, _type, _help, _scale in _DISK_METRICS:
    _STATIC_META[f"node_disk_{_name}"] = MetricMeta(_type, _help)
for _name, _help in _FS_METRICS:
    _STATIC_META[f"node_filesystem_{_name}"] = MetricMeta(_G, _help)
for _dir, _fields in (("receive", procfs.NETDEV_RECEIVE), ("transmit", procfs.NETDEV_TRANSMIT)):
    for _f in _fields:
        _STATIC_META[f"node_network_{_dir}_{_f}_total"] = MetricMeta(
            _C, f"Network device statistic {_dir}_{_f}."
        )

_OS_INFO_KEYS = (
    ("build_id", "BUILD_ID"),
    ("id", "ID"),
    ("id_like", "ID_LIKE"),
    ("image_id", "IMAGE_ID"),
    ("image_version", "IMAGE_VERSION"),
    ("name", "NAME"),
    ("pretty_name", "PRETTY_NAME"),
    ("variant", "VARIANT"),
    ("variant_id", "VARIANT_ID"),
    ("version", "VERSION"),
    ("version_codename", "VERSION_CODENAME"),
    ("version_id", "VERSION_ID"),
)


def _get(cfg: Any, key: str, default: Any = None) -> Any:
    if cfg is None:
        return default
    value = cfg.get(key, default) if isinstance(cfg, Mapping) else getattr(cfg, key, default)
    return default if value is None else value


def _ms(value: Any, default: int, where: str) -> int:
    if value is None or value == "":
        return default
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    try:
        return parse_duration(str(value))
    except Exception as exc:
        raise ConfigError(str(exc), where=where) from exc


@dataclass(frozen=True, slots=True)
class HostOptions:
    """The `[host]` section, resolved (durations in ms, hostname filled in)."""

    enabled: bool = True
    scrape_interval_ms: int = 5_000
    scrape_timeout_ms: int = 5_000
    job: str = "host"
    instance: str = ""
    collectors: tuple[str, ...] = COLLECTORS
    proc_path: str = "/proc"
    sys_path: str = "/sys"
    rootfs_path: str = "/"
    textfile_directory: str = ""
    """Directory of `*.prom` files (node_exporter's textfile collector); "" = none."""

    @classmethod
    def from_config(cls, cfg: Any) -> HostOptions:
        """From the `[host]` config section (dataclass or mapping); None gives the defaults."""
        interval = _ms(
            _get(cfg, "scrape_interval_ms", _get(cfg, "scrape_interval")),
            5_000,
            "host.scrape_interval",
        )
        timeout = _ms(
            _get(cfg, "scrape_timeout_ms", _get(cfg, "scrape_timeout")),
            min(interval, 5_000),
            "host.scrape_timeout",
        )
        if interval <= 0:
            raise ConfigError("scrape_interval must be positive", where="host.scrape_interval")
        collectors = tuple(_get(cfg, "collectors", ()) or COLLECTORS)
        unknown = [c for c in collectors if c not in COLLECTORS]
        if unknown:
            raise ConfigError(
                f"unknown host collector {unknown[0]!r}; known: {', '.join(COLLECTORS)}",
                where="host.collectors",
            )
        return cls(
            enabled=bool(_get(cfg, "enabled", True)),
            scrape_interval_ms=interval,
            scrape_timeout_ms=min(timeout, interval),
            job=str(_get(cfg, "job", "host")) or "host",
            instance=str(_get(cfg, "instance", "")) or socket.gethostname(),
            collectors=collectors,
            proc_path=str(_get(cfg, "proc_path", "/proc")),
            sys_path=str(_get(cfg, "sys_path", "/sys")),
            rootfs_path=str(_get(cfg, "rootfs_path", "/")),
            textfile_directory=str(_get(cfg, "textfile_directory", "")),
        )


def _read(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


class _Timeval(ctypes.Structure):
    _fields_ = (("sec", ctypes.c_long), ("usec", ctypes.c_long))


class _Timex(ctypes.Structure):
    """Linux `struct timex` (adjtimex(2)); natural alignment gives the kernel's padding."""

    _fields_ = (
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("constant", ctypes.c_long),
        ("precision", ctypes.c_long),
        ("tolerance", ctypes.c_long),
        ("time", _Timeval),
        ("tick", ctypes.c_long),
        ("ppsfreq", ctypes.c_long),
        ("jitter", ctypes.c_long),
        ("shift", ctypes.c_int),
        ("stabil", ctypes.c_long),
        ("jitcnt", ctypes.c_long),
        ("calcnt", ctypes.c_long),
        ("errcnt", ctypes.c_long),
        ("stbcnt", ctypes.c_long),
        ("tai", ctypes.c_int),
        ("_reserved", ctypes.c_int * 11),
    )


_TIME_ERROR = 5  # adjtimex's return value when the clock is not synchronised
_STA_NANO = 0x2000  # offset and jitter are in ns rather than us
_PPM16 = 1_000_000.0 * 65536.0  # freq, ppsfreq and stabil are ppm with a 16-bit fraction

_TIMEX_META = {
    "node_timex_sync_status": MetricMeta(
        _G, "Is clock synchronized to a reliable server (1 = yes, 0 = no)."
    ),
    "node_timex_offset_seconds": MetricMeta(
        _G, "Time offset in between local system and reference clock."
    ),
    "node_timex_frequency_adjustment_ratio": MetricMeta(_G, "Local clock frequency adjustment."),
    "node_timex_maxerror_seconds": MetricMeta(_G, "Maximum error in seconds."),
    "node_timex_estimated_error_seconds": MetricMeta(_G, "Estimated error in seconds."),
    "node_timex_status": MetricMeta(_G, "Value of the status array bits."),
    "node_timex_loop_time_constant": MetricMeta(_G, "Phase-locked loop time constant."),
    "node_timex_tick_seconds": MetricMeta(_G, "Seconds between clock ticks."),
    "node_timex_pps_frequency_hertz": MetricMeta(_G, "Pulse per second frequency."),
    "node_timex_pps_jitter_seconds": MetricMeta(_G, "Pulse per second jitter."),
    "node_timex_pps_shift_seconds": MetricMeta(_G, "Pulse per second interval duration."),
    "node_timex_pps_stability_hertz": MetricMeta(
        _G, "Pulse per second stability, average of recent frequency changes."
    ),
    "node_timex_pps_jitter_total": MetricMeta(
        _C, "Pulse per second count of jitter limit exceeded events."
    ),
    "node_timex_pps_calibration_total": MetricMeta(
        _C, "Pulse per second count of calibration intervals."
    ),
    "node_timex_pps_error_total": MetricMeta(_C, "Pulse per second count of calibration errors."),
    "node_timex_pps_stability_exceeded_total": MetricMeta(
        _C, "Pulse per second count of stability limit exceeded events."
    ),
    "node_timex_tai_offset_seconds": MetricMeta(_G, "International Atomic Time (TAI) offset."),
}
_STATIC_META.update(_TIMEX_META)


@functools.cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _adjtimex() -> tuple[int, _Timex]:
    """Read the kernel clock discipline state (modes = 0: read only, no privileges)."""
    tx = _Timex()
    rc = _libc().adjtimex(ctypes.byref(tx))
    if rc < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return rc, tx


def _read_small(path: str) -> bytes:
    """Read a small /proc file with raw system calls (twice as fast as open() for
    the hundreds of /proc/<pid>/stat files of the processes collector)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.read(fd, 4096)
    finally:
        os.close(fd)


class HostCollector:
    """Reads /proc and /sys into (labels, value) pairs under node_exporter's names.

    Synchronous and thread-safe per instance; call :meth:`collect` from one
    thread at a time.
    """

    def __init__(self, options: HostOptions | None = None) -> None:
        self.options = options or HostOptions(instance=socket.gethostname())
        self._labels: dict[tuple[str, ...], Labels] = {}
        self._clk_tck = float(os.sysconf("SC_CLK_TCK")) if hasattr(os, "sysconf") else 100.0
        self._stuck: set[str] = set()
        self._stuck_lock = threading.Lock()
        self._os_release: dict[str, str] | None = None
        self.errors: list[str] = []

    def _lab(self, name: str, *pairs: str) -> Labels:
        key = (name, *pairs)
        labels = self._labels.get(key)
        if labels is None:
            items = [(METRIC_NAME, name)]
            items.extend((pairs[i], pairs[i + 1]) for i in range(0, len(pairs), 2))
            labels = self._labels[key] = Labels(items)
        return labels

    def _proc(self, rel: str) -> str:
        return _read(os.path.join(self.options.proc_path, rel))

    def collect(self) -> Page:
        """One collection of every enabled collector."""
        out: list[tuple[Labels, float]] = []
        meta: dict[str, MetricMeta] = {}
        self.errors = []
        for name in self.options.collectors:
            method: Callable[[list[tuple[Labels, float]], dict[str, MetricMeta]], None] = getattr(
                self, f"_collect_{name}"
            )
            try:
                method(out, meta)
            except (OSError, ValueError, IndexError) as exc:
                # A missing file (no PSI in this kernel, no /etc/os-release) only
                # silences that collector.
                self.errors.append(f"{name}: {exc}")
        for labels, _ in out:
            family = labels.name
            if family not in meta and family in _STATIC_META:
                meta[family] = _STATIC_META[family]
        return Page.from_pairs(out, meta)

    # -- collectors ----------------------------------------------------------

    def _collect_cpu(self, out: list[tuple[Labels, float]], meta: dict[str, MetricMeta]) -> None:
        cpus, _ = procfs.parse_stat(self._proc("stat"))
        tck = self._clk_tck
        lab = self._lab
        for cpu, vals in cpus.items():
            for mode, v in zip(procfs.CPU_MODES[:8], vals[:8], strict=False):
                out.append((lab("node_cpu_seconds_total", "cpu", cpu, "mode", mode), v / tck))
            if len(vals) >= 10:
                out.append(
                    (lab("node_cpu_guest_seconds_total", "cpu", cpu, "mode", "user"), vals[8] / tck)
                )
                out.append(
                    (lab("node_cpu_guest_seconds_total", "cpu", cpu, "mode", "nice"), vals[9] / tck)
                )

    def _collect_stat(self, out: list[tuple[Labels, float]], meta: dict[str, MetricMeta]) -> None:
        _, misc = procfs.parse_stat(self._proc("stat"))
        names = {
            "btime": "node_boot_time_seconds",
            "ctxt": "node_context_switches_total",
            "intr": "node_intr_total",
            "processes": "node_forks_total",
            "procs_running": "node_procs_running",
            "procs_blocked": "node_procs_blocked",
        }
        for key, name in names.items():
            if key in misc:
                out.append((self._lab(name), float(misc[key])))

    def _collect_meminfo(
        self, out: list[tuple[Labels, float]], meta: dict[str, MetricMeta]
    ) -> None:
        for field, value in procfs.parse_meminfo(self._proc("meminfo")).items():
            name = f"node_memory_{field}"
            out.append((self._lab(name), value))
            meta[name] = MetricMeta(_G, f"Memory information field {field}.")

    def _collect_loadavg(
        self, out: list[tuple[Labels, float]], meta: dict[str, MetricMeta]
    ) -> None:
        l1, l5, l15 = procfs.parse_loadavg(self._proc("loadavg"))
        out.append((self._lab("node_load1"), l1))
        out.append((self._lab("node_load5"), l5))
        out.append((self._lab("node_load15"), l15))

    def _collect_diskstats(
        self, out: list[tuple[Labels, float]], meta: dict[str, MetricMeta]
    ) -> None:
        disks = procfs.parse_diskstats(self._proc("diskstats"), _DISK_EXCLUDE)
        lab = self._lab
        for device, vals in disks.items():
            n = len(vals)
            for idx, name, _type, _help, scale in _DISK_METRICS:
                if idx < n:
                    out.append((lab(f"node_disk_{name}", "device", device), vals[idx] * scale))

    def _statvfs(self, mountpoint: str) -> os.statvfs_result | None:
        """statvfs with node_exporter's stuck-mount rule: a mount still busy from an
        earlier call is skipped instead of piling up threads behind it."""
        with self._stuck_lock:
            if mountpoint in self._stuck:
                return None
            self._stuck.add(mountpoint)
        try:
            result = os.statvfs(mountpoint)
        except OSError:
            result = None
        with self._stuck_lock:
            self._stuck.discard(mountpoint)
        return result

    def _collect_filesystem(
        self, out: list[tuple[Labels, float]], meta: dict[str, MetricMeta]
    ) -> None:
        try:
            text = self._proc("1/mounts")
        except OSError:
            text = self._proc("self/mounts")
        seen: set[tuple[str, str]] = set()
        root = self.options.rootfs_path.rstrip("/")
        lab = self._lab
        for device, mountpoint, fstype, options in procfs.parse_mounts(text):
            if _MOUNT_EXCLUDE.match(mountpoint) or _FSTYPE_EXCLUDE.match(fstype):
                continue
            if (device, mountpoint) in seen:
                continue
            seen.add((device, mountpoint))
            key = ("device", device, "fstype", fstype, "mountpoint", mountpoint)
            st = self._statvfs(root + mountpoint if root else mountpoint)
            if st is None:
                out.append((lab("node_filesystem_device_error", *key), 1.0))
                continue
            frsize = st.f_frsize or st.f_bsize
            values = (
                st.f_blocks * frsize,
                st.f_bfree * frsize,
                st.f_bavail * frsize,
                float(st.f_files),
                float(st.f_ffree),
                1.0 if "ro" in options else 0.0,
                0.0,
            )
            for (name, _help), value in zip(_FS_METRICS, values, strict=True):
                out.append((lab(f"node_filesystem_{name}", *key), float(value)))

    def _collect_netdev(self, out: list[tuple[Labels, float]], meta: dict[str, MetricMeta]) -> None:
        devices = procfs.parse_netdev(self._proc("net/dev"))
        lab = self._lab
        for device, (rx, tx) in devices.items():
            for f, v in zip(procfs.NETDEV_RECEIVE, rx, strict=True):
                out.append((lab(f"node_network_receive_{f}_total", "device", device), float(v)))
            for f, v in zip(procfs.NETDEV_TRANSMIT, tx, strict=True):
                out.append((lab(f"node_network_transmit_{f}_total", "device", device), float(v)))

    def _collect_netclass(
        self, out: list[tuple[Labels, float]], meta: dict[str, MetricMeta]
    ) -> None:
        sys_net = os.path.join(self.options.sys_path, "class", "net")
        lab = self._lab
        for device in sorted(os.listdir(sys_net)):
            base = os.path.join(sys_net, device)

            def attr(name: str, base: str = base) -> str | None:
                try:
                    return _read(os.path.join(base, name)).strip()
                except OSError:  # EINVAL for e.g. the carrier of a down interface
                    return None

            operstate = attr("operstate") or ""
            info = ["address", attr("address") or "", "broadcast", attr("broadcast") or ""]
            info += ["device", device, "duplex", attr("duplex") or ""]
            info += ["ifalias", attr("ifalias") or "", "operstate", operstate]
            out.append((lab("node_network_info", *info), 1.0))
            for file, name, scale in _NETCLASS_PROPERTIES:
                text = attr(file)
                if text is None or text == "":
                    continue
                try:
                    value = float(int(text, 0))
                except ValueError:
                    continue
                out.append((lab(f"node_network_{name}", "device", device), value * scale))
            out.append((lab("node_network_up", "device", device), float(operstate == "up")))

    def _collect_netstat(
        self, out: list[tuple[Labels, float]], meta: dict[str, MetricMeta]
    ) -> None:
        stats: dict[tuple[str, str], float] = {}
        for rel in ("net/netstat", "net/snmp"):
            try:
                stats.update(procfs.parse_netstat(self._proc(rel)))
            except OSError:
                continue
        try:
            stats.update(procfs.parse_snmp6(self._proc("net/snmp6")))
        except OSError:
            pass  # no IPv6
        lab = self._lab
        for (proto, field), value in stats.items():
            key = f"{proto}_{field}"
            if not _NETSTAT_FIELDS.match(key):
                continue
            name = f"node_netstat_{key}"
            out.append((lab(name), value))
            meta[name] = MetricMeta(_U, f"Statistic {proto}{field}.")

    def _collect_sockstat(
        self, out: list[tuple[Labels, float]], meta: dict[str, MetricMeta]
    ) -> None:
        page = float(os.sysconf("SC_PAGE_SIZE"))
        lab = self._lab
        for rel in ("net/sockstat", "net/sockstat6"):
            try:
                text = self._proc(rel)
            except OSError:
                continue  # no IPv6
            for proto, fields in procfs.parse_sockstat(text):
                if proto == "sockets":
                    if "used" in fields:
                        out.append((lab("node_sockstat_sockets_used"), fields["used"]))
                        meta["node_sockstat_sockets_used"] = MetricMeta(
                            _G, "Number of IPv4 sockets in use."
                        )
                    continue
                for field, value in fields.items():
                    series = [(field, value)]
                    if field == "mem":
                        series.append(("mem_bytes", value * page))
                    for fname, v in series:
                        name = f"node_sockstat_{proto}_{fname}"
                        out.append((lab(name), v))
                        meta[name] = MetricMeta(_G, f"Number of {proto} sockets in state {fname}.")

    def _collect_softnet(
        self, out: list[tuple[Labels, float]], meta: dict[str, MetricMeta]
    ) -> None:
        lab = self._lab
        for cpu, (processed, dropped, squeezed) in enumerate(
            procfs.parse_softnet(self._proc("net/softnet_stat"))
        ):
            c = str(cpu)
            out.append((lab("node_softnet_processed_total", "cpu", c), float(processed)))
            out.append((lab("node_softnet_dropped_total", "cpu", c), float(dropped)))
            out.append((lab("node_softnet_times_squeezed_total", "cpu", c), float(squeezed)))

    def _collect_conntrack(
        self, out: list[tuple[Labels, float]], meta: dict[str, MetricMeta]
    ) -> None:
        try:
            count = float(self._proc("sys/net/netfilter/nf_conntrack_count").strip())
            limit = float(self._proc("sys/net/netfilter/nf_conntrack_max").strip())
        except OSError:
            return  # no conntrack module loaded: node_exporter emits nothing either
        out.append((self._lab("node_nf_conntrack_entries"), count))
        out.append((self._lab("node_nf_conntrack_entries_limit"), limit))
        try:
            totals = procfs.parse_conntrack_stat(self._proc("net/stat/nf_conntrack"))
        except OSError:
            return
        for field, _help in _CONNTRACK_STATS:
            if field in totals:
                out.append((self._lab(f"node_nf_conntrack_stat_{field}"), totals[field]))

    def _collect_arp(self, out: list[tuple[Labels, float]], meta: dict[str, MetricMeta]) -> None:
        counts: dict[str, int] = {}
        for line in self._proc("net/arp").splitlines()[1:]:
            parts = line.split()
            if len(parts) >= 6:
                counts[parts[5]] = counts.get(parts[5], 0) + 1
        for device, n in sorted(counts.items()):
            out.append((self._lab("node_arp_entries", "device", device), float(n)))

    def _collect_udp_queues(
        self, out: list[tuple[Labels, float]], meta: dict[str, MetricMeta]
    ) -> None:
        for rel, ip in (("net/udp", "v4"), ("net/udp6", "v6")):
            try:
                tx, rx = procfs.parse_udp_queues(self._proc(rel))
            except OSError:
                continue
            out.append((self._lab("node_udp_queues", "ip", ip, "queue", "tx"), tx))
            out.append((self._lab("node_udp_queues", "ip", ip, "queue", "rx"), rx))

    def _collect_pressure(
        self, out: list[tuple[Labels, float]], meta: dict[str, MetricMeta]
    ) -> None:
        for resource in ("cpu", "memory", "io"):
            try:
                totals = procfs.parse_pressure(self._proc(f"pressure/{resource}"))
            except OSError:
                continue  # kernel without PSI: node_exporter emits nothing either
            if "some" in totals:
                name = f"node_pressure_{resource}_waiting_seconds_total"
                out.append((self._lab(name), totals["some"]))
            if resource != "cpu" and "full" in totals:
                name = f"node_pressure_{resource}_stalled_seconds_total"
                out.append((self._lab(name), totals["full"]))

    def _collect_vmstat(self, out: list[tuple[Labels, float]], meta: dict[str, MetricMeta]) -> None:
        for field, value in procfs.parse_vmstat(self._proc("vmstat"), _VMSTAT_INCLUDE).items():
            name = f"node_vmstat_{field}"
            out.append((self._lab(name), value))
            meta[name] = MetricMeta(_U, f"/proc/vmstat information field {field}.")

    def _collect_filefd(self, out: list[tuple[Labels, float]], meta: dict[str, MetricMeta]) -> None:
        parts = self._proc("sys/fs/file-nr").split()
        out.append((self._lab("node_filefd_allocated"), float(parts[0])))
        out.append((self._lab("node_filefd_maximum"), float(parts[2])))

    def _collect_entropy(
        self, out: list[tuple[Labels, float]], meta: dict[str, MetricMeta]
    ) -> None:
        avail = float(self._proc("sys/kernel/random/entropy_avail").strip())
        pool = float(self._proc("sys/kernel/random/poolsize").strip())
        out.append((self._lab("node_entropy_available_bits"), avail))
        out.append((self._lab("node_entropy_pool_size_bits"), pool))

    def _collect_processes(
        self, out: list[tuple[Labels, float]], meta: dict[str, MetricMeta]
    ) -> None:
        proc = self.options.proc_path
        states: dict[str, int] = {}
        pids = 0
        threads = 0
        for entry in os.scandir(proc):
            if not entry.name.isdigit():
                continue
            try:
                stat = _read_small(os.path.join(proc, entry.name, "stat"))
            except OSError:
                continue  # the process exited meanwhile
            rest = stat[stat.rfind(b")") + 2 :].split()
            if len(rest) < 18:
                continue
            pids += 1
            state = rest[0].decode("ascii", "replace")
            states[state] = states.get(state, 0) + 1
            threads += int(rest[17])
        lab = self._lab
        for state, count in sorted(states.items()):
            out.append((lab("node_processes_state", "state", state), float(count)))
        out.append((lab("node_processes_pids"), float(pids)))
        out.append((lab("node_processes_threads"), float(threads)))
        for name, rel in (
            ("node_processes_max_processes", "sys/kernel/pid_max"),
            ("node_processes_max_threads", "sys/kernel/threads-max"),
        ):
            out.append((lab(name), float(self._proc(rel).strip())))

    def _collect_time(self, out: list[tuple[Labels, float]], meta: dict[str, MetricMeta]) -> None:
        now = time.time()
        out.append((self._lab("node_time_seconds"), now))
        local = time.localtime(now)
        out.append(
            (
                self._lab("node_time_zone_offset_seconds", "time_zone", local.tm_zone),
                float(local.tm_gmtoff),
            )
        )
        base = os.path.join(self.options.sys_path, "devices", "system", "clocksource")
        try:
            entries = sorted(e for e in os.listdir(base) if e.startswith("clocksource"))
        except OSError:
            return
        for entry in entries:
            device = entry[len("clocksource") :]
            try:
                available = _read(os.path.join(base, entry, "available_clocksource")).split()
                current = _read(os.path.join(base, entry, "current_clocksource")).strip()
            except OSError:
                continue
            for source in available:
                out.append(
                    (
                        self._lab(
                            "node_time_clocksource_available_info",
                            "clocksource",
                            source,
                            "device",
                            device,
                        ),
                        1.0,
                    )
                )
            out.append(
                (
                    self._lab(
                        "node_time_clocksource_current_info",
                        "clocksource",
                        current,
                        "device",
                        device,
                    ),
                    1.0,
                )
            )

    def _collect_timex(self, out: list[tuple[Labels, float]], meta: dict[str, MetricMeta]) -> None:
        rc, tx = _adjtimex()
        divisor = 1e9 if tx.status & _STA_NANO else 1e6
        values = (
            ("node_timex_sync_status", 0.0 if rc == _TIME_ERROR else 1.0),
            ("node_timex_offset_seconds", tx.offset / divisor),
            ("node_timex_frequency_adjustment_ratio", 1 + tx.freq / _PPM16),
            ("node_timex_maxerror_seconds", tx.maxerror / 1e6),
            ("node_timex_estimated_error_seconds", tx.esterror / 1e6),
            ("node_timex_status", float(tx.status)),
            ("node_timex_loop_time_constant", float(tx.constant)),
            ("node_timex_tick_seconds", tx.tick / 1e6),
            ("node_timex_pps_frequency_hertz", tx.ppsfreq / _PPM16),
            ("node_timex_pps_jitter_seconds", tx.jitter / divisor),
            ("node_timex_pps_shift_seconds", float(tx.shift)),
            ("node_timex_pps_stability_hertz", tx.stabil / _PPM16),
            ("node_timex_pps_jitter_total", float(tx.jitcnt)),
            ("node_timex_pps_calibration_total", float(tx.calcnt)),
            ("node_timex_pps_error_total", float(tx.errcnt)),
            ("node_timex_pps_stability_exceeded_total", float(tx.stbcnt)),
            ("node_timex_tai_offset_seconds", float(tx.tai)),
        )
        for name, value in values:
            out.append((self._lab(name), value))

    def _collect_textfile(
        self, out: list[tuple[Labels, float]], meta: dict[str, MetricMeta]
    ) -> None:
        directory = self.options.textfile_directory
        if not directory:
            return
        error = 0.0
        try:
            names = sorted(n for n in os.listdir(directory) if n.endswith(".prom"))
        except OSError as exc:
            names = []
            error = 1.0
            self.errors.append(f"textfile: {directory}: {exc.strerror or exc}")
        lab = self._lab
        for name in names:
            path = os.path.join(directory, name)
            try:
                mtime = os.stat(path).st_mtime
                with open(path, "rb") as f:
                    parsed = parse_exposition(f.read(), openmetrics=False)
            except (OSError, ParseError) as exc:
                error = 1.0
                self.errors.append(f"textfile: {path}: {exc}")
                continue
            if parsed.has_timestamp.any():
                # As node_exporter: client-side timestamps are refused for the whole file.
                error = 1.0
                self.errors.append(f"textfile: {path}: samples with timestamps are not supported")
                continue
            for ref, value in zip(parsed.refs.tolist(), parsed.values.tolist(), strict=True):
                out.append((parsed.series[ref], value))
            for family, m in parsed.metadata.items():
                meta.setdefault(family, m)
            out.append((lab("node_textfile_mtime_seconds", "file", path), mtime))
        out.append((lab("node_textfile_scrape_error"), error))

    def _collect_uname(self, out: list[tuple[Labels, float]], meta: dict[str, MetricMeta]) -> None:
        u = os.uname()
        try:
            domain = self._proc("sys/kernel/domainname").strip()
        except OSError:
            domain = "(none)"
        out.append(
            (
                self._lab(
                    "node_uname_info",
                    "domainname",
                    domain,
                    "machine",
                    u.machine,
                    "nodename",
                    u.nodename,
                    "release",
                    u.release,
                    "sysname",
                    u.sysname,
                    "version",
                    u.version,
                ),
                1.0,
            )
        )

    def _collect_os(self, out: list[tuple[Labels, float]], meta: dict[str, MetricMeta]) -> None:
        if self._os_release is None:
            root = self.options.rootfs_path
            for rel in ("etc/os-release", "usr/lib/os-release"):
                try:
                    self._os_release = procfs.parse_os_release(_read(os.path.join(root, rel)))
                    break
                except OSError:
                    continue
            else:
                self._os_release = {}
                raise OSError("no os-release file")
        osr = self._os_release
        if not osr:
            return
        pairs: list[str] = []
        for label, key in _OS_INFO_KEYS:
            pairs.extend((label, osr.get(key, "")))
        out.append((self._lab("node_os_info", *pairs), 1.0))
        m = re.match(r"^(\d+)(?:\.(\d+))?", osr.get("VERSION_ID", ""))
        if m:
            version = float(f"{m.group(1)}.{m.group(2) or 0}")
            out.append(
                (
                    self._lab(
                        "node_os_version",
                        "id",
                        osr.get("ID", ""),
                        "id_like",
                        osr.get("ID_LIKE", ""),
                        "name",
                        osr.get("NAME", ""),
                    ),
                    version,
                )
            )


class HostScrapeLoop(BaseLoop):
    """The host collector run as a scrape target (`job="host"`, `instance=<hostname>`)."""

    def __init__(
        self,
        options: HostOptions,
        appender: Appender,
        *,
        clock: Callable[[], int] = now_ms,
        offset_seed: int = 0,
    ) -> None:
        labels = Labels.of(job=options.job, instance=options.instance)
        target = Target(
            job=options.job,
            labels=labels,
            discovered_labels=Labels(
                [("__address__", "localhost"), ("job", options.job), ("instance", options.instance)]
            ),
            url=f"host://{options.instance}",
            interval_ms=options.scrape_interval_ms,
            timeout_ms=options.scrape_timeout_ms,
            source="host",
        )
        scrape_options = ScrapeOptions(
            job_name=options.job,
            scrape_interval_ms=options.scrape_interval_ms,
            scrape_timeout_ms=options.scrape_timeout_ms,
        )
        super().__init__(target, scrape_options, appender, clock=clock, offset_seed=offset_seed)
        self.host_options = options
        self.collector = HostCollector(options)

    async def collect(self) -> Page:
        """Collect in a worker thread, within the timeout (a hung mount cannot stall us)."""
        try:
            async with asyncio.timeout(self.target.timeout_ms / 1000):
                page = await asyncio.to_thread(self.collector.collect)
        except TimeoutError:
            raise ScrapeError(
                f"host collection did not finish within {self.target.timeout_ms / 1000:g}s"
            ) from None
        if not page.series:
            raise ScrapeError("host collection failed: " + "; ".join(self.collector.errors))
        return page
