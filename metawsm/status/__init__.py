"""``metawsm status`` and ``metawsm runs``: the views (``--json``), how they are built, and text.

::

    store rows, supervisor memory ──build_status──▶ RunStatusView ──render_status_text──▶ text
    workspaces ──collect_diffs──▶ [WorkspaceDiffView] ──┘      └──── model_dump ────▶ JSON

Building is pure; only :func:`collect_diffs` touches a host, and a fast status can skip it.
"""

from metawsm.status.build import (
    DEFAULT_STALE_WARNING_SECONDS,
    AgentKey,
    LiveAgent,
    build_status,
    doc_warnings,
    next_commands,
    parse_spec,
    summarize,
)
from metawsm.status.diffs import collect_diffs, workspace_path
from metawsm.status.text import one_line, render_runs_text, render_status_text
from metawsm.status.times import format_duration
from metawsm.status.views import (
    MAX_DIFF_LINES,
    AgentView,
    DocsView,
    DocSyncView,
    GuidanceView,
    RepoDiffView,
    RunStatusView,
    RunSummary,
    StepCounts,
    StepView,
    WorkspaceDiffView,
)

__all__ = [
    "DEFAULT_STALE_WARNING_SECONDS",
    "MAX_DIFF_LINES",
    "AgentKey",
    "AgentView",
    "DocSyncView",
    "DocsView",
    "GuidanceView",
    "LiveAgent",
    "RepoDiffView",
    "RunStatusView",
    "RunSummary",
    "StepCounts",
    "StepView",
    "WorkspaceDiffView",
    "build_status",
    "collect_diffs",
    "doc_warnings",
    "format_duration",
    "next_commands",
    "one_line",
    "parse_spec",
    "render_runs_text",
    "render_status_text",
    "summarize",
    "workspace_path",
]
