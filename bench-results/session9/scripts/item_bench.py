import timeit, sqlite3, json
from datetime import datetime
from roost.queries.hydrate import _item, author_of
from roost.queries.hydrate_cached import CachedRow
from roost.views import FeedPage
db = sqlite3.connect("/tmp/roost-bench/small/roost.db")
rows = db.execute("select p.id, p.author_id, content, hashtags, mentions, media, reply_to_id, quote_of_id, repost_of_id, p.created_at, like_count, reply_count, repost_count, quote_count, u.username, u.display_name, u.avatar_url, u.is_verified from posts p join users u on u.id=p.author_id order by p.id desc limit 20").fetchall()
crs = [CachedRow(r[0], r[1], r[2], json.loads(r[3]), json.loads(r[4]), json.loads(r[5]), r[6], r[7], r[8], datetime.fromisoformat(r[9]), r[10], r[11], r[12], r[13], False, False, False, r[14], r[15], r[16], bool(r[17])) for r in rows]
print("media per row", sum(len(c.media) for c in crs)/20, "mentions", sum(len(c.mentions) for c in crs)/20, "tags", sum(len(c.hashtags) for c in crs)/20)
def page():
    return [_item(c, {}, quote_of=None, reposted_by=None, repost_id=None) for c in crs]
n=2000
print("20 items us", timeit.timeit(page, number=n)/n*1e6)
items = page()
fp = FeedPage.trusted(posts=items, next_cursor="abc", has_more=True)
print("json us", timeit.timeit(lambda: fp.__pydantic_serializer__.to_json(fp, by_alias=True), number=n)/n*1e6)
from roost.views import FeedItem, UserSummary
c = crs[0]
a = author_of(c)
print("author_of us", timeit.timeit(lambda: author_of(c), number=20000)/20000*1e6)
kw = dict(post_id=c.id, author=a, content=c.content, media_urls=[], media=[], hashtags=c.hashtags, mentions=[], created_at=c.created_at, reply_to_id=None, quote_of=None, like_count=1, comment_count=2, repost_count=3, quote_count=4, liked=False, reposted=False, bookmarked=False, reposted_by=None, repost_id=None)
print("trusted(**kw) us", timeit.timeit(lambda: FeedItem.trusted(**kw), number=20000)/20000*1e6)
print("dict(**kw) us", timeit.timeit(lambda: dict(**kw), number=20000)/20000*1e6)
print("set(kw) us", timeit.timeit(lambda: set(kw), number=20000)/20000*1e6)
print("__new__ us", timeit.timeit(lambda: FeedItem.__new__(FeedItem), number=20000)/20000*1e6)
print("item us", timeit.timeit(lambda: _item(c, {}, quote_of=None, reposted_by=None, repost_id=None), number=20000)/20000*1e6)
