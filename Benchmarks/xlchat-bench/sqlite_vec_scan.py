#!/usr/bin/env python3
"""Peer for `xlchat-bench index`: the same vectors and queries through sqlite-vec (vec0 KNN,
an exact brute-force scan in C), timed per query. Needs `pip install sqlite-vec apsw`
(the system Python's sqlite3 module cannot load extensions here; apsw bundles a SQLite that can).
Usage: sqlite_vec_scan.py VECTORS.f32 QUERIES.f32 DIMS K
Prints one JSON object: {"n":..., "queries":..., "p50_ms":..., "mean_ms":..., "top1": [...]}."""
import json, statistics, struct, sys, time

import apsw
import sqlite_vec

vec_path, q_path, dims, k = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
row_bytes = dims * 4
vecs = open(vec_path, "rb").read()
qs = open(q_path, "rb").read()
n, nq = len(vecs) // row_bytes, len(qs) // row_bytes

db = apsw.Connection(":memory:")
db.enable_load_extension(True)
db.load_extension(sqlite_vec.loadable_path())
db.execute(f"CREATE VIRTUAL TABLE v USING vec0(embedding float[{dims}] distance_metric=cosine)")
with db:
    db.executemany("INSERT INTO v(rowid, embedding) VALUES (?, ?)",
                   ((i + 1, vecs[i * row_bytes:(i + 1) * row_bytes]) for i in range(n)))

times, top1 = [], []
for j in range(nq):
    q = qs[j * row_bytes:(j + 1) * row_bytes]
    t = time.perf_counter()
    rows = db.execute("SELECT rowid, distance FROM v WHERE embedding MATCH ? AND k = ? ORDER BY distance", (q, k)).fetchall()
    times.append((time.perf_counter() - t) * 1000)
    top1.append(rows[0][0] - 1 if rows else -1)
print(json.dumps({"n": n, "queries": nq, "p50_ms": statistics.median(times), "mean_ms": statistics.fmean(times), "top1": top1}))
