"""Parsers for the /proc and /sys files the host scraper reads.

Each function takes the text of one file and returns plain numbers, so they are
tested against fixed texts and cost nothing but string splitting. Field names
and units follow the kernel documentation (Documentation/filesystems/proc.rst,
Documentation/admin-guide/iostats.rst, Documentation/accounting/psi.rst).
"""

from __future__ import annotations

import re

__all__ = [
    "CPU_MODES",
    "DISK_FIELDS",
    "NETDEV_RECEIVE",
    "NETDEV_TRANSMIT",
    "parse_conntrack_stat",
    "parse_diskstats",
    "parse_loadavg",
    "parse_meminfo",
    "parse_mounts",
    "parse_netdev",
    "parse_netstat",
    "parse_os_release",
    "parse_pressure",
    "parse_snmp6",
    "parse_sockstat",
    "parse_softnet",
    "parse_stat",
    "parse_udp_queues",
    "parse_vmstat",
]

#: Column order of the per-CPU lines of /proc/stat.
CPU_MODES = (
    "user",
    "nice",
    "system",
    "idle",
    "iowait",
    "irq",
    "softirq",
    "steal",
    "guest",
    "guest_nice",
)

#: Columns of /proc/diskstats after (major, minor, name).
DISK_FIELDS = (
    "reads_completed",
    "reads_merged",
    "sectors_read",
    "read_time_ms",
    "writes_completed",
    "writes_merged",
    "sectors_written",
    "write_time_ms",
    "io_now",
    "io_time_ms",
    "io_time_weighted_ms",
    "discards_completed",
    "discards_merged",
    "sectors_discarded",
    "discard_time_ms",
    "flush_requests",
    "flush_time_ms",
)

NETDEV_RECEIVE = ("bytes", "packets", "errs", "drop", "fifo", "frame", "compressed", "multicast")
NETDEV_TRANSMIT = ("bytes", "packets", "errs", "drop", "fifo", "colls", "carrier", "compressed")


_STAT_KEYS = frozenset({"ctxt", "btime", "processes", "procs_running", "procs_blocked", "intr"})


def parse_stat(text: str) -> tuple[dict[str, list[int]], dict[str, int]]:
    """/proc/stat: ({"0": [user, nice, ...] per CPU}, {"ctxt": .., "btime": .., "intr": ..,
    "processes": .., "procs_running": .., "procs_blocked": ..})."""
    cpus: dict[str, list[int]] = {}
    misc: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        key = parts[0]
        if key.startswith("cpu"):
            if key != "cpu":
                cpus[key[3:]] = [int(x) for x in parts[1:11]]
        elif len(parts) > 1 and key in _STAT_KEYS:
            misc[key] = int(parts[1])
    return cpus, misc


def _meminfo_name(key: str) -> str:
    return key.replace("(", "_").replace(")", "")


def parse_meminfo(text: str) -> dict[str, float]:
    """/proc/meminfo as node_exporter names it: {"MemTotal_bytes": ..., "HugePages_Total": ...}.

    `Active(anon)` becomes `Active_anon`; fields in kB get `_bytes` and are
    multiplied by 1024, plain counts keep their name.
    """
    out: dict[str, float] = {}
    for line in text.splitlines():
        key, sep, rest = line.partition(":")
        if not sep:
            continue
        parts = rest.split()
        if not parts:
            continue
        try:
            value = float(parts[0])
        except ValueError:
            continue
        name = _meminfo_name(key.strip())
        if len(parts) > 1 and parts[1] == "kB":
            out[name + "_bytes"] = value * 1024
        else:
            out[name] = value
    return out


def parse_loadavg(text: str) -> tuple[float, float, float]:
    """/proc/loadavg: (load1, load5, load15)."""
    parts = text.split()
    return float(parts[0]), float(parts[1]), float(parts[2])


def parse_diskstats(text: str, exclude: re.Pattern[str] | None = None) -> dict[str, list[int]]:
    """/proc/diskstats: {device: [fields in DISK_FIELDS order]} (missing trailing fields absent)."""
    out: dict[str, list[int]] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 14:
            continue
        name = parts[2]
        if exclude is not None and exclude.match(name):
            continue
        out[name] = [int(x) for x in parts[3 : 3 + len(DISK_FIELDS)]]
    return out


def _unescape_mount(field: str) -> str:
    # /proc/mounts escapes space, tab, newline and backslash as octal \040 etc.
    if "\\" not in field:
        return field
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def parse_mounts(text: str) -> list[tuple[str, str, str, tuple[str, ...]]]:
    """/proc/mounts: [(device, mountpoint, fstype, options)]."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 4:
            continue
        out.append(
            (
                _unescape_mount(parts[0]),
                _unescape_mount(parts[1]),
                parts[2],
                tuple(parts[3].split(",")),
            )
        )
    return out


def parse_netdev(text: str) -> dict[str, tuple[list[int], list[int]]]:
    """/proc/net/dev: {device: ([receive fields], [transmit fields])}."""
    out: dict[str, tuple[list[int], list[int]]] = {}
    for line in text.splitlines()[2:]:
        name, sep, rest = line.partition(":")
        if not sep:
            continue
        values = [int(x) for x in rest.split()]
        if len(values) < 16:
            continue
        out[name.strip()] = (values[:8], values[8:16])
    return out


def parse_pressure(text: str) -> dict[str, float]:
    """/proc/pressure/<resource>: {"some": total seconds, "full": total seconds}."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        for item in parts[1:]:
            if item.startswith("total="):
                out[parts[0]] = int(item[6:]) / 1e6
    return out


def parse_vmstat(text: str, include: re.Pattern[str]) -> dict[str, float]:
    """/proc/vmstat fields whose name matches `include`."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and include.match(parts[0]):
            out[parts[0]] = float(parts[1])
    return out


def parse_os_release(text: str) -> dict[str, str]:
    """/etc/os-release (shell-style KEY=value, quoted or not)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
            value = re.sub(r"\\([\\$\"`])", r"\1", value)
        out[key.strip()] = value
    return out


def parse_netstat(text: str) -> dict[tuple[str, str], float]:
    """/proc/net/netstat or /proc/net/snmp: {(protocol, field): value} from line pairs."""
    out: dict[tuple[str, str], float] = {}
    lines = text.splitlines()
    for names_line, values_line in zip(lines[::2], lines[1::2], strict=False):
        names = names_line.split()
        values = values_line.split()
        if not names or names[0] != values[0] or len(names) != len(values):
            continue
        proto = names[0].rstrip(":")
        for name, value in zip(names[1:], values[1:], strict=True):
            try:
                out[(proto, name)] = float(value)
            except ValueError:
                continue
    return out


def parse_snmp6(text: str) -> dict[tuple[str, str], float]:
    """/proc/net/snmp6 (`Ip6InReceives  12` lines): {("Ip6", "InReceives"): 12.0}."""
    out: dict[tuple[str, str], float] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 2:
            continue
        six = parts[0].find("6")
        if six < 0:
            continue
        try:
            out[(parts[0][: six + 1], parts[0][six + 1 :])] = float(parts[1])
        except ValueError:
            continue
    return out


def parse_sockstat(text: str) -> list[tuple[str, dict[str, float]]]:
    """/proc/net/sockstat[6]: [("TCP", {"inuse": 4, "mem": 406, ...}), ("sockets", {...})]."""
    out = []
    for line in text.splitlines():
        proto, sep, rest = line.partition(":")
        if not sep:
            continue
        parts = rest.split()
        fields: dict[str, float] = {}
        for name, value in zip(parts[::2], parts[1::2], strict=False):
            try:
                fields[name] = float(value)
            except ValueError:
                continue
        out.append((proto.strip(), fields))
    return out


def parse_softnet(text: str) -> list[tuple[int, int, int]]:
    """/proc/net/softnet_stat: per CPU (processed, dropped, time_squeeze), hex columns."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 3:
            out.append((int(parts[0], 16), int(parts[1], 16), int(parts[2], 16)))
    return out


def parse_conntrack_stat(text: str) -> dict[str, float]:
    """/proc/net/stat/nf_conntrack: per-CPU hex rows summed by column name."""
    lines = text.splitlines()
    if not lines:
        return {}
    names = lines[0].split()
    totals = dict.fromkeys(names, 0.0)
    for line in lines[1:]:
        values = line.split()
        if len(values) != len(names):
            continue
        for name, value in zip(names, values, strict=True):
            totals[name] += int(value, 16)
    return totals


def parse_udp_queues(text: str) -> tuple[float, float]:
    """/proc/net/udp[6]: (sum of tx_queue, sum of rx_queue) over all sockets, in bytes."""
    tx = rx = 0
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) > 4 and ":" in parts[4]:
            t, _, r = parts[4].partition(":")
            tx += int(t, 16)
            rx += int(r, 16)
    return float(tx), float(rx)
