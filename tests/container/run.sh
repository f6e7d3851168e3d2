#!/usr/bin/env bash
# `make container-test`: build the image from the unchanged Dockerfile and prove it works as a user runs it.
#   1. build (Docker where an engine answers, else podman prepared by prepare-podman.sh);
#   2. the image alone: /healthz and /readyz 200 as the non-root user, `threatwatch classify` labels a
#      bundled threat, the demo collection runs, and a stop ends it within 5 s;
#   3. the compose stack (PostgreSQL, Prefect server, deploy job, app, worker): a scheduled collection
#      flow run completes on the worker and its post is in the app's review queue.
# Prints each step's result, the build time, the image size and what takes the space. Exits non-zero
# at the first failed step, after printing the failing container's log.
#
#   stages: TW_CONTAINER_STAGES="build smoke compose" (default: all three)
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
here="$repo/tests/container"
image="threatwatch:latest"
stages="${TW_CONTAINER_STAGES:-build smoke compose}"
project="threatwatch-ci"
smoke="threatwatch-smoke"
work="$(mktemp -d /tmp/threatwatch-container.XXXXXX)"

step() { printf '\n== %s\n' "$*"; }
ok() { printf 'ok   %s\n' "$*"; }
die() { printf 'FAIL %s\n' "$*" >&2; exit 1; }

# Poll URL until it answers 200 (prints the last answer on failure).
wait_http() {
    local url="$1" timeout="$2" started=$SECONDS body=""
    while ((SECONDS - started < timeout)); do
        if body="$(curl -fsS --max-time 5 "$url" 2>&1)"; then
            printf '%s' "$body"
            return 0
        fi
        sleep 2
    done
    printf '%s' "$body" >&2
    return 1
}

if docker info >/dev/null 2>&1; then
    engine=docker
    compose=(docker compose)
    build_flags=()
else
    engine=podman
    step "preparing podman (no Docker engine answers here)"
    "$here/prepare-podman.sh"
    # podman-compose in its own virtual environment (PyPI), outside the project's.
    tools="$repo/.cache/container-tools"
    [ -x "$tools/bin/podman-compose" ] || {
        python3 -m venv "$tools"
        "$tools/bin/pip" install --quiet "podman-compose==1.6.0"
    }
    compose=("$tools/bin/podman-compose")
    # pip inside the build trusts this machine's CA bundle (HTTPS is re-signed by a proxy) and takes
    # the CPU torch wheel from /opt/wheels where the PyTorch index is not reachable.
    printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\nfind-links = /opt/wheels\n' >"$work/pip.conf"
    build_flags=(--format docker --build-arg TORCH_INDEX_URL=
        -v /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro
        -v "$work/pip.conf:/etc/pip.conf:ro")
    [ -d /opt/wheels ] && build_flags+=(-v /opt/wheels:/opt/wheels:ro)
fi
command -v curl >/dev/null || die "curl is needed"

cleanup() {
    $engine rm -f -v "$smoke" >/dev/null 2>&1 || true
    if [[ " $stages " == *" compose "* ]]; then
        (cd "$repo" && "${compose[@]}" -p "$project" -f compose.yaml -f "$here/compose.test.yaml" down -v \
            >/dev/null 2>&1) || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

if [[ " $stages " == *" build "* ]]; then
    step "build $image with $engine from the unchanged Dockerfile"
    started=$SECONDS
    $engine build "${build_flags[@]}" -t "$image" "$repo" >"$work/build.log" 2>&1 \
        || { tail -n 40 "$work/build.log"; die "build"; }
    ok "built in $((SECONDS - started)) s"
fi
size="$($engine image inspect --format '{{.Size}}' "$image")"
ok "image size $((size / 1000000)) MB"
echo "what takes the space (MB):"
$engine run --rm --no-healthcheck --entrypoint sh "$image" -c '
    du -sm /opt/venv /opt/threatwatch/cache /opt/threatwatch/models /opt/threatwatch/labelled_data /usr 2>/dev/null
    echo "largest packages in the venv:"
    du -sm /opt/venv/lib/python3*/site-packages/* | sort -rn | head -n 6
    for tool in gcc cc g++ make; do command -v $tool >/dev/null && echo "compiler in the image: $tool"; done
    find / -xdev -type d \( -name .cache -o -name pip-cache \) -path "*pip*" 2>/dev/null | head -n 3
    true'

if [[ " $stages " == *" smoke "* ]]; then
    step "smoke: the image alone, as its non-root user"
    $engine rm -f -v "$smoke" >/dev/null 2>&1 || true
    # (podman without systemd cannot time the HEALTHCHECK and says so on stderr: kept out of the log)
    $engine run -d --name "$smoke" -p 127.0.0.1:18000:8000 \
        -e THREATWATCH_SECRET_KEY="container-test-$RANDOM$RANDOM" "$image" >/dev/null 2>"$work/run.err" \
        || { cat "$work/run.err"; die "start the image"; }
    fail_smoke() { $engine logs --tail 40 "$smoke" >&2 || true; die "$@"; }
    uid="$($engine exec "$smoke" id -u)"
    [ "$uid" != 0 ] || fail_smoke "runs as root"
    ok "runs as uid $uid"
    wait_http http://127.0.0.1:18000/healthz 120 >/dev/null || fail_smoke "/healthz"
    ok "/healthz 200"
    ready="$(wait_http http://127.0.0.1:18000/readyz 120)" || fail_smoke "/readyz"
    ok "/readyz 200: $ready"
    threat="Ik weet waar je woont en ik kom je vanavond halen, burgemeester."
    line="$($engine exec "$smoke" threatwatch classify --jsonl "$threat" 2>"$work/classify.err")" \
        || { cat "$work/classify.err"; fail_smoke "classify"; }
    label="$(printf '%s' "$line" | python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["label"])')"
    case "$label" in threat | coercion | doxxing) ok "classify: $label for \"$threat\"" ;;
    *) fail_smoke "classify labelled a bundled threat '$label': $line" ;; esac
    demo="$($engine exec -e THREATWATCH_DATA_DIR=/tmp/demo "$smoke" threatwatch demo --no-serve 2>&1)" \
        || { printf '%s\n' "$demo" >&2; fail_smoke "demo collection"; }
    printf '%s\n' "$demo" | grep -E -i "stored|new posts|queued" | head -n 3
    queued="$($engine exec -e THREATWATCH_DATA_DIR=/tmp/demo "$smoke" threatwatch queue list --json --limit 500 | grep -c '"id"' || true)"
    ((queued > 0)) || fail_smoke "the demo collection queued nothing"
    ok "demo collection: $queued review items queued"
    started=$(date +%s.%N)
    $engine stop -t 10 "$smoke" >/dev/null 2>&1
    stopped="$(python3 -c "import time; print(f'{time.time() - $started:.1f}')")"
    python3 -c "import sys; sys.exit(0 if $stopped < 5 else 1)" || fail_smoke "stop took $stopped s (limit 5 s)"
    ok "stopped in $stopped s"
    $engine rm -f -v "$smoke" >/dev/null 2>&1
fi

if [[ " $stages " == *" compose "* ]]; then
    step "compose: PostgreSQL, Prefect server, deploy job, app and worker"
    cd "$repo"
    export POSTGRES_PASSWORD="ci-$RANDOM$RANDOM" THREATWATCH_SECRET_KEY="ci-$RANDOM$RANDOM$RANDOM"
    files=(-p "$project" -f compose.yaml -f "$here/compose.test.yaml")
    "${compose[@]}" "${files[@]}" down -v >/dev/null 2>&1 || true
    started=$SECONDS
    "${compose[@]}" "${files[@]}" up -d >"$work/compose.log" 2>&1 || { cat "$work/compose.log"; die "compose up"; }
    app="$($engine ps --filter "label=com.docker.compose.project=$project" --filter "label=com.docker.compose.service=app" --format '{{.Names}}' | head -n 1)"
    logs() {
        for service in postgres prefect-server deploy app worker; do
            name="$($engine ps -a --filter "label=com.docker.compose.project=$project" --filter "label=com.docker.compose.service=$service" --format '{{.Names}}' | head -n 1)"
            [ -n "$name" ] && { echo "--- $service"; $engine logs --tail 25 "$name" 2>&1; }
        done
    }
    fail_compose() { logs >&2; die "$@"; }
    [ -n "$app" ] || fail_compose "no app container"
    wait_http http://127.0.0.1:8000/readyz 300 >/dev/null || fail_compose "app /readyz"
    ok "app ready after $((SECONDS - started)) s"
    wait_http http://127.0.0.1:4200/api/health 300 >/dev/null || fail_compose "prefect server"
    ok "prefect server healthy"
    demo_dir=/opt/venv/lib/python3.11/site-packages/threatwatch/demo
    $engine exec "$app" threatwatch officials import "$demo_dir/watchlist.yaml" >/dev/null || fail_compose "officials import"
    feed="$($engine exec "$app" sh -c "ls $demo_dir/feeds/*.xml | head -n 1")"
    $engine exec "$app" threatwatch sources add "$feed" >/dev/null || fail_compose "sources add"
    ok "watchlist and one demo feed ($(basename "$feed")) added through the app container"
    deadline=$((SECONDS + 420))
    run=""
    while ((SECONDS < deadline)); do
        run="$(python3 "$here/flow_runs.py" http://127.0.0.1:4200/api collect-feed)" && break
        sleep 5
    done
    [ -n "$run" ] || fail_compose "no completed scheduled collect-feed run within 7 minutes"
    ok "scheduled flow run completed on the worker: $run"
    queued="$($engine exec "$app" threatwatch queue list --json --limit 500 | grep -c '"id"' || true)"
    ((queued > 0)) || fail_compose "the collected posts are not in the app's queue"
    ok "$queued review items in the app's queue"
fi
step "container test passed"
