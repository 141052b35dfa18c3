import sqlite3, time, json, random, statistics, sys
db = sqlite3.connect(sys.argv[1] if len(sys.argv)>1 else "/tmp/roost-bench/small/roost.db"); db.execute("PRAGMA cache_size=-65536")
# realistic pages: timeline windows of owners
owners = [r[0] for r in db.execute("select owner_id from timeline_meta limit 400")]
pages = []
for o in owners:
    ids = [r[0] for r in db.execute("select post_id from timeline_entries where owner_id=? order by post_id desc limit 20", (o,))]
    pages.append((o, ids))
def bench(sql, mk, n=4000):
    ts=[]
    for i in range(n):
        args = mk(i)
        t=time.perf_counter(); db.execute(sql, args).fetchall(); ts.append(time.perf_counter()-t)
    return statistics.median(ts)*1e6
base_cols = "posts.id, posts.author_id, posts.like_count, posts.reply_count, posts.repost_count, posts.quote_count, users.username, users.display_name, users.avatar_url, users.is_verified"
flags = {
 "liked": "EXISTS (SELECT 1 FROM likes WHERE likes.user_id = :v AND likes.post_id = posts.id)",
 "bookmarked": "EXISTS (SELECT 1 FROM bookmarks WHERE bookmarks.user_id = :v AND bookmarks.post_id = posts.id)",
 "reposted": "EXISTS (SELECT 1 FROM posts AS viewer_reposts WHERE viewer_reposts.author_id = :v AND viewer_reposts.repost_of_id = posts.id AND viewer_reposts.deleted_at IS NULL)",
 "visible": "posts.author_id = :v OR users.is_private = 0 OR EXISTS (SELECT 1 FROM follows WHERE follows.follower_id = :v AND follows.followee_id = posts.author_id)",
}
def q(cols, where="posts.id IN (SELECT value FROM json_each(:ids))", join=True):
    return f"SELECT {cols} FROM posts {'JOIN users ON users.id = posts.author_id' if join else ''} WHERE {where} AND posts.deleted_at IS NULL"
mk = lambda i: {"ids": json.dumps(pages[i % len(pages)][1]), "v": pages[i % len(pages)][0]}
print("posts only         ", bench(q("posts.id, posts.author_id, posts.like_count", join=False), mk))
print("base               ", bench(q(base_cols), mk))
for k, f in flags.items():
    print(f"base+{k:14s}", bench(q(base_cols + ", " + f), mk))
print("all                ", bench(q(base_cols + ", " + ", ".join(flags.values())), mk))
n = statistics.mean(len(p[1]) for p in pages); print("ids/page", n)
print("rows/page", statistics.mean(len(db.execute(q("posts.id"), mk(i)).fetchall()) for i in range(len(pages))))
