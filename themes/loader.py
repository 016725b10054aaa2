"""Theme files -> Textual themes.

A theme is a small TOML file (see `dark.toml` for the shape)::

    name = "dark"          # how `--theme` and `[tui] theme` name it
    dark = true            # dark or light base
    ansi = false           # true: use the terminal's own 16 colours
    [colors]               # Textual's base colours: primary, secondary, accent,
    primary = "#5fafd7"    # foreground, background, surface, panel, boost,
    ...                    # success, warning, error (hex, rgb(), names, ansi_*)
    [variables]            # extra CSS variables; nightowl's panels use
    series-0 = "#5fafd7"   # series-0 .. series-7 for the lines of a chart
    event-marker = "#af87ff"  # and event-marker for [tui] event_queries marks

Built-in themes ship beside this module; users add their own as `*.toml` in
`$XDG_CONFIG_HOME/nightowl/themes/`. A user file that is not valid gives a
warning naming the file and the key, never a crash: the UI starts with the
built-ins. Missing `series-N` and `event-marker` variables are filled from the
base colours, so a user theme need only name `primary`.

Callers: `nightowl.tui.app` (registers every theme at start) and the `ui`
command (`--theme` validation).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from textual.color import Color, ColorParseError
from textual.theme import Theme

__all__ = [
    "BUILTIN_DIR",
    "SERIES_COUNT",
    "ThemeError",
    "ThemeLoadResult",
    "builtin_themes",
    "load_theme_file",
    "load_themes",
]

BUILTIN_DIR = Path(__file__).resolve().parent
#: How many `series-N` colour variables every theme defines.
SERIES_COUNT = 8
_COLOR_KEYS = (
    "primary",
    "secondary",
    "accent",
    "foreground",
    "background",
    "surface",
    "panel",
    "boost",
    "success",
    "warning",
    "error",
)
_TOP_KEYS = {"name", "dark", "ansi", "colors", "variables"}
_SERIES_FALLBACK = ("primary", "accent", "success", "secondary", "error", "warning")


class ThemeError(Exception):
    """A theme file cannot be used; the message names the file and the key."""


@dataclass(slots=True)
class ThemeLoadResult:
    """Themes by name plus one warning per file that could not be loaded."""

    themes: dict[str, Theme] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def _color(path: Path, key: str, value: object) -> str:
    if not isinstance(value, str):
        raise ThemeError(f"{path}: {key}: expected a colour string, got {value!r}")
    try:
        Color.parse(value)
    except ColorParseError:
        raise ThemeError(f"{path}: {key}: {value!r} is not a colour") from None
    return value


def load_theme_file(path: Path) -> Theme:
    """Read one theme file. Raises :class:`ThemeError` naming the file and key."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ThemeError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ThemeError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ThemeError(f"{path}: not valid TOML: {exc}") from None
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise ThemeError(f"{path}: unknown key {unknown[0]!r} (expected {sorted(_TOP_KEYS)})")
    name = data.get("name", path.stem)
    if not isinstance(name, str) or not name.strip():
        raise ThemeError(f"{path}: name: expected a non-empty string")
    for flag in ("dark", "ansi"):
        if flag in data and not isinstance(data[flag], bool):
            raise ThemeError(f"{path}: {flag}: expected true or false")
    colors = data.get("colors", {})
    if not isinstance(colors, dict):
        raise ThemeError(f"{path}: colors: expected a table")
    for key in colors:
        if key not in _COLOR_KEYS:
            raise ThemeError(
                f"{path}: colors.{key}: unknown colour (expected one of {_COLOR_KEYS})"
            )
    if "primary" not in colors:
        raise ThemeError(f"{path}: colors.primary: required")
    base = {k: _color(path, f"colors.{k}", v) for k, v in colors.items()}
    variables = data.get("variables", {})
    if not isinstance(variables, dict):
        raise ThemeError(f"{path}: variables: expected a table")
    var_out: dict[str, str] = {}
    for key, value in variables.items():
        if (
            key.startswith("series-")
            or key == "event-marker"
            or key.endswith(("-background", "-foreground"))
            or key
            in (
                "border",
                "border-blurred",
            )
        ):
            var_out[key] = _color(path, f"variables.{key}", value)
        elif isinstance(value, str):
            var_out[key] = value
        else:
            raise ThemeError(f"{path}: variables.{key}: expected a string")
    for i in range(SERIES_COUNT):
        key = f"series-{i}"
        if key not in var_out:
            fallback = _SERIES_FALLBACK[i % len(_SERIES_FALLBACK)]
            var_out[key] = base.get(fallback, base["primary"])
    if "event-marker" not in var_out:
        var_out["event-marker"] = base.get("secondary", base["primary"])
    return Theme(
        name=name.strip(),
        dark=data.get("dark", True),
        ansi=data.get("ansi", False),
        variables=var_out,
        **base,
    )


def builtin_themes() -> dict[str, Theme]:
    """The themes shipped with nightowl: dark, light, high-contrast, ansi16."""
    out: dict[str, Theme] = {}
    for path in sorted(BUILTIN_DIR.glob("*.toml")):
        theme = load_theme_file(path)
        out[theme.name] = theme
    return out


def load_themes(user_dir: Path | None = None) -> ThemeLoadResult:
    """Built-in themes plus every `*.toml` in `user_dir` (a user theme may replace
    a built-in of the same name). Bad user files become warnings."""
    result = ThemeLoadResult(themes=builtin_themes())
    if user_dir is None or not user_dir.is_dir():
        return result
    for path in sorted(user_dir.glob("*.toml")):
        try:
            theme = load_theme_file(path)
        except ThemeError as exc:
            result.warnings.append(f"theme not loaded: {exc}")
            continue
        result.themes[theme.name] = theme
    return result
