"""The operator's policy: the pydantic model (:mod:`.model`), the rules beyond types
(:mod:`.rules`), loading and merging over the defaults (:mod:`.load`), and the generated files
under the project's ``policy/`` folder (:mod:`.gen`, ``python -m metawsm.policy.gen``).

Everything a caller needs is re-exported here from :mod:`.load`.
"""

from metawsm.policy.load import (
    DEFAULT_POLICY_PATH,
    NAME_PATTERN,
    RUNNERS,
    SUPPORTED_CHECKS,
    AgentEntry,
    AgentProfile,
    DocAPIEndpoint,
    HostPolicy,
    Policy,
    RunnerOptions,
    default_policy,
    default_policy_json,
    format_key,
    load_policy,
    merge_over_defaults,
    metawsm_root_of,
    policy_from_data,
    policy_json,
    policy_json_schema,
    resolve_policy_path,
    resolve_under,
    save_default_policy,
    validate_name,
    validate_policy_data,
)

__all__ = [
    "DEFAULT_POLICY_PATH",
    "NAME_PATTERN",
    "RUNNERS",
    "SUPPORTED_CHECKS",
    "AgentEntry",
    "AgentProfile",
    "DocAPIEndpoint",
    "HostPolicy",
    "Policy",
    "RunnerOptions",
    "default_policy",
    "default_policy_json",
    "format_key",
    "load_policy",
    "merge_over_defaults",
    "metawsm_root_of",
    "policy_from_data",
    "policy_json",
    "policy_json_schema",
    "resolve_policy_path",
    "resolve_under",
    "save_default_policy",
    "validate_name",
    "validate_policy_data",
]
