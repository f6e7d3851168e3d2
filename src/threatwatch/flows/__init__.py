"""The Prefect flows: one orchestrator per job, each composing plain service functions as tasks.

Schedules, the CLI, the demo, tests and benchmarks run these same flows; ``pipelines/deployments.py``
only declares when each runs. Nothing below this package imports it. Importing it connects the
domain-event subscribers (``threatwatch.wiring``): a worker that loads a flow has alerts wired.
"""

from threatwatch.wiring import connect_subscribers

connect_subscribers()
