#!/usr/bin/env bash
# Compares the project's own CI cost at two commits: `cargo clippy --all-targets` plus
# `cargo test`, with the dependencies already built (the same Cargo.lock) and the crate itself
# cold (`cargo clean -p drift-exporter` before every run), alternating, N runs each.
#
#   bash .ci/compare-time.sh OLD NEW [N]
#
# The rest of a cold CI run (apt, pip, the dependencies' build) is the same at both commits
# when Cargo.lock is. Prints one line per run; take the medians.
set -euo pipefail
old=$1 new=$2 runs=${3:-3}
repo=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$repo/target}
work=$(mktemp -d)
trap 'git -C "$repo" worktree remove --force "$work/old" >/dev/null 2>&1 || true;
      git -C "$repo" worktree remove --force "$work/new" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
git -C "$repo" worktree add -f "$work/old" "$old" >/dev/null
git -C "$repo" worktree add -f "$work/new" "$new" >/dev/null
export CARGO_TARGET_DIR=$target
for i in $(seq 1 "$runs"); do
  for side in old new; do
    cd "$work/$side"
    cargo clean -p drift-exporter >/dev/null 2>&1
    start=$(date +%s.%N)
    if cargo clippy --all-targets -- -D warnings >"$work/log" 2>&1 && cargo test >>"$work/log" 2>&1; then rc=0; else rc=1; fi
    end=$(date +%s.%N)
    tests=$(awk '/^test result:/ { for (i = 1; i <= NF; i++) if ($(i+1) ~ /^passed/) p += $i } END { print p + 0 }' "$work/log")
    printf '%s run %d: rc=%d %.1f s, %d tests\n' "$side" "$i" "$rc" "$(echo "$end - $start" | bc)" "$tests"
  done
done
