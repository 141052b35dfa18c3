import time, statistics
from datetime import datetime, UTC
from typing import Annotated
from pydantic import BaseModel, ConfigDict, PlainSerializer
from pydantic.alias_generators import to_camel
import orjson
class V(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)
def mk(cls, d):
    v = cls.__new__(cls); object.__setattr__(v, "__dict__", d); object.__setattr__(v, "__pydantic_fields_set__", set(cls.model_fields)); object.__setattr__(v, "__pydantic_extra__", None); object.__setattr__(v, "__pydantic_private__", None); return v
class U(V):
    id: str; username: str; display_name: str; avatar_url: str | None; is_verified: bool
class M(V):
    id: str; username: str
class P(V):
    post_id: str; author: U; content: str; media_urls: list[str]; media: list[dict]; hashtags: list[str]; mentions: list[M]
    created_at: str; reply_to_id: str | None; quote_of: "P | None"; like_count: int; comment_count: int; repost_count: int; quote_count: int
    liked: bool; reposted: bool; bookmarked: bool; reposted_by: U | None = None; repost_id: str | None = None
class Pg(V):
    next_cursor: str | None; has_more: bool; posts: list[P]
items=[]
dicts=[]
for i in range(20):
    a={"id": str(386970978191568896 + i), "username": f"user{i}", "display_name": f"User {i}", "avatar_url": None, "is_verified": False}
    d={"post_id": str(486970978191568896 + i), "author": a, "content": "hello world " * 8,
            "media_urls": [], "media": [], "hashtags": ["tag"], "mentions": [{"id": "386970978191568800", "username": "bob"}],
            "created_at": "2026-12-03T10:00:00.000Z", "reply_to_id": None, "quote_of": None,
            "like_count": 3, "comment_count": 1, "repost_count": 0, "quote_count": 0, "liked": False, "reposted": False,
            "bookmarked": False, "reposted_by": None, "repost_id": None}
    dicts.append(d)
    items.append(mk(P, {**d, "author": mk(U, a), "mentions": [mk(M, d["mentions"][0])]}))
pg = mk(Pg, {"next_cursor": "abc", "has_more": True, "posts": items})
def bench(f, label):
    for _ in range(200): f()
    ts=[]
    for _ in range(15):
        t=time.perf_counter()
        for _ in range(500): f()
        ts.append((time.perf_counter()-t)/500*1e6)
    print(f"{label}: {statistics.median(ts):.1f} us")
ser = Pg.__pydantic_serializer__
bench(lambda: ser.to_json(pg, by_alias=True), "pydantic, str fields")
camel = [{to_camel(k): v for k, v in d.items()} for d in dicts]
bench(lambda: orjson.dumps({"nextCursor": "abc", "hasMore": True, "posts": camel}), "orjson dicts")
