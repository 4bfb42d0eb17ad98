#!/usr/bin/env bash
# Idempotent provisioning for a bare Debian machine (CI, or anyone without a Docker
# engine or a reachable registry). Each step is skipped when its result is already there:
#   1. a Docker engine that answers (else Debian's docker.io, dockerd started in background)
#   2. the base image named by $PUBLISH_BASE_IMAGE (else pulled, else built locally with
#      debootstrap and `docker import`)
#   3. Chromium for the browser tests (Debian's package)
#   4. nginx and openssl for the deploy test (tests/test_deploy.py; Debian's packages)
# Logs go to stderr; the last line on stdout is `export PUBLISH_BASE_IMAGE=...`, so
#   eval "$(bash scripts/provision.sh)"
# leaves the variable set for the tests.
set -euo pipefail

log() { printf '[provision] %s\n' "$*" >&2; }
LOCAL_BASE="${PUBLISH_LOCAL_BASE:-publish-base:bookworm}"
BASE="${PUBLISH_BASE_IMAGE:-python:3.11-slim}"
APT_UPDATED=0

apt_install() {
  if [ "$APT_UPDATED" = 0 ]; then
    log "apt-get update"
    apt-get update -qq >&2
    APT_UPDATED=1
  fi
  log "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}

engine_answers() { timeout 10 docker info >/dev/null 2>&1; }

# 1. Docker engine ---------------------------------------------------------------------
if engine_answers; then
  log "docker engine answers: skipping engine setup"
else
  command -v dockerd >/dev/null 2>&1 || apt_install docker.io
  if ! command -v docker >/dev/null 2>&1; then apt_install docker.io; fi
  log "starting dockerd in the background (log: /var/log/publish-dockerd.log)"
  nohup dockerd >/var/log/publish-dockerd.log 2>&1 &
  for _ in $(seq 1 60); do
    engine_answers && break
    sleep 1
  done
  engine_answers || { log "dockerd did not answer within 60 s; see /var/log/publish-dockerd.log"; exit 1; }
  log "docker engine is up"
fi

# 2. Base image -------------------------------------------------------------------------
if docker image inspect "$BASE" >/dev/null 2>&1; then
  log "base image $BASE is present"
elif timeout 120 docker pull "$BASE" >/dev/null 2>&1; then
  log "pulled base image $BASE"
else
  log "base image $BASE is absent and cannot be pulled; using a local one ($LOCAL_BASE)"
  BASE="$LOCAL_BASE"
  if docker image inspect "$BASE" >/dev/null 2>&1; then
    log "local base image $BASE is present"
  else
    command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap
    mirror=$(grep -h -m1 -E '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
      | head -n1 | awk '{ if ($1 == "URIs:") print $2; else { for (i=2;i<=NF;i++) if ($i ~ /^https?:/) { print $i; exit } } }' || true)
    mirror="${mirror:-http://deb.debian.org/debian}"
    rootfs=$(mktemp -d /var/tmp/publish-rootfs.XXXXXX)
    log "debootstrap bookworm from $mirror (about a minute)"
    debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
      bookworm "$rootfs" "$mirror" >&2
    # apt inside the image should use the same mirror as the host
    echo "deb $mirror bookworm main" >"$rootfs/etc/apt/sources.list"
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -c . | docker import \
      -c 'ENV LANG=C.UTF-8' -c 'CMD ["/bin/bash"]' - "$BASE" >&2
    rm -rf "$rootfs"
    log "built local base image $BASE"
  fi
fi

# 3. Chromium for the browser journey ------------------------------------------------------
if [ "${PUBLISH_SKIP_CHROMIUM:-0}" != 1 ]; then
  if command -v chromium >/dev/null 2>&1; then
    log "chromium is present"
  else
    apt_install chromium fonts-dejavu-core
  fi
fi

# 4. nginx and openssl for the deploy test ------------------------------------------------
# The test runs its own nginx (foreground, loopback ports, config in a temp folder). Where
# policy-rc.d allows it, Debian's package also starts its own service on port 80; the
# tests never use that one.
if [ "${PUBLISH_SKIP_NGINX:-0}" != 1 ]; then
  missing=()
  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
  command -v openssl >/dev/null 2>&1 || missing+=(openssl)
  if [ "${#missing[@]}" = 0 ]; then
    log "nginx and openssl are present"
  else
    apt_install "${missing[@]}"
  fi
fi

echo "export PUBLISH_BASE_IMAGE=$BASE"
