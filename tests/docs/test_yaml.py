"""docmgr's YAML through ruamel.yaml, as frontmatter and ``.ttmp.yaml`` use it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from metawsm.docs import _yaml


def test_block_lists_under_keys_are_read_with_or_without_indentation() -> None:
    assert _yaml.load("Topics:\n    - core\n    - cli\nOwners:\n- a\n- b\nX: y\n") == {
        "Topics": ["core", "cli"],
        "Owners": ["a", "b"],
        "X": "y",
    }


def test_mappings_inside_list_items_are_read() -> None:
    text = (
        "RelatedFiles:\n"
        "    - Path: cmd/metawsm/main.go\n"
        "      Note: CLI command surface\n"
        "    - Path: internal/x.go\n"
    )
    assert _yaml.load(text) == {
        "RelatedFiles": [
            {"Path": "cmd/metawsm/main.go", "Note": "CLI command surface"},
            {"Path": "internal/x.go"},
        ]
    }


def test_nested_mappings_are_read() -> None:
    text = "root: ttmp\ndefaults:\n    owners: []\n    intent: long-term\nvocabulary: v.yaml\n"
    assert _yaml.load(text) == {
        "root": "ttmp",
        "defaults": {"owners": [], "intent": "long-term"},
        "vocabulary": "v.yaml",
    }


def test_flow_lists_take_plain_and_quoted_items() -> None:
    assert _yaml.load("A: [a, 'b, c', \"d\\te\", ]\nB: []\n") == {
        "A": ["a", "b, c", "d\te"],
        "B": [],
    }


def test_quoted_scalars_unescape_and_fold_like_yaml() -> None:
    text = "A: 'it''s: here'\nB: \"tab\\there \\u00e9\"\nC: 'one\n    two\n\n    three'\n"
    assert _yaml.load(text) == {"A": "it's: here", "B": "tab\there é", "C": "one two\nthree"}


def test_block_scalars_follow_their_chomping_indicator() -> None:
    text = "A: >\n  folded\n  text\n\n  para\nB: |-\n    line 1\n    line 2\nC: |\n  kept\n"
    assert _yaml.load(text) == {"A": "folded text\npara\n", "B": "line 1\nline 2", "C": "kept\n"}


def test_null_forms_read_as_none() -> None:
    assert _yaml.load("A:\nB: ~\nC: null\nD: ''\n") == {"A": None, "B": None, "C": None, "D": ""}


def test_comments_are_ignored() -> None:
    text = "# header\nA:\n    - item # trailing\nB: 'q' # after quote\n  # indented\nC: x#y\n"
    assert _yaml.load(text) == {"A": ["item"], "B": "q", "C": "x#y"}


def test_a_hash_after_a_top_level_value_is_text_as_docmgr_reads_it() -> None:
    # PreprocessYAML quotes a value containing " #" before YAML sees it (contract §A.3).
    assert _yaml.load("Title: Fix #12 now\n") == {"Title": "Fix #12 now"}


def test_risky_plain_values_are_literal_as_docmgr_preprocesses_them() -> None:
    # docmgr's PreprocessYAML single-quotes these before parsing (contract §A.3).
    text = "Title: Fix #12: the parser\nSummary: ends with colon:\nWhatFor: see {{TEMPLATE}}\n"
    assert _yaml.load(text) == {
        "Title": "Fix #12: the parser",
        "Summary": "ends with colon:",
        "WhatFor": "see {{TEMPLATE}}",
    }


def test_yaml_indicators_at_the_start_of_a_value_are_literal_as_docmgr_reads_them() -> None:
    assert _yaml.load("A: &anchor x\nB: !tag y\nC: *alias\n") == {
        "A": "&anchor x",
        "B": "!tag y",
        "C": "*alias",
    }


def test_plain_scalars_stay_strings_whatever_they_look_like() -> None:
    text = "A: 123\nB: true\nC: 2026-02-07T07:26:37.343558-08:00\nD: 0x1f\nE: {b: c}\n"
    assert _yaml.load(text) == {
        "A": "123",
        "B": "true",
        "C": "2026-02-07T07:26:37.343558-08:00",
        "D": "0x1f",
        "E": {"b": "c"},
    }


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ("A: b\nA: c\n", "found duplicate key", 2),
        ("A: 'open\n", "while scanning a quoted scalar", 2),
        ("A:\n    - x\n  B: y\n", "expected <block end>", 3),
        ("A: [a, b\n", "while parsing a flow sequence", 2),
    ],
)
def test_what_is_not_yaml_is_refused_with_a_line_number(text: str, message: str, line: int) -> None:
    with pytest.raises(_yaml.YamlError) as caught:
        _yaml.load(text)
    assert message in caught.value.message
    assert caught.value.line == line


@pytest.mark.parametrize(
    ("value", "rendered"),
    [
        ("plain words", "plain words"),
        ("", '""'),
        ("Analysis: repo/workspace", "'Analysis: repo/workspace'"),
        ("it's", "it's"),
        ("- dash", "'- dash'"),
        ("#hash", "'#hash'"),
        ("true", '"true"'),
        ("123", '"123"'),
        ("2026-02-07", '"2026-02-07"'),
        ("two\nlines", '"two\\nlines"'),
        (" padded", "' padded'"),
        ("{{x}}", "'{{x}}'"),
    ],
)
def test_scalars_are_written_as_yaml_v3_would(value: str, rendered: str) -> None:
    assert _yaml.dump_mapping({"K": value}) == f"K: {rendered}\n"


def test_mappings_are_written_with_a_four_space_indent() -> None:
    node: dict[str, _yaml.Node] = {
        "Topics": ["core", "cli"],
        "Owners": [],
        "RelatedFiles": [{"Path": "a.go", "Note": "why"}],
        "defaults": {"intent": "long-term"},
    }
    assert _yaml.dump_mapping(node) == (
        "Topics:\n    - core\n    - cli\nOwners: []\n"
        "RelatedFiles:\n    - Path: a.go\n      Note: why\n"
        "defaults:\n    intent: long-term\n"
    )


@given(st.text())
def test_any_string_survives_a_write_and_read(value: str) -> None:
    node: dict[str, _yaml.Node] = {"K": value, "L": [value], "M": [{"Path": value, "Note": value}]}
    assert _yaml.load(_yaml.dump_mapping(node)) == node


def test_an_update_keeps_order_quoting_comments_and_unknown_keys() -> None:
    text = (
        "Title: 'quoted title'\n"
        "Ticket: T-1\n"
        "# why this ticket exists\n"
        "Status: active\n"
        "Topics:\n"
        "    - core # the main one\n"
        'Custom: "kept"\n'
        "LastUpdated: 2026-02-07T07:26:37.343558-08:00\n"
    )
    updated = _yaml.update_mapping(
        text, {"Status": "complete", "LastUpdated": _yaml.Timestamp("2026-12-02T10:00:00Z")}
    )
    assert updated == (
        "Title: 'quoted title'\n"
        "Ticket: T-1\n"
        "# why this ticket exists\n"
        "Status: complete\n"
        "Topics:\n"
        "    - core # the main one\n"
        'Custom: "kept"\n'
        "LastUpdated: 2026-12-02T10:00:00Z\n"
    )


def test_an_update_keeps_the_quoting_of_the_value_it_replaces() -> None:
    assert _yaml.update_mapping("S: 'active'\n", {"S": "complete"}) == "S: 'complete'\n"


def test_an_update_adds_a_missing_key_at_the_end() -> None:
    assert _yaml.update_mapping("A: x\n", {"B": ["y"]}) == "A: x\nB:\n    - y\n"
