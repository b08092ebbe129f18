"""The docs-sync consumer (``forum.docs_sync.enabled``): answered and closed threads of a run
become part of its ticket's docs.

One reference doc per thread, ``<ticket>/reference/forum-<thread_id>.md`` in the run's
workspace doc-home repo (title, state, priority, every post with who and when, the answer),
rewritten when the thread gets a later post or changes state, and committed on the workspace
branch by metawsm with :func:`~metawsm.workspaces.commits.commit_paths`: only that file, in a
temporary index, so an agent committing in the same worktree at the same time keeps its staged
and unstaged work and never finds ``index.lock`` left behind. The record therefore reaches
``main`` with the workspace's merge at close, and never trips the clean-git gate.

It follows ``forum_events`` by its own cursor (``forum_exports``, exporter ``docs_sync``),
advanced only after the docs of a batch are committed, so a crash re-does at most one batch
(rewriting a file with the same content commits nothing).
"""

from __future__ import annotations

import json
import logging
import posixpath
import sqlite3
from datetime import UTC, datetime
from typing import Any

import anyio

from metawsm.docs.frontmatter import Document, Frontmatter, render_document
from metawsm.docs.native import NativeDocsProvider
from metawsm.docs.seed import workspace_docs_root
from metawsm.errors import MetawsmError
from metawsm.forum import store as fs
from metawsm.forum.actor import Wake
from metawsm.store.client import WriteHelpers
from metawsm.store.db import connect, utc_now
from metawsm.store.ops import Op
from metawsm.supervisor.environment import Environment
from metawsm.workspaces.commits import commit_paths

log = logging.getLogger("metawsm.forum.docs")

EXPORTER = "docs_sync"
BATCH = 200
RETRY_SECONDS = 5.0
_SYNCED_STATES = frozenset({"answered", "closed"})


def cursor_op(exporter: str, sequence: int, error: str = "") -> Op:
    return Op(
        "INSERT INTO forum_exports (exporter, last_sequence, last_error, updated_at)"
        " VALUES (?, ?, ?, ?) ON CONFLICT (exporter) DO UPDATE SET"
        " last_sequence = MAX(last_sequence, excluded.last_sequence),"
        " last_error = excluded.last_error, updated_at = excluded.updated_at",
        (exporter, sequence, error, utc_now()),
    )


def read_cursor(conn: sqlite3.Connection, exporter: str) -> int:
    row = conn.execute(
        "SELECT last_sequence FROM forum_exports WHERE exporter = ?", (exporter,)
    ).fetchone()
    return int(row[0]) if row is not None else 0


def render_thread_doc(thread: dict[str, Any], posts: list[dict[str, Any]], answer: str) -> str:
    """The body of a thread's reference doc."""
    lines = [
        f"# {thread['title']}",
        "",
        f"- Thread: `{thread['thread_id']}`",
        f"- State: {thread['state']}",
        f"- Priority: {thread['priority']}",
        f"- Run: `{thread['run_id'] or '-'}`  Agent: {thread['agent'] or '-'}",
        f"- Updated: {thread['updated_at']}",
        "",
        "## Answer",
        "",
        answer or "(none yet)",
        "",
        "## Posts",
        "",
    ]
    for post in posts:
        who = f"{post['author_type']} {post['author_name'] or '-'}"
        lines += [f"### {post['created_at']} — {who}", "", post["body"], ""]
    return "\n".join(lines)


class DocsSync:
    """The consumer; :meth:`run` is a task of the forum actor."""

    def __init__(self, env: Environment, store: WriteHelpers) -> None:
        self.env = env
        self.store = store

    async def run(self, wake: Wake) -> None:
        while True:
            await wake.wait()
            while await self._batch():
                pass

    async def _batch(self) -> bool:
        """Sync the threads of the next batch of events; True if there may be more."""
        conn = connect(self.env.db_path, readonly=True)
        try:
            cursor = read_cursor(conn, EXPORTER)
            events = fs.list_events(conn, cursor=cursor, limit=BATCH)
            if not events:
                return False
            threads: dict[str, None] = {}
            for event in events:
                if event["run_id"]:
                    threads.setdefault(event["thread_id"], None)
            work = [self._plan(conn, tid) for tid in threads]
        finally:
            conn.close()
        last = events[-1]["sequence"]
        try:
            for item in work:
                if item is not None:
                    await self._sync(*item)
        except (MetawsmError, OSError) as exc:
            log.warning("docs sync of forum threads failed (will retry): %s", exc)
            await self.store.write(cursor_op(EXPORTER, cursor, str(exc)[:500]))
            await anyio.sleep(RETRY_SECONDS)
            return True
        await self.store.write(cursor_op(EXPORTER, last))
        return len(events) == BATCH

    def _plan(
        self, conn: sqlite3.Connection, thread_id: str
    ) -> tuple[dict[str, Any], list[dict[str, Any]], str, dict[str, Any]] | None:
        full = fs.get_thread(conn, thread_id)
        thread = full["thread"]
        synced = conn.execute(
            "SELECT 1 FROM forum_synced_docs WHERE thread_id = ?", (thread_id,)
        ).fetchone()
        if thread["state"] not in _SYNCED_STATES and synced is None:
            return None
        row = conn.execute(
            "SELECT spec_json FROM runs WHERE run_id = ?", (thread["run_id"],)
        ).fetchone()
        if row is None:
            return None
        spec = json.loads(row[0] or "{}")
        return thread, full["posts"], fs.last_answer(conn, thread_id), spec

    async def _sync(
        self, thread: dict[str, Any], posts: list[dict[str, Any]], answer: str, spec: dict[str, Any]
    ) -> None:
        ticket = thread["ticket"]
        workspace_name = (spec.get("workspaces") or {}).get(ticket)
        if not workspace_name:
            return
        workspace = await self.env.workspace_provider().info(workspace_name)
        if workspace is None:
            return  # cleaned up: nowhere to write
        doc_repo = workspace.repos.get(spec.get("doc_home_repo", ""))
        if doc_repo is None:
            return
        host = self.env.host
        docs = NativeDocsProvider(host, await workspace_docs_root(host, doc_repo))
        found = await docs.find_ticket(ticket)
        if found is None:
            return
        index = (await docs.read_document(found.index_path)).frontmatter
        folder = posixpath.join(found.path, "reference")
        await host.makedirs(folder)
        path = posixpath.join(folder, f"forum-{thread['thread_id']}.md")
        fm = Frontmatter(
            title=f"Forum: {thread['title']}",
            ticket=index.ticket.strip() or ticket,
            status=index.status,
            topics=index.topics,
            doc_type="reference",
            intent=index.intent or "long-term",
            owners=index.owners,
            summary=f"Forum thread {thread['thread_id']} ({thread['state']})",
            last_updated=datetime.now(UTC).replace(microsecond=0),
        )
        body = "\n" + render_thread_doc(thread, posts, answer)
        await host.write_bytes_atomic(path, render_document(Document(fm, body)).encode())
        sha = await commit_paths(
            host,
            doc_repo,
            [path],
            f"forum: {thread['title'][:60]} ({thread['thread_id']}, {thread['state']})",
        )
        await self.store.write(
            Op(
                "INSERT INTO forum_synced_docs (thread_id, run_id, ticket, path, last_sequence,"
                " commit_sha, updated_at) VALUES (?, ?, ?, ?, 0, ?, ?)"
                " ON CONFLICT (thread_id) DO UPDATE SET path = excluded.path,"
                " commit_sha = CASE WHEN excluded.commit_sha = '' THEN commit_sha"
                " ELSE excluded.commit_sha END, updated_at = excluded.updated_at",
                (thread["thread_id"], thread["run_id"], ticket, path, sha or "", utc_now()),
            )
        )
