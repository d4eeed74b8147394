"""Echoing outside input in logs and errors: one line, bounded length.

Everything vatex_ros puts in a warning or an error that came from outside (an expression, an encoding
name, a parameter value, a file's content) goes through :func:`shorten`, so a 100 kB string or a YAML
expansion cannot flood a log.
"""

from __future__ import annotations

MAX_ECHO = 200  # characters of an outside string echoed in a message


def shorten(text: object, limit: int = MAX_ECHO) -> str:
    """``str(text)`` on one line (whitespace runs collapsed), cut to ``limit`` characters with a note of the rest."""
    flat = " ".join(str(text).split())
    if len(flat) <= limit:
        return flat
    return f"{flat[:limit]}... ({len(flat) - limit} more characters)"
