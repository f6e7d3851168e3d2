#!/usr/bin/env bash
# Makes podman able to build and run the project's Dockerfile on a machine without a Docker engine or a
# container registry (how and why: ../shared/notes/container-build.md). Idempotent; run as root.
#   - podman, runc and debootstrap from Debian;
#   - runc and explicit ulimits (crun cannot set them here, and cgroups are in hybrid mode);
#   - python:3.11-slim, the Dockerfile's base, made locally from Debian bookworm with debootstrap;
#   - a stand-in for compose's postgres:16, built from Debian's PostgreSQL (tests/container/postgres/).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

if ! command -v podman >/dev/null || ! command -v runc >/dev/null || ! command -v debootstrap >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc debootstrap >/dev/null
fi

conf=/etc/containers/containers.conf
if ! grep -q '^runtime = "runc"' "$conf" 2>/dev/null; then
    mkdir -p /etc/containers
    cat >>"$conf" <<'CONF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
CONF
fi

# The Debian mirror apt already uses here (a proxy or snapshot may stand in for deb.debian.org).
mirror="$(grep -hoE '^URIs: \S+' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1 | cut -d' ' -f2)"
mirror="${mirror:-$(grep -hoE '^deb \S+' /etc/apt/sources.list 2>/dev/null | head -n1 | cut -d' ' -f2)}"
mirror="${mirror:-http://deb.debian.org/debian}"

if ! podman image exists docker.io/library/python:3.11-slim; then
    rootfs="$(mktemp -d /var/tmp/threatwatch-rootfs.XXXXXX)"
    debootstrap --variant=minbase \
        --include=python3,python3-venv,python3-pip,python-is-python3,ca-certificates \
        bookworm "$rootfs" "$mirror" >/dev/null
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -c . | podman import --change 'ENV LANG=C.UTF-8' - docker.io/library/python:3.11-slim >/dev/null
    rm -rf "$rootfs"
fi

if ! podman image exists docker.io/library/postgres:16; then
    podman build --quiet --format docker --tag docker.io/library/postgres:16 "$here/postgres" >/dev/null
fi
podman images --format '{{.Repository}}:{{.Tag}} {{.Size}}'
