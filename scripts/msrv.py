#!/usr/bin/env python3
"""The workspace's MSRV against its dependencies' own: prints the highest `rust-version` that a
dependency of each published crate declares (normal dependencies, all features), and fails if
it is above the workspace's. `cargo +<msrv>` cannot be fetched on the CI machines, so this is
how the MSRV is kept honest, with `cargo check` on the current toolchain honouring
`rust-version` (cargo refuses a toolchain older than it)."""
import json, subprocess, sys

meta = json.loads(subprocess.check_output(
    ["cargo", "metadata", "--format-version", "1", "--all-features", "--locked"]))
packages = {p["id"]: p for p in meta["packages"]}
nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}

def version(v):
    return tuple(int(x) for x in (v or "0").split(".")[:3] + ["0"] * (3 - len((v or "0").split("."))))

def normal_deps(pid):
    for dep in nodes[pid]["deps"]:
        if any(k["kind"] is None for k in dep["dep_kinds"]):
            yield dep["pkg"]

failed = False
for member in meta["workspace_members"]:
    pkg = packages[member]
    if pkg.get("publish") == []:
        continue
    ours = pkg.get("rust_version")
    seen, stack, top = set(), [member], (None, "0")
    while stack:
        pid = stack.pop()
        for dep in normal_deps(pid):
            if dep in seen:
                continue
            seen.add(dep)
            stack.append(dep)
            rv = packages[dep].get("rust_version")
            if dep in meta["workspace_members"]:
                continue
            if rv and version(rv) > version(top[1]):
                top = (packages[dep]["name"], rv)
    print(f"{pkg['name']}: rust-version {ours}; highest among {len(seen)} dependencies: "
          f"{top[1]} ({top[0]})")
    if version(top[1]) > version(ours):
        failed = True
sys.exit(1 if failed else 0)
