#!/usr/bin/env bash
# build-rev.sh REV: builds berth as of git revision REV into bin/berth-REV
# (for benchmarks against it) and prints the binary's path.
set -euo pipefail
rev=${1:?usage: build-rev.sh REV}
top=$(git rev-parse --show-toplevel)
sha=$(git -C "$top" rev-parse --short "$rev")
out="$top/bin/berth-$sha"
if [ ! -x "$out" ]; then
  tmp=$(mktemp -d)
  trap 'git -C "$top" worktree remove --force "$tmp" >/dev/null 2>&1 || rm -rf "$tmp"' EXIT
  git -C "$top" worktree add --detach -q "$tmp" "$sha"
  mkdir -p "$top/bin"
  (cd "$tmp" && go build -o "$out" ./cmd/berth) >&2
fi
echo "$out"
