"""nightowl.config: defaults, loading, inheritance, secrets, writing, docs that cannot drift."""

from __future__ import annotations

import dataclasses
import os
import re
import socket
import tomllib
import typing
from pathlib import Path

import pytest

from nightowl import config as cfgmod
from nightowl.commands.init import STARTER_CONFIG
from nightowl.config import (
    Config,
    ConfigValidationError,
    config_to_toml,
    default_config,
    field_docs,
    file_warnings,
    load_config,
    parse_config,
    schema_markdown,
    secret_key_paths,
    section_to_dict,
    with_overrides,
)
from nightowl.errors import ConfigError
from nightowl.paths import default_config_path, default_db_path

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "config.example.toml"
DOCS = REPO / "docs" / "configuration.md"


def _sections() -> list[type]:
    """Every dataclass reachable from Config."""
    seen: list[type] = []

    def walk(cls: type) -> None:
        if cls in seen:
            return
        seen.append(cls)
        for tp in typing.get_type_hints(cls).values():
            for t in (tp, *typing.get_args(tp)):
                if isinstance(t, type) and dataclasses.is_dataclass(t):
                    walk(t)

    walk(Config)
    return seen


# -- defaults -------------------------------------------------------------------------


def test_no_file_gives_the_embedded_default() -> None:
    """No config file at the XDG path: host scraper on at 5 s, DB at the XDG data path."""
    assert not default_config_path().exists()
    c = load_config(None)
    assert c == default_config()
    assert c.host.enabled and c.host.scrape_interval == 5_000
    assert c.host.job == "host" and c.host.instance == socket.gethostname()
    assert c.storage.path == str(default_db_path())
    assert c.scrape_configs == () and c.rule_groups == ()
    assert c.server.listen.startswith("127.0.0.1:")
    assert c.source == "<defaults>"


def test_empty_file_equals_no_file(tmp_path: Path) -> None:
    """An empty file means every default."""
    f = tmp_path / "empty.toml"
    f.write_text("")
    assert load_config(f) == default_config()


def test_default_xdg_file_is_read_when_present() -> None:
    """`load_config(None)` reads $XDG_CONFIG_HOME/nightowl/config.toml when it exists."""
    path = default_config_path()
    path.parent.mkdir(parents=True)
    path.write_text('[host]\nscrape_interval = "7s"\n')
    c = load_config(None)
    assert c.host.scrape_interval == 7_000
    assert c.source == str(path)


def test_explicit_missing_file_is_an_error(tmp_path: Path) -> None:
    """A file named on purpose must exist; the message says how to create it."""
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.toml")
    assert "does not exist" in str(info.value)
    assert "nightowl init" in str(info.value)


def test_directory_and_non_utf8_are_errors(tmp_path: Path) -> None:
    """A directory or a binary file gives a ConfigError, not a crash."""
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path)
    f = tmp_path / "bin.toml"
    f.write_bytes(b"\xff\xfe[global]\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(f)


# -- values ---------------------------------------------------------------------------


def test_durations_and_sizes_become_milliseconds_and_bytes() -> None:
    """Prometheus durations -> int ms; sizes with units -> int bytes."""
    c = parse_config(
        """
[global]
scrape_interval = "1m30s"
[storage]
retention_time = "2w"
retention_size = "512MiB"
out_of_order_time_window = "0"
[server]
max_body_size = 4096
""",
        "x.toml",
    )
    assert c.global_.scrape_interval == 90_000
    assert c.storage.retention_time == 14 * 86_400_000
    assert c.storage.retention_size == 512 * 1024 * 1024
    assert c.storage.out_of_order_time_window == 0
    assert c.server.max_body_size == 4096


def test_jobs_inherit_global_intervals_and_timeouts_are_clamped() -> None:
    """Unset job values come from [global]; a defaulted timeout never exceeds the interval."""
    c = parse_config(
        """
[global]
scrape_interval = "30s"
scrape_timeout = "20s"
evaluation_interval = "1m"
[[scrape_configs]]
job_name = "inherits"
[[scrape_configs]]
job_name = "fast"
scrape_interval = "5s"
[[rule_groups]]
name = "g"
[[command_configs]]
name = "c"
command = ["true"]
metric = "c_value"
interval = "3s"
""",
        "x.toml",
    )
    inherits, fast = c.scrape_configs
    assert (inherits.scrape_interval, inherits.scrape_timeout) == (30_000, 20_000)
    assert (fast.scrape_interval, fast.scrape_timeout) == (5_000, 5_000)
    assert c.rule_groups[0].interval == 60_000
    assert c.command_configs[0].timeout == 3_000


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    """As in Prometheus, relative file paths are relative to the config file."""
    f = tmp_path / "conf" / "nightowl.toml"
    f.parent.mkdir()
    f.write_text(
        'rule_files = ["rules/*.yml"]\n[storage]\npath = "data/n.db"\n'
        '[[scrape_configs]]\njob_name = "j"\nbearer_token_file = "/abs/token"\n'
    )
    c = load_config(f)
    assert c.rule_files == (str(f.parent / "rules/*.yml"),)
    assert c.storage.path == str(f.parent / "data/n.db")
    assert c.scrape_configs[0].bearer_token_file == "/abs/token"


def test_python_keyword_keys_use_their_toml_names() -> None:
    """`global` and `for` are TOML keys even though the fields are global_ and for_."""
    c = parse_config(
        '[global]\nscrape_interval = "20s"\n[[rule_groups]]\nname = "g"\n'
        '[[rule_groups.rules]]\nalert = "A"\nexpr = "up == 0"\nfor = "5m"\n',
        "x.toml",
    )
    assert c.global_.scrape_interval == 20_000
    assert c.rule_groups[0].rules[0].for_ == 300_000
    with pytest.raises(ConfigValidationError) as info:
        parse_config(
            '[global_]\n[[rule_groups]]\nname="g"\nrules=[{alert="A",expr="up",for_="1m"}]'
        )
    keys = {p.key for p in info.value.problems}
    assert keys == {"global_", "rule_groups[0].rules[0].for_"}


def test_ipv6_targets_and_listen_addresses() -> None:
    """Bracketed IPv6 targets are host:port; listen may leave the host empty or use port 0."""
    c = parse_config(
        '[server]\nlisten = ":0"\n[[scrape_configs]]\njob_name = "j"\n'
        'static_configs = [{ targets = ["[::1]:9100", "node-1.example:443"] }]\n'
    )
    assert c.scrape_configs[0].static_configs[0].targets == ("[::1]:9100", "node-1.example:443")
    assert c.server.listen == ":0"


# -- secrets --------------------------------------------------------------------------

_SECRET_TOML = """
[[scrape_configs]]
job_name = "j"
basic_auth = { username = "u", password = "s3cret-password" }
[[remote_write]]
url = "http://vm:8428/api/v1/write"
headers = { Authorization = "Bearer s3cret-token", "X-Scope-OrgID" = "t1" }
"""


def test_secret_key_paths_and_repr_never_show_values() -> None:
    """Secrets are found by key path, and never appear in repr() (logs, tracebacks)."""
    c = parse_config(_SECRET_TOML, "x.toml")
    assert secret_key_paths(c) == [
        "scrape_configs[0].basic_auth.password",
        "remote_write[0].headers.Authorization",
    ]
    assert "s3cret" not in repr(c)
    assert secret_key_paths(default_config()) == []


def test_errors_never_show_a_secret_value() -> None:
    """A secret of the wrong type is reported by its type only, never its value."""
    text = """
[[scrape_configs]]
job_name = "j"
bearer_token = 98765432101
basic_auth = { username = "u", password = ["hunter2-in-a-list"] }
[[remote_write]]
url = "http://vm:8428/api/v1/write"
headers = { Authorization = 1234567890123 }
[[server.bearer_tokens]]
name = "t"
token = 3.14159265
"""
    with pytest.raises(ConfigValidationError) as info:
        parse_config(text, "s.toml")
    shown = str(info.value)
    assert {p.key for p in info.value.problems} == {
        "scrape_configs[0].bearer_token",
        "scrape_configs[0].basic_auth.password",
        "remote_write[0].headers.Authorization",
        "server.bearer_tokens[0].token",
    }
    for secret in ("98765432101", "hunter2", "1234567890123", "3.14159265"):
        assert secret not in shown
    assert "expected a string, got an integer" in shown


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_world_readable_file_with_secrets_is_refused(tmp_path: Path) -> None:
    """Issue 7: a config holding secrets inline must not be readable by every user."""
    f = tmp_path / "secret.toml"
    f.write_text(_SECRET_TOML)
    f.chmod(0o644)
    with pytest.raises(ConfigError) as info:
        load_config(f)
    text = str(info.value)
    assert "scrape_configs[0].basic_auth.password" in text and "chmod 600" in text
    assert "s3cret" not in text
    f.chmod(0o640)
    assert load_config(f).scrape_configs[0].basic_auth is not None
    # Secrets kept in files instead are fine in a world-readable config.
    g = tmp_path / "files.toml"
    g.write_text('[[scrape_configs]]\njob_name = "j"\nbearer_token_file = "token"\n')
    g.chmod(0o644)
    assert load_config(g).scrape_configs[0].bearer_token_file == str(tmp_path / "token")


def test_file_warnings_name_missing_files(tmp_path: Path) -> None:
    """Files read at run time that are absent give warnings, not errors."""
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "a.yml").write_text("groups: []\n")
    f = tmp_path / "c.toml"
    f.write_text(
        'rule_files = ["rules/*.yml", "missing/*.yml", "gone.yml"]\n'
        '[[scrape_configs]]\njob_name = "j"\n'
        'basic_auth = { username = "u", password_file = "pw" }\n'
    )
    warnings = file_warnings(load_config(f))
    assert warnings == [
        f"rule_files[1]: {tmp_path}/missing/*.yml matches no file",
        f"rule_files[2]: {tmp_path}/gone.yml matches no file",
        f"scrape_configs[0].basic_auth.password_file: {tmp_path}/pw does not exist",
    ]


# -- writing --------------------------------------------------------------------------


def test_config_to_toml_round_trips_the_example() -> None:
    """Writing a loaded config and reading it back gives an equal Config."""
    c = parse_config(EXAMPLE.read_text(), str(EXAMPLE))
    text = config_to_toml(c)
    assert parse_config(text, str(EXAMPLE)) == c
    full = config_to_toml(c, include_defaults=True)
    assert parse_config(full, str(EXAMPLE)) == c


def test_section_to_dict_leaves_defaults_out() -> None:
    """A saved section says only what differs from the defaults (for the TUI's dashboards)."""
    c = parse_config(
        '[[dashboards]]\nname = "web"\n[[dashboards.panels]]\nexpr = "up"\nkind = "stat"\n'
    )
    assert section_to_dict(c.dashboards[0]) == {
        "name": "web",
        "panels": [{"expr": "up", "kind": "stat"}],
    }
    assert section_to_dict(c.tui) == {}


# -- documentation cannot drift -------------------------------------------------------


def test_every_field_has_a_docstring() -> None:
    """Each field of each section is documented where it is declared."""
    for cls in _sections():
        docs = field_docs(cls)
        for f in dataclasses.fields(cls):
            assert docs.get(f.name), f"{cls.__name__}.{f.name} has no docstring"


def test_example_is_valid_and_documents_every_key() -> None:
    """config.example.toml loads, and every key of every section appears in it.

    Alternatives and inline secrets appear as `# key = value` lines; they count,
    and must be valid TOML once uncommented.
    """
    text = EXAMPLE.read_text()
    parse_config(text, str(EXAMPLE))
    uncomment = re.compile(
        r'^(\s*)#\s?((?:[A-Za-z_][A-Za-z0-9_]*|"[^"]*")\s*=\s*.*|\[\[?[A-Za-z_.]+\]\]?)\s*$'
    )
    raw = tomllib.loads("\n".join(uncomment.sub(r"\1\2", ln) for ln in text.splitlines()))

    present: set[str] = set()

    def collect(d: dict[str, object], prefix: str) -> None:
        for k, v in d.items():
            p = f"{prefix}.{k}" if prefix else k
            present.add(p)
            if isinstance(v, dict):
                collect(v, p)
            elif isinstance(v, list):
                for item in v:
                    if isinstance(item, dict):
                        collect(item, p)

    collect(raw, "")
    # Where does each section class occur? A shared section (TLS, relabeling) is
    # documented once it is shown fully in one of its places.
    occurrences: dict[type, list[str]] = {}

    def walk(cls: type, prefix: str) -> None:
        occurrences.setdefault(cls, []).append(prefix)
        hints = typing.get_type_hints(cls)
        for f in cfgmod._public_fields(cls):
            tp, _ = cfgmod._strip_optional(hints[f.name])
            key = cfgmod._key(f)
            p = f"{prefix}.{key}" if prefix else key
            if cfgmod._is_section(tp):
                walk(tp, p)
            elif typing.get_origin(tp) is tuple and cfgmod._is_section(typing.get_args(tp)[0]):
                walk(typing.get_args(tp)[0], p)

    walk(Config, "")
    missing = []
    for cls, prefixes in occurrences.items():
        for f in cfgmod._public_fields(cls):
            key = cfgmod._key(f)
            if not any((f"{p}.{key}" if p else key) in present for p in prefixes):
                missing.append(f"{prefixes[0] or '<top>'}.{key}")
    assert missing == []


def test_example_comments_every_key() -> None:
    """Each key of the schema has a comment: above its line (or its group), or naming it."""
    lines = EXAMPLE.read_text().split("\n")
    assign = re.compile(r"^\s*(?:#\s?)?([A-Za-z_][A-Za-z0-9_]*)\s*=")
    commented = set()
    for i, line in enumerate(lines):
        m = assign.match(line)
        if not m:
            continue
        j = i - 1
        while j >= 0 and assign.match(lines[j]) and not lines[j].lstrip().startswith("#"):
            j -= 1
        if j >= 0 and lines[j].lstrip().startswith("#"):
            commented.add(m.group(1))
    words = set(re.findall(r"[A-Za-z_]+", " ".join(ln for ln in lines if ln.lstrip()[:1] == "#")))
    keys = {p.rsplit(".", 1)[-1] for p in cfgmod.schema_key_paths()}
    assert sorted(keys - commented - words) == []


def test_docs_reference_matches_the_schema() -> None:
    """docs/configuration.md holds the generated key reference, unchanged."""
    text = DOCS.read_text()
    begin = "<!-- BEGIN GENERATED REFERENCE"
    end = "<!-- END GENERATED REFERENCE -->"
    assert begin in text and end in text
    body = text.split(begin, 1)[1].split("-->", 1)[1].split(end, 1)[0]
    assert body.strip() == schema_markdown().strip(), (
        "docs/configuration.md is stale: paste `python -m nightowl.config` between the markers"
    )


def test_starter_config_is_valid_and_commented() -> None:
    """What `nightowl init` writes loads, and every key line has a comment above it."""
    c = parse_config(STARTER_CONFIG, "<starter>")
    # It shows the defaults rather than changing them: loading it changes nothing.
    assert c == default_config()
    # Uncommenting any example line still gives a valid file (no key lands in the
    # wrong table), and the examples in it really load.
    uncommented = re.sub(r"(?m)^# ((?:\[\[?[a-z_.]+\]\]?|[a-z_]+ = .*))$", r"\1", STARTER_CONFIG)
    assert uncommented != STARTER_CONFIG
    u = parse_config(uncommented, "<starter>")
    assert u.rule_files and u.scrape_configs and u.dashboards and u.storage.path
    lines = STARTER_CONFIG.splitlines()
    for i, line in enumerate(lines):
        if re.match(r"^[a-z_]+ = ", line):
            above = lines[i - 1]
            assert above.startswith("#") or re.match(r"^[a-z_]+ = ", above), line


def test_panel_units_and_kinds_match_what_the_tui_draws() -> None:
    """The config accepts exactly the units and panel kinds the TUI knows."""
    from nightowl.tui.format import UNITS
    from nightowl.tui.plot import KINDS

    from nightowl.config import PANEL_UNITS, PanelConfig

    assert set(PANEL_UNITS) == set(UNITS)
    assert set(typing.get_args(typing.get_type_hints(PanelConfig)["kind"])) == set(KINDS)


def test_command_line_overrides_beat_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--db (relative to the working directory) and --listen replace the file's values."""
    c = parse_config('[storage]\npath = "/srv/a.db"\n[server]\nlisten = "127.0.0.1:1"\n')
    monkeypatch.chdir(tmp_path)
    o = with_overrides(c, db="b.db", listen="[::1]:9095")
    assert o.storage.path == str(tmp_path / "b.db")
    assert o.server.listen == "[::1]:9095"
    assert o.storage.retention_time == c.storage.retention_time
    assert with_overrides(c) == c
    with pytest.raises(ConfigError, match="--listen 'localhost'"):
        with_overrides(c, listen="localhost")


def test_public_surface_is_listed_in_all() -> None:
    """Every public name defined in nightowl.config is in __all__, and nothing else."""
    defined = {
        name
        for name, value in vars(cfgmod).items()
        if not name.startswith("_")
        and (getattr(value, "__module__", None) == cfgmod.__name__ or name.isupper())
    }
    assert set(cfgmod.__all__) == defined
