"""The Docs section's federation health: endpoints of the run, and a stale index warned about."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from metawsm.docs.federation import Endpoint, EndpointSnapshot
from metawsm.status import RunStatusView, build_status, render_status_text
from metawsm.supervisor.docs_federation import DocsFederation, add_federation_health
from tests.status.sample import AGENTS, DOC_STATES, GUIDANCE, NOW, STEPS, run_record


def _federation() -> DocsFederation:
    eps = [
        Endpoint("ws:ws-a", "workspace", "http://127.0.0.1:1", "metawsm", "ws-a", managed=True),
        Endpoint("ws:other", "workspace", "http://127.0.0.1:2", "metawsm", "other"),
        Endpoint("repo", "repo", "http://127.0.0.1:3", "metawsm"),
    ]
    fed = DocsFederation(eps, interval=1.0, timeout=1.0, stale_after=900.0)
    now = datetime.now(UTC)
    old = (now - timedelta(hours=2)).isoformat()
    fed.snapshots = {
        "ws:ws-a": EndpointSnapshot(eps[0], True, now, indexed_at=old),
        "ws:other": EndpointSnapshot(eps[1], True, now, indexed_at=old),
        "repo": EndpointSnapshot(
            eps[2], False, now, error="workspace status for repo: http 500: x"
        ),
    }
    return fed


def test_status_shows_the_runs_endpoints_and_warns_about_a_stale_workspace_index() -> None:
    view = build_status(
        run_record(), STEPS, AGENTS, DOC_STATES, GUIDANCE, spec=None, now=NOW,
        supervisor_up=True, stale_warning_seconds=900,
    ).model_dump(mode="json")  # fmt: skip
    add_federation_health(view, _federation())
    endpoints = view["docs"]["endpoints"]
    # Only this run's workspace (ws-a) and the repo endpoint; not another run's workspace.
    assert [(e["name"], e["reachable"], e["stale"]) for e in endpoints] == [
        ("ws:ws-a", True, True),
        ("repo", False, False),
    ]
    stale = [w for w in view["docs"]["warnings"] if "ws:ws-a" in w]
    assert stale and stale[0].startswith("docs index of workspace endpoint ws:ws-a is stale")
    text = render_status_text(RunStatusView.model_validate(view))
    assert "  endpoint name=ws:ws-a kind=workspace workspace=ws-a indexed_at=" in text
    assert " stale\n" in text
    assert (
        "  endpoint name=repo kind=repo workspace=- unreachable "
        "error=workspace status for repo: http 500: x"
    ) in text
    assert "is stale (indexed_at" in text and "(warning-only)" in text


def test_a_fresh_index_gives_no_warning() -> None:
    fed = _federation()
    fresh = datetime.now(UTC).isoformat()
    snap = fed.snapshots["ws:ws-a"]
    fed.snapshots["ws:ws-a"] = EndpointSnapshot(snap.endpoint, True, snap.polled_at, fresh)
    view = build_status(
        run_record(), STEPS, AGENTS, DOC_STATES, GUIDANCE, spec=None, now=NOW,
        supervisor_up=True, stale_warning_seconds=900,
    ).model_dump(mode="json")  # fmt: skip
    add_federation_health(view, fed)
    assert not [w for w in view["docs"]["warnings"] if "endpoint" in w]
