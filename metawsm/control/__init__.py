"""The control socket: newline-delimited JSON-RPC 2.0 between the CLI and ``metawsm serve``.

One request per line, one response per line, lines bounded; streaming methods send
notifications until the client leaves. The socket lives in ``.metawsm/`` (folder ``0700``,
socket ``0600``): only its owner can drive the supervisor.
"""
