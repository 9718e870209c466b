"""Retrieval quality on BEAM: one user talking to an assistant over many sessions (long
messages, code, plans, preferences that change, facts that get corrected).

The protocol of the data set's README: one chat is one user; every message, user and
assistant, is one memory ``"{role}: {content}"`` (the generator's ``->-> b,t`` tag
stripped, cut to 16,000 characters) with the message's role, its id in metadata
(``message_id``), the batch as the run (``run_id = batch_N``) and the batch's date as
event_time, stored in order. The questions of the nine categories with evidence
(abstention has none) are searched in their chat's user; their evidence is the message
ids of ``source_chat_ids`` (a list, a dict of lists, or nested lists).

Besides the figures of every retrieval benchmark (see retrieval.py), per system: how
often a knowledge-update question's updated fact ranks above the original one within the
top 10 ("update first"), and the share of questions whose first result is an assistant
message (most evidence is the user's). mem0 (``infer=False``) runs too unless
``--no-mem0``; it takes about 12 minutes on 2 cores, embedding every long message one
request at a time.

    .venv/bin/python -m bench.bench_beam [--data DIR] [--limit-chats N] [--no-mem0]
        [--variant NAME:KEY=VALUE,...] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import REPO, machine, write_json
from bench.retrieval import (
    CUT,
    Doc,
    Form,
    Query,
    Ranking,
    Scope,
    add_arguments,
    console,
    machine_line,
    mean,
    measure,
    print_form,
    top_ids,
)

BEAM = REPO.parent / "shared" / "data" / "beam"
#: The scorable categories (abstention has no evidence) -> column labels.
CATEGORIES = {
    "information_extraction": "extraction",
    "multi_session_reasoning": "multi-session",
    "knowledge_update": "update",
    "temporal_reasoning": "temporal",
    "event_ordering": "ordering",
    "contradiction_resolution": "contradiction",
    "instruction_following": "instruction",
    "preference_following": "preference",
    "summarization": "summary",
}
MAX_CHARS = 16_000
# The generator's "->-> batch,turn" tag ends user messages (and a few assistant ones);
# some are malformed ("->-> 2,N/A", "->-> 5,14)", "->-> 2,22, 24").
_TAG = re.compile(r"\s*->->[^\n]*\Z")


def _ids(value: Any) -> Iterator[str]:
    """Every message id of an evidence field: a list, a dict of lists, nested lists."""
    if isinstance(value, dict):
        for v in value.values():
            yield from _ids(v)
    elif isinstance(value, list):
        for v in value:
            yield from _ids(v)
    elif isinstance(value, int):
        yield str(value)


def _date(value: str | None) -> datetime | None:
    try:
        return datetime.strptime(value or "", "%B-%d-%Y").replace(tzinfo=UTC)
    except ValueError:
        return None


def load_chat(directory: Path) -> Scope:
    """One chat (``chats/100K/<N>``) as one user's memories and questions."""
    path = directory / "chat_trunecated.json"  # the data set's spelling; BEAM prefers it
    if not path.exists():
        path = directory / "chat.json"
    docs: list[Doc] = []
    for batch in json.loads(path.read_text()):
        messages = [m for turn in batch["turns"] for m in turn]
        when = _date(next((m["time_anchor"] for m in messages if m.get("time_anchor")), None))
        docs += [
            Doc(
                f"{m['role']}: {_TAG.sub('', m['content'])}"[:MAX_CHARS],
                (str(m["id"]),),
                {"message_id": m["id"]},
                run_id=f"batch_{batch['batch_number']}",
                role=m["role"],
                event_time=when,
            )
            for m in messages
        ]
    known = {i for d in docs for i in d.ids}
    probing = json.loads((directory / "probing_questions" / "probing_questions.json").read_text())
    queries: list[Query] = []
    for category in CATEGORIES:
        for q in probing.get(category, []):
            source = q.get("source_chat_ids")
            evidence = frozenset(_ids(source)) & known
            parts = {}
            if isinstance(source, dict):
                parts = {k: frozenset(_ids(v)) & known for k, v in source.items()}
            if evidence:  # one preference question lists none
                queries.append(Query(q["question"], category, evidence, parts))
    return Scope(f"beam-{directory.name}", docs, queries)


def _first(ids: list[str], wanted: frozenset[str]) -> int:
    return min((r for r, i in enumerate(ids) if i in wanted), default=CUT)


def extras(form: Form, ranking: Ranking) -> dict[str, float]:
    """The share of questions whose first result is an assistant message, and of
    knowledge-update questions whose updated fact ranks above the original one in the
    top 10 (an updated fact alone counts; neither does not)."""
    assistant_first: list[float] = []
    update_first: list[float] = []
    for scope, found in zip(form.scopes, ranking, strict=True):
        for q, docs in zip(scope.queries, found, strict=True):
            assistant_first.append(float(bool(docs) and scope.docs[docs[0]].role == "assistant"))
            if q.category == "knowledge_update":
                ids = top_ids(scope, docs)
                updated = _first(ids, q.parts.get("updated_info", frozenset()))
                original = _first(ids, q.parts.get("original_info", frozenset()))
                update_first.append(float(updated < original))
    return {"top1_assistant": mean(assistant_first), "update_first@10": mean(update_first)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=BEAM, help="BEAM directory (chats/100K/)")
    parser.add_argument("--limit-chats", type=int, help="the first N chats (by number)")
    parser.add_argument(
        "--mem0",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also measure mem0 (about 12 minutes; default: yes)",
    )
    add_arguments(parser)
    args = parser.parse_args()

    chats = sorted((args.data / "chats" / "100K").glob("[0-9]*"), key=lambda p: int(p.name))
    chats = chats[: args.limit_chats]
    if not chats:
        raise SystemExit(f"no BEAM chats in {args.data / 'chats' / '100K'}")
    form = Form(
        "messages",
        [load_chat(chat) for chat in chats],
        CATEGORIES,
        mem0=args.mem0,
        extras=extras,
        extra_columns={"top1_assistant": "top-1 assistant", "update_first@10": "update first"},
    )
    results: dict[str, Any] = {
        "machine": machine(),
        "data": str(args.data),
        "chats": [chat.name for chat in chats],
        "forms": {},
    }
    console.print(machine_line(results["machine"]))
    results["forms"][form.name] = measure(form, args.variant)
    print_form("BEAM (128K), every message a memory", form, results["forms"][form.name])
    write_json(args.json, results)


if __name__ == "__main__":
    main()
