#!/usr/bin/env bash
# Our encryption against Laravel's own `Illuminate\Encryption\Encrypter` (Debian's
# php-illuminate-encryption), both directions: Laravel decrypts what `webhook encrypt
# --laravel` makes, and `webhook decrypt` reads what Laravel makes, in its base64 form and as
# the raw JSON object. Needs php-cli and php-illuminate-encryption; `.ci/run` installs them.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build -q --example webhook
webhook="${CARGO_TARGET_DIR:-target}/debug/examples/webhook"
php="php scripts/laravel/encrypter.php"
failures=0
check() {
    if [ "$2" = "$3" ]; then echo "ok - $1"; else echo "FAILED - $1: got [$3], expected [$2]"; failures=$((failures + 1)); fi
}

key='Zx8k2mQ4vLr7Tn1pWc6yHb3sFd9gJe5a'
for plain in '{"id":"evt_1","type":"webhook.test","timestamp":"2026-11-23T09:30:00Z","data":{"ok":true}}' \
             'é/ü "quoted" and a long line: '"$(printf 'x%.0s' $(seq 1 300))"; do
    ours=$(printf '%s' "$plain" | "$webhook" encrypt --key "$key" --laravel)
    check "Laravel decrypts ours (--laravel), ${#plain} bytes" "$plain" "$(printf '%s' "$ours" | $php decrypt "$key")"

    theirs=$(printf '%s' "$plain" | $php encrypt "$key")
    check "we decrypt Laravel's base64 form, ${#plain} bytes" "$plain" "$(printf '%s' "$theirs" | "$webhook" decrypt --key "$key")"
    check "we decrypt Laravel's JSON object, ${#plain} bytes" "$plain" "$(printf '%s' "$theirs" | base64 -d | "$webhook" decrypt --key "$key")"

    serialized=$(printf '%s' "$plain" | $php encrypt-value "$key")
    check "we unwrap Laravel's encrypt(\$value) (a serialized string), ${#plain} bytes" "$plain" "$(printf '%s' "$serialized" | "$webhook" decrypt --key "$key")"
done

# encrypt() of an array: refused, saying what arrived.
array=$(printf 'x' | $php encrypt-array "$key")
said=$(printf '%s' "$array" | "$webhook" decrypt --key "$key" 2>&1 >/dev/null || true)
case "$said" in
    *"PHP-serialized array"*) echo "ok - Laravel's encrypt([...]) is refused as a serialized array" ;;
    *) echo "FAILED - a serialized array: $said"; failures=$((failures + 1)) ;;
esac

# The GCM cipher: its `tag` is named, as Laravel names it for a CBC key.
gcm=$(printf 'x' | $php encrypt-gcm "$key")
said=$(printf '%s' "$gcm" | "$webhook" decrypt --key "$key" 2>&1 >/dev/null || true)
case "$said" in
    *"aes-256-gcm"*) echo "ok - a body Laravel encrypted with aes-256-gcm is refused, naming the cipher" ;;
    *) echo "FAILED - a GCM body: $said"; failures=$((failures + 1)) ;;
esac

# A body Laravel made with another key fails our MAC check.
other=$(printf 'secret' | $php encrypt 'another-32-character-secret-key!')
if printf '%s' "$other" | "$webhook" decrypt --key "$key" >/dev/null 2>&1; then
    echo "FAILED - a body made with another key was decrypted"; failures=$((failures + 1))
else
    echo "ok - a body Laravel made with another key is refused"
fi

[ "$failures" = 0 ] && echo "all checks passed" || { echo "$failures check(s) failed"; exit 1; }
