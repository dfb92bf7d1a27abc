#!/usr/bin/env python3
"""Independent check of a nextbest store with Python's `lmdb` package (not our code).

Usage: check_store.py STORE_DIR [PROFILES_CSV]

Opens the LMDB environment read-only, reads the feature schema and dictionaries from `meta`, decodes
every profile record by the documented layout (key: customer id as 8 big-endian bytes; value:
version u8, flags u8, region u16 LE, segment u16 LE, count u16 LE, float32 LE x count), checks that keys
come in ascending customer-id order, decodes the history records, and, given the CSV the profiles were
imported from, checks every stored value against it. Exits non-zero on any mismatch.
"""
import csv
import json
import math
import struct
import sys

import lmdb


def main():
    store = sys.argv[1]
    env = lmdb.open(store, readonly=True, lock=False, max_dbs=16, subdir=True)
    dbs = {name: env.open_db(name.encode(), create=False, dupsort=(name == "history"))
           for name in ["profiles", "offers", "models", "history", "runs", "results", "meta"]}
    with env.begin() as txn:
        fmt = txn.get(b"format", db=dbs["meta"]).decode()
        assert fmt == "nextbest-store-1", fmt
        schema = json.loads(txn.get(b"schema", db=dbs["meta"]))
        regions = json.loads(txn.get(b"regions", db=dbs["meta"]))
        segments = json.loads(txn.get(b"segments", db=dbs["meta"]))
        profiles = {}
        last = -1
        for key, value in txn.cursor(db=dbs["profiles"]):
            assert len(key) == 8, key
            cid = struct.unpack(">Q", key)[0]
            assert cid > last, "keys out of order"
            last = cid
            version, flags, region, segment, count = struct.unpack_from("<BBHHH", value)
            assert version == 1 and count == len(schema) and len(value) == 8 + 4 * count
            feats = struct.unpack_from("<%df" % count, value, 8)
            profiles[cid] = (regions[region], segments[segment], feats)
        contacts = 0
        for key, value in txn.cursor(db=dbs["history"]):
            day = struct.unpack(">I", value[:4])[0] ^ 0x80000000
            outcome = value[4]
            assert outcome in (1, 2, 3)
            ol = value[5]
            cl = value[6 + ol]
            assert len(value) == 7 + ol + cl
            assert struct.unpack(">Q", key)[0] in profiles
            contacts += 1
        models = [k.decode() for k, _ in txn.cursor(db=dbs["models"])]
        campaign = txn.get(b"campaign", db=dbs["offers"])
    print(f"python-lmdb: {len(profiles)} profiles x {len(schema)} features, {contacts} contacts, "
          f"{len(models)} models, campaign {'present' if campaign else 'absent'}")
    if len(sys.argv) > 2:
        checked = 0
        with open(sys.argv[2], newline="") as f:
            reader = csv.reader(f)
            header = next(reader)
            assert header[3:] == schema, "schema differs from CSV header"
            for row in reader:
                cid = int(row[0])
                region, segment, feats = profiles[cid]
                assert (region, segment) == (row[1], row[2]), cid
                for text, got in zip(row[3:], feats):
                    if text == "":
                        assert math.isnan(got), (cid, text, got)
                    else:
                        want = struct.unpack("<f", struct.pack("<f", float(text)))[0]
                        assert got == want, (cid, text, got)
                checked += 1
        print(f"python-lmdb: all {checked} CSV rows match the stored records")


if __name__ == "__main__":
    main()
