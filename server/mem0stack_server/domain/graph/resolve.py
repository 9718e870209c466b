"""Entity resolution: is a name the graph is given an entity the user already has?

In order: the same name after normalisation (case, spacing, surrounding punctuation) or a
known alias is the same entity; otherwise, among the user's entities whose name embedding
is close, one of a compatible type that is very close (``threshold``: "NYC" and "New
York"), or the only one whose name contains the new one or is contained in it
(``contain_score``: "Alice" and "Alice Smith", but not "Alice Smith" and "Alice Jones",
and not "Alice" when both of those exist).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

# Types that say nothing: they never keep two entities apart.
GENERIC_TYPES = frozenset({"", "thing", "entity", "other", "object", "concept", "unknown"})
_WORD = re.compile(r"\w+")


def normalize(name: str) -> str:
    """The form names are compared in: case-folded words joined by single spaces, so
    "Acme Inc." is "acme inc" (and a query's words can be looked up the same way)."""
    return " ".join(_WORD.findall(name.casefold()))


def words(name: str) -> frozenset[str]:
    return frozenset(_WORD.findall(name.casefold()))


def compatible(first: str, second: str) -> bool:
    return first == second or first in GENERIC_TYPES or second in GENERIC_TYPES


def contains(first: str, second: str) -> bool:
    """Whether the words of one name are all in the other (and they are not equal)."""
    a, b = words(first), words(second)
    return bool(a) and bool(b) and a != b and (a <= b or b <= a)


@dataclass(frozen=True)
class Candidate:
    """An existing entity close to the name being resolved; ``score`` is cosine similarity."""

    id: str
    name: str
    type: str
    aliases: tuple[str, ...]
    score: float
    is_user: bool = False


def choose(
    name: str,
    kind: str,
    candidates: Sequence[Candidate],
    *,
    threshold: float,
    contain_score: float,
) -> Candidate | None:
    """The entity ``name`` resolves to among ``candidates``, or None for a new entity."""
    usable = [c for c in candidates if not c.is_user and compatible(kind, c.type)]
    strong = [c for c in usable if c.score >= threshold]
    if strong:
        return max(strong, key=lambda c: c.score)
    # Against the entity's own (most complete) name only: "Alice Jones" must not join
    # "Alice Smith" through its alias "alice".
    containing = [c for c in usable if c.score >= contain_score and contains(name, c.name)]
    return containing[0] if len(containing) == 1 else None


def better_name(current: str, offered: str) -> str:
    """The more complete of two names of one entity ("Alice Smith" over "Alice")."""
    return offered if len(words(offered)) > len(words(current)) else current


def query_phrases(query: str, longest: int = 4) -> list[str]:
    """Every run of 1..``longest`` words of a query, normalised: the names it may contain."""
    tokens = _WORD.findall(query.casefold())
    phrases = {
        " ".join(tokens[i : i + n])
        for n in range(1, longest + 1)
        for i in range(len(tokens) - n + 1)
    }
    return sorted(phrases)


_FIRST_PERSON = frozenset({"i", "me", "my", "mine", "myself", "i'm", "im", "i've", "i'd"})


def mentions_user(query: str) -> bool:
    """Whether the query is about the user ("Where do I live?", "my sister")."""
    return any(w in _FIRST_PERSON for w in re.findall(r"[\w']+", query.casefold()))
