"""Hostile text from Thing Descriptions, made safe to show: bidi controls out, long names shortened.

A TD's owner writes its title, description, property names, units and tags; HTML escaping (Jinja's
autoescape) stops markup, but not Unicode bidi controls, which reorder what a reader sees
("gnp.exe" after U+202E reads "exe.png"), nor one unbroken 10 KB word, which widens every page.
"""

from __future__ import annotations

import re

from markupsafe import Markup

# Embeddings and overrides (U+202A-E), isolates (U+2066-9), the LRM/RLM marks and the Arabic letter mark.
BIDI_CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
_BIDI = re.compile(f"[{BIDI_CONTROLS}]")

NAME_LIMIT = 80  # characters of a device name shown in a list or heading


def neutralise_bidi(value):
    """``value`` without bidi controls; safe Markup stays Markup (the controls are no HTML syntax),
    anything but text is returned as is."""
    if not isinstance(value, str) or not _BIDI.search(value):
        return value
    cleaned = _BIDI.sub("", value)
    return Markup(cleaned) if isinstance(value, Markup) else cleaned


def neutralise_tree(value):
    """A JSON-able value with every string (keys too) neutralised."""
    if isinstance(value, str):
        return neutralise_bidi(value)
    if isinstance(value, dict):
        return {neutralise_tree(k): neutralise_tree(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [neutralise_tree(v) for v in value]
    return value


def shorten(text: str, limit: int = NAME_LIMIT) -> str:
    """``text`` cut to ``limit`` characters, the last one an ellipsis when anything was cut."""
    text = str(text or "")
    return text if len(text) <= limit else text[:limit - 1] + "…"


def time_left(seconds: int) -> str:
    """A countdown's words: "2 d 03 h", "1 h 05 min", "4 min 09 s", "12 s"; "now" at or past 0."""
    s = int(seconds)
    if s <= 0:
        return "now"
    d, rem = divmod(s, 86_400)
    h, rem = divmod(rem, 3_600)
    m, sec = divmod(rem, 60)
    if d:
        return f"{d} d {h:02d} h"
    if h:
        return f"{h} h {m:02d} min"
    if m:
        return f"{m} min {sec:02d} s"
    return f"{sec} s"


def countdown(deadline: int, now: int) -> Markup:
    """A ``<time>`` of ``deadline`` (unix s, chain time) that says how long is left from ``now``
    (the chain's time) and that app.js counts down every second."""
    import time as _time

    deadline, left = int(deadline or 0), int(deadline or 0) - int(now or 0)
    iso = _time.strftime("%Y-%m-%dT%H:%M:%SZ", _time.gmtime(deadline))
    words = f"in {time_left(left)}" if left > 0 else "passed"
    return Markup(f'<time class="countdown" datetime="{iso}" data-left="{max(0, left)}">{words}</time>')

