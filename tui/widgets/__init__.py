"""Widgets of the nightowl UI (one per module)."""
