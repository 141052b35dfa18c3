import sqlite3, json, time, statistics, random
from sqlalchemy.dialects import sqlite as d
from roost.queries.feed import _RECENT_POSTS
c=_RECENT_POSTS[(False, True)].compiled(d.dialect())
import sys; db=sqlite3.connect(sys.argv[1] if len(sys.argv)>1 else "/tmp/roost-bench/small/roost.db"); db.execute("PRAGMA cache_size=-65536")
cel=[r[0] for r in db.execute("select id from users where is_celebrity")]
metas=db.execute("select owner_id, floor from timeline_meta limit 400").fetchall()
work=[]
for o,f in metas:
    fol=[r[0] for r in db.execute("select followee_id from follows where follower_id=? and followee_id in (%s)"%",".join(map(str,cel)),(o,))]
    if fol: work.append((fol,f))
print(len(work), "readers with celebrities; mean", statistics.mean(len(w[0]) for w in work))
print("rows in range per page", statistics.mean(db.execute("select count(*) from posts where author_id in (%s) and id>=?"%",".join(map(str,w[0])),(w[1],)).fetchone()[0] for w in work))
alt = """SELECT p.id FROM json_each(?1) AS a JOIN posts AS p ON p.id IN (SELECT x.id FROM posts AS x WHERE x.author_id = a.value AND x.deleted_at IS NULL AND x.id >= ?2 ORDER BY x.id DESC LIMIT ?3) ORDER BY p.id DESC LIMIT ?3"""
print(db.execute("EXPLAIN QUERY PLAN "+c.sql, c.args({"authors": work[0][0], "floor": work[0][1], "limit": 21, "before": None})).fetchall())
def bench(f):
    ts=[]
    for i in range(3000):
        fol,fl=work[i%len(work)]
        t=time.perf_counter(); r=f(fol,fl); ts.append(time.perf_counter()-t)
    return statistics.median(ts)*1e6
cur=lambda fol,fl: db.execute(c.sql, c.args({"authors": fol, "floor": fl, "limit": 21, "before": None})).fetchall()
new=lambda fol,fl: db.execute(alt, (json.dumps(fol), fl, 21)).fetchall()
for fol,fl in work[:50]: assert cur(fol,fl)==new(fol,fl), (cur(fol,fl), new(fol,fl))
for _ in range(2): print("current", bench(cur), "lateral", bench(new))
