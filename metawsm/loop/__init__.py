"""The operator's loop: the bootstrap brief (:mod:`.bootstrap`), guidance answers and iterate
feedback (:mod:`.guidance`), the close gates (:mod:`.gates`), and the operations that drive a
run after its agents start: iterate (:mod:`.iterate`), merge and close (:mod:`.close`).

The package imports nothing at import time, so a command pulls in only the step it runs.
"""
