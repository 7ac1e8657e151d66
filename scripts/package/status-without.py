#!/usr/bin/env python3
"""Writes a dpkg status file for a machine that never had PACKAGE: the installed packages less
PACKAGE and everything that (transitively) depends on it, so apt and dpkg judge a .deb against
that machine without touching this one.

    status-without.py /var/lib/dpkg/status libsqlite3-0 > /tmp/status
    apt-get install --simulate -o Dir::State::status=/tmp/status -o Dir::Etc::SourceList=/dev/null ...

A dependency group with alternatives (`a | b`) stays satisfied while one of them is kept;
virtual packages count as present when a kept package provides them.
"""
import re
import sys


def names(field):
    """[[alternatives...], ...] of package names in a Depends-like field."""
    groups = []
    for group in field.split(","):
        alts = [re.split(r"[\s(:]", a.strip(), maxsplit=1)[0] for a in group.split("|") if a.strip()]
        if alts:
            groups.append(alts)
    return groups


def main(status_path, removed_pkg):
    paras = [p for p in open(status_path, encoding="utf-8").read().split("\n\n") if p.strip()]
    info = []
    for p in paras:
        fields = {}
        key = None
        for line in p.splitlines():
            if line[:1] in (" ", "\t") and key:
                fields[key] += " " + line.strip()
            elif ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        info.append((p, fields))
    removed = {removed_pkg}
    while True:
        kept = [f for _, f in info if f.get("Package") not in removed]
        present = {f["Package"] for f in kept} | {n for f in kept for g in names(f.get("Provides", "")) for n in g}
        newly = set()
        for f in kept:
            for g in names(f.get("Depends", "")) + names(f.get("Pre-Depends", "")):
                if not any(a in present for a in g):
                    newly.add(f["Package"])
                    break
        if not newly:
            break
        removed |= newly
    sys.stdout.write("\n\n".join(p for p, f in info if f.get("Package") not in removed) + "\n")
    sys.stderr.write(f"status-without: {removed_pkg} and {len(removed) - 1} packages that need it left out\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
