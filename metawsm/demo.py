"""``make demo``: metawsm end to end, for real, on embedded defaults.

It makes a throwaway folder with two git repositories (``api`` and ``web``), the ticket docs
inside ``api`` (``repos/api/ttmp``, committed on its ``main``: the layout the original was used
in, the operator working from that checkout), writes a policy with two scripted agents on a
private tmux server, starts the supervisor, and then drives the whole loop with the real CLI:
bootstrap, a guidance question answered, completion and validation, close. The agents commit
only their own work files; metawsm commits its own (the brief, the closed ticket) on the
workspace branch, so ``main`` receives everything through the merge and no checkout is ever
left dirty, which the demo checks at the end. Nothing is simulated: the agents are real
processes in tmux, the commits are real, the state is in SQLite.
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
DOCS_ROOT = "repos/api/ttmp"  # the ticket docs live inside the api repo
TMUX_SOCKET = f"metawsm-demo-{os.getpid()}"

DONE = "greet() exists and the page says hello"

CODER = {
    "steps": [
        {"do": "say", "text": "coder: picking up DEMO-1"},
        {
            "do": "edit",
            "repo": "api",
            "path": "greeting.py",
            "content": "def greet(name: str) -> str:\n    return f'hello, {name}'\n",
        },
        {
            "do": "guidance",
            "question": "Should greet() end with an exclamation mark?",
            "context": "the ticket does not say",
            "timeout": 300,
            "save_answer": "ANSWER.md",
        },
        {
            "do": "edit",
            "repo": "web",
            "path": "index.html",
            "content": "<p>hello from the web repo</p>\n",
        },
        {
            "do": "commit",
            "repo": "api",
            "message": "DEMO-1: add greet()",
            "paths": ["greeting.py", "ANSWER.md"],
        },
        {
            "do": "commit",
            "repo": "web",
            "message": "DEMO-1: add the page",
            "paths": ["index.html"],
        },
        {"do": "complete", "summary": "greet() and the page are in"},
        {"do": "validate", "status": "passed", "done_criteria": DONE},
        {"do": "say", "text": "coder: done"},
        {"do": "exit", "code": 0},
    ]
}

REVIEWER = {
    "steps": [
        {"do": "say", "text": "reviewer: reading the ticket"},
        {"do": "sleep", "seconds": 2},
        {
            "do": "edit",
            "repo": "api",
            "path": "REVIEW.md",
            "content": "Reviewed DEMO-1: looks good.\n",
        },
        {
            "do": "commit",
            "repo": "api",
            "message": "DEMO-1: review notes",
            "paths": ["REVIEW.md"],
        },
        {"do": "complete", "summary": "reviewed"},
        {"do": "validate", "status": "passed", "done_criteria": DONE},
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
    docs = root / DOCS_ROOT
    docs.mkdir()
    provider = NativeDocsProvider(LocalHost(), str(docs))
    anyio.run(provider.create_ticket, TICKET, "Say hello from both repos")
    _git(root / "repos" / "api", "add", "-A")
    _git(root / "repos" / "api", "commit", "-q", "-m", f"{TICKET}: ticket docs")
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
        "docs": {"provider": "native", "root": DOCS_ROOT},
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


def _metawsm(
    root: Path, *args: str, check: bool = False, capture_output: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in ``root``, as an operator would."""
    return subprocess.run(
        [sys.executable, "-m", "metawsm", *args],
        cwd=root,
        text=True,
        check=check,
        capture_output=capture_output,
    )


def _say(text: str) -> None:
    print(f"\n== {text}", flush=True)


def _status(root: Path) -> dict[str, object]:
    out = _metawsm(root, "status", "--ticket", TICKET, "--no-diffs", "--json", capture_output=True)
    data: dict[str, object] = json.loads(out.stdout) if out.returncode == 0 else {}
    return data


def _wait_status(root: Path, wanted: str, timeout: float = 120) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _status(root).get("status") == wanted:
            return True
        time.sleep(0.5)
    return False


def _dirty_checkouts(root: Path) -> dict[str, str]:
    """``git status --porcelain`` of each repo's checkout and worktrees, for the dirty ones."""
    dirty: dict[str, str] = {}
    for repo in ("api", "web"):
        listed = subprocess.run(
            ["git", "worktree", "list", "--porcelain"],
            cwd=root / "repos" / repo,
            text=True,
            capture_output=True,
        ).stdout
        for line in listed.splitlines():
            if not line.startswith("worktree "):
                continue
            path = line.split(" ", 1)[1]
            out = subprocess.run(
                ["git", "-C", path, "status", "--porcelain"], text=True, capture_output=True
            ).stdout
            if out.strip():
                dirty[path] = out.strip().replace("\n", "; ")
    return dirty


def main() -> int:
    """Run the demo; exit non-zero if a step of the loop did not happen."""
    if shutil.which("tmux") is None or shutil.which("git") is None:
        print("the demo needs tmux and git (make demo installs them)", file=sys.stderr)
        return 1
    root = Path(tempfile.mkdtemp(prefix="metawsm-demo-"))
    _say(f"building a throwaway world in {root}")
    build_world(root)
    print("  repos/api, repos/web   two git repositories on main")
    print(f"  repos/api/ttmp/        ticket {TICKET} in the docmgr layout, committed in api")
    print(
        "  .metawsm/policy.json   two scripted agents (coder, reviewer), tmux server "
        f"-L {TMUX_SOCKET}"
    )
    return run_loop(root)


def run_loop(root: Path, *, host: str = "", tmux_hint: str = "") -> int:
    """The operator's loop in ``root`` (built by :func:`build_world`): serve, bootstrap (on
    ``host`` when given), guide, complete, close; non-zero if a step did not happen."""
    placed = ("--host", host) if host else ()
    log = open(root / "serve.out", "w")  # noqa: SIM115 - closed in finally
    _say("metawsm serve  (the supervisor, in the background; its log: serve.out)")
    server = subprocess.Popen(
        [sys.executable, "-m", "metawsm", "serve"],
        cwd=root,
        text=True,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while not (root / ".metawsm" / "control.sock").exists():
            if server.poll() is not None or time.monotonic() > deadline:
                print("the supervisor did not start; see serve.out", file=sys.stderr)
                return 1
            time.sleep(0.2)
        brief = [
            "--goal",
            "Say hello from both repos.",
            "--scope",
            "api/greeting.py, web/",
            "--done-criteria",
            DONE,
            "--constraints",
            "no new dependencies",
            "--merge-intent",
            "default",
        ]
        where = f" --host {host}" if host else ""
        _say(f"metawsm bootstrap --ticket {TICKET} --repos api,web --goal ...{where} --detach")
        _metawsm(
            root,
            "bootstrap",
            "--ticket",
            TICKET,
            "--repos",
            "api,web",
            *brief,
            *placed,
            "--detach",
            check=True,
        )
        _say("the coder asks a question; the run waits for guidance")
        if not _wait_status(root, "awaiting_guidance"):
            print("no guidance request arrived", file=sys.stderr)
            return 1
        _metawsm(root, "status", "--ticket", TICKET)
        answer = "Yes: hello, name!"
        _say(f'metawsm guide --ticket {TICKET} --answer "{answer}"')
        _metawsm(root, "guide", "--ticket", TICKET, "--answer", answer, check=True)
        _say("the agents commit, signal completion and validation, and exit")
        if not _wait_status(root, "completed"):
            print("the run did not complete", file=sys.stderr)
            _metawsm(root, "status", "--ticket", TICKET)
            return 1
        _metawsm(root, "status", "--ticket", TICKET)
        _say(f"metawsm close --ticket {TICKET} --dry-run  (every gate; changes nothing)")
        _metawsm(root, "close", "--ticket", TICKET, "--dry-run", check=True)
        _say(f"metawsm close --ticket {TICKET}  (gates, merge into main, ticket closed)")
        _metawsm(root, "close", "--ticket", TICKET, check=True)
        _say("main of each repo now holds the agents' commits")
        for repo in ("api", "web"):
            log_lines = subprocess.run(
                ["git", "log", "--oneline", "main"],
                cwd=root / "repos" / repo,
                text=True,
                capture_output=True,
            ).stdout
            print(f"  {repo}:")
            for line in log_lines.splitlines():
                print(f"    {line}")
        index = next((root / DOCS_ROOT).glob(f"**/{TICKET}--*/index.md"))
        status_line = next(
            (ln for ln in index.read_text().splitlines() if ln.startswith("Status:")), "Status: ?"
        )
        print(f"  ticket {TICKET} (from the merge, in the operator's api checkout): {status_line}")
        _say("git status --porcelain of every checkout and worktree (metawsm left none dirty)")
        dirty = _dirty_checkouts(root)
        for path, lines in dirty.items():
            print(f"  {path}: {lines}")
        if dirty or status_line != "Status: complete":
            print("a checkout is dirty or the ticket is not closed", file=sys.stderr)
            return 1
        print("  all clean")
        if host:
            _say("metawsm hosts  (one connection, observed every tick)")
            _metawsm(root, "hosts")
        _say(f"done; look around in {root}")
        tmux = tmux_hint or f"tmux -L {TMUX_SOCKET}"
        print(f"  {tmux} ls     the agents' sessions (dead panes keep their output)")
        print(f"  cd {root} && {sys.executable} -m metawsm runs --all")
        print(
            f"  clean up: cd {root} && {sys.executable} -m metawsm cleanup --ticket {TICKET}"
            f" && {tmux} kill-server"
        )
        return 0
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


if __name__ == "__main__":
    raise SystemExit(main())
