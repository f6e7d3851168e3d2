"""Print the first completed, scheduled (not manually triggered) run of a deployment and exit 0, or
exit 1 when there is none yet. Used by run.sh against the compose stack's Prefect API; stdlib only,
since it runs on the host, outside the project's virtual environment."""

from __future__ import annotations

import json
import sys
import urllib.request


def post(url: str, body: dict[str, object]) -> object:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def main(api: str, deployment: str) -> int:
    deployments = post(f"{api}/deployments/filter", {"deployments": {"name": {"any_": [deployment]}}})
    assert isinstance(deployments, list)
    if not deployments:
        return 1
    runs = post(
        f"{api}/flow_runs/filter",
        {
            "flow_runs": {
                "deployment_id": {"any_": [d["id"] for d in deployments]},
                "state": {"type": {"any_": ["COMPLETED", "FAILED", "CRASHED"]}},
            },
            "sort": "START_TIME_ASC",
        },
    )
    assert isinstance(runs, list)
    for run in runs:
        state = run["state"]["type"]
        if state != "COMPLETED":
            print(f"run {run['name']} ended {state}: {run['state'].get('message')}", file=sys.stderr)
            continue
        if run.get("auto_scheduled"):
            print(f"{deployment} run {run['name']} {state} (started {run['start_time']}, scheduled)")
            return 0
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
