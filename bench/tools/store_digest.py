"""Prints a digest of a nextbest store's contents for bench/hostile.sh: every key and value of its
databases but the run journal (`runs`, `results`: a run that starts and then fails is recorded there, by
design). A directory that is not an LMDB store is digested as the bytes of its data.mdb.
    python3 store_digest.py DIR
"""
import hashlib
import os
import sys

import lmdb

path = sys.argv[1]
data = os.path.join(path, "data.mdb")
h = hashlib.sha256()
try:
    env = lmdb.open(path, readonly=True, lock=False, max_dbs=16, subdir=True)
except lmdb.Error:
    if not os.path.exists(data):
        print("none")
        sys.exit(0)
    h.update(open(data, "rb").read())
    print("bytes:" + h.hexdigest()[:16])
    sys.exit(0)
with env.begin() as txn:
    names = sorted(k for k, _ in txn.cursor())
    for name in names:
        if name in (b"runs", b"results"):
            continue
        db = env.open_db(name, txn=txn, create=False, dupsort=name == b"history")
        h.update(name)
        for k, v in txn.cursor(db):
            h.update(len(k).to_bytes(4, "little") + k + len(v).to_bytes(4, "little") + v)
env.close()
print(h.hexdigest()[:16])
