#!/usr/bin/env bash
# Runs the README's CLI example as a user pastes it (in a scratch directory) and checks that
# it ends in `valid`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# From the line that sets SECRET to the `# valid` comment, commands only.
awk '/^SECRET=whsec_/{on=1} on{print} /^# valid/{exit}' "$root/README.md" | grep -v '^#' \
    | sed "s|cargo run|cargo run --manifest-path '$root/Cargo.toml'|g" > "$work/example.sh"
grep -q 'webhook -- verify' "$work/example.sh" || { echo "README: CLI example not found"; exit 1; }
out=$(cd "$work" && bash "$work/example.sh")
echo "$out"
test "$(printf '%s\n' "$out" | tail -1)" = "valid" || { echo "README CLI example did not print valid"; exit 1; }
