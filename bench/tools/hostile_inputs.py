"""Writes the hostile inputs of bench/hostile.sh (issue 21) into OUT, from the fixtures in FX and the
fixture store STORE (copied and damaged for item 17). Deterministic: the same files every run.
    python3 hostile_inputs.py FX OUT STORE
"""
import os
import random
import shutil
import sys

import lmdb

fx, out, store = sys.argv[1:4]
good = open(os.path.join(fx, "campaign_constrained.yaml")).read()
assert "objective: expected_value" in good and "max_offers: 2" in good and "budget: 40" in good


def write(name, text, mode="w"):
    with open(os.path.join(out, name), mode) as f:
        f.write(text)


def laughs(levels=9, indent="  "):
    s = f"{indent}- &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    for i in range(1, levels):
        s += f"{indent}- &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]\n"
    return s


# Item 1: nine levels of nine aliases (9^9 nodes) under a known key, and under an unknown one.
write("bomb.yaml", good.replace("objective: expected_value", "objective:\n" + laughs()))
write("bomb-key.yaml", good + "\nlol:\n" + laughs() + "zzz: 1\n")
# Item 2: nesting 5,000 and 100,000 deep, YAML and JSON.
for depth in (5_000, 100_000):
    write(f"deep{depth}.yaml", good.replace("objective: expected_value", "objective: " + "[" * depth + "]" * depth))
write("deep100000.json", "[" * 100_000 + "]" * 100_000)
# Items 4, 5: a per-customer cap of a million, a budget of 1e30.
write("max_offers.yaml", good.replace("max_offers: 2", "max_offers: 1000000"))
write("budget.yaml", good.replace("budget: 40", "budget: 1e30"))
# Item 6: 100,000 offers.
offers = "".join(f"  - id: O{i}\n    product: p{i}\n    family: f\n    model: logit_all\n    value: 1.0\n"
                 f"    channels: {{email: {{min_propensity: 0.01, cost: 0.1}}}}\n" for i in range(100_000))
write("offers100k.yaml", "objective: expected_value\nrun_date: 2026-11-23\noffers:\n" + offers)

# Item 3: a store directory whose data.mdb is random bytes.
os.makedirs(os.path.join(out, "junkstore"), exist_ok=True)
write("junkstore/data.mdb", random.Random(21).randbytes(65_536), "wb")

# Items 7, 8: a 200 MB region value, a 200 MB number (profiles) and a 200 MB date (history).
header = open(os.path.join(fx, "models", "profiles.csv")).readline()
big = 200 * 1024 * 1024
with open(os.path.join(out, "region200MB.csv"), "w") as f:
    f.write(header + "1,")
    f.write("r" * big)
    f.write(",family,42,1000,0,1,1,1,0.1,1,0.1,600\n")
with open(os.path.join(out, "number200MB.csv"), "w") as f:
    f.write(header + "1,east,family,42,")
    f.write("9" * big)
    f.write("x,0,1,1,1,0.1,1,0.1,600\n")
with open(os.path.join(out, "history200MB.csv"), "w") as f:
    f.write("customer_id,offer_id,channel,date,outcome\n474640,CARD1,email,")
    f.write("2" * big)
    f.write(",ignored\n")

# Item 15: --out naming a file.
write("afile", "not a directory\n")

# Item 17: the fixture store with its first profile's region code set to 0x7FFF.
damaged = os.path.join(out, "damaged")
os.makedirs(damaged, exist_ok=True)
shutil.copy(os.path.join(store, "data.mdb"), os.path.join(damaged, "data.mdb"))
env = lmdb.open(damaged, max_dbs=16, subdir=True)
profiles = env.open_db(b"profiles", create=False)
with env.begin(write=True, db=profiles) as txn:
    key, value = next(iter(txn.cursor()))
    record = bytearray(value)
    assert record[0] == 1, "profile record version"
    record[2:4] = (0x7FFF).to_bytes(2, "little")
    txn.put(key, bytes(record))
env.close()

# Item 19: coefficients whose margin overflows, and a NaN (not JSON).
write("logit1e308.json", '{"features": ["age", "income"], "coefficients": [1e308, -1e308], "intercept": 0}')
write("logitnan.json", '{"features": ["age"], "coefficients": [NaN], "intercept": 0}')
