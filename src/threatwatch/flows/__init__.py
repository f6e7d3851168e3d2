"""The Prefect flows: one orchestrator per job, each composing plain service functions as tasks.

Schedules, the CLI, the demo, tests and benchmarks run these same flows; ``pipelines/deployments.py``
only declares when each runs. Nothing below this package imports it. Every flow starts with
``start.start_run`` (its settings, and the process wired for domain events).
"""
