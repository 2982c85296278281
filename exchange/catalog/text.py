"""Words for free-text search: the indexer stores them, queries look them up (same rules)."""

from __future__ import annotations

import re

WORD_RE = re.compile(r"[a-z0-9]+")
# Words too common to narrow anything; not stored, and ignored in queries.
STOPWORDS = frozenset("a an and are as at be by for from in is it its of on or the through to with".split())


def words_of(text: str) -> list[str]:
    """Distinct lower-case words (at most 64 characters each), stopwords left out."""
    return list(dict.fromkeys(w[:64] for w in WORD_RE.findall(text.lower()) if w not in STOPWORDS))
