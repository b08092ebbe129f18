"""The supervisor (``metawsm serve``): the actor tree that drives runs and watches agents.

::

    root supervisor (one_for_one)
    ├─ store writer        the only SQLite writer in the process
    ├─ host observer(s)    one tmux snapshot per host per tick, shared by all agent actors
    ├─ control server      the unix socket the CLI talks to
    └─ runs supervisor     a run supervisor per active run
        └─ run supervisor  the run controller (plan, state machine) + an agent actor per
                           (agent, workspace), each owning its tmux session
"""
