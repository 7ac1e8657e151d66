#!/usr/bin/env python3
# Usage: gen_xlsb.py OUT.xlsb ROWS  -- a mixed ROWS x 20 xlsb (BIFF12 records written directly, seed 42),
# shaped like ../shared/bench/gen_workbooks.py mixed sheet, for `xlchat-bench read` (no xlsb writer installs here).
# Includes BrtWsDim: python-calamine refuses a sheet without it ("failed to fill whole buffer").
import random, struct, zipfile, sys
def varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F; v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v: return bytes(out)
def rec(t, p=b''): return varint(t) + varint(len(p)) + p
def wide(s):
    u = s.encode('utf-16-le'); return struct.pack('<I', len(u)//2) + u
rnd = random.Random(42)
words = [''.join(rnd.choice('abcdefghijklmnopqrstuvwxyz') for _ in range(rnd.randint(3, 10))) for _ in range(2000)]
sst = {}
def isst(s):
    if s not in sst: sst[s] = len(sst)
    return sst[s]
cell = lambda c, st=0: struct.pack('<II', c, st)
N = int(sys.argv[2])
body = bytearray(rec(0x81) + rec(0x94, struct.pack('<IIII', 0, N, 0, 19)) + rec(0x91))
hdr = ['id'] + [f'f{i}' for i in range(1, 6)] + ['qty', 'count'] + [f's{i}' for i in range(1, 7)] + ['date1', 'date2', 'timestamp', 'flag', 'region', 'amount']
body += rec(0, struct.pack('<I', 0) + bytes(13))
for c, h in enumerate(hdr): body += rec(7, cell(c) + struct.pack('<I', isst(h)))
cats = ['North', 'South', 'East', 'West', 'Central', 'Online']
for r in range(1, int(sys.argv[2]) + 1):
    body += rec(0, struct.pack('<I', r) + bytes(13))
    body += rec(2, cell(0) + struct.pack('<I', (r << 2) | 2))
    for c in range(1, 6): body += rec(5, cell(c) + struct.pack('<d', rnd.gauss(100, 50)))
    body += rec(2, cell(6) + struct.pack('<I', (rnd.randint(0, 1000) << 2) | 2))
    body += rec(5, cell(7) + struct.pack('<d', rnd.randint(-50000, 50000)))
    for c in range(8, 14): body += rec(7, cell(c) + struct.pack('<I', isst(rnd.choice(words))))
    body += rec(2, cell(14, 1) + struct.pack('<I', ((36526 + rnd.randint(0, 9000)) << 2) | 2))
    body += rec(2, cell(15, 1) + struct.pack('<I', ((36526 + rnd.randint(0, 9000)) << 2) | 2))
    body += rec(5, cell(16, 2) + struct.pack('<d', 36526 + rnd.random() * 9000))
    body += rec(4, cell(17) + bytes([rnd.random() < 0.5]))
    body += rec(7, cell(18) + struct.pack('<I', isst(rnd.choice(cats))))
    body += rec(5, cell(19) + struct.pack('<d', round(rnd.uniform(0, 10000), 2)))
body += rec(0x92) + rec(0x82)
wb = rec(0x83) + rec(0x99, struct.pack('<II', 0, 0) + wide('')) + rec(0x8F) + rec(0x9C, struct.pack('<II', 0, 1) + wide('rId1') + wide('data')) + rec(0x90) + rec(0x84)
st = rec(0x116) + rec(0x2C, struct.pack('<H', 164) + wide('yyyy-mm-dd')) + rec(0x2C, struct.pack('<H', 165) + wide('yyyy-mm-dd hh:mm:ss'))
st += rec(0x269, struct.pack('<I', 3)) + b''.join(rec(0x2F, struct.pack('<HH', 0, f) + bytes(12)) for f in (0, 164, 165)) + rec(0x26A) + rec(0x117)
ss = rec(0x9F, struct.pack('<II', len(sst), len(sst))) + b''.join(rec(0x13, b'\0' + wide(s)) for s in sst) + rec(0xA0)
R = 'http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
with zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED) as z:
    z.writestr('[Content_Types].xml', '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="bin" ContentType="application/vnd.ms-excel.sheet.binary.macroEnabled.main"/><Override PartName="/xl/worksheets/sheet1.bin" ContentType="application/vnd.ms-excel.worksheet"/><Override PartName="/xl/styles.bin" ContentType="application/vnd.ms-excel.styles"/><Override PartName="/xl/sharedStrings.bin" ContentType="application/vnd.ms-excel.sharedStrings"/></Types>')
    z.writestr('_rels/.rels', f'<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="{R}officeDocument" Target="xl/workbook.bin"/></Relationships>')
    z.writestr('xl/_rels/workbook.bin.rels', f'<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="{R}worksheet" Target="worksheets/sheet1.bin"/><Relationship Id="rId2" Type="{R}styles" Target="styles.bin"/><Relationship Id="rId3" Type="{R}sharedStrings" Target="sharedStrings.bin"/></Relationships>')
    z.writestr('xl/workbook.bin', wb); z.writestr('xl/styles.bin', st); z.writestr('xl/sharedStrings.bin', ss)
    z.writestr('xl/worksheets/sheet1.bin', bytes(body))
