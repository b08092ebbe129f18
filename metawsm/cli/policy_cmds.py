"""Policy commands: ``metawsm policy-init`` and ``metawsm policy validate|show``.

``policy-init`` keeps the original's name and output; unlike the original it never overwrites an
existing file without ``--force``. ``policy validate`` prints every error of the file, one per
line, and exits 1; ``policy show`` prints the effective policy (the file merged over the
defaults). Each takes ``--json`` for the same facts as one JSON object.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

from cyclopts import App, Parameter

from metawsm.cli import app
from metawsm.errors import PolicyError, PolicyValidationError
from metawsm.policy import (
    DEFAULT_POLICY_PATH,
    Policy,
    load_policy,
    policy_json,
    resolve_policy_path,
    save_default_policy,
)
from metawsm.supervisor.rootdir import find_root

policy_app = App(
    name="policy",
    help="Check and show the policy file (.metawsm/policy.json).",
    help_epilogue="Example: metawsm policy validate --path .metawsm/policy.json",
)
app.command(policy_app)

JsonFlag = Annotated[bool, Parameter(name="--json", negative="")]
ForceFlag = Annotated[bool, Parameter(name="--force", negative="")]


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))


@app.command(name="policy-init")
def policy_init(
    *, path: str = DEFAULT_POLICY_PATH, force: ForceFlag = False, json_output: JsonFlag = False
) -> int:
    """Write the default policy to a file.

    An existing file is left alone unless --force is given.

    Example: metawsm policy-init --path .metawsm/policy.json

    Parameters
    ----------
    path
        Where to write the policy.
    force
        Overwrite an existing file.
    json_output
        Print {"path": ..., "written": true} instead of a sentence.
    """
    written = save_default_policy(path, overwrite=force)
    if json_output:
        _print_json({"path": str(written.absolute()), "written": True})
    else:
        print(f"Wrote default policy to {path}")
    return 0


@policy_app.command(name="validate")
def policy_validate(*, path: str | None = None, json_output: JsonFlag = False) -> int:
    """Check the policy file and print every error; exit 1 if there is any.

    A missing file is valid: the defaults apply.

    Example: metawsm policy validate --path .metawsm/policy.json

    Parameters
    ----------
    path
        The policy file (default: .metawsm/policy.json of the root found from here).
    json_output
        Print {"path", "exists", "valid", "errors": [{"key", "message"}]}.
    """
    target = resolve_policy_path(path, root=None if path else find_root())
    exists = target.exists()
    errors: list[tuple[str, str]] = []
    warnings: list[str] = []
    try:
        warnings = _program_warnings(load_policy(target), target)
    except PolicyValidationError as exc:
        errors = exc.errors
    except PolicyError as exc:
        if not json_output:
            raise
        errors = [("", exc.message)]
    if json_output:
        _print_json(
            {
                "path": str(target),
                "exists": exists,
                "valid": not errors,
                "errors": [{"key": key, "message": message} for key, message in errors],
                "warnings": warnings,
            }
        )
    elif not errors:
        suffix = "" if exists else " (no file: the defaults apply)"
        print(f"Policy {target} is valid.{suffix}")
        for warning in warnings:
            print(f"warning: {warning}", file=sys.stderr)
    else:
        _report(target, errors)
    return 1 if errors else 0


def _program_warnings(policy: Policy, target: Path) -> list[str]:
    """Agents whose program is not on this machine: a run with them would be refused at plan
    time (a warning, not an error: the policy may be meant for another machine)."""
    import anyio

    from metawsm.errors import MetawsmError
    from metawsm.hosts import LocalHost
    from metawsm.runs.preflight import find_missing
    from metawsm.runs.profiles import resolve_agents

    try:
        agents = resolve_agents(policy, [], policy_path=target)
        missing = anyio.run(find_missing, LocalHost(), agents, backend="asyncio")
    except MetawsmError as exc:  # a skill or script missing: the run reports that itself
        return [f"agents not checked: {exc.message}"]
    return [m.sentence() for m in missing]


def _report(target: Path, errors: list[tuple[str, str]]) -> None:
    """Every error, one per line, on stderr: a validation failure is the answer, not a crash."""
    count = f"{len(errors)} error" + ("" if len(errors) == 1 else "s")
    print(f"error: policy {target} is invalid ({count}):", file=sys.stderr)
    for key, message in errors:
        print(f"  {key}: {message}" if key else f"  {message}", file=sys.stderr)
    print(
        "hint: fix the keys named above; docs/policy.md lists every key with its default",
        file=sys.stderr,
    )


@policy_app.command(name="show")
def policy_show(*, path: str | None = None, json_output: JsonFlag = False) -> int:
    """Print the effective policy: the file merged over the defaults.

    Without a file, the defaults. The plain output is itself a valid policy file.

    Example: metawsm policy show --path .metawsm/policy.json

    Parameters
    ----------
    path
        The policy file (default: .metawsm/policy.json of the root found from here).
    json_output
        Print {"path", "exists", "policy"}.
    """
    target = resolve_policy_path(path, root=None if path else find_root())
    policy = load_policy(target)
    if json_output:
        _print_json(
            {
                "path": str(target),
                "exists": target.exists(),
                "policy": policy.model_dump(mode="json"),
            }
        )
    else:
        sys.stdout.write(policy_json(policy))
    return 0
