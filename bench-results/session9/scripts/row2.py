import timeit
from datetime import datetime
from roost.queries.hydrate_cached import _row
live = (1, 2, 3, 4, 5, 6, "user", "User Name", None, 0, 0, 1, 0, 1, 5, 6, "2026-01-01 00:00:00")
post = {"content": "x"*100, "hashtags": [], "mentions": [], "media": [], "replyToId": None, "quoteOfId": None, "repostOfId": None, "createdAt": "2026-11-22T03:04:05.678000+00:00"}
def t(f, n=200000): return timeit.timeit(f, number=n)/n*1e6
print("_row", t(lambda: _row(live, post)))
print("fromisoformat", t(lambda: datetime.fromisoformat(post["createdAt"])))
