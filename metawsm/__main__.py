"""``python -m metawsm`` runs the CLI."""

from metawsm.cli import entrypoint

entrypoint()
