"""Target labels and URLs from discovered labels, as Prometheus's populateLabels."""

from __future__ import annotations

import pytest
from nightowl.scrapers.target import (
    TargetError,
    TargetGroup,
    options_from_config,
    populate_target,
    targets_from_groups,
)

from nightowl.config import parse_config
from nightowl.errors import ConfigError
from nightowl.model import Labels


def test_defaults_job_instance_and_url() -> None:
    """job and instance are added, __ labels dropped, URL built from scheme/address/path."""
    opts = options_from_config({"job_name": "node", "scrape_interval": "30s"})
    target, discovered = populate_target(opts, {"env": "prod"}, "10.0.0.1:9100")
    assert target is not None
    assert target.labels == Labels.of(job="node", instance="10.0.0.1:9100", env="prod")
    assert target.url == "http://10.0.0.1:9100/metrics"
    assert target.interval_ms == 30_000
    assert target.timeout_ms == 10_000
    assert discovered.get("__address__") == "10.0.0.1:9100"
    assert discovered.get("__scheme__") == "http"
    assert discovered.get("__metrics_path__") == "/metrics"
    assert discovered.get("__scrape_interval__") == "30s"


def test_relabeling_controls_address_scheme_path_params_and_interval() -> None:
    """Relabeling can rewrite the special labels that make the scrape URL."""
    opts = options_from_config(
        {
            "job_name": "blackbox",
            "metrics_path": "/probe",
            "params": {"module": ["http_2xx"]},
            "relabel_configs": [
                {"source_labels": ["__address__"], "target_label": "__param_target"},
                {"source_labels": ["__param_target"], "target_label": "instance"},
                {"target_label": "__address__", "replacement": "blackbox:9115"},
                {"target_label": "__scheme__", "replacement": "https"},
                {"target_label": "__scrape_interval__", "replacement": "5s"},
                {"target_label": "__scrape_timeout__", "replacement": "2s"},
            ],
        }
    )
    target, _ = populate_target(opts, {}, "https://example.com")
    assert target is not None
    assert (
        target.url == "https://blackbox:9115/probe?module=http_2xx&target=https%3A%2F%2Fexample.com"
    )
    assert target.labels == Labels.of(job="blackbox", instance="https://example.com")
    assert (target.interval_ms, target.timeout_ms) == (5000, 2000)


def test_group_labels_may_override_job() -> None:
    """A group's own `job` label wins over job_name, as in Prometheus."""
    opts = options_from_config({"job_name": "node"})
    target, _ = populate_target(opts, {"job": "custom"}, "h:1")
    assert target is not None and target.labels.get("job") == "custom"


@pytest.mark.parametrize(
    ("rules", "fragment"),
    [
        ([{"action": "labeldrop", "regex": "__address__"}], "no __address__"),
        ([{"target_label": "__address__", "replacement": "a/b"}], "invalid target address"),
        ([{"target_label": "__scrape_interval__", "replacement": "soon"}], "invalid duration"),
        ([{"target_label": "__scrape_timeout__", "replacement": "5m"}], "greater than"),
    ],
)
def test_unusable_targets_are_errors(rules: list, fragment: str) -> None:
    """Bad labels after relabeling are a TargetError; the others still work."""
    opts = options_from_config({"job_name": "x", "relabel_configs": rules})
    with pytest.raises(TargetError) as err:
        populate_target(opts, {}, "h:1", "static_configs[0]")
    assert fragment in str(err.value)
    targets, dropped, errors = targets_from_groups(opts, [TargetGroup(("h:1",), {}, "s")])
    assert targets == [] and dropped == [] and len(errors) == 1


def test_dropped_and_duplicate_targets() -> None:
    """keep/drop remove targets (listed as dropped); duplicates are scraped once."""
    opts = options_from_config(
        {
            "job_name": "x",
            "relabel_configs": [{"action": "keep", "source_labels": ["env"], "regex": "prod"}],
        }
    )
    groups = [
        TargetGroup(("a:1", "a:1"), {"env": "prod"}),
        TargetGroup(("b:1",), {"env": "dev"}),
    ]
    targets, dropped, errors = targets_from_groups(opts, groups)
    assert [t.url for t in targets] == ["http://a:1/metrics"]
    assert [d.get("__address__") for d in dropped] == ["b:1"]
    assert errors == []


def test_offsets_are_stable_and_spread() -> None:
    """The per-target phase is a pure function of the target and spreads targets out."""
    opts = options_from_config({"job_name": "x", "scrape_interval": "15s"})
    offsets = []
    for i in range(50):
        target, _ = populate_target(opts, {}, f"10.0.0.{i}:9100")
        assert target is not None
        assert target.offset_ms() == target.offset_ms()
        assert 0 <= target.offset_ms() < 15_000
        offsets.append(target.offset_ms())
    assert len(set(offsets)) > 40
    assert min(offsets) < 5_000 and max(offsets) > 10_000
    assert target.offset_ms(1) != target.offset_ms(2)


def test_options_from_the_real_config() -> None:
    """Options read nightowl.config's dataclasses, inheriting from [global]."""
    cfg = parse_config(
        '[global]\nscrape_interval = "20s"\nscrape_timeout = "4s"\n'
        "[[scrape_configs]]\n"
        'job_name = "api"\n'
        'scheme = "https"\n'
        'static_configs = [{targets = ["api:443"]}]\n'
        "sample_limit = 10\n"
        'sample_limit_mode = "truncate"\n'
        'body_size_limit = "1MiB"\n'
        'basic_auth = {username = "u", password_file = "/run/pw"}\n'
        "tls_config = {insecure_skip_verify = true}\n",
        "t.toml",
    )
    opts = options_from_config(cfg.scrape_configs[0], cfg.global_)
    assert (opts.scrape_interval_ms, opts.scrape_timeout_ms) == (20_000, 4_000)
    assert opts.sample_limit == 10 and opts.sample_limit_mode == "truncate"
    assert opts.body_size_limit == 1 << 20
    assert opts.basic_auth is not None and opts.basic_auth.password_file == "/run/pw"
    assert opts.tls.insecure_skip_verify
    assert opts.redactor is not None
    target, _ = populate_target(opts, {}, "api:443")
    assert target is not None and target.url == "https://api:443/metrics"


@pytest.mark.parametrize(
    ("cfg", "fragment"),
    [
        ({}, "job_name"),
        ({"job_name": "x", "scrape_interval": "1s", "scrape_timeout": "2s"}, "greater than"),
        ({"job_name": "x", "sample_limit_mode": "maybe"}, "sample_limit_mode"),
        ({"job_name": "x", "relabel_configs": [{"action": "nope"}]}, "relabel_configs[0]"),
        ({"job_name": "x", "scrape_interval": "fast"}, "invalid duration"),
    ],
)
def test_bad_options(cfg: dict, fragment: str) -> None:
    """Bad scrape configs are ConfigErrors naming the key."""
    with pytest.raises(ConfigError) as err:
        options_from_config(cfg)
    assert fragment in str(err.value)
