#!/usr/bin/env python3
"""Regenerates examples/sales.xlsx (needs: pip install xlsxwriter). Deterministic."""
import datetime as dt, random, xlsxwriter, os
rnd = random.Random(7)
wb = xlsxwriter.Workbook(os.path.join(os.path.dirname(__file__), 'sales.xlsx'))
bold = wb.add_format({'bold': True}); date = wb.add_format({'num_format': 'yyyy-mm-dd'}); money = wb.add_format({'num_format': '#,##0.00'})
ws = wb.add_worksheet('Orders 2024')
ws.write(0, 0, 'Orders 2024 (exported from the shop)', bold)
header = ['Order', 'Date', 'Region', 'Product', 'Units', 'Unit price', 'Revenue', 'Paid']
ws.write_row(2, 0, header, bold)
products = {'Gizmo': 25.0, 'Widget': 12.5, 'Sprocket': 4.75, 'Flange': 60.0}
regions = ['North', 'South', 'East', 'West']
for i in range(120):
    r = 3 + i
    p = rnd.choice(list(products)); u = rnd.randint(1, 50)
    ws.write(r, 0, f'ORD-{11700 + i}')
    ws.write_datetime(r, 1, dt.datetime(2024, 1, 1) + dt.timedelta(days=rnd.randint(0, 364)), date)
    ws.write(r, 2, rnd.choice(regions)); ws.write(r, 3, p); ws.write_number(r, 4, u)
    ws.write_number(r, 5, products[p], money)
    ws.write_formula(r, 6, f'=E{r+1}*F{r+1}', money, u * products[p])
    ws.write_boolean(r, 7, rnd.random() < 0.8)
t = wb.add_worksheet('Targets')
t.write_row(0, 0, ['Region', 'Target'], bold)
for i, reg in enumerate(regions): t.write(i + 1, 0, reg); t.write_number(i + 1, 1, 20000 + 2500 * i)
wb.define_name('Targets', '=Targets!$A$1:$B$5')
wb.close()
