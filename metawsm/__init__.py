"""metawsm: an operator's supervisor for coding agents.

The package holds the domain (policy, store, state machines, CLI); the supervision kernel it
runs on lives in the sibling package :mod:`actors`, which knows nothing of metawsm.
"""

__version__ = "0.1.0"
