"""Shared pytest configuration for every test directory.

Nothing backend-specific lives here: each directory's ``conftest.py`` overrides
``anyio_backend`` for its own modules, and each async test module declares exactly one runner
marker (``pytest.mark.anyio`` or ``pytest.mark.trio``). ``trio_mode`` and ``anyio_mode = auto``
stay off (see docs of the dependency spike, §2).
"""

from __future__ import annotations

from hypothesis import settings

# Property tests must not flake on a loaded machine: no per-example deadline.
settings.register_profile("metawsm", deadline=None)
settings.load_profile("metawsm")
