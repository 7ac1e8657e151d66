#!/usr/bin/env python3
"""Expected formula texts for the corpus's xls, xlsb and ods files, as LibreOffice + openpyxl show them.

Each file is converted to xlsx by LibreOffice (`soffice --headless --convert-to xlsx`), and the
formula of every formula cell is read back with openpyxl (the text stored in the xlsx, without the
leading `=`; an array formula gives its text at its first cell). The result is written to
Tests/Data/formula-text-expected.json, which FormulaTextCorpusTests compares our readers against.

Needs: LibreOffice (`apt-get install -y libreoffice-calc`) and `pip install openpyxl`.
Run from the package root:  python3 scripts/formula-text-expected.py [../shared/corpus]
"""
import json, os, subprocess, sys, tempfile

import openpyxl
from openpyxl.worksheet.formula import ArrayFormula

corpus = sys.argv[1] if len(sys.argv) > 1 else os.path.join("..", "shared", "corpus")
files_dir = os.path.join(corpus, "files")
names = sorted(f for f in os.listdir(files_dir) if f.lower().endswith((".xls", ".xlsb", ".ods")))

out = {"generator": "scripts/formula-text-expected.py: LibreOffice " +
       subprocess.run(["soffice", "--version"], capture_output=True, text=True).stdout.strip() +
       ", openpyxl " + openpyxl.__version__,
       "converted": [], "failed": {}, "files": {}, "fixtures": {}}


def formulas_of(src, tmp):
    """{sheet: {cell: formula}} of `src` as LibreOffice converts it to xlsx, or None when it cannot."""
    r = subprocess.run(["soffice", "--headless", "--convert-to", "xlsx", "--outdir", tmp, src],
                       capture_output=True, text=True, timeout=300)
    dst = os.path.join(tmp, os.path.splitext(os.path.basename(src))[0] + ".xlsx")
    if not os.path.exists(dst):
        return None, ((r.stderr or r.stdout).strip().splitlines()[-1:] or ["no output"])
    wb = openpyxl.load_workbook(dst)
    sheets = {}
    for ws in wb.worksheets:
        cells = {}
        for row in ws.iter_rows():
            for c in row:
                v = c.value
                if isinstance(v, ArrayFormula):
                    cells[c.coordinate] = v.text[1:] if v.text.startswith("=") else v.text
                elif c.data_type == "f" and isinstance(v, str):
                    cells[c.coordinate] = v[1:] if v.startswith("=") else v
        if cells:
            sheets[ws.title] = cells
    os.remove(dst)
    return sheets, None


with tempfile.TemporaryDirectory() as tmp:
    for name in names:
        sheets, failure = formulas_of(os.path.join(files_dir, name), tmp)
        if sheets is None:
            out["failed"][name] = failure
            continue
        out["converted"].append(name)
        if sheets:
            out["files"][name] = sheets
    # The generated fixtures beside this file's output (scripts/formula-text-fixture.py).
    for name in sorted(os.listdir(os.path.join("Tests", "Data"))):
        if name.startswith("formula-text-fixture.") and name.endswith((".xls", ".xlsb", ".ods")):
            sheets, failure = formulas_of(os.path.join("Tests", "Data", name), tmp)
            out["fixtures"][name] = sheets or {}

path = os.path.join("Tests", "Data", "formula-text-expected.json")
with open(path, "w", encoding="utf-8") as f:
    json.dump(out, f, indent=1, ensure_ascii=False, sort_keys=True)
    f.write("\n")
print(f"{path}: {sum(len(c) for s in out['files'].values() for c in s.values())} formula cells "
      f"in {len(out['files'])} corpus files ({len(out['converted'])} converted, {len(out['failed'])} failed), "
      f"{sum(len(c) for s in out['fixtures'].values() for c in s.values())} in {len(out['fixtures'])} fixtures")
