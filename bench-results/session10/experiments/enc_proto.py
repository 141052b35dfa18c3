import timeit, json, orjson, sys
sys.argv = ["x"]
exec(open('/tmp/s9/item_bench.py').read().split("def page")[0])
from roost.views import FeedPage, FeedItem, UserSummary, Post, _iso_z
items = [_item(c, {}, quote_of=None, reposted_by=None, repost_id=None) for c in crs]
fp = FeedPage.of({"posts": items, "next_cursor": "abc", "has_more": True})
ser = fp.__pydantic_serializer__
def enc_user(u):
    d = u.__dict__
    return {"id": str(d["id"]), "username": d["username"], "displayName": d["display_name"], "avatarUrl": d["avatar_url"], "isVerified": d["is_verified"]}
def enc_item(v):
    d = v.__dict__
    r = d["reply_to_id"]; q = d["quote_of"]; rb = d["reposted_by"]; ri = d["repost_id"]
    return {"postId": str(d["post_id"]), "author": enc_user(d["author"]), "content": d["content"],
            "mediaUrls": d["media_urls"], "media": [m.model_dump(mode="json", by_alias=True) for m in d["media"]] if d["media"] else [],
            "hashtags": d["hashtags"], "mentions": [{"id": str(m.id), "username": m.username} for m in d["mentions"]] if d["mentions"] else [],
            "createdAt": _iso_z(d["created_at"]), "replyToId": None if r is None else str(r),
            "quoteOf": None if q is None else enc_item(q), "likeCount": d["like_count"], "commentCount": d["comment_count"],
            "repostCount": d["repost_count"], "quoteCount": d["quote_count"], "liked": d["liked"], "reposted": d["reposted"],
            "bookmarked": d["bookmarked"], "repostedBy": None if rb is None else enc_user(rb), "repostId": None if ri is None else str(ri)}
def enc_page(p):
    d = p.__dict__
    return orjson.dumps({"posts": [enc_item(i) for i in d["posts"]], "nextCursor": d["next_cursor"], "hasMore": d["has_more"]})
a = ser.to_json(fp, by_alias=True); b = enc_page(fp)
print("same bytes:", a == b, len(a), len(b))
if a != b: print(a[:400]); print(b[:400])
n = 3000
for _ in range(3):
    print("pydantic us", timeit.timeit(lambda: ser.to_json(fp, by_alias=True), number=n)/n*1e6,
          "encoder+orjson us", timeit.timeit(lambda: enc_page(fp), number=n)/n*1e6)
