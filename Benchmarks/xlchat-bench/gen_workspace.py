#!/usr/bin/env python3
"""A workspace folder for `xlchat-bench workspace`: N files (a quarter xlsx, the rest csv) holding
ROWS data rows in all, as monthly order exports per region plus a customers file.

usage: gen_workspace.py DIR [--files 500] [--rows 2000000] [--seed 7]
"""
import argparse, csv, os, random

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--files", type=int, default=500)
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    os.makedirs(a.dir, exist_ok=True)
    regions = ["North", "South", "East", "West"]
    per = max(1, a.rows // a.files)
    n_xlsx = a.files // 4
    import openpyxl
    for i in range(a.files):
        year, month = 2000 + i // 12, i % 12 + 1
        sub = os.path.join(a.dir, str(year))
        os.makedirs(sub, exist_ok=True)
        rows = [[year * 100000 + month * 1000 + k, f"C{rnd.randrange(5000)}", rnd.choice(regions),
                 f"{year}-{month:02d}-{rnd.randrange(1, 28):02d}", round(rnd.uniform(1, 2000), 2)] for k in range(per)]
        header = ["OrderId", "CustomerId", "Region", "Date", "Amount"]
        if i < n_xlsx:
            wb = openpyxl.Workbook(write_only=True)
            ws = wb.create_sheet("Orders")
            ws.append(header)
            for r in rows:
                ws.append(r)
            wb.save(os.path.join(sub, f"orders_{year}_{month:02d}.xlsx"))
        else:
            with open(os.path.join(sub, f"orders_{year}_{month:02d}.csv"), "w", newline="") as f:
                w = csv.writer(f)
                w.writerow(header)
                w.writerows(rows)
    with open(os.path.join(a.dir, "customers.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["CustomerId", "Segment"])
        for c in range(5000):
            w.writerow([f"C{c}", rnd.choice(["Retail", "Trade", "Enterprise"])])

if __name__ == "__main__":
    main()
