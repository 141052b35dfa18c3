import timeit, json
exec(open('/tmp/s9/item_bench.py').read().split("def page")[0])
from roost.views import FeedPage, FeedItem
items = [_item(c, {}, quote_of=None, reposted_by=None, repost_id=None) for c in crs]
fp = FeedPage.of({"posts": items, "next_cursor": "abc", "has_more": True})
ser = fp.__pydantic_serializer__
n=3000
for _ in range(2):
    print("json us", timeit.timeit(lambda: ser.to_json(fp, by_alias=True), number=n)/n*1e6)
# dict-based
d = fp.model_dump(mode="json", by_alias=True)
import orjson
print("orjson of dump us", timeit.timeit(lambda: orjson.dumps(d), number=n)/n*1e6)
print("model_dump json-mode us", timeit.timeit(lambda: fp.model_dump(mode="json", by_alias=True), number=n)/n*1e6)
print(len(ser.to_json(fp, by_alias=True)))
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel
from datetime import datetime
class V(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)
class US(V):
    id: int; username: str; display_name: str; avatar_url: str|None; is_verified: bool
class FI(V):
    post_id: int; author: US; content: str; media_urls: list[str]; media: list; hashtags: list[str]; mentions: list
    created_at: str; reply_to_id: int|None; quote_of: "FI|None"; like_count: int; comment_count: int; repost_count: int; quote_count: int
    liked: bool; reposted: bool; bookmarked: bool; reposted_by: US|None = None; repost_id: int|None = None
class FP(V):
    posts: list[FI]; next_cursor: str|None; has_more: bool
fp2 = FP.model_validate({"posts": [dict(i.model_dump(), created_at="2026-01-01T00:00:00.000Z", author=i.author.model_dump()) for i in items], "next_cursor": "abc", "has_more": True})
s2 = fp2.__pydantic_serializer__
print("plain-typed json us", timeit.timeit(lambda: s2.to_json(fp2, by_alias=True), number=n)/n*1e6)
