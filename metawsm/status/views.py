"""The status of a run as data: what ``metawsm status --json`` prints and the text is made from.

Field names are a contract (scripts and the control socket read them): add fields, never
rename or remove one. Times are the store's UTC ISO-8601 strings (``...Z``) or ``None``; ages
are whole seconds or ``None`` when the time they count from is not known.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "MAX_COMMIT_LINES",
    "MAX_STAT_FILES",
    "AgentSignalsView",
    "AgentView",
    "BranchView",
    "CommitView",
    "DocEndpointView",
    "DocSyncView",
    "DocsView",
    "FileStatView",
    "GuidanceView",
    "RepoDiffView",
    "RunStatusView",
    "RunSummary",
    "StepCounts",
    "StepView",
    "WorkspaceDiffView",
]

#: At most this many ``git status`` lines per repo are kept (the original's limit).
MAX_DIFF_LINES = 8
#: At most this many commits (newest first) and diffstat files per repo are listed.
MAX_COMMIT_LINES = 20
MAX_STAT_FILES = 20


class _View(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class AgentSignalsView(_View):
    """What the agent's current generation has signalled (older generations do not count)."""

    guidance_pending: int = Field(0, description="Questions of this agent nobody answered yet.")
    complete: bool = Field(False, description="It signalled implementation-complete.")
    validation: str | None = Field(
        None, description="The status of its last validation result (passed, failed...)."
    )


class AgentView(_View):
    """One agent in one workspace."""

    name: str
    workspace: str
    session: str
    status: str
    health: str
    generation: int
    host: str
    restarts: int
    exit_status: int | None = None
    last_activity: str | None = None
    activity_age_seconds: int | None = None
    last_progress: str | None = None
    progress_age_seconds: int | None = None
    alive: bool | None = Field(
        None, description="Whether the pane is alive; None when no supervisor is watching."
    )
    signals: AgentSignalsView = Field(default_factory=AgentSignalsView)


class StepView(_View):
    """One step of the run's plan."""

    index: int
    name: str
    kind: str
    status: str
    ticket: str | None = None
    workspace: str | None = None
    agent: str | None = None
    error: str | None = None
    started_at: str | None = None
    finished_at: str | None = None


class StepCounts(_View):
    """How many steps are in each state; ``skipped`` counts as pending, as in the original."""

    total: int = 0
    done: int = 0
    running: int = 0
    pending: int = 0
    failed: int = 0


class DocSyncView(_View):
    """The ticket docs seeded into one workspace."""

    ticket: str
    workspace: str
    status: str
    revision: str | None = None
    updated_at: str | None = None
    error: str | None = None


class DocEndpointView(_View):
    """The health of one docs API endpoint the federation polls (``metawsm docs``)."""

    name: str
    kind: str
    workspace: str = ""
    reachable: bool = False
    indexed_at: str = ""
    stale: bool = False
    error: str = ""


class DocsView(_View):
    """Where the run's ticket docs live and how fresh the workspace copies are."""

    home_repo: str | None = None
    authority: str | None = None
    seed_mode: str | None = None
    freshness_revision: str | None = None
    sync: list[DocSyncView] = Field(default_factory=list)
    endpoints: list[DocEndpointView] = Field(
        default_factory=list, description="The docs federation's endpoints for this run."
    )
    warnings: list[str] = Field(default_factory=list)


class CommitView(_View):
    """One commit of the workspace branch."""

    sha: str = Field(description="The abbreviated commit id.")
    subject: str


class FileStatView(_View):
    """One file of a diffstat (binary files have no line counts)."""

    path: str
    insertions: int | None = None
    deletions: int | None = None


class BranchView(_View):
    """What the workspace branch holds that its base does not: the review material.

    ``commits`` are ``base..HEAD`` (newest first, at most ``MAX_COMMIT_LINES``; ``ahead`` counts
    them all); the diffstat is ``base...HEAD``, committed changes since the fork.
    """

    base: str
    ahead: int = 0
    commits: list[CommitView] = Field(default_factory=list)
    files: int = 0
    insertions: int = 0
    deletions: int = 0
    stat: list[FileStatView] = Field(
        default_factory=list, description=f"The first {MAX_STAT_FILES} files of the diffstat."
    )
    error: str | None = Field(None, description="The branch could not be compared.")


class RepoDiffView(_View):
    """One repo of a workspace: uncommitted changes (``git status``) and, when collected, what
    its branch holds beyond the base (``branch``)."""

    repo: str
    path: str
    clean: bool
    files: int = Field(0, description="Paths git status lists (changed, staged, untracked).")
    insertions: int | None = Field(None, description="Lines added since the base (if asked).")
    deletions: int | None = Field(None, description="Lines removed since the base (if asked).")
    lines: list[str] = Field(
        default_factory=list, description=f"The first {MAX_DIFF_LINES} git status lines."
    )
    error: str | None = Field(None, description="git status failed; the other facts are unset.")
    stat_error: str | None = Field(None, description="Only the line counts failed.")
    branch: BranchView | None = Field(
        None, description="Commits and diffstat against the base; None when not collected."
    )


class WorkspaceDiffView(_View):
    """The changes of every repo of one workspace."""

    workspace: str
    path: str | None = None
    repos: list[RepoDiffView] = Field(default_factory=list)
    error: str | None = None

    @property
    def dirty(self) -> bool:
        """Whether any repo has uncommitted changes."""
        return any(not repo.clean and repo.error is None for repo in self.repos)


class GuidanceView(_View):
    """A guidance question an agent is waiting on."""

    id: int
    agent: str
    workspace: str
    question: str
    status: str
    created_at: str | None = None
    generation: int = 0
    #: The forum thread the question is (answer either the request or the thread).
    thread_id: str | None = None


class ForumEscalationView(_View):
    """A thread that needs the operator now: urgent/high, or waiting past the SLA."""

    thread_id: str
    title: str
    priority: str
    state: str
    age_seconds: int


class ForumThreadLine(_View):
    """A thread of the run, as the status's ``Forum:`` block lists it."""

    thread_id: str
    state: str
    priority: str
    assignee_type: str
    assignee_name: str
    posts_count: int
    updated_at: str
    title: str


class ForumStatusView(_View):
    """The run's forum: counts by state, escalations, the first threads."""

    total: int = 0
    counts: dict[str, int] = Field(default_factory=dict)
    escalations: list[ForumEscalationView] = Field(default_factory=list)
    threads: list[ForumThreadLine] = Field(default_factory=list)
    #: The Redis export's lag in events (None: export off).
    export_lag: int | None = None


class PolicyView(_View):
    """The policy a run started with: which file, and when (``runs.policy_json`` holds it)."""

    path: str | None = None
    read_at: str | None = None
    modified_at: str | None = Field(
        None, description="The file's modification time when read; None: no file, defaults."
    )


class RunStatusView(_View):
    """Everything ``metawsm status`` says about one run."""

    run_id: str
    status: str
    mode: str | None = None
    tickets: list[str] = Field(default_factory=list)
    supervisor: Literal["up", "down"]
    created_at: str | None = None
    updated_at: str | None = None
    generated_at: str
    docs: DocsView = Field(default_factory=DocsView)
    policy: PolicyView = Field(default_factory=PolicyView)
    steps: list[StepView] = Field(default_factory=list)
    step_counts: StepCounts = Field(default_factory=StepCounts)
    agents: list[AgentView] = Field(default_factory=list)
    diffs: list[WorkspaceDiffView] | None = Field(
        None, description="None when diffs were not collected (a fast status)."
    )
    guidance: list[GuidanceView] = Field(default_factory=list)
    forum: ForumStatusView | None = Field(None, description="None when the run has no threads.")
    next: list[str] = Field(default_factory=list)
    last_message: str | None = None


class RunSummary(_View):
    """One line of ``metawsm runs``."""

    run_id: str
    status: str
    mode: str | None = None
    tickets: list[str] = Field(default_factory=list)
    created_at: str | None = None
    updated_at: str | None = None
    agents: int = 0
    last_message: str | None = None
