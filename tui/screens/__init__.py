"""Screens of the nightowl UI (one per view)."""
