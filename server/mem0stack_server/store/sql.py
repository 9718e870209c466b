"""A small helper for writing parameterised SQL: placeholders numbered by the code.

asyncpg numbers its placeholders (``$1``, ``$2``, ...). Counting them by hand across a
statement assembled from parts (a caller's filter, optional conditions, a cursor) is how
off-by-one bugs and mismatched parameters happen, so every statement built from parts
collects its values in a :class:`Params`, which hands back the placeholder of each::

    params = Params()
    where = f"user_id = {params.add(user_id)} AND state = {params.add('ACTIVE')}"
    rows = await conn.fetch(f"SELECT ... WHERE {where}", *params)
"""

from __future__ import annotations

from collections.abc import Iterator


class Params:
    """The bind parameters of one statement, in placeholder order."""

    def __init__(self) -> None:
        self.values: list[object] = []

    def add(self, value: object) -> str:
        """Append ``value`` and return its placeholder (``$n``)."""
        self.values.append(value)
        return f"${len(self.values)}"

    def __iter__(self) -> Iterator[object]:
        return iter(self.values)

    def __len__(self) -> int:
        return len(self.values)
