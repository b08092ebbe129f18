"""``metawsm status`` and ``metawsm runs``: the views (``--json``), how they are built, and text.

::

    store rows, supervisor memory ──build_status──▶ RunStatusView ──render_status_text──▶ text
    workspaces ──collect_diffs──▶ [WorkspaceDiffView] ──┘      └──── model_dump ────▶ JSON

Building is pure; only :func:`collect_diffs` touches a host, and a fast status can skip it.
"""

from metawsm.status.build import (
    DEFAULT_STALE_WARNING_SECONDS,
    SIGNAL_EVENT_TYPES,
    AgentKey,
    LiveAgent,
    build_status,
    doc_warnings,
    next_commands,
    parse_spec,
    summarize,
)
from metawsm.status.diffs import collect_diffs, workspace_path
from metawsm.status.text import (
    one_line,
    render_runs_text,
    render_status_text,
    render_statuses_text,
)
from metawsm.status.times import format_duration
from metawsm.status.views import (
    MAX_COMMIT_LINES,
    MAX_DIFF_LINES,
    AgentSignalsView,
    AgentView,
    BranchView,
    CommitView,
    DocsView,
    DocSyncView,
    FileStatView,
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
    "MAX_COMMIT_LINES",
    "MAX_DIFF_LINES",
    "SIGNAL_EVENT_TYPES",
    "AgentKey",
    "AgentSignalsView",
    "AgentView",
    "BranchView",
    "CommitView",
    "DocSyncView",
    "DocsView",
    "FileStatView",
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
    "render_statuses_text",
    "summarize",
    "workspace_path",
]
