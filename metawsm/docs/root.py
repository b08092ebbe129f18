"""Where a repository's ticket docs live: docmgr's root resolution (contract §A.1).

docmgr resolves its docs root per invocation from the process's working directory. metawsm
has no single working directory (it drives many repositories, some on other hosts), so the
same rules are applied to an explicit ``start_dir`` on a given host:

1. an explicit root (policy ``docs.root``) other than ``""``/``ttmp``: absolute as is,
   relative joined onto ``start_dir``;
2. a config file, ``docmgr_config`` if given and present (``$DOCMGR_CONFIG`` for docmgr),
   else the first ``.ttmp.yaml`` walking up from ``start_dir``; its ``root:`` is relative to
   the file's folder. A malformed file, or one without ``root:``, falls through;
3. ``<git root>/ttmp``, where the git root is the nearest folder with a ``.git`` folder or a
   ``.git`` file holding a ``gitdir:`` line (worktrees);
4. ``<start_dir>/ttmp``.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from metawsm.docs import _yaml
from metawsm.docs.control import DEFAULT_INTENT
from metawsm.hosts.base import Host

CONFIG_NAME = ".ttmp.yaml"
DEFAULT_ROOT = "ttmp"


@dataclass(frozen=True, slots=True)
class TtmpConfig:
    """The parts of a ``.ttmp.yaml`` metawsm uses."""

    path: str
    root: str  # absolute, or "" when the file names none
    owners: tuple[str, ...] = ()
    intent: str = ""


@dataclass(frozen=True, slots=True)
class DocsLocation:
    """A resolved docs root and the config file that applies there, if any."""

    root: str
    config: TtmpConfig | None

    @property
    def default_intent(self) -> str:
        """``Intent`` for new tickets: ``.ttmp.yaml`` ``defaults.intent``, else long-term."""
        return (self.config.intent if self.config else "") or DEFAULT_INTENT

    @property
    def default_owners(self) -> tuple[str, ...]:
        """``Owners`` for new tickets: ``.ttmp.yaml`` ``defaults.owners``, else none."""
        return self.config.owners if self.config else ()


def _require_absolute(path: str) -> str:
    if not posixpath.isabs(path):
        raise ValueError(f"start_dir must be an absolute path, got {path!r}")
    return posixpath.normpath(path)


async def _is_file(host: Host, path: str) -> bool:
    found = await host.stat(path)
    return found is not None and not found.is_dir


async def load_ttmp_config(host: Host, path: str) -> TtmpConfig | None:
    """Read a ``.ttmp.yaml``; ``None`` when it cannot be read or is not a mapping.

    docmgr warns and carries on for a malformed file, so this never raises for content.
    """
    try:
        data = await host.read_bytes(path, limit=256 * 1024)
        node = _yaml.load(data.decode("utf-8"))
    except (OSError, UnicodeDecodeError, _yaml.YamlError):
        return None
    if not isinstance(node, dict):
        return None
    root = node.get("root")
    defaults = node.get("defaults")
    owners: tuple[str, ...] = ()
    intent = ""
    if isinstance(defaults, dict):
        raw_owners = defaults.get("owners")
        if isinstance(raw_owners, list):
            owners = tuple(item for item in raw_owners if isinstance(item, str) and item)
        raw_intent = defaults.get("intent")
        intent = raw_intent if isinstance(raw_intent, str) else ""
    resolved = ""
    if isinstance(root, str) and root:
        resolved = root if posixpath.isabs(root) else posixpath.dirname(path) + "/" + root
        resolved = posixpath.normpath(resolved)
    return TtmpConfig(path=path, root=resolved, owners=owners, intent=intent)


async def find_ttmp_config(host: Host, start_dir: str) -> str | None:
    """The first ``.ttmp.yaml`` walking up from ``start_dir``, or None."""
    current = _require_absolute(start_dir)
    while True:
        candidate = posixpath.join(current, CONFIG_NAME)
        if await _is_file(host, candidate):
            return candidate
        parent = posixpath.dirname(current)
        if parent == current:
            return None
        current = parent


async def find_git_root(host: Host, start_dir: str) -> str | None:
    """The nearest folder at or above ``start_dir`` that is a git work tree, or None."""
    current = _require_absolute(start_dir)
    while True:
        marker = posixpath.join(current, ".git")
        found = await host.stat(marker)
        if found is not None:
            if found.is_dir:
                return current
            # A worktree's .git is a file; docmgr accepts it only with a gitdir: line.
            try:
                head = await host.read_bytes(marker, limit=4096)
            except OSError:
                head = b""
            if head.decode("utf-8", "replace").lstrip().startswith("gitdir:"):
                return current
        parent = posixpath.dirname(current)
        if parent == current:
            return None
        current = parent


async def resolve_docs_location(
    host: Host,
    start_dir: str,
    configured: str | None = None,
    *,
    docmgr_config: str | None = None,
) -> DocsLocation:
    """Resolve the docs root as docmgr would when run in ``start_dir`` (see module doc)."""
    start = _require_absolute(start_dir)
    config_path: str | None = None
    if docmgr_config:
        candidate = posixpath.normpath(posixpath.join(start, docmgr_config))
        if await _is_file(host, candidate):
            config_path = candidate
    if config_path is None:
        config_path = await find_ttmp_config(host, start)
    config = await load_ttmp_config(host, config_path) if config_path else None

    if configured and configured != DEFAULT_ROOT:
        return DocsLocation(posixpath.normpath(posixpath.join(start, configured)), config)
    if config is not None and config.root:
        return DocsLocation(config.root, config)
    git_root = await find_git_root(host, start)
    return DocsLocation(posixpath.join(git_root or start, DEFAULT_ROOT), config)


async def resolve_docs_root(
    host: Host,
    start_dir: str,
    configured: str | None = None,
    *,
    docmgr_config: str | None = None,
) -> str:
    """The absolute docs root for a repository at ``start_dir`` (see module doc)."""
    location = await resolve_docs_location(host, start_dir, configured, docmgr_config=docmgr_config)
    return location.root
