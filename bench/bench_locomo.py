"""Retrieval quality on LoCoMo, in three forms: mem0-stack's defaults, its modes and
ablations, the plain baselines (dense, BM25, their fusion) and mem0, on the same machine.

- turns with runs: every turn of a conversation is one memory (``"{speaker}: {text}"``
  plus ``" [image: {caption}]"``) with its dia_id and speaker in metadata, its session as
  the run (``run_id = session_N``) and the session's date as event_time, stored in the
  order spoken, in one user per conversation;
- turns without runs: the same without run_id, as many applications store memories;
- observation facts: every ``[fact, dia_id]`` of ``session_N_observation`` (both speakers)
  is one memory carrying the dia_id(s) it came from, ``run_id = session_N`` and the
  session's date, stored in the order of those turns. A fact scores for the evidence
  dia_ids it names; several facts can name one turn, so the ranking systems are asked for
  20 results, whose dia_ids are de-duplicated before the cut at 10.

Every question of categories 1-4 is searched in its conversation's user (see
retrieval.py for the systems, the variants and the figures). mem0 (``infer=False``) gets
the same texts, metadata and scopes through its own API, with the same embeddings (see
embed_server.py), in every form: extracted facts are what mem0 itself stores.

    .venv/bin/python -m bench.bench_locomo [--data DIR] [--forms runs,no-runs,facts]
        [--limit-conversations N] [--no-mem0] [--variant NAME:KEY=VALUE,...] [--json PATH]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bench.common import CATEGORY_NAMES, LOCOMO, Conversation, load_locomo, machine, write_json
from bench.retrieval import (
    Doc,
    Form,
    Query,
    Scope,
    add_arguments,
    console,
    machine_line,
    measure,
    print_form,
)

#: --forms keys -> the forms' names.
FORMS = {"runs": "turns with runs", "no-runs": "turns without runs", "facts": "observation facts"}
FACTS_DEPTH = 20


def _turns(conv: Conversation, runs: bool) -> list[Doc]:
    return [
        Doc(
            t.text,
            (t.dia_id,),
            {"dia_id": t.dia_id, "speaker": t.speaker},
            run_id=f"session_{t.session}" if runs else "",
            event_time=t.event_time,
        )
        for t in conv.turns
    ]


def _facts(conv: Conversation) -> list[Doc]:
    return [
        Doc(
            f.text,
            f.dia_ids,
            {"dia_id": ", ".join(f.dia_ids), "speaker": f.speaker},
            run_id=f"session_{f.session}",
            event_time=f.event_time,
        )
        for f in conv.facts
    ]


def build(conversations: list[Conversation], key: str, mem0: bool) -> Form:
    """One form of the conversations (a FORMS key)."""
    scopes = [
        Scope(
            f"locomo-{conv.name}",
            _facts(conv) if key == "facts" else _turns(conv, runs=key == "runs"),
            [Query(q.question, CATEGORY_NAMES[q.category], q.evidence) for q in conv.questions],
        )
        for conv in conversations
    ]
    return Form(
        FORMS[key],
        scopes,
        {name: name for name in CATEGORY_NAMES.values()},
        depth=FACTS_DEPTH if key == "facts" else 10,
        mem0=mem0,
    )


def forms_arg(text: str) -> list[str]:
    keys = [k.strip() for k in text.split(",") if k.strip()]
    unknown = sorted(set(keys) - set(FORMS))
    if unknown or not keys:
        raise argparse.ArgumentTypeError(f"forms are {', '.join(FORMS)}; not {unknown}")
    return keys


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=LOCOMO, help="LoCoMo directory")
    parser.add_argument(
        "--forms", type=forms_arg, default=list(FORMS), help=f"of {','.join(FORMS)} (all)"
    )
    parser.add_argument("--limit-conversations", type=int, help="the first N conversations")
    parser.add_argument(
        "--mem0",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also measure mem0 in every form (default: yes)",
    )
    add_arguments(parser)
    args = parser.parse_args()

    conversations = load_locomo(args.data)[: args.limit_conversations]
    results: dict[str, Any] = {
        "machine": machine(),
        "data": str(args.data),
        "conversations": [c.name for c in conversations],
        "forms": {},
    }
    console.print(machine_line(results["machine"]))
    for key in args.forms:
        form = build(conversations, key, args.mem0)
        results["forms"][form.name] = measure(form, args.variant)
        print_form(f"LoCoMo, {form.name}", form, results["forms"][form.name])
        write_json(args.json, results)


if __name__ == "__main__":
    main()
