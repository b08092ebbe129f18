"""The local web dashboard (``metawsm serve --web``): runs, agents, steps, questions, forum
threads and agent logs, live from the event bus, with the tui's actions.

- :mod:`.access`: who may talk to it (a token per supervisor start, ``Host`` and ``Origin``
  checks against DNS rebinding, writes only with the token in a header);
- :mod:`.pages`: the server-rendered HTML (pure functions of status data);
- :mod:`.app`: the Starlette application over the supervisor's own socket methods;
- :mod:`.server`: uvicorn inside the supervisor's event loop, as a child of the actor tree.

Nothing here is imported unless ``--web`` is given.
"""
