#!/usr/bin/env python3
"""Writes Tests/Data/xls-uncached-formulas.xls with xlwt (pip install xlwt).

xlwt saves every formula without a cached result: the FORMULA record's FormulaValue is
0xFFFF000000000003 ("empty string", [MS-XLS] 2.5.133) and no STRING record follows, so a
reader that trusts the cache shows every formula cell blank. Excel recalculates on open.
Expected values (Excel's): Sales!C6 = 1184.5 (SUM skips the text "$2,000.00" in a range),
Sales!D6 = 3 (COUNT), Lookup!B2 = 2469, Lookup!B3 = "N-ann" (text), Lookup!B4 = 2024-01-05
as a date (DATE in a date-formatted cell), Lookup!B5 = TRUE, Lookup!B6 = 61.725 (Sales!C2/20).
"""
import datetime, os, xlwt

wb = xlwt.Workbook()
ws = wb.add_sheet("Sales")
for c, h in enumerate(["Region", "Rep", "Amount", "Count"]):
    ws.write(0, c, h)
rows = [("N", "ann", 1234.5, 1), ("S", "bob", "$2,000.00", 2), ("E", "cy", "n/a", 3), ("W", "dee", -50, None)]
for r, row in enumerate(rows, start=1):
    for c, v in enumerate(row):
        if v is not None:
            ws.write(r, c, v)
ws.write(5, 0, "Total")
ws.write(5, 2, xlwt.Formula("SUM(C2:C5)"))
ws.write(5, 3, xlwt.Formula("COUNT(D2:D5)"))
ws2 = wb.add_sheet("Lookup")
ws2.write(0, 0, "k"); ws2.write(0, 1, "v")
date = xlwt.easyxf(num_format_str="yyyy-mm-dd")
ws2.write(1, 0, "a"); ws2.write(1, 1, xlwt.Formula("Sales!C2*2"))
ws2.write(2, 0, "b"); ws2.write(2, 1, xlwt.Formula('Sales!A2&"-"&Sales!B2'))
ws2.write(3, 0, "c"); ws2.write(3, 1, xlwt.Formula("DATE(2024,1,5)"), date)
ws2.write(4, 0, "d"); ws2.write(4, 1, xlwt.Formula("Sales!C2>1000"))
ws2.write(5, 0, "e"); ws2.write(5, 1, xlwt.Formula("Sales!C2/20"))
out = os.path.join(os.path.dirname(__file__), "..", "Tests", "Data", "xls-uncached-formulas.xls")
wb.save(out)
