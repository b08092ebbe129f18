"""Names: the original's token rules reproduced exactly, run ids, and runtime name validation."""

from __future__ import annotations

import string
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from metawsm.errors import UsageError
from metawsm.naming import (
    NAME_MAX,
    TICKET_MAX,
    generate_run_id,
    normalize_tokens,
    render_git_branch,
    render_session_name,
    sanitize_token,
    validate_name,
    workspace_name_for,
)


@pytest.mark.parametrize(
    ("raw", "token"),
    [
        ("agent", "agent"),
        ("METAWSM-003", "metawsm-003"),
        ("Agent One", "agent-one"),
        ("a/b\\c:d,e.f@g#h[i]j{k}l(m)n", "a-b-c-d-e-f-g-h-i-j-k-l-m-n"),
        ("  padded  ", "padded"),
        ("a -- b", "a-b"),
        ("--edge--", "edge"),
        ("(((", "x"),
        ("", "x"),
        ("   ", "x"),
        ("x\ty", "x\ty"),  # only space is replaced; inner tabs stay, as in the Go original
        ("Ünïcode", "ünïcode"),
        ("under_score", "under_score"),
    ],
)
def test_sanitize_token_follows_the_original(raw: str, token: str) -> None:
    assert sanitize_token(raw) == token


def test_session_name_of_the_originals_example() -> None:
    assert (
        render_session_name("{agent}-{workspace}", "agent", "metawsm-003-20260207-084728")
        == "agent-metawsm-003-20260207-084728"
    )


@pytest.mark.parametrize(
    ("pattern", "agent", "workspace", "name"),
    [
        ("{agent}-{workspace}", "Coder One", "WS.1", "coder-one-ws-1"),
        ("{agent}.{workspace}", "a", "w", "a.w"),  # the pattern itself is not sanitized
        ("fixed", "a", "w", "fixed"),
        ("", "Coder", "WS.1", "coder-ws-1"),
        ("   ", "a", "w", "a-w"),
    ],
)
def test_session_name_substitutes_sanitized_tokens(
    pattern: str, agent: str, workspace: str, name: str
) -> None:
    assert render_session_name(pattern, agent, workspace) == name


@pytest.mark.parametrize(
    ("template", "branch"),
    [
        ("{ticket}/{repo}/{run}", "metawsm-003/api/run-20260207-084728"),
        ("", "metawsm-003/api/run-20260207-084728"),
        ("feature//{ticket}/", "feature/metawsm-003"),
        ("Team Branch/{ticket}-{repo}", "team-branch/metawsm-003-api"),
        ("///", "metawsm-003/api/run-20260207-084728"),
    ],
)
def test_git_branch_is_rendered_segment_by_segment(template: str, branch: str) -> None:
    assert render_git_branch(template, "METAWSM-003", "api", "run-20260207-084728") == branch


def test_run_id_is_utc_to_the_second() -> None:
    assert generate_run_id(datetime(2026, 2, 7, 8, 47, 28, 999, tzinfo=UTC)) == (
        "run-20260207-084728"
    )


def test_run_id_converts_other_time_zones_and_takes_naive_times_as_utc() -> None:
    paris = timezone(timedelta(hours=1))
    assert generate_run_id(datetime(2026, 2, 7, 9, 47, 28, tzinfo=paris)) == "run-20260207-084728"
    assert generate_run_id(datetime(2026, 2, 7, 8, 47, 28)) == "run-20260207-084728"


def test_run_id_retries_within_one_second_get_distinct_ids_and_workspaces() -> None:
    now = datetime(2026, 2, 7, 8, 47, 28, tzinfo=UTC)
    ids = [generate_run_id(now, attempt=n) for n in (1, 2, 3)]
    assert ids == ["run-20260207-084728", "run-20260207-084728-2", "run-20260207-084728-3"]
    assert len({workspace_name_for("T-1", run_id) for run_id in ids}) == 3
    with pytest.raises(ValueError, match="attempt"):
        generate_run_id(now, attempt=0)


@pytest.mark.parametrize(
    ("ticket", "run_id", "name"),
    [
        ("METAWSM-003", "run-20260207-084728", "metawsm-003-20260207-084728"),
        ("METAWSM-002", "run-20260211-055854", "metawsm-002-20260211-055854"),
        ("T-1", "run-20261202-075157", "t-1-20261202-075157"),
        ("  Team/T 1 ", "run-short", "team-t-1-short"),
        ("T.1", "RUN-A:B/C D", "t.1-a-b-c-d"),  # only '/' and space are replaced in the prefix
        ("t", "run-", "t-x"),
        ("t", "run-20260207-084728-2", "t-20260207-084728-2"),
        ("t", "run-20260207-084728-99", "t-20260207-084728-99"),
        ("t", "a-very-long-custom-run-identifier", "t-tom-run-identifier"),
        ("t", "--odd--run--", "t-odd-run"),
    ],
)
def test_workspace_name_keeps_the_whole_timestamp_of_the_run(
    ticket: str, run_id: str, name: str
) -> None:
    assert workspace_name_for(ticket, run_id) == name


@pytest.mark.parametrize(
    "name", ["a", "A1", "metawsm-003", "api.v2", "x_y", "9lives", "a" * 64, "a..b"]
)
def test_validate_name_accepts_safe_names(name: str) -> None:
    assert validate_name("repo", name) == name


@pytest.mark.parametrize(
    "name",
    ["", "../x", "..", ".hidden", "-x", "_x", "a b", "a/b", "a\\b", "ünï", "a" * 65, "x\n", "a:b"],
)
def test_validate_name_rejects_unsafe_names(name: str) -> None:
    with pytest.raises(UsageError):
        validate_name("workspace", name)


def test_validate_name_says_what_is_allowed() -> None:
    with pytest.raises(UsageError) as caught:
        validate_name("ticket", "../x")
    assert caught.value.message == (
        "invalid ticket name \"../x\": use letters, digits, '.', '_' or '-' "
        "(at most 64 characters, not starting with '.' or '-')"
    )
    assert caught.value.exit_code == 2


def test_normalize_tokens_splits_trims_and_dedupes_in_order() -> None:
    assert normalize_tokens(["api,web", " web ", "", "docs , api", " , "]) == [
        "api",
        "web",
        "docs",
    ]
    assert normalize_tokens([]) == []


def test_a_ticket_longer_than_its_workspace_allows_is_refused_with_the_reason() -> None:
    assert validate_name("ticket", "t" * TICKET_MAX) == "t" * TICKET_MAX
    with pytest.raises(UsageError) as caught:
        validate_name("ticket", "t" * (TICKET_MAX + 1))
    assert f"at most {TICKET_MAX} characters" in caught.value.message
    assert caught.value.hint is not None and "workspace" in caught.value.hint
    # Other kinds keep the general limit.
    assert validate_name("repo", "r" * NAME_MAX) == "r" * NAME_MAX


_NAME_CHARS = string.ascii_letters + string.digits + "._-"


@given(
    ticket=st.text(_NAME_CHARS, min_size=0, max_size=80).map(lambda s: "T" + s),
    run_id=st.one_of(
        st.text(_NAME_CHARS, min_size=0, max_size=70).map(lambda s: "r" + s),
        st.builds(
            lambda moment, attempt: generate_run_id(moment, attempt=attempt),
            st.datetimes(),
            st.integers(min_value=1, max_value=150),
        ),
    ),
)
def test_a_ticket_the_name_check_accepts_never_fails_as_a_workspace_name(
    ticket: str, run_id: str
) -> None:
    try:
        validate_name("ticket", ticket)
        validate_name("run id", run_id)
    except UsageError:
        return
    workspace = workspace_name_for(ticket, run_id)
    assert validate_name("workspace", workspace) == workspace
