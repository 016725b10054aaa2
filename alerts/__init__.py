"""Alerting and recording rules, notifications, silences and acknowledgements.

Modules, by what they hold:

- ``rulefile``: Prometheus rule files (YAML, or the same structure in TOML) into
  :class:`~nightowl.alerts.rulefile.GroupSpec`; every problem named by file:line,
  group and rule.
- ``template``: the Go-template subset rule labels and annotations use.
- ``rules``: recording rules and the alerting state machine (ALERTS,
  ALERTS_FOR_STATE, restore, hysteresis, flap damping).
- ``group`` / ``manager``: evaluation loops over a ``QueryFn`` and an ``Appender``;
  load, reload, restore after restart.
- ``notify``: Alertmanager API v2 senders and webhook receivers.
- ``silences``: silences, acks, and the alert-history hook (storage in
  ``nightowl.store.alertstate``).
- ``anomaly``: anomaly rules compiled to PromQL.
- ``ruletest``: promtool-compatible rule unit tests.

Nothing here imports the TUI or the HTTP server; the runtime wires it.
"""
