import asyncio, asyncpg, time, re
from sqlalchemy.dialects import postgresql
from roost.queries.hydrate_cached import _LIVE_PROBED
c=_LIVE_PROBED.compiled(postgresql.asyncpg.dialect())
full=c.sql
print(c.order)
i = full.index("WHERE posts.id IN (SELECT page.id")
flat = full[:i] + "WHERE posts.id = ANY($7::BIGINT[]) AND posts.deleted_at IS NULL"
flat = flat[flat.index(" SELECT posts.id, posts.author_id"):]
print(flat[-200:])
async def main():
    conn=await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/roost_bench")
    viewers=[r[0] for r in await conn.fetch("select id from users order by last_active_at desc nulls last limit 300")]
    work=[]
    for v in viewers:
        ids=[r[0] for r in await conn.fetch("select p.id from posts p join follows f on f.followee_id=p.author_id and f.follower_id=$1 order by p.id desc limit 21", v)]
        work.append((v,ids))
    pid=await conn.fetchval("select pg_backend_pid()")
    def cpu():
        f=open(f"/proc/{pid}/stat").read(); f=f[f.rindex(')')+2:].split(); return (int(f[11])+int(f[12]))/100
    args = lambda v, ids: c.args({"ids": ids, "viewer": v})
    for name, sql in (("full", full), ("flat", flat), ("full", full), ("flat", flat)):
        st=await conn.prepare(sql)
        for v,ids in work: await st.fetch(*args(v,ids))
        res=[]
        for rnd in range(3):
            c0=cpu(); t=time.perf_counter()
            for v,ids in work: await st.fetch(*args(v,ids))
            n=len(work); res.append(((cpu()-c0)/n*1000,(time.perf_counter()-t)/n*1000))
        print(name, " ".join(f"{c:.3f}/{w:.3f}" for c,w in res))
asyncio.run(main())
