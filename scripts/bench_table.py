#!/usr/bin/env python3
"""Prints a Markdown table of the last `cargo bench` run, with each of our measurements next
to its baseline from the same run.

    cargo bench -p lms-webhooks-benches && python3 scripts/bench_table.py

Reads target/criterion/**/new/{benchmark,estimates}.json (criterion's own output) and takes
each measurement's median, which a burst of noise on a shared machine moves less than the
mean. Baselines:
in a group, ids starting with `raw`, `hmac/raw`, `serde_json` or naming the reference crate.
"""
import json
import pathlib
import sys

root = pathlib.Path(__file__).resolve().parent.parent / "target" / "criterion"
rows = {}
for bench in root.glob("**/new/benchmark.json"):
    meta = json.loads(bench.read_text())
    est = json.loads((bench.parent / "estimates.json").read_text())
    group = meta["group_id"]
    name = "/".join(p for p in (meta.get("function_id"), meta.get("value_str")) if p)
    rows.setdefault(group, {})[name] = est["median"]["point_estimate"]

if not rows:
    sys.exit("no criterion results under target/criterion: run `cargo bench` first")


def fmt(ns):
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.2f} {unit}"
    return f"{ns:.0f} ns"


def is_baseline(name):
    return name.startswith(("raw", "hmac/raw", "parse/serde_json", "serialize/serde_json")) or "standardwebhooks" in name


print("| group | measurement | median | vs baseline |")
print("|---|---|---:|---|")
for group in sorted(rows):
    measured = rows[group]
    baselines = {k: v for k, v in measured.items() if is_baseline(k)}
    raw_sum = sum(v for k, v in baselines.items() if k.startswith("raw/"))
    for name in sorted(measured):
        ns = measured[name]
        ratio = ""
        if not is_baseline(name):
            op = name.split("/")[0]
            same_op = [v for k, v in baselines.items() if k.startswith(op + "/") and "standardwebhooks" not in k]
            if group.startswith(("encrypt/", "decrypt/", "receiver/")) and raw_sum:
                ratio = f"{ns / raw_sum:.2f}× sum of raw primitives"
            elif same_op:
                ratio = f"{ns / same_op[0]:.2f}× serde_json"
            elif "hmac/raw" in baselines:
                ratio = f"{ns / baselines['hmac/raw']:.2f}× raw HMAC"
                if "hmac/raw_base64" in baselines:
                    ratio += f" ({ns / baselines['hmac/raw_base64']:.2f}× HMAC + base64)"
            elif group.startswith("fan_out") and f"raw_hmac/{name.split('/')[-1]}" in measured:
                n = name.split('/')[-1]
                ratio = f"{ns / measured['raw_hmac/' + n]:.2f}× N raw HMACs"
                if f"raw_hmac_request/{n}" in measured:
                    ratio += f"; {ns / measured['raw_hmac_request/' + n]:.2f}× N hand-built signed requests"
            ref = measured.get(op + "/standardwebhooks")
            if ref:
                ratio += f"; reference crate {ref / ns:.1f}× slower"
        print(f"| {group} | {name} | {fmt(ns)} | {ratio} |")
