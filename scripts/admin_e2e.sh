#!/usr/bin/env bash
# The admin page in a real browser: starts a private PostgreSQL, two loopback receivers, the
# `admin` example for a Free and a Pro tenant, and drives them with playwright-core in
# Debian's Chromium (scripts/admin-e2e/e2e.mjs). Needs the Debian packages postgresql and
# chromium, and Node.js with npm; `.ci/run` installs them. Not part of `cargo test`.
#
# usage: scripts/admin_e2e.sh [SCREENSHOT_DIR]   (default: a temporary directory)
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d)
chmod 755 "$work"
shots=${1:-$work/shots}
mkdir -p "$shots"
pids=()
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    as_pg "$bin/pg_ctl" -D "$work/pg/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_for() {
    for _ in $(seq 1 100); do
        if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $1), 0.2)" 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "nothing listens on port $1" >&2
    return 1
}

echo "== PostgreSQL (private, on loopback)"
mkdir -p "$work/pg"
[ "$(id -u)" = 0 ] && chown -R postgres:postgres "$work/pg"
as_pg "$bin/initdb" -D "$work/pg/data" -A trust -U postgres --no-sync >/dev/null
pg_port=$(free_port)
as_pg "$bin/pg_ctl" -D "$work/pg/data" -l "$work/pg/server.log" -w \
    -o "-p $pg_port -k $work/pg -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
db="postgres://postgres@127.0.0.1:$pg_port/postgres"

echo "== the admin example"
cargo build -q -p lms-webhooks-postgres --features admin --example admin
admin="${CARGO_TARGET_DIR:-target}/debug/examples/admin"
key="e2e-master-key-0123456789abcdef!"

echo "== receivers and pages"
good_port=$(free_port); hostile_port=$(free_port)
python3 scripts/admin-e2e/receiver.py "$good_port" 200 ok "$work/good.jsonl" & pids+=($!)
python3 scripts/admin-e2e/receiver.py "$hostile_port" 500 '<script>window.pwned=1;alert(1)</script>' "$work/hostile.jsonl" & pids+=($!)
free_page=$(free_port); pro_page=$(free_port)
"$admin" --database-url "$db" --master-key "$key" --listen "127.0.0.1:$free_page" \
    --tenant school_free --plan free --profile learnomy --allow-http --allow-private & pids+=($!)
wait_for "$free_page"
"$admin" --database-url "$db" --master-key "$key" --listen "127.0.0.1:$pro_page" \
    --tenant school_pro --plan pro --profile learnomy --allow-http --allow-private & pids+=($!)
wait_for "$pro_page"; wait_for "$good_port"; wait_for "$hostile_port"

echo "== playwright-core in Chromium"
(cd scripts/admin-e2e && npm ci --no-audit --no-fund --loglevel=error)
FREE="http://127.0.0.1:$free_page/webhooks" PRO="http://127.0.0.1:$pro_page/webhooks" \
GOOD="http://127.0.0.1:$good_port/hooks" GOOD_LOG="$work/good.jsonl" \
HOSTILE="http://127.0.0.1:$hostile_port/hooks" SHOTS="$shots" \
    node scripts/admin-e2e/e2e.mjs
echo "screenshots: $shots"
