"""Run the whole system: a supervisor of child processes (chain, tangle, agents, indexer, web app).

Services run as separate processes so ``exchange`` never imports ``frontend`` or
``device_agent`` (dependencies point one way) and Ctrl-C can stop every one of them.
"""
