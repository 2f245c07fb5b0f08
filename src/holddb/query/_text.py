"""Text search: tokens for text indexes, ``$search`` strings, and scores.

Tokens are the lower-cased words (Unicode letters and digits) of every
string a text-indexed field holds, with accents folded and common English
stop words dropped.  There is no stemming: "run" does not find "running".

A ``$search`` string is split into plain terms (a document matches if it
has any of them), quoted phrases (all must appear, case-insensitively) and
``-negated`` terms (none may appear).  The score of a document is the sum,
over its text fields, of ``weight * occurrences of the terms / (1 +
tokens in the field) * 2`` -- not MongoDB's exact formula, but ordered the
same way for the usual cases: more hits, in heavier and shorter fields,
score higher.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Iterator

from holddb.errors import MongoError
from holddb.query._paths import candidates
from holddb.query._values import MISSING

__all__ = ["TextQuery", "parse_search", "tokens", "field_strings", "score"]

_WORD = re.compile(r"\w+", re.UNICODE)
_STOP_WORDS = frozenset("""a about above after again against all am an and any are as at be
because been before being below between both but by can did do does doing down during each
few for from further had has have having he her here hers herself him himself his how i if in
into is it its itself just me more most my myself no nor not now of off on once only or other
our ours ourselves out over own same she should so some such than that the their theirs them
themselves then there these they this those through to too under until up very was we were
what when where which while who whom why will with you your yours yourself yourselves""".split())


def _fold(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text)
                   if not unicodedata.combining(c)).lower()


def tokens(text: str) -> list[str]:
    """Index tokens of ``text`` (in order, repeats kept)."""
    return [w for w in _WORD.findall(_fold(text)) if w not in _STOP_WORDS]


def field_strings(doc: dict, path: str) -> Iterator[str]:
    """Every string at ``path`` (through arrays), as text indexes see them."""
    for value in candidates(doc, path.split(".")):
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, str):
                yield item


@dataclass
class TextQuery:
    terms: list[str] = field(default_factory=list)
    phrases: list[str] = field(default_factory=list)
    negated: list[str] = field(default_factory=list)

    def lookup_terms(self) -> list[str]:
        """Tokens whose index entries hold every candidate document."""
        if self.terms:
            return self.terms
        return [t for phrase in self.phrases for t in tokens(phrase)][:1]


def parse_search(spec: Any) -> TextQuery:
    if not isinstance(spec, dict) or not isinstance(spec.get("$search"), str):
        raise MongoError(2, "$text needs an object with a string $search")
    unknown = set(spec) - {"$search", "$language", "$caseSensitive", "$diacriticSensitive"}
    if unknown:
        raise MongoError(2, f"extra fields in $text: {sorted(unknown)[0]}")
    text = spec["$search"]
    query = TextQuery()
    for phrase in re.findall(r'"([^"]*)"', text):
        if phrase.strip():
            query.phrases.append(_fold(phrase))
    rest = re.sub(r'"[^"]*"', " ", text)
    for word in rest.split():
        target = query.negated if word.startswith("-") else query.terms
        target.extend(tokens(word.lstrip("-")))
    query.terms = list(dict.fromkeys(query.terms))
    return query


def score(query: TextQuery, doc: dict, weights: dict[str, float]) -> float:
    """0 when ``doc`` does not match ``query``; else its relevance score."""
    texts = {path: list(field_strings(doc, path)) for path in weights}
    joined = _fold(" ".join(s for values in texts.values() for s in values))
    if any(phrase not in joined for phrase in query.phrases):
        return 0.0
    all_tokens = set(tokens(joined))
    if any(term in all_tokens for term in query.negated):
        return 0.0
    wanted = set(query.terms) or {t for p in query.phrases for t in tokens(p)}
    total = 0.0
    for path, values in texts.items():
        field_tokens = [t for s in values for t in tokens(s)]
        hits = sum(1 for t in field_tokens if t in wanted)
        if hits:
            total += weights[path] * hits / (1 + len(field_tokens)) * 2 + weights[path] * 0.5
    if query.terms and not total:
        return 0.0
    return total if total else (1.0 if query.phrases else 0.0)


def missing_to_none(value: Any) -> Any:
    return None if value is MISSING else value
