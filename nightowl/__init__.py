"""nightowl: a metrics store with a terminal face, for the engineer on call."""

__version__ = "0.1.0"

__all__ = ["__version__"]
