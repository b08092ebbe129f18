"""Seeding: copy a ticket's folder one way into a workspace's doc-home repository.

``seed_ticket`` is the original's ``ticket_context_sync`` step (original-metawsm §5.3):
remove the destination, then copy the tree — folders, regular files, and symbolic links
re-created as links (never followed). Anything else (a socket, a fifo, a device) is an error.

Two choices differ from the original, on purpose:

- **The revision is a content hash**, ``sha256:<hex>`` over the sorted relative paths, entry
  kinds and bytes (link targets for links). The original recorded a timestamp, which says
  when a copy happened but not whether the docs changed; equal hashes mean equal trees, so
  drift between the repo and the workspace can be detected by hashing both
  (:func:`tree_revision`).
- **The destination honours the workspace repo's own ``.ttmp.yaml``** (``root:``), falling
  back to ``ttmp``, so docmgr run inside the workspace finds the seeded ticket (the original
  hard-coded ``ttmp``; contract §E.8 lists that as a bug). The root must stay inside the repo.

Links whose target is absolute or climbs out of the ticket folder are refused unless
``allow_external_links``: in the workspace they would point back into the operator's tree
(or at a different file than in the source), breaking the workspace's isolation silently.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Callable
from dataclasses import dataclass

from metawsm.docs import _hostfs
from metawsm.docs.base import Ticket, check_rel_path
from metawsm.docs.errors import DocsError, SeedError, UnsafePath
from metawsm.docs.native import NativeDocsProvider
from metawsm.docs.root import CONFIG_NAME, DEFAULT_ROOT, load_ttmp_config
from metawsm.hosts.base import Host

_REVISION_PREFIX = "sha256:"


@dataclass(frozen=True, slots=True)
class SeedResult:
    """What one seeding copied, and the revision of the copied tree."""

    ticket: str
    source: str  # absolute ticket folder in the repo's docs root
    destination: str  # absolute ticket folder in the workspace
    revision: str  # sha256:<hex> of the tree (see module doc)
    files: int
    dirs: int  # folders below the ticket folder
    symlinks: int


async def workspace_docs_root(host: Host, workspace_doc_repo: str) -> str:
    """The docs root inside a workspace's doc-home repo: its ``.ttmp.yaml`` root, or ``ttmp``.

    Only the repo's own config counts (no walking up out of the workspace); a root that is
    absolute elsewhere or climbs out of the repo is refused.
    """
    repo = posixpath.normpath(workspace_doc_repo)
    if not posixpath.isabs(repo):
        raise UnsafePath(f"workspace repo path {workspace_doc_repo!r} must be absolute", path=repo)
    config = await load_ttmp_config(host, posixpath.join(repo, CONFIG_NAME))
    if config is None or not config.root:
        return posixpath.join(repo, DEFAULT_ROOT)
    if config.root == repo or not config.root.startswith(repo + "/"):
        raise UnsafePath(
            f"{config.path} puts the docs root at {config.root}, outside {repo}",
            path=config.root,
            hint="a workspace's docs root must be a folder inside its doc-home repo",
        )
    return config.root


def _check_link(rel: str, target: str) -> None:
    """Refuse a link that is absolute or whose target leaves the ticket folder lexically."""
    if posixpath.isabs(target):
        raise UnsafePath(
            f"link {rel} -> {target} is absolute; the workspace copy would point outside it",
            path=rel,
            hint="make the link relative to the ticket folder, or remove it",
        )
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(rel), target))
    if resolved == ".." or resolved.startswith("../"):
        raise UnsafePath(
            f"link {rel} -> {target} leaves the ticket folder",
            path=rel,
            hint="links in a ticket folder must point inside it",
        )


def _frame(update: Callable[[bytes], object], kind: str, rel: str, payload: bytes) -> None:
    # Length-prefixed so that no two different trees produce the same byte stream.
    update(f"{kind}\0{rel}\0{len(payload)}\0".encode())
    update(payload)


async def _refuse_linked_folders(host: Host, repo: str, destination: str) -> None:
    """Refuse to remove or write through a link planted between the repo and the copy.

    ``rm -rf <repo>/ttmp/2026/...`` would follow a linked ``ttmp`` or ``2026`` folder out of
    the workspace; the destination itself may be a link (``rm`` removes just the link).
    """
    relative = destination[len(repo) + 1 :].split("/")[:-1]
    current = repo
    for part in relative:
        current = f"{current}/{part}"
        if await _hostfs.is_symlink(host, current):
            raise UnsafePath(
                f"{current} is a link; refusing to seed through it",
                path=current,
                hint="replace the link with a real folder in the workspace",
            )


async def _plan(
    host: Host, root: str, *, allow_external_links: bool
) -> tuple[list[_hostfs.TreeEntry], dict[str, str]]:
    """The entries under ``root`` and its links' targets, refusing what cannot be copied."""
    found = await host.stat(root)
    if found is None or not found.is_dir:
        raise SeedError(f"ticket folder {root} does not exist on {host.name}")
    entries = await _hostfs.walk_tree(host, root)
    others = [entry.rel for entry in entries if entry.kind == "other"]
    if others:
        raise SeedError(
            f"cannot copy {root}: not a file, folder or link: {', '.join(others[:5])}",
            hint="remove sockets, fifos and devices from the ticket folder",
        )
    targets: dict[str, str] = {}
    for entry in entries:
        if entry.kind == "symlink":
            target = await _hostfs.read_symlink(host, posixpath.join(root, entry.rel))
            if not allow_external_links:
                _check_link(entry.rel, target)
            targets[entry.rel] = target
    return entries, targets


async def tree_revision(host: Host, root: str) -> str:
    """The content revision of a folder, computed as :func:`seed_ticket` computes it."""
    entries, targets = await _plan(host, root, allow_external_links=True)
    hasher = hashlib.sha256()
    for entry in entries:
        if entry.kind == "file":
            payload = await host.read_bytes(posixpath.join(root, entry.rel))
        elif entry.kind == "symlink":
            payload = targets[entry.rel].encode()
        else:
            payload = b""
        _frame(hasher.update, entry.kind, entry.rel, payload)
    return _REVISION_PREFIX + hasher.hexdigest()


async def seed_ticket(
    host: Host,
    ticket: Ticket,
    workspace_doc_repo: str,
    *,
    source_host: Host | None = None,
    allow_external_links: bool = False,
) -> SeedResult:
    """Copy ``ticket``'s folder to ``<workspace docs root>/<ticket.rel_path>``, one way.

    ``host`` holds the workspace; ``source_host`` (default: the same) holds the repo's docs
    root. Everything is checked before the destination is removed, so a refused tree leaves
    the previous copy in place. Raises :class:`UnsafePath` for a bad ``rel_path`` or link,
    :class:`SeedError` for an uncopyable tree.
    """
    source_host = source_host or host
    rel_path = check_rel_path(ticket.rel_path)
    if not posixpath.isabs(ticket.docs_root):
        raise UnsafePath(f"docs root {ticket.docs_root!r} must be absolute", path=ticket.docs_root)
    source = posixpath.normpath(posixpath.join(ticket.docs_root, rel_path))
    dest_root = await workspace_docs_root(host, workspace_doc_repo)
    destination = posixpath.normpath(posixpath.join(dest_root, rel_path))
    if not destination.startswith(dest_root + "/"):
        raise UnsafePath(f"ticket path {rel_path!r} leaves {dest_root}", path=rel_path)

    try:
        entries, targets = await _plan(
            source_host, source, allow_external_links=allow_external_links
        )
    except OSError as exc:
        raise SeedError(f"cannot read ticket folder {source}: {exc}") from exc
    await _refuse_linked_folders(host, posixpath.normpath(workspace_doc_repo), destination)
    await _hostfs.remove_tree(host, destination)
    await host.makedirs(destination)
    hasher = hashlib.sha256()
    counts = {"file": 0, "dir": 0, "symlink": 0}
    try:
        # Sorted order puts every folder before what it contains.
        for entry in entries:
            target_path = posixpath.join(destination, entry.rel)
            if entry.kind == "dir":
                # Owner rwx so the copy can be filled even if the source folder is read-only.
                await host.makedirs(target_path, mode=entry.mode | 0o700)
                payload = b""
            elif entry.kind == "file":
                payload = await source_host.read_bytes(posixpath.join(source, entry.rel))
                await host.write_bytes_atomic(target_path, payload, mode=entry.mode)
            else:
                await _hostfs.make_symlink(host, targets[entry.rel], target_path)
                payload = targets[entry.rel].encode()
            _frame(hasher.update, entry.kind, entry.rel, payload)
            counts[entry.kind] += 1
    except (OSError, DocsError) as exc:
        raise SeedError(
            f"seeding {ticket.ticket} into {destination} failed: {exc}",
            hint="the workspace copy is incomplete; fix the cause and seed again",
        ) from exc
    return SeedResult(
        ticket=ticket.ticket,
        source=source,
        destination=destination,
        revision=_REVISION_PREFIX + hasher.hexdigest(),
        files=counts["file"],
        dirs=counts["dir"],
        symlinks=counts["symlink"],
    )


async def locate_seeded(host: Host, ticket: Ticket, workspace_doc_repo: str) -> Ticket | None:
    """The ticket as found in the workspace's docs root, by its index frontmatter.

    Found wherever it sits there (an agent may have moved it with docmgr); raises
    :class:`DuplicateTicket` if two folders claim it.
    """
    root = await workspace_docs_root(host, workspace_doc_repo)
    return await NativeDocsProvider(host, root).find_ticket(ticket.ticket)


async def verify_seeded(host: Host, ticket: Ticket, workspace_doc_repo: str) -> bool:
    """The close gate "ticket docs present in the workspace": exactly one folder claims it."""
    try:
        return await locate_seeded(host, ticket, workspace_doc_repo) is not None
    except DocsError:
        return False
