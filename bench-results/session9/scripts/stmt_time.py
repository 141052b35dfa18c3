"""Per-statement SQLite time of warm embedded pages (wraps InlineConnection.run and commit)."""
import asyncio, sys, time, collections, runpy
from roost.adapters.sql import inline_sqlite
T = collections.Counter(); N = collections.Counter()
orig = inline_sqlite.InlineConnection.run
def run(self, sql, params):
    t = time.perf_counter()
    try: return orig(self, sql, params)
    finally:
        k = " ".join(sql.split())[:90]; T[k] += time.perf_counter() - t; N[k] += 1
inline_sqlite.InlineConnection.run = run
from roost.adapters.sql import database as _dbm
_orig_reset = _dbm.StatementCounter.reset
def _reset(self):
    T.clear(); N.clear(); _orig_reset(self)
_dbm.StatementCounter.reset = _reset
sys.argv = ["warm_feed_read.py", "/tmp/roost-bench/small", "400"]
import importlib.util
spec = importlib.util.spec_from_file_location("w", "/work/main/scripts/warm_feed_read.py"); m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
from pathlib import Path
# Only count the measured pass: reset after the first pass by patching reset
orig_reset = None
async def main():
    import roost.adapters.sql.database as dbm
    await m.main(Path("/tmp/roost-bench/small"), 400)
class R:
    pass
import roost.queries.feed
asyncio.run(main())
tot = sum(T.values())
for k, v in T.most_common(12): print(f"{v/ (N[k]) *1e6:8.1f} us x{N[k]:5d} {k}")
