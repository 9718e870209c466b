"""Tolerant JSON parsing of model output: what is recovered, and what is refused."""

from __future__ import annotations

import pytest

from mem0stack_server.llm.parse import JSONParseError, parse_json

EXPECTED = {"facts": [{"text": "Lives in Berlin"}]}


@pytest.mark.parametrize(
    "text",
    [
        '{"facts": [{"text": "Lives in Berlin"}]}',
        '```json\n{"facts": [{"text": "Lives in Berlin"}]}\n```',
        '```\n{"facts": [{"text": "Lives in Berlin"}]}\n```',
        'Sure! Here are the facts:\n{"facts": [{"text": "Lives in Berlin"}]}\nHope it helps.',
        '{"facts": [{"text": "Lives in Berlin"},],}',
        'Here you go:\n```json\n{"facts": [\n  {"text": "Lives in Berlin",},\n]}\n```\nDone.',
        '<think>The user said {something}; facts: [...]</think>\n{"facts": [{"text": '
        '"Lives in Berlin"}]}',
        'Note {not json} first, then {"facts": [{"text": "Lives in Berlin"}]}',
    ],
    ids=[
        "bare",
        "json-fence",
        "plain-fence",
        "prose-around",
        "trailing-commas",
        "fence-prose-commas",
        "think-block",
        "braces-in-prose",
    ],
)
def test_recovers_wrapped_json(text: str) -> None:
    assert parse_json(text) == EXPECTED


def test_braces_and_commas_inside_strings_are_kept() -> None:
    text = 'Result: {"facts": [{"text": "Uses {curly} braces, ] and ,}"}]} end'
    assert parse_json(text) == {"facts": [{"text": "Uses {curly} braces, ] and ,}"}]}


def test_a_top_level_list_is_accepted() -> None:
    assert parse_json('["Likes tea", "Lives in Rome",]') == ["Likes tea", "Lives in Rome"]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "I'm sorry, I cannot help with that.",
        '{"facts": [{"text": "Lives in Berlin"}',  # cut off at the token limit
        "{facts: [Lives in Berlin]}",
        '"just a string"',
        "42",
    ],
)
def test_refuses_what_is_not_json(text: str) -> None:
    with pytest.raises(JSONParseError):
        parse_json(text)
