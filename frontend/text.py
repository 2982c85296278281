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
