#!/usr/bin/env bash
# A receiver-only app's cold build, side by side in one run: the same app (verify a Standard
# Webhooks request) on this crate with its default features, and on the reference
# `standardwebhooks` crate. Each builds from an empty target directory (the registry's
# downloads are shared and fetched first, so the network is not timed). Prints both times, the
# number of crates each builds, and the ratio; then the floor: the crate's default
# dependencies alone, without its code.
#
# usage: scripts/receiver_build_time.sh
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

app() {
    local name=$1 dependency=$2 main=$3
    mkdir -p "$work/$name/src"
    cat > "$work/$name/Cargo.toml" <<TOML
[package]
name = "$name"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
$dependency

[workspace]
TOML
    printf '%s\n' "$main" > "$work/$name/src/main.rs"
}

app ours "lms-webhooks = { path = \"$repo\" }" '
use lms_webhooks::{Scheme, Secret, Timestamp, Verifier};
fn main() {
    let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    let headers = [
        ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
        ("webhook-timestamp", "1614265330"),
        ("webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="),
    ];
    let verifier = Verifier::new(Scheme::standard(), [secret]);
    let at = Timestamp::from_unix(1_614_265_330).unwrap();
    let verified = verifier.verify(at, &headers[..], br#"{"test": 2432232314}"#).is_ok();
    // Default features leave v1a out: its keys are refused, naming the feature.
    let refused = matches!(
        Secret::parse("whpk_MCowBQYDK2VwAyEA"),
        Err(lms_webhooks::SecretError::NeedsFeature { feature: "v1a", .. })
    );
    println!("{:?}", verified && refused);
}'

app reference 'standardwebhooks = "1"' '
fn main() {
    let webhook = standardwebhooks::Webhook::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    let body = br#"{"test": 2432232314}"#;
    // The reference verifies against the clock: sign for now, then verify.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let signature = webhook.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", now, body).unwrap();
    let mut headers = http::HeaderMap::new();
    headers.insert("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek".parse().unwrap());
    headers.insert("webhook-timestamp", now.to_string().parse().unwrap());
    headers.insert("webhook-signature", signature.parse().unwrap());
    println!("{:?}", webhook.verify(body, &headers).is_ok());
}'
# The reference app needs `http` for its header map, as the reference crate itself does.
sed -i 's/^standardwebhooks = "1"$/standardwebhooks = "1"\nhttp = "1"/' "$work/reference/Cargo.toml"

# The floor: an app that depends on exactly the crate's default dependencies (same versions and
# features, read from its manifest) and contains none of its code. What the default features
# need costs this much before a line of lms-webhooks is compiled.
floor_deps=$(cd "$repo" && cargo metadata -q --no-deps --format-version 1 | python3 -c '
import json, sys
meta = json.load(sys.stdin)
pkg = next(p for p in meta["packages"] if p["name"] == "lms-webhooks")
for d in pkg["dependencies"]:
    if d["kind"] is None and not d["optional"]:
        default = str(d["uses_default_features"]).lower()
        features = ", ".join(json.dumps(f) for f in d["features"])
        print(d["name"] + " = { version = " + json.dumps(d["req"]) + ", default-features = "
              + default + ", features = [" + features + "] }")
')
app floor "$floor_deps" 'fn main() { println!("true"); }'

declare -A seconds crates
for name in reference floor ours; do
    (cd "$work/$name" && cargo fetch -q)
    start=$(date +%s.%N)
    (cd "$work/$name" && CARGO_TARGET_DIR="$work/$name/target" cargo build -q)
    end=$(date +%s.%N)
    seconds[$name]=$(python3 -c "print(f'{$end - $start:.1f}')")
    crates[$name]=$(cd "$work/$name" && cargo tree -q --prefix none -e normal,build | sed 's/ (\*)//' | sort -u | wc -l)
    out=$(cd "$work/$name" && CARGO_TARGET_DIR="$work/$name/target" cargo run -q)
    [ "$out" = "true" ] || { echo "the $name app did not verify the request: $out" >&2; exit 1; }
done
echo "receiver-only app, cold debug build (one run, same machine):"
echo "  standardwebhooks:                ${seconds[reference]} s, ${crates[reference]} crates"
echo "  lms-webhooks (default features): ${seconds[ours]} s, ${crates[ours]} crates"
python3 -c "print(f'  ratio: {${seconds[ours]} / ${seconds[reference]}:.2f}x')"
echo "  floor, its dependencies alone:   ${seconds[floor]} s, ${crates[floor]} crates ($(python3 -c "print(f'{${seconds[floor]} / ${seconds[reference]}:.2f}x')"))"
