"""One line about a run from its summary.json, for the rescore benches: its stage timings and passes, and for
a rescore the shards taken from what standing workers held and the customers whose lists changed.

usage: run_line.py SUMMARY.json LABEL [WALL_SECONDS]
"""
import json
import sys

s = json.load(open(sys.argv[1]))
t = s["timings_seconds"]
o = s["optimization"]
p = o.get("presolve")
wall = f"wall {float(sys.argv[3]):.2f} s, " if len(sys.argv) > 3 else ""
line = (f"{sys.argv[2]}: {wall}total {t['total']:.2f} s (score {t['score']:.2f}, optimize {t['optimize']:.2f} in {o['rounds']} passes"
        + (f" after {p['rounds']} on samples" if p else "") + f", merge and write {t['merge_and_write']:.2f})")
if s.get("rescored_from") and s.get("shards_from_held_propensities") is not None:
    line += (f"; {s['shards_from_held_propensities']} shards from held propensities, {s['shards_rebuilt_from_held_tables']} tables rebuilt,"
             f" {s['customers_changed']} customers changed")
print(line)
