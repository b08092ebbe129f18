"""Frontmatter of docmgr documents: the contract's samples, timestamps, and round trips."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from metawsm.docs import (
    Document,
    Frontmatter,
    FrontmatterError,
    RelatedFile,
    parse_document,
    parse_frontmatter,
    render_document,
    render_frontmatter,
)
from metawsm.docs.frontmatter import format_timestamp, parse_timestamp

PST = timezone(timedelta(hours=-8))

# Contract §A.3: metawsm's ttmp/2026/02/07/METAWSM-002--first-bootstrap-flow/index.md.
CONTRACT_SAMPLE = """---
Title: First bootstrap flow
Ticket: METAWSM-002
Status: active
Topics:
    - core
    - cli
DocType: index
Intent: long-term
Owners: []
RelatedFiles:
    - Path: cmd/metawsm/main.go
      Note: CLI command surface to add bootstrap and guide commands
ExternalSources: []
Summary: Ticket to implement the minimum bootstrap operator flow ...
LastUpdated: 2026-02-07T07:26:37.343558-08:00
WhatFor: ""
WhenToUse: ""
---

# First bootstrap flow
"""

# The head of seed document 000 (an analysis doc written through docmgr).
SEED_SAMPLE = """---
Title: 'Analysis: repo/workspace/run information flow'
Ticket: CLARIFY_INFO_FLOW
Status: active
Topics:
    - core
    - cli
DocType: reference
Intent: long-term
Owners: []
RelatedFiles:
    - Path: internal/orchestrator/service.go
      Note: Run/doc-repo/workspace planning, context sync, guidance signal handling, and close gates
    - Path: internal/model/types.go
      Note: RunSpec and RunBrief fields that define current information boundaries
ExternalSources: []
Summary: "Current-state analysis of information ownership and flow between repo-scoped docmgr."
LastUpdated: 2026-02-08T06:28:17.900821-08:00
WhatFor: ""
WhenToUse: ""
---

# Analysis: repo/workspace/run information flow
"""


def test_the_contract_sample_parses_into_every_field() -> None:
    document = parse_document(CONTRACT_SAMPLE)
    assert document.frontmatter == Frontmatter(
        title="First bootstrap flow",
        ticket="METAWSM-002",
        status="active",
        topics=("core", "cli"),
        doc_type="index",
        intent="long-term",
        owners=(),
        related_files=(
            RelatedFile(
                "cmd/metawsm/main.go", "CLI command surface to add bootstrap and guide commands"
            ),
        ),
        external_sources=(),
        summary="Ticket to implement the minimum bootstrap operator flow ...",
        last_updated=datetime(2026, 2, 7, 7, 26, 37, 343558, tzinfo=PST),
        what_for="",
        when_to_use="",
    )
    assert document.body == "\n# First bootstrap flow\n"


def test_a_docmgr_written_file_is_rendered_back_byte_for_byte() -> None:
    assert render_document(parse_document(CONTRACT_SAMPLE)) == CONTRACT_SAMPLE


def test_the_seed_sample_parses_quoted_titles_and_summaries() -> None:
    fm = parse_document(SEED_SAMPLE).frontmatter
    assert fm.title == "Analysis: repo/workspace/run information flow"
    assert fm.ticket == "CLARIFY_INFO_FLOW"
    assert fm.doc_type == "reference"
    assert fm.summary.startswith("Current-state analysis")
    assert [r.path for r in fm.related_files] == [
        "internal/orchestrator/service.go",
        "internal/model/types.go",
    ]
    assert "'Analysis: repo/workspace/run information flow'" in render_frontmatter(fm)


def test_keys_docmgr_does_not_know_are_kept_after_the_known_ones() -> None:
    fm = parse_frontmatter("Title: T\nTicket: X-1\nDocType: index\nCustom:\n    - a\n")
    assert fm.extra == (("Custom", ["a"]),)
    assert render_frontmatter(fm).endswith('WhenToUse: ""\nCustom:\n    - a\n')


def test_legacy_related_files_forms_are_accepted() -> None:
    fm = parse_frontmatter("RelatedFiles:\n    - bare/path.go\n    - path: low.go\n      note: n\n")
    assert fm.related_files == (RelatedFile("bare/path.go"), RelatedFile("low.go", "n"))


def test_missing_required_fields_are_named() -> None:
    assert parse_frontmatter("Title: T\n").missing_required() == ("Ticket", "DocType")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Topics: core\n", "Topics must be a list"),
        ("Title:\n    - a\n", "Title must be a single value"),
        ("LastUpdated: yesterday\n", "not a timestamp"),
        ("Title: 'open\n", "while scanning a quoted scalar"),
    ],
)
def test_malformed_frontmatter_is_a_frontmatter_error(text: str, reason: str) -> None:
    with pytest.raises(FrontmatterError) as caught:
        parse_document(f"---\n{text}---\nbody\n", path="/d/index.md")
    assert reason in str(caught.value)
    assert str(caught.value).startswith("/d/index.md")


def test_a_document_without_delimiters_is_refused() -> None:
    with pytest.raises(FrontmatterError, match="delimiters"):
        parse_document("# Just markdown\n")


def test_the_block_ends_at_the_first_later_dashes_line_as_in_docmgr() -> None:
    document = parse_document("---\nTitle: T\n---\nbody\n---\nmore\n")
    assert document.frontmatter.title == "T"
    assert document.body == "body\n---\nmore\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-02-07T07:26:37.343558-08:00", datetime(2026, 2, 7, 7, 26, 37, 343558, PST)),
        ("2026-02-07T15:26:37.343558123Z", datetime(2026, 2, 7, 15, 26, 37, 343558, UTC)),
        ("2026-02-07 15:26:37", datetime(2026, 2, 7, 15, 26, 37, tzinfo=UTC)),
        ("2026-02-07", datetime(2026, 2, 7, tzinfo=UTC)),
        ("0001-01-01T00:00:00Z", None),
    ],
)
def test_timestamps_are_read_as_yaml_v3_reads_them(text: str, expected: datetime | None) -> None:
    assert parse_timestamp(text) == expected


def test_timestamps_are_written_as_go_rfc3339nano() -> None:
    assert format_timestamp(datetime(2026, 2, 7, 7, 26, 37, 343500, PST)) == (
        "2026-02-07T07:26:37.3435-08:00"
    )
    assert format_timestamp(datetime(2026, 2, 7, 15, 0, 0, tzinfo=UTC)) == "2026-02-07T15:00:00Z"
    assert format_timestamp(None) == "0001-01-01T00:00:00Z"
    with pytest.raises(ValueError, match="timezone"):
        format_timestamp(datetime(2026, 2, 7))


_texts = st.text(max_size=30)
_stamps = st.datetimes(
    min_value=datetime(1, 1, 2),
    max_value=datetime(9999, 12, 30),
    timezones=st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m))),
)
_frontmatter = st.builds(
    Frontmatter,
    title=_texts,
    ticket=_texts,
    status=_texts,
    topics=st.tuples(_texts, _texts),
    doc_type=_texts,
    intent=_texts,
    owners=st.lists(_texts, max_size=3).map(tuple),
    related_files=st.lists(st.builds(RelatedFile, _texts, _texts), max_size=3).map(tuple),
    external_sources=st.lists(_texts, max_size=2).map(tuple),
    summary=_texts,
    last_updated=st.none() | _stamps,
    what_for=_texts,
    when_to_use=_texts,
)


@given(_frontmatter, st.text(max_size=40))
def test_render_then_parse_gives_back_the_same_document(fm: Frontmatter, body: str) -> None:
    document = Document(fm, body)
    assert parse_document(render_document(document)) == document
