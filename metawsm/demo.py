"""``make demo``: metawsm end to end, for real, on embedded defaults.

It makes a throwaway folder with two git repositories (``api`` and ``web``) and a ticket in the
docmgr layout, writes a policy with two scripted agents on a private tmux server, and then runs
the real CLI: ``metawsm run`` (which starts a supervisor in the foreground for the run), while a
second process shows ``metawsm status`` as the agents edit, commit and exit. It ends with the
agents done and prints the folder so you can look around. Nothing is simulated: the agents are
real processes in tmux, the commits are real, the state is in SQLite.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio

from metawsm.docs.native import NativeDocsProvider
from metawsm.hosts import LocalHost

TICKET = "DEMO-1"
TMUX_SOCKET = f"metawsm-demo-{os.getpid()}"

CODER = {
    "steps": [
        {"do": "say", "text": "coder: picking up DEMO-1"},
        {
            "do": "edit",
            "repo": "api",
            "path": "greeting.py",
            "content": "def greet(name: str) -> str:\n    return f'hello, {name}'\n",
        },
        {"do": "commit", "repo": "api", "message": "DEMO-1: add greet()"},
        {"do": "sleep", "seconds": 2},
        {
            "do": "edit",
            "repo": "web",
            "path": "index.html",
            "content": "<p>hello from the web repo</p>\n",
        },
        {"do": "commit", "repo": "web", "message": "DEMO-1: add the page"},
        {"do": "sleep", "seconds": 1},
        {"do": "say", "text": "coder: done"},
        {"do": "exit", "code": 0},
    ]
}

REVIEWER = {
    "steps": [
        {"do": "say", "text": "reviewer: reading the ticket"},
        {"do": "sleep", "seconds": 3},
        {
            "do": "edit",
            "repo": "api",
            "path": "REVIEW.md",
            "content": "Reviewed DEMO-1: looks good.\n",
        },
        {"do": "commit", "repo": "api", "message": "DEMO-1: review notes"},
        {"do": "say", "text": "reviewer: done"},
        {"do": "exit", "code": 0},
    ]
}


def _git(cwd: Path, *args: str) -> None:
    who = {"NAME": "metawsm demo", "EMAIL": "demo@example.invalid"}
    env = {
        **os.environ,
        **{f"GIT_{role}_{k}": v for role in ("AUTHOR", "COMMITTER") for k, v in who.items()},
    }
    subprocess.run(["git", *args], cwd=cwd, check=True, env=env, capture_output=True)


def _make_repo(path: Path, readme: str) -> None:
    path.mkdir(parents=True)
    _git(path, "-c", "init.defaultBranch=main", "init", "-q")
    (path / "README.md").write_text(readme)
    _git(path, "add", "-A")
    _git(path, "commit", "-q", "-m", "initial commit")


def build_world(root: Path) -> None:
    """The throwaway folder: repos, ticket, scripts, policy."""
    _make_repo(root / "repos" / "api", "# api\n")
    _make_repo(root / "repos" / "web", "# web\n")
    (root / "ttmp").mkdir()
    provider = NativeDocsProvider(LocalHost(), str(root / "ttmp"))
    anyio.run(provider.create_ticket, TICKET, "Say hello from both repos")
    scripts = root / "scripts"
    scripts.mkdir()
    (scripts / "coder.json").write_text(json.dumps(CODER, indent=2))
    (scripts / "reviewer.json").write_text(json.dumps(REVIEWER, indent=2))
    policy = {
        "version": 2,
        "workspace": {
            "provider": "git",
            "root": ".metawsm/workspaces",
            "repos": {"api": "repos/api", "web": "repos/web"},
        },
        "docs": {"provider": "native", "root": "ttmp"},
        "tmux": {"socket": TMUX_SOCKET},
        "operator": {"restart_budget": 2, "restart_cooldown_seconds": 1},
        "supervisor": {"tick_seconds": 0.5, "shutdown_seconds": 5},
        "agent_profiles": [
            {
                "name": "scripted-coder",
                "runner": "scripted",
                "runner_options": {"script": "scripts/coder.json"},
            },
            {
                "name": "scripted-reviewer",
                "runner": "scripted",
                "runner_options": {"script": "scripts/reviewer.json"},
            },
        ],
        "agents": [
            {"name": "coder", "profile": "scripted-coder"},
            {"name": "reviewer", "profile": "scripted-reviewer"},
        ],
    }
    (root / ".metawsm").mkdir()
    (root / ".metawsm" / "policy.json").write_text(json.dumps(policy, indent=2))


def _metawsm(root: Path, *args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "metawsm", *args], cwd=root, text=True, **kwargs)  # type: ignore[call-overload,no-any-return]


def _say(text: str) -> None:
    print(f"\n== {text}", flush=True)


def main() -> int:
    """Run the demo; exit non-zero if the run did not complete."""
    if shutil.which("tmux") is None or shutil.which("git") is None:
        print("the demo needs tmux and git (make demo installs them)", file=sys.stderr)
        return 1
    root = Path(tempfile.mkdtemp(prefix="metawsm-demo-"))
    _say(f"building a throwaway world in {root}")
    build_world(root)
    print("  repos/api, repos/web   two git repositories on main")
    print(f"  ttmp/                  ticket {TICKET} in the docmgr layout")
    print(
        "  .metawsm/policy.json   two scripted agents (coder, reviewer), tmux server "
        f"-L {TMUX_SOCKET}"
    )
    _say(f"metawsm run --ticket {TICKET} --repos api,web  (a supervisor starts in the foreground)")
    runner = subprocess.Popen(
        [sys.executable, "-m", "metawsm", "run", "--ticket", TICKET, "--repos", "api,web"],
        cwd=root,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        shown = 0
        while runner.poll() is None and time.monotonic() < deadline:
            time.sleep(3)
            if shown < 2 and (root / ".metawsm" / "control.sock").exists():
                _say("metawsm status --ticket DEMO-1  (from another process, over the socket)")
                _metawsm(root, "status", "--ticket", TICKET)
                shown += 1
        if runner.poll() is None:
            print("the run did not finish within 120 s; stopping it", file=sys.stderr)
            runner.terminate()
        code = runner.wait(timeout=30)
        _say("metawsm status --ticket DEMO-1  (supervisor gone: read from SQLite)")
        _metawsm(root, "status", "--ticket", TICKET)
        _say("what the agents committed (git log of each workspace branch)")
        for repo in ("api", "web"):
            log = subprocess.run(
                ["git", "log", "--oneline", "--all", "--grep", TICKET],
                cwd=root / "repos" / repo,
                text=True,
                capture_output=True,
            )
            print(f"  {repo}:")
            for line in log.stdout.splitlines():
                print(f"    {line}")
        _say(f"done; look around in {root}")
        print(f"  tmux -L {TMUX_SOCKET} ls     the agents' sessions (dead panes keep their output)")
        print(f"  cd {root} && {sys.executable} -m metawsm runs --all")
        print(
            f"  clean up: cd {root} && {sys.executable} -m metawsm cleanup --ticket {TICKET}"
            f" && tmux -L {TMUX_SOCKET} kill-server"
        )
        return code
    finally:
        if runner.poll() is None:
            runner.kill()


if __name__ == "__main__":
    raise SystemExit(main())
