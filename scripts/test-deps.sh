#!/usr/bin/env bash
# Installs what berth's tests and benchmarks need that a fresh machine may
# lack, and starts the Docker daemon if it is installed but not running.
# Idempotent: does nothing when all is there.
set -euo pipefail

pkgs=()
have() { command -v "$1" >/dev/null 2>&1; }
[ -x /bin/busybox ] || pkgs+=(busybox-static)
have parallel || pkgs+=(parallel)
have kcat || pkgs+=(kcat)
have python3 || pkgs+=(python3)
# The dashboard's browser tests (e2e/browser) and the metrics check.
have chromium || pkgs+=(chromium)
have promtool || pkgs+=(prometheus)

if [ "${#pkgs[@]}" -gt 0 ]; then
  echo "test-deps: installing ${pkgs[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq >/dev/null
  $sudo apt-get install -y -qq "${pkgs[@]}" >/dev/null
fi

if have docker && ! docker info >/dev/null 2>&1; then
  echo "test-deps: starting the Docker daemon" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo service docker start >/dev/null 2>&1 || ($sudo nohup dockerd >/tmp/dockerd.log 2>&1 &)
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || echo "test-deps: the Docker daemon did not start (see /tmp/dockerd.log)" >&2
fi
exit 0
