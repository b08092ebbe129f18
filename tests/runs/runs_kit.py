"""Constants shared by the run tests and their fixtures (importable: ``from runs_kit import``)."""

from __future__ import annotations

from datetime import UTC, datetime

NOW = datetime(2026, 2, 7, 8, 47, 28, tzinfo=UTC)
"""The moment of the original's example run id, ``run-20260207-084728``."""

RUN_ID = "run-20260207-084728"

REPOS = {"metawsm": "repos/metawsm", "workspace-manager": "repos/wsm", "web": "repos/web"}
"""``workspace.repos`` of the test policies (clone paths, relative to the metawsm root)."""
