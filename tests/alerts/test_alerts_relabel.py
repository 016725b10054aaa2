"""`[alerting] alert_relabel_configs` rewrite or drop alerts before they are sent."""

from __future__ import annotations

from nightowl.alerts.notify import Notifier, OutAlert, notifier_from_config

from nightowl.config import parse_config
from nightowl.model import Labels

CONFIG = """
[[alerting.alert_relabel_configs]]
regex = "tmp_.*"
action = "labeldrop"

[[alerting.alert_relabel_configs]]
source_labels = ["env"]
regex = "test"
action = "drop"

[[alerting.alert_relabel_configs]]
source_labels = ["severity"]
target_label = "priority"
regex = "critical"
replacement = "P1"
"""


class _Capture:
    """A receiver stand-in that records what the notifier hands it."""

    def __init__(self) -> None:
        self.got: list[OutAlert] = []

    def add(self, alerts: list[OutAlert]) -> None:
        self.got.extend(alerts)


def _alert(**labels: str) -> OutAlert:
    return OutAlert(Labels.of(None, **labels), {}, 1_000, 0)


def test_alert_relabel_configs_apply_before_sending() -> None:
    """Labels are rewritten, dropped labels vanish, dropped alerts are never sent."""
    config = parse_config(CONFIG, "c.toml")
    notifier = notifier_from_config(config.alerting)
    capture = _Capture()
    notifier.webhooks.append(capture)  # type: ignore[arg-type]
    notifier(
        [
            _alert(alertname="Disk", severity="critical", tmp_id="42"),
            _alert(alertname="Disk", env="test", severity="critical"),
        ]
    )
    assert [a.labels for a in capture.got] == [
        Labels.of(None, alertname="Disk", severity="critical", priority="P1")
    ]


def test_silences_see_the_relabeled_alert() -> None:
    """A silence matches the labels the receiver gets, as Alertmanager would check them."""
    config = parse_config(CONFIG, "c.toml")
    seen: list[Labels] = []

    def muted(labels: Labels) -> bool:
        seen.append(labels)
        return labels.get("priority") == "P1"

    base = notifier_from_config(config.alerting)
    notifier = Notifier((), (), is_muted=muted, relabel_rules=base.relabel_rules)
    capture = _Capture()
    notifier.webhooks.append(capture)  # type: ignore[arg-type]
    notifier([_alert(alertname="Disk", severity="critical")])
    assert capture.got == []
    assert seen == [Labels.of(None, alertname="Disk", severity="critical", priority="P1")]
