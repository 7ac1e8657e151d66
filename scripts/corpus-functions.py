#!/usr/bin/env python3
"""Counts the Excel functions the corpus's formulas use, and marks the ones the engine lacks.

Reads formula text from xlsx/xlsm (<f> elements of the worksheets) and ods (table:formula),
the formats that store formulas as text; xls/xlsb formulas are tokens (decoded by xlchat
itself), left out here. The supported set is parsed from FormulaFunctions.swift's
`supported` list. Run from the package root:  python3 scripts/corpus-functions.py [corpus dir]
"""
import collections, html, os, re, sys, zipfile

corpus = sys.argv[1] if len(sys.argv) > 1 else os.path.join("..", "shared", "corpus", "files")
src = open(os.path.join("Sources", "XLChatWorkbook", "Formula", "FormulaFunctions.swift")).read()
block = src[src.index("static let supported"):]
block = block[:block.index("]")]
supported = set(re.findall(r'"([A-Z0-9.]+)"', block))
fn = re.compile(r'(?<![A-Za-z0-9_.\[\]!$"])((?:_xlfn\.|_xlws\.|COM\.MICROSOFT\.|ORG\.OPENOFFICE\.)?[A-Za-z][A-Za-z0-9.]*)\s*\(')
strings = re.compile(r'"(?:[^"]|"")*"')
uses = collections.Counter()
files = collections.defaultdict(set)
for name in sorted(os.listdir(corpus)):
    path = os.path.join(corpus, name)
    ext = name.rsplit(".", 1)[-1].lower()
    texts = []
    try:
        with zipfile.ZipFile(path) as z:
            for m in z.namelist():
                if ext in ("xlsx", "xlsm") and m.startswith("xl/worksheets/") and m.endswith(".xml"):
                    texts += [html.unescape(t) for t in re.findall(r"<f[^>]*>([^<]*)</f>", z.read(m).decode("utf-8", "replace"))]
                elif ext == "ods" and m == "content.xml":
                    texts += [html.unescape(t) for t in re.findall(r'table:formula="([^"]*)"', z.read(m).decode("utf-8", "replace"))]
    except (zipfile.BadZipFile, OSError, KeyError):
        continue
    for t in texts:
        for f in fn.findall(strings.sub('""', t)):
            f = re.sub(r"^(_xlfn\.|_xlws\.|COM\.MICROSOFT\.|ORG\.OPENOFFICE\.)", "", f).upper()
            uses[f] += 1
            files[f].add(name)
for f, n in uses.most_common():
    print(f"{n:7d} {len(files[f]):3d} files  {'  ' if f in supported else 'MISSING'}  {f}")
