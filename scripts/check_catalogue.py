#!/usr/bin/env python3
"""Checks the committed event-type list against the project's shared CATALOGUE.md.

    python3 scripts/check_catalogue.py ../shared/CATALOGUE.md

`tests/vectors/event_types.txt` is the catalogue's source of truth inside the repository (the
tests read it); this script, run by CI where the shared catalogue sits beside the repository,
keeps the two equal. A user's clone has no shared folder and needs neither.
"""
import pathlib
import re
import sys

catalogue = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/CATALOGUE.md")
committed = pathlib.Path(__file__).resolve().parent.parent / "tests" / "vectors" / "event_types.txt"

# The first cell of each table row that is a dotted lower-case name.
names = []
for line in catalogue.read_text().splitlines():
    if not line.startswith("| "):
        continue
    cell = line[2:].split(" ")[0]
    if "." in cell and re.fullmatch(r"[a-z._]+", cell):
        names.append(cell)

ours = [l.strip() for l in committed.read_text().splitlines() if l.strip() and not l.startswith("#")]
if names != ours:
    missing = [n for n in names if n not in ours]
    extra = [n for n in ours if n not in names]
    print(f"event_types.txt differs from {catalogue}: missing {missing}, extra {extra}, order or count differs"
          if missing or extra else f"event_types.txt lists the same names as {catalogue} in another order")
    sys.exit(1)
print(f"{len(ours)} event types, the same as {catalogue}")
