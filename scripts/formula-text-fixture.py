#!/usr/bin/env python3
"""A formula-rich xls and ods for FormulaTextCorpusTests, made by LibreOffice from an openpyxl workbook.

openpyxl writes Tests/Data/formula-text-fixture.xlsx's formulas (operators and precedence,
relative / absolute / whole-column / whole-row / cross-sheet references, names, functions of
fixed and variable argument counts, IF / CHOOSE, constants, array constants, union and
intersection, formulas copied down a column); LibreOffice converts it to
Tests/Data/formula-text-fixture.xls (BIFF8) and .ods. Their expected texts are then made the
same way as the corpus's (scripts/formula-text-expected.py reads these fixtures too: LibreOffice
converts each back to xlsx, openpyxl prints the formulas). Needs LibreOffice and openpyxl.
Run from the package root:  python3 scripts/formula-text-fixture.py
"""
import os, shutil, subprocess, tempfile
import openpyxl
from openpyxl.workbook.defined_name import DefinedName

formulas = [
    "A1+B1*2", "(A2+B2)*2", "-A3^2", "A4%", "SUM(A1:A10)", "SUM($A$1:$A$10)/COUNT(A:A)",
    'IF(A7>5,"big","small")', "IFERROR(A8/B8,0)", 'SUMIFS(A1:A10,B1:B10,">2")',
    "VLOOKUP(A10,'Data 2024'!$A$1:$B$5,2,FALSE)", "'Data 2024'!A1*Sheet2!B2", "ROUND(AVERAGE(A1:A10),2)",
    '"He said ""hi"" "&A1', "SUM(2:2)", "CHOOSE(2,A1,A2,A3)", "NA()", "SUM({1,2;3,4})", "Rate*A1",
    "INDEX(A1:B10,MATCH(5,A1:A10,0),2)", "AND(A1>0,OR(B1<0,NOT(A2=3)))", 'LEFT("abc",2)&MID("abcdef",2,3)',
    "DATE(2024,1,31)+EDATE(DATE(2024,1,1),1)", "SUMPRODUCT(A1:A10,B1:B10)", "1E+20*A1", "0.125*A1",
    "SUM(A1:A3 A2:A5)", "SUM((A1:A2,B1:B2))", "MAX(A1:A10)-MIN(A1:A10)", 'COUNTIF(A1:A10,">="&B1)',
    "2^3^2", 'TEXT(A1,"0.00")', "$A1+A$1+$A$1", "SUM(Sheet2!A1:B3)", "ISBLANK(Z1)", "A1<>B1",
    "-(A1+B1)", "1-(2-3)", "(1-2)-3", "A1&B1&\"x\"", "SUM(A:B)", "TODAY()", "MOD(A1,3)*-1",
]

tmp = tempfile.mkdtemp()
wb = openpyxl.Workbook()
ws = wb.active
ws.title = "Calc"
for r in range(1, 11):
    ws.cell(r, 1, r)
    ws.cell(r, 2, r * 1.5)
for i, f in enumerate(formulas, start=1):
    ws.cell(i, 3, "=" + f)
for r in range(1, 11):  # copied down: a shared formula when the writer makes one
    ws.cell(r, 4, f"=A{r}*B{r}+$B$1")
data = wb.create_sheet("Data 2024")
for r in range(1, 6):
    data.cell(r, 1, r)
    data.cell(r, 2, r * 10)
s2 = wb.create_sheet("Sheet2")
for r in range(1, 4):
    for c in range(1, 3):
        s2.cell(r, c, r + c)
wb.defined_names["Rate"] = DefinedName("Rate", attr_text="'Data 2024'!$B$1")
src = os.path.join(tmp, "formula-text-fixture.xlsx")
wb.save(src)
out = os.path.join("Tests", "Data")
for ext in ("xls", "ods"):
    subprocess.run(["soffice", "--headless", "--convert-to", ext, "--outdir", out, src], check=True,
                   capture_output=True, timeout=300)
    print(os.path.join(out, "formula-text-fixture." + ext))
shutil.rmtree(tmp)
