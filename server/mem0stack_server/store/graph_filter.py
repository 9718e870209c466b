"""AIP-160 filters of ListEntities and ListRelations, compiled to Cypher.

The syntax (and its parser) is the one of memory filters (``domain/filter.py``); the fields
are the graph's. Values always travel as parameters. Unknown fields and operators a field
does not support are errors, never ignored.

Entities (variable ``e``): ``display_name``, ``entity_type`` (text: ``=``, ``!=``, ``:``,
trailing ``*`` for a prefix), ``alias`` (``=``/``:``: has this alias, compared
normalised), ``is_user`` (``=``/``!=`` true or false), ``memory`` (``=``/``:``: mentioned
in this memory, by name), ``create_time``, ``update_time`` (every comparator, RFC 3339).

Relations (``r`` from ``s`` to ``t``): ``relation`` (text, compared in lower snake case),
``source``, ``target``, ``entity`` (``=``/``!=``: an entity name; ``entity`` is either
end), ``source_display_name``, ``target_display_name`` (text), ``state`` (``=``/``!=``
VALID or INVALID), ``memory`` (as for entities), ``create_time``, ``update_time``,
``valid_time``, ``invalid_time`` (every comparator; ``invalid_time:*`` means "is set").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mem0stack_server.domain import filter as aip160
from mem0stack_server.domain.errors import DomainError
from mem0stack_server.domain.graph import resolve
from mem0stack_server.domain.graph.model import normalize_relation
from mem0stack_server.domain.graph.names import parse_entity_name
from mem0stack_server.domain.names import parse_memory_name

_TEXT_OPS = {"=": "=", "!=": "<>", ":": "=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}

# field -> (kind, Cypher expression)
ENTITY_FIELDS: dict[str, tuple[str, str]] = {
    "display_name": ("text", "e.name"),
    "entity_type": ("text", "e.type"),
    "alias": ("alias", "e"),
    "is_user": ("bool", "e.is_user"),
    "memory": ("memory", "e.memory_ids"),
    "create_time": ("time", "e.create_time"),
    "update_time": ("time", "e.update_time"),
}
RELATION_FIELDS: dict[str, tuple[str, str]] = {
    "relation": ("relation", "r.relation"),
    "source": ("entity", "s.id"),
    "target": ("entity", "t.id"),
    "entity": ("either", ""),
    "source_display_name": ("text", "s.name"),
    "target_display_name": ("text", "t.name"),
    "state": ("state", "r.valid"),
    "memory": ("memory", "r.memory_ids"),
    "create_time": ("time", "r.create_time"),
    "update_time": ("time", "r.update_time"),
    "valid_time": ("time", "r.valid_time"),
    "invalid_time": ("time", "r.invalid_time"),
}


@dataclass
class CypherFilter:
    """A boolean Cypher expression, its parameters and the fields it names."""

    cypher: str
    params: dict[str, Any] = field(default_factory=dict)
    fields: frozenset[str] = frozenset()


def compile_filter(text: str, fields: dict[str, tuple[str, str]], user_id: str) -> CypherFilter:
    """Compile ``text`` over ``fields`` (ENTITY_FIELDS or RELATION_FIELDS)."""
    node = aip160.parse_filter(text)
    if node is None:
        return CypherFilter("true")
    compiler = _Compiler(fields, user_id)
    return CypherFilter(f"({compiler.compile(node)})", compiler.params, frozenset(compiler.seen))


class _Compiler:
    def __init__(self, fields: dict[str, tuple[str, str]], user_id: str) -> None:
        self.fields = fields
        self.user_id = user_id
        self.params: dict[str, Any] = {}
        self.seen: set[str] = set()

    def _param(self, value: Any) -> str:
        name = f"f{len(self.params)}"
        self.params[name] = value
        return f"${name}"

    def compile(self, node: aip160.Node) -> str:
        if isinstance(node, aip160.And):
            return " AND ".join(f"({self.compile(n)})" for n in node.operands)
        if isinstance(node, aip160.Or):
            return " OR ".join(f"({self.compile(n)})" for n in node.operands)
        if isinstance(node, aip160.Not):
            return f"NOT ({self.compile(node.operand)})"
        return self._comparison(node)

    def _unknown(self, node: aip160.Comparison, message: str) -> aip160.UnknownFilterFieldError:
        return aip160.UnknownFilterFieldError(message, node.position, node.field)

    def _comparison(self, node: aip160.Comparison) -> str:
        spec = self.fields.get(node.field)
        if spec is None or node.path:
            known = ", ".join(sorted(self.fields))
            raise self._unknown(node, f'unknown field "{node.field}"; filter on one of {known}')
        self.seen.add(node.field)
        kind, expr = spec
        value = node.value
        op = node.op
        if kind in ("text", "relation"):
            if op == ":" and value.is_star:
                return f"coalesce({expr}, '') <> ''"
            text = value.text
            if kind == "relation":
                text = normalize_relation(value.prefix if value.wildcard else text)
                if value.wildcard:
                    text += "*"
            if value.wildcard and op in ("=", "!=", ":"):
                prefix = self._param(text[:-1])
                test = f"{expr} STARTS WITH {prefix}"
                return f"NOT ({test})" if op == "!=" else test
            return f"{expr} {_TEXT_OPS[op]} {self._param(text)}"
        if kind == "time":
            if op == ":" and value.is_star:
                return f"{expr} IS NOT NULL"
            moment = aip160.parse_timestamp(node)
            return f"{expr} {_TEXT_OPS[op]} {self._param(moment)}"
        if op not in ("=", "!=", ":"):
            raise self._unknown(node, f'"{node.field}" supports only =, != and :')
        negate = op == "!="
        if kind == "bool":
            if not value.is_bool:
                raise aip160.FilterError(
                    f'"{node.field}" takes true or false, at position {value.position}',
                    value.position,
                )
            test = f"{expr} = {self._param(value.text.lower() == 'true')}"
        elif kind == "state":
            state = value.text.upper()
            if state not in ("VALID", "INVALID"):
                raise aip160.FilterError(
                    f'"state" is VALID or INVALID, at position {value.position}', value.position
                )
            test = f"{expr} = {self._param(state == 'VALID')}"
        elif kind == "alias":
            norm = self._param(resolve.normalize(value.text))
            test = f"EXISTS {{ MATCH (a:Alias)-[:ALIAS_OF]->({expr}) WHERE a.norm = {norm} }}"
        elif kind == "memory":
            test = f"{self._param(self._memory_id(node))} IN {expr}"
        elif kind == "entity":
            test = f"{expr} = {self._param(self._entity_id(node))}"
        else:  # either end
            entity = self._param(self._entity_id(node))
            test = f"(s.id = {entity} OR t.id = {entity})"
        return f"NOT ({test})" if negate else test

    def _memory_id(self, node: aip160.Comparison) -> str:
        try:
            name = parse_memory_name(node.value.text, "filter")
        except DomainError:
            raise aip160.FilterError(
                f'"{node.field}" takes a memory name users/{{user}}/memories/{{memory}}, at '
                f"position {node.value.position}",
                node.value.position,
            ) from None
        # Another user's memory matches nothing (and says nothing about it).
        return str(name.memory_id) if name.user_id == self.user_id else ""

    def _entity_id(self, node: aip160.Comparison) -> str:
        try:
            user_id, entity_id = parse_entity_name(node.value.text, "filter")
        except DomainError:
            raise aip160.FilterError(
                f'"{node.field}" takes an entity name users/{{user}}/entities/{{entity}}, at '
                f"position {node.value.position}",
                node.value.position,
            ) from None
        return entity_id if user_id == self.user_id else ""
