"""Expressions as they arrive on the ``expression`` and ``expressions`` topics: checked, cleaned, split into a list.

``expression`` carries one expression (a ``;`` in it is part of it). ``expressions`` carries several in one
std_msgs/String, separated by ``;`` or new lines, so that ``ros2 topic pub`` can send them:
``"{data: 'the red cup; the tray'}"``. Both replace the list in force; each expression of the list is answered
on every camera (its own mask in ``labels``, its own Detection2D). Bad input is counted and warned about
(rate-limited) through the node's :class:`~vatex_ros.node.diagnostics.Diagnostics`, never raised.
"""

from __future__ import annotations

import re

from vatex_ros.node.diagnostics import Diagnostics

MAX_EXPRESSIONS = 8  # expressions in force at once; each adds a decoder pass per camera frame
SEPARATOR = re.compile(r"[;\n]")
LIST_JOINER = "; "  # how `active_expression` shows a list (it splits back on SEPARATOR)


def decode_text(data: str | bytes, diagnostics: Diagnostics) -> str | None:
    """The text of a String message's data; None (warned, counted as ``expression_not_utf8``) if not UTF-8."""
    if isinstance(data, (bytes, bytearray)):
        try:
            return bytes(data).decode("utf-8")
        except UnicodeDecodeError as err:
            diagnostics.warn("expression_not_utf8", f"ignoring expression that is not UTF-8: {err.reason} "
                             f"at byte {err.start}")
            return None
    return data


def clean_expression(text: str, limit: int, diagnostics: Diagnostics) -> str:
    """Whitespace collapsed, NULs dropped, cut to ``limit`` characters (counted as ``expression_truncated``);
    "" when nothing is left."""
    expression = " ".join(text.replace("\x00", " ").split())
    if len(expression) > limit:
        diagnostics.warn("expression_truncated", f"expression of {len(expression)} characters truncated to {limit}")
        expression = expression[:limit]
    return expression


def parse_expressions(text: str, limit: int, diagnostics: Diagnostics) -> list[str]:
    """The expressions of an ``expressions`` message, in order, each cleaned; repeats and empty entries dropped,
    at most :data:`MAX_EXPRESSIONS` (the rest counted as ``expressions_dropped``). [] when none is left."""
    expressions: list[str] = []
    for part in SEPARATOR.split(text):
        expression = clean_expression(part, limit, diagnostics)
        if expression and expression not in expressions:
            expressions.append(expression)
    if len(expressions) > MAX_EXPRESSIONS:
        diagnostics.warn("expressions_dropped", f"{len(expressions)} expressions given, the first "
                         f"{MAX_EXPRESSIONS} kept", n=len(expressions) - MAX_EXPRESSIONS)
        expressions = expressions[:MAX_EXPRESSIONS]
    return expressions
