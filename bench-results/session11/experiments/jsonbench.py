import time, statistics
from datetime import datetime, UTC
from roost.views import FeedItem, FeedPage, UserSummary, Mention
from roost.api.deps import json_body

def page(n=20):
    items = []
    for i in range(n):
        author = UserSummary.of({"id": 386970978191568896 + i, "username": f"user{i}", "display_name": f"User {i}", "avatar_url": None, "is_verified": False})
        items.append(FeedItem.of({
            "post_id": 486970978191568896 + i, "author": author, "content": "hello world " * 8,
            "media_urls": [], "media": [], "hashtags": ["tag"], "mentions": [Mention.of({"id": 386970978191568800, "username": "bob"})],
            "created_at": datetime(2026, 12, 3, 10, 0, i, tzinfo=UTC), "reply_to_id": None, "quote_of": None,
            "like_count": 3, "comment_count": 1, "repost_count": 0, "quote_count": 0, "liked": False, "reposted": False,
            "bookmarked": False, "reposted_by": None, "repost_id": None}))
    return FeedPage.of({"next_cursor": "abc", "has_more": True, "posts": items})

p = page()
for _ in range(200): json_body(p)
ts = []
for _ in range(15):
    t = time.perf_counter()
    for _ in range(500): json_body(p)
    ts.append((time.perf_counter() - t) / 500 * 1e6)
print(f"json_body: {statistics.median(ts):.1f} us/page, {len(json_body(p))} bytes")
