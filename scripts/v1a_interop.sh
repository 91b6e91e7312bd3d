#!/usr/bin/env bash
# Standard Webhooks v1a (Ed25519) against an independent implementation, Python's
# `cryptography` (OpenSSL), both directions: Python verifies what `webhook sign --scheme
# standard-v1a` makes with a key from `webhook keygen`, and `webhook verify` accepts what
# Python signs with a key Python made (and refuses it once the body changes). Needs python3
# with `cryptography`; `.ci/run` installs it if missing.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build -q --example webhook
webhook="${CARGO_TARGET_DIR:-target}/debug/examples/webhook"
py="python3 scripts/v1a/ed25519.py"
failures=0
ok() { echo "ok - $1"; }
fail() { echo "FAILED - $1"; failures=$((failures + 1)); }

body='{"id":"evt_1","type":"course.member.completed","timestamp":"2026-11-23T09:30:00Z","data":{"é":"ü"}}'
ts=1795426200
for round in 1 2 3; do
    # Ours -> Python.
    keys=$("$webhook" keygen --scheme standard-v1a)
    whsk=$(sed -n 1p <<<"$keys"); whpk=$(sed -n 2p <<<"$keys")
    sig=$(printf '%s' "$body" | "$webhook" sign --scheme standard-v1a --signing-key "$whsk" \
        --id "msg_$round" --timestamp "$ts" | sed -n 's/^webhook-signature: //p')
    if printf '%s' "$body" | $py verify "$whpk" "msg_$round" "$ts" "$sig"; then
        ok "Python verifies our v1a signature (round $round)"
    else
        fail "Python refused our v1a signature (round $round)"
    fi
    if printf '%s' "$body " | $py verify "$whpk" "msg_$round" "$ts" "$sig"; then
        fail "Python accepted our signature over another body"
    else
        ok "Python refuses our signature over another body"
    fi

    # Python -> ours.
    keys=$($py keygen)
    pwhsk=$(sed -n 1p <<<"$keys"); pwhpk=$(sed -n 2p <<<"$keys")
    psig=$(printf '%s' "$body" | $py sign "$pwhsk" "msg_$round" "$ts")
    headers=(-H "webhook-id: msg_$round" -H "webhook-timestamp: $ts" -H "webhook-signature: $psig")
    if printf '%s' "$body" | "$webhook" verify --scheme standard-v1a --public-key "$pwhpk" \
        --now "$ts" "${headers[@]}" >/dev/null; then
        ok "we verify Python's v1a signature (round $round)"
    else
        fail "we refused Python's v1a signature (round $round)"
    fi
    if printf '%s' "$body " | "$webhook" verify --scheme standard-v1a --public-key "$pwhpk" \
        --now "$ts" "${headers[@]}" >/dev/null 2>&1; then
        fail "we accepted Python's signature over another body"
    else
        ok "we refuse Python's signature over another body"
    fi
    # Python's key pair, read by us, signs as Python does (Ed25519 is deterministic).
    same=$(printf '%s' "$body" | "$webhook" sign --scheme standard-v1a --signing-key "$pwhsk" \
        --id "msg_$round" --timestamp "$ts" | sed -n 's/^webhook-signature: //p')
    [ "$same" = "$psig" ] && ok "same key, same signature as Python (round $round)" \
        || fail "our signature with Python's key differs: $same vs $psig"
done

[ "$failures" = 0 ] && echo "all checks passed" || { echo "$failures check(s) failed"; exit 1; }
