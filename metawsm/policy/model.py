"""The pydantic model of ``.metawsm/policy.json``: every key, its default, its single-key rules.

:mod:`metawsm.policy` is the public face (loading, merging, cross-key rules, names); this module
only describes the shape. Keys and defaults are those of the original Go ``internal/policy``
(forum era), in the original's order so a written default file reads the same; the keys this
design adds come after them in each section.

Rules that look at a single key live here, next to the key, and raise the original's exact
message (``version must be positive``). Rules that compare keys (``activity_stalled_seconds must
be >= idle_seconds``, profile references, duplicate names) live in :mod:`metawsm.policy`, because
pydantic runs model-level validators only when every field is valid, and we want every error of a
file at once.

The models are strict (a string is never an integer) and forbid unknown keys: a misspelt key is an
error, where the original silently ignored it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
)
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue, NoDefault
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

RULE_ERROR_TYPE = "policy_rule"
"""The pydantic error type of a broken single-key rule; its message is the original's text."""

SUPPORTED_CHECKS = ("tests", "forbidden_files", "clean_tree")
"""Checks ``git_pr.required_checks`` may name (the forum-era set of the original)."""

RUNNERS = ("shell", "codex", "claude", "scripted")
"""Runners an agent profile may use (compared trimmed and case-insensitively, as the original)."""


def quote(value: str) -> str:
    """Quote ``value`` the way Go's ``%q`` does for the texts a policy holds."""
    return json.dumps(value, ensure_ascii=False)


def _rule_error(message: str) -> PydanticCustomError:
    # The message goes through the context so braces in it are never read as a template.
    return PydanticCustomError(RULE_ERROR_TYPE, "{message}", {"message": message})


@dataclass(frozen=True)
class _Check:
    """Annotation: run ``problem(value)`` after type validation; a returned text is the error."""

    problem: Callable[[Any], str | None]
    schema: dict[str, Any] = field(default_factory=dict)

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        def check(value: Any) -> Any:
            message = self.problem(value)
            if message is not None:
                raise _rule_error(message)
            return value

        return core_schema.no_info_after_validator_function(check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        result = handler(schema)
        result.update(self.schema)
        return result


@dataclass(frozen=True)
class _Choice:
    """Annotation: normalise a string the way the original compared it, then check the choices.

    ``fold`` lower-cases and trims (the original's ``TrimSpace(ToLower(x))``), ``trim`` only trims.
    The normalised value is what the model keeps, so consumers compare plain literals.
    """

    choices: tuple[str, ...]
    message: str
    fold: bool = False
    trim: bool = False
    empty_message: str | None = None

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        def normalise(value: Any) -> Any:
            if not isinstance(value, str):
                return value  # the literal validator reports the wrong type
            text = value.strip().lower() if self.fold else value.strip() if self.trim else value
            if self.empty_message is not None and not text.strip():
                raise _rule_error(self.empty_message)
            if text not in self.choices:
                raise _rule_error(self.message)
            return text

        return core_schema.no_info_before_validator_function(normalise, handler(source))


def _gt0(message: str) -> _Check:
    return _Check(lambda v: None if v > 0 else message, {"exclusiveMinimum": 0})


def _ge0(message: str) -> _Check:
    return _Check(lambda v: None if v >= 0 else message, {"minimum": 0})


def _finite_gt0(message: str) -> _Check:
    return _Check(
        lambda v: None if math.isfinite(v) and v > 0 else message, {"exclusiveMinimum": 0}
    )


def _filled(message: str) -> _Check:
    return _Check(lambda v: None if v.strip() else message, {"pattern": r"\S"})


def _true(message: str) -> _Check:
    return _Check(lambda v: None if v else message, {"const": True})


def _null_as_empty_list(value: Any) -> Any:
    # Go wrote nil slices as `null` (policy-init output); read them back as empty lists.
    return [] if value is None else value


def _null_as_empty_dict(value: Any) -> Any:
    return {} if value is None else value


def _required_check_problem(value: str) -> str | None:
    check = value.strip().lower()
    if not check:
        return "git_pr.required_checks cannot contain empty values"
    if check not in SUPPORTED_CHECKS:
        return f"git_pr.required_checks contains unsupported check {quote(check)}"
    return None


def _normalise_check(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


_Lenient = BeforeValidator(_null_as_empty_list)
_LenientDict = BeforeValidator(_null_as_empty_dict)


class PolicySchemaGenerator(GenerateJsonSchema):
    """JSON Schema generation that shows every default and leaves out per-field titles."""

    def get_default_value(self, schema: core_schema.WithDefaultSchema) -> Any:
        # pydantic omits defaults made by a factory; a policy schema should show them all.
        factory = schema.get("default_factory")
        if factory is not None and not schema.get("default_factory_takes_data"):
            return factory()  # type: ignore[call-arg]
        return schema.get("default", NoDefault)

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


class _Section(BaseModel):
    """Shared configuration of every policy object."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


# ---------------------------------------------------------------------------------- workspace


class WorkspacePolicy(_Section):
    """``workspace``: how workspaces are provisioned."""

    default_strategy: Annotated[
        Literal["create", "fork", "reuse"],
        _Choice(
            ("create", "fork", "reuse"), "workspace.default_strategy must be create|fork|reuse"
        ),
    ] = Field("create", description="How `run` gets a workspace: create, fork or reuse.")
    branch_prefix: str = Field("task", description="Branch of a workspace: `<prefix>/<workspace>`.")
    base_branch: Annotated[str, _filled("workspace.base_branch cannot be empty")] = Field(
        "main", description="Branch new workspace branches are cut from."
    )
    provider: Annotated[
        Literal["git", "wsm"], _Choice(("git", "wsm"), "workspace.provider must be git|wsm")
    ] = Field("git", description="`git`: built-in git worktrees; `wsm`: the wsm CLI.")
    root: Annotated[str, _filled("workspace.root cannot be empty")] = Field(
        ".metawsm/workspaces",
        description="Workspaces folder, relative to the metawsm root (parent of .metawsm/).",
    )
    repos: Annotated[dict[str, str], _LenientDict] = Field(
        default_factory=dict,
        description="Repo name -> path of its clone (relative to the metawsm root), for `git`.",
    )


# --------------------------------------------------------------------------------------- docs


class DocAPIEndpoint(_Section):
    """One docmgr HTTP API the docs federation reads."""

    name: str = Field("", description="Unique name across both endpoint lists.")
    base_url: str = Field("", description="http(s) URL of the API.")
    web_url: str = Field("", description="Optional http(s) URL of the web UI.")
    repo: str = Field("", description="Repository the endpoint serves.")
    workspace: str = Field("", description="Workspace the endpoint serves (workspace endpoints).")


class DocsAPIPolicy(_Section):
    """``docs.api``: docmgr HTTP APIs to federate."""

    workspace_endpoints: Annotated[list[DocAPIEndpoint], _Lenient] = Field(
        default_factory=list,
        description="Endpoints of workspaces (the original wrote null; null reads as []).",
    )
    repo_endpoints: Annotated[list[DocAPIEndpoint], _Lenient] = Field(
        default_factory=list,
        description="Endpoints of repositories (the original wrote null; null reads as []).",
    )
    request_timeout_seconds: Annotated[
        int, _gt0("docs.api.request_timeout_seconds must be > 0")
    ] = Field(3, description="Timeout of one docs API request.")
    poll_interval_seconds: Annotated[int, _gt0("docs.api.poll_interval_seconds must be > 0")] = (
        Field(15, description="How often the supervisor polls every docs API endpoint.")
    )
    serve_workspaces: Annotated[
        Literal["auto", "on", "off"],
        _Choice(
            ("auto", "on", "off"),
            "docs.api.serve_workspaces must be auto|on|off",
            trim=True,
            empty_message="docs.api.serve_workspaces cannot be empty",
        ),
    ] = Field(
        "auto",
        description=(
            "Run a `docmgr api serve` per active workspace: `auto` when docmgr is installed, "
            "`on` always (a missing docmgr shows in the endpoint's health), `off` never."
        ),
    )


class DocsPolicy(_Section):
    """``docs``: ticket documents and where they live."""

    authority_mode: Annotated[
        Literal["workspace_active"],
        _Choice(
            ("workspace_active",),
            'docs.authority_mode must be "workspace_active"',
            trim=True,
            empty_message="docs.authority_mode cannot be empty",
        ),
    ] = Field("workspace_active", description="Which copy of the docs is authoritative.")
    seed_mode: Annotated[
        Literal["none", "copy_from_repo_on_start"],
        _Choice(
            ("none", "copy_from_repo_on_start"),
            "docs.seed_mode must be none|copy_from_repo_on_start",
            trim=True,
            empty_message="docs.seed_mode cannot be empty",
        ),
    ] = Field("copy_from_repo_on_start", description="Seed ticket docs into the doc-home repo?")
    stale_warning_seconds: Annotated[int, _gt0("docs.stale_warning_seconds must be > 0")] = Field(
        900, description="Age after which docs are reported stale."
    )
    api: DocsAPIPolicy = Field(default_factory=DocsAPIPolicy, description="docmgr HTTP APIs.")
    provider: Annotated[
        Literal["native", "docmgr"],
        _Choice(("native", "docmgr"), "docs.provider must be native|docmgr"),
    ] = Field("native", description="`native`: built-in docmgr layout; `docmgr`: the docmgr CLI.")
    root: Annotated[str, _filled("docs.root cannot be empty")] = Field(
        "ttmp", description="Ticket docs root, relative to the metawsm root."
    )


# --------------------------------------------------------------------- tmux, execution, health


class TmuxPolicy(_Section):
    """``tmux``: sessions agents run in."""

    session_pattern: Annotated[str, _filled("tmux.session_pattern cannot be empty")] = Field(
        "{agent}-{workspace}", description="Session name; `{agent}` and `{workspace}` substituted."
    )
    socket: str = Field(
        "",
        description='"": the default tmux server; a name: `-L name`; a path (has "/"): `-S path`.',
    )

    def server_args(self) -> list[str]:
        """The tmux arguments that select the server: ``[]``, ``["-L", n]`` or ``["-S", p]``."""
        if not self.socket:
            return []
        return ["-S", self.socket] if "/" in self.socket else ["-L", self.socket]


class ExecutionPolicy(_Section):
    """``execution``: plan step execution."""

    step_retries: Annotated[int, _ge0("execution.step_retries must be >= 0")] = Field(
        1, description="Retries of a failed plan step."
    )


_HEALTH = "health thresholds must be > 0"


class HealthPolicy(_Section):
    """``health``: thresholds of agent health."""

    idle_seconds: Annotated[int, _gt0(_HEALTH)] = Field(
        300, description="No activity for this long: idle."
    )
    activity_stalled_seconds: Annotated[int, _gt0(_HEALTH)] = Field(
        900, description="No activity for this long: stalled (>= idle_seconds)."
    )
    progress_stalled_seconds: Annotated[int, _gt0(_HEALTH)] = Field(
        1200, description="No progress for this long: stalled."
    )


class ClosePolicy(_Section):
    """``close``: close gates."""

    require_clean_git: bool = Field(True, description="Kept for compatibility; close always does.")


# ----------------------------------------------------------------------------------- operator


class OperatorLLMPolicy(_Section):
    """``operator.llm``: the operator loop's optional LLM."""

    mode: Annotated[
        Literal["off", "assist", "auto"],
        _Choice(("off", "assist", "auto"), "operator.llm.mode must be off|assist|auto", fold=True),
    ] = Field("assist", description="off, assist or auto (any case).")
    command: Annotated[str, _filled("operator.llm.command cannot be empty")] = Field(
        "codex", description="LLM command."
    )
    model: str = Field("", description="Model name passed to the command; empty: its default.")
    timeout_seconds: Annotated[int, _gt0("operator.llm.timeout_seconds must be > 0")] = Field(
        30, description="Timeout of one LLM call."
    )
    max_tokens: Annotated[int, _gt0("operator.llm.max_tokens must be > 0")] = Field(
        400, description="Token cap of one LLM answer."
    )


class OperatorPolicy(_Section):
    """``operator``: agent restarts and the operator loop."""

    unhealthy_confirmations: Annotated[
        int, _gt0("operator.unhealthy_confirmations must be > 0")
    ] = Field(2, description="Unhealthy observations in a row before acting.")
    restart_budget: Annotated[int, _gt0("operator.restart_budget must be > 0")] = Field(
        3,
        description="Crash restarts of an agent before it fails and is escalated; the "
        "operator's restart, iterate and resume give a fresh budget.",
    )
    restart_cooldown_seconds: Annotated[
        int, _gt0("operator.restart_cooldown_seconds must be > 0")
    ] = Field(
        60,
        description="Least time between two crash restarts of an agent; the first "
        "respawn after a crash is immediate.",
    )
    stale_run_age_seconds: Annotated[int, _gt0("operator.stale_run_age_seconds must be > 0")] = (
        Field(3600, description="Age after which a run without activity is stale.")
    )
    llm: OperatorLLMPolicy = Field(default_factory=OperatorLLMPolicy, description="Operator LLM.")


# -------------------------------------------------------------------------------------- forum


class ForumTopicsPolicy(_Section):
    """``forum.topics``: bus topic prefixes (kept from the original)."""

    command_prefix: Annotated[str, _filled("forum.topics.command_prefix cannot be empty")] = Field(
        "forum.commands", description="Prefix of command topics."
    )
    event_prefix: Annotated[str, _filled("forum.topics.event_prefix cannot be empty")] = Field(
        "forum.events", description="Prefix of event topics."
    )
    integration_prefix: Annotated[
        str, _filled("forum.topics.integration_prefix cannot be empty")
    ] = Field("forum.integration", description="Prefix of integration topics.")


class ForumRedisPolicy(_Section):
    """``forum.redis``: the Redis Streams export of forum events (off unless ``enabled``)."""

    enabled: bool = Field(
        False,
        description="Export every forum event to the stream and read commands from "
        "<stream>.commands (new here; the original always connected).",
    )
    url: Annotated[str, _filled("forum.redis.url cannot be empty")] = Field(
        "redis://127.0.0.1:6379/0", description="Redis URL."
    )
    stream: Annotated[str, _filled("forum.redis.stream cannot be empty")] = Field(
        "metawsm-forum", description="Redis stream."
    )
    group: Annotated[str, _filled("forum.redis.group cannot be empty")] = Field(
        "metawsm-forum", description="Redis consumer group."
    )
    consumer: Annotated[str, _filled("forum.redis.consumer cannot be empty")] = Field(
        "operator", description="Redis consumer name."
    )


class ForumSLAPolicy(_Section):
    """``forum.sla``."""

    escalation_minutes: Annotated[int, _gt0("forum.sla.escalation_minutes must be > 0")] = Field(
        30, description="Unanswered thread age before escalation."
    )


class ForumDocsSyncPolicy(_Section):
    """``forum.docs_sync``."""

    enabled: bool = Field(True, description="Sync answered/closed threads into ticket docs.")


class ForumPolicy(_Section):
    """``forum``: questions between agents and operators."""

    enabled: bool = Field(True, description="Forum on (the original never read it).")
    topics: ForumTopicsPolicy = Field(default_factory=ForumTopicsPolicy, description="Topics.")
    redis: ForumRedisPolicy = Field(default_factory=ForumRedisPolicy, description="Redis bus.")
    sla: ForumSLAPolicy = Field(default_factory=ForumSLAPolicy, description="Forum SLA.")
    docs_sync: ForumDocsSyncPolicy = Field(
        default_factory=ForumDocsSyncPolicy, description="Forum docs sync."
    )


# ------------------------------------------------------------------------------------- git_pr


class ReviewFeedbackPolicy(_Section):
    """``git_pr.review_feedback``: pulling PR review comments back into runs."""

    enabled: bool = Field(False, description="Sync review feedback.")
    mode: Annotated[
        Literal["assist", "auto"],
        _Choice(("assist", "auto"), "git_pr.review_feedback.mode must be assist|auto", fold=True),
    ] = Field("assist", description="assist or auto (any case).")
    include_review_comments: Annotated[
        bool, _true("git_pr.review_feedback.include_review_comments must be true for V1")
    ] = Field(True, description="Must be true.")
    ignore_authors: Annotated[
        list[
            Annotated[
                str, _filled("git_pr.review_feedback.ignore_authors cannot contain empty values")
            ]
        ],
        _Lenient,
    ] = Field(default_factory=list, description="Review authors to ignore.")
    max_items_per_sync: Annotated[
        int, _gt0("git_pr.review_feedback.max_items_per_sync must be > 0")
    ] = Field(50, description="Items pulled per sync.")
    auto_dispatch_cap_per_interval: Annotated[
        int, _gt0("git_pr.review_feedback.auto_dispatch_cap_per_interval must be > 0")
    ] = Field(1, description="Automatic dispatches per interval.")


def _default_forbidden_patterns() -> list[str]:
    return [".env", ".env.*", "*.pem", "*.key", "*.p12", "*.pfx", "id_rsa", "id_ed25519"]


class GitPRPolicy(_Section):
    """``git_pr``: commits and pull requests."""

    mode: Annotated[
        Literal["off", "assist", "auto"],
        _Choice(("off", "assist", "auto"), "git_pr.mode must be off|assist|auto", fold=True),
    ] = Field("assist", description="off, assist or auto (any case).")
    credential_mode: Annotated[
        Literal["local_user_auth"],
        _Choice(("local_user_auth",), "git_pr.credential_mode must be local_user_auth", fold=True),
    ] = Field("local_user_auth", description="Only local_user_auth (the operator's gh and git).")
    branch_template: Annotated[str, _filled("git_pr.branch_template cannot be empty")] = Field(
        "{ticket}/{repo}/{run}", description="PR branch; `{ticket}`, `{repo}`, `{run}` substituted."
    )
    require_all: bool = Field(True, description="Every required check must pass.")
    required_checks: Annotated[
        list[Annotated[str, BeforeValidator(_normalise_check), _Check(_required_check_problem)]],
        _Lenient,
    ] = Field(
        default_factory=lambda: list(SUPPORTED_CHECKS),
        description="Checks before commit/PR: tests, forbidden_files, clean_tree (any case).",
    )
    test_commands: Annotated[
        list[Annotated[str, _filled("git_pr.test_commands cannot contain empty values")]], _Lenient
    ] = Field(default_factory=list, description="Commands the `tests` check runs.")
    forbidden_file_patterns: Annotated[
        list[Annotated[str, _filled("git_pr.forbidden_file_patterns cannot contain empty values")]],
        _Lenient,
    ] = Field(
        default_factory=_default_forbidden_patterns,
        description="Glob patterns the `forbidden_files` check rejects.",
    )
    allowed_repos: Annotated[
        list[Annotated[str, _filled("git_pr.allowed_repos cannot contain empty values")]], _Lenient
    ] = Field(default_factory=list, description="Repos PRs may be opened for; empty: all.")
    default_labels: Annotated[
        list[Annotated[str, _filled("git_pr.default_labels cannot contain empty values")]], _Lenient
    ] = Field(default_factory=list, description="Labels of new PRs.")
    default_reviewers: Annotated[
        list[Annotated[str, _filled("git_pr.default_reviewers cannot contain empty values")]],
        _Lenient,
    ] = Field(default_factory=list, description="Reviewers of new PRs.")
    review_feedback: ReviewFeedbackPolicy = Field(
        default_factory=ReviewFeedbackPolicy, description="Review feedback sync."
    )


# ------------------------------------------------------------------------------------- agents


class RunnerOptions(_Section):
    """``agent_profiles[].runner_options``."""

    full_auto: bool = Field(False, description="codex: pass --full-auto.")
    command: str = Field("", description="shell: the command to run (required).")
    script: str = Field("", description="scripted: path of the script (required).")


class AgentProfile(_Section):
    """``agent_profiles[]``: how an agent is started."""

    name: str = Field("", description="Unique profile name.")
    runner: str = Field("", description="shell, codex, claude or scripted (any case).")
    base_prompt: str = Field("", description="Prompt of codex and claude (required for them).")
    skills: Annotated[list[str], _Lenient] = Field(
        default_factory=list, description="Skills named in the prompt (the original wrote null)."
    )
    runner_options: RunnerOptions = Field(
        default_factory=RunnerOptions, description="Runner options."
    )

    @property
    def runner_kind(self) -> str:
        """The runner as the original compared it: trimmed and lower-cased."""
        return self.runner.strip().lower()


class AgentEntry(_Section):
    """``agents[]``: an agent a run starts, by name, with a profile."""

    name: str = Field("", description="Unique agent name.")
    profile: str = Field("", description="Name of an agent profile.")


def _default_profiles() -> list[AgentProfile]:
    return [
        AgentProfile(
            name="default-shell", runner="shell", runner_options=RunnerOptions(command="bash")
        )
    ]


def _default_agents() -> list[AgentEntry]:
    return [AgentEntry(name="agent", profile="default-shell")]


# ------------------------------------------------------------------- supervisor and hosts


class SupervisorPolicy(_Section):
    """``supervisor``: the long-lived `metawsm serve` process."""

    tick_seconds: Annotated[float, _finite_gt0("supervisor.tick_seconds must be > 0")] = Field(
        1.0, description="Period of one observation tick (tmux, signals)."
    )
    shutdown_seconds: Annotated[float, _finite_gt0("supervisor.shutdown_seconds must be > 0")] = (
        Field(10.0, description="Bound on a graceful shutdown of the actors.")
    )


class HostPolicy(_Section):
    """``hosts.<name>``: a remote machine reached over SSH (``hosts.local``: this machine,
    where only ``max_agents`` applies)."""

    address: str = Field("", description="Host name or IP address (required; empty for local).")
    port: int = Field(22, description="SSH port (1-65535).")
    user: str = Field("", description="SSH user; empty: the SSH default.")
    key_file: str = Field("", description="Private key file; empty: the SSH agent and defaults.")
    known_hosts: str = Field("", description="known_hosts file; empty: the user's.")
    workspaces_root: str = Field(
        "", description="Workspaces root on the host (absolute); empty: workspace.root."
    )
    repos: Annotated[dict[str, str], _LenientDict] = Field(
        default_factory=dict,
        description="Repo name -> absolute path of its clone on the host; empty: workspace.repos.",
    )
    tmux_socket: str = Field("", description="tmux server on the host; empty: tmux.socket.")
    max_agents: Annotated[int, _ge0("hosts max_agents must be >= 0")] = Field(
        0, description="Agents this host may run at once; 0: no limit."
    )
    keepalive_seconds: Annotated[float, _finite_gt0("hosts keepalive_seconds must be > 0")] = Field(
        5.0, description="SSH keepalive period; 3 unanswered probes close the connection."
    )


class PlacementPolicy(_Section):
    """``placement``: where a run's workspaces and agents live."""

    default_host: Annotated[str, _filled("placement.default_host cannot be empty")] = Field(
        "local", description="Host of a run without --host: `local`, a hosts key, or `auto`."
    )


class Policy(_Section):
    """The whole policy file. Every key has a default, so ``Policy()`` is the default policy.

    ``Policy.model_validate`` checks types and single-key rules only; load files with
    :func:`metawsm.policy.load_policy` (or :func:`~metawsm.policy.policy_from_data`), which also
    merge over the defaults and check the rules across keys.
    """

    model_config = ConfigDict(
        title="metawsm policy",
        json_schema_extra={
            "description": "metawsm's .metawsm/policy.json; every key has a default. "
            "Keys and rules: docs/policy.md."
        },
    )

    version: Annotated[int, _gt0("version must be positive")] = Field(
        2, description="Policy format version."
    )
    workspace: WorkspacePolicy = Field(default_factory=WorkspacePolicy, description="Workspaces.")
    docs: DocsPolicy = Field(default_factory=DocsPolicy, description="Ticket docs.")
    tmux: TmuxPolicy = Field(default_factory=TmuxPolicy, description="tmux sessions.")
    execution: ExecutionPolicy = Field(default_factory=ExecutionPolicy, description="Plan steps.")
    health: HealthPolicy = Field(default_factory=HealthPolicy, description="Agent health.")
    close: ClosePolicy = Field(default_factory=ClosePolicy, description="Close gates.")
    operator: OperatorPolicy = Field(default_factory=OperatorPolicy, description="Operator.")
    forum: ForumPolicy = Field(default_factory=ForumPolicy, description="Forum.")
    git_pr: GitPRPolicy = Field(default_factory=GitPRPolicy, description="Commits and PRs.")
    agent_profiles: Annotated[list[AgentProfile], _Lenient] = Field(
        default_factory=_default_profiles, description="How agents are started (at least one)."
    )
    agents: Annotated[list[AgentEntry], _Lenient] = Field(
        default_factory=_default_agents, description="Agents a run starts (at least one)."
    )
    supervisor: SupervisorPolicy = Field(
        default_factory=SupervisorPolicy, description="The supervisor process."
    )
    hosts: Annotated[dict[str, HostPolicy], _LenientDict] = Field(
        default_factory=dict, description="Remote hosts by name; the local machine is implicit."
    )
    placement: PlacementPolicy = Field(
        default_factory=PlacementPolicy, description="Where runs are placed."
    )

    def profile(self, name: str) -> AgentProfile | None:
        """The agent profile called ``name``, or None."""
        return next((p for p in self.agent_profiles if p.name == name), None)
