"""Hydration through the post caches (in process, and Redis in production): fast when warm, exact always."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import make_url

import roost.runtime
from roost.adapters.memory import LayeredPostCache, MemoryPostCache
from roost.adapters.redis.keys import Keys
from roost.queries.feed import home_feed
from roost.queries.hydrate_cached import _post_entries
from roost.runtime import utcnow
from tests.support import REDIS_URL, Api, User, api_client, running
from tests.test_production_profile import TcpProxy

pytestmark = pytest.mark.parametrize("profile", ["embedded", "production"], indirect=True)


async def _feed(api: Api, user: User) -> list[dict[str, Any]]:
    r = await api.client.get("/api/feed", params={"limit": 50}, headers=user.headers)
    assert r.status_code == 200, r.text
    posts: list[dict[str, Any]] = r.json()["posts"]
    return posts


async def test_a_warm_page_costs_one_statement(api: Api) -> None:
    reader = await api.register()
    authors = [await api.register() for _ in range(5)]
    for author in authors:
        await api.follow(reader, author)
        for i in range(6):
            await api.post(author, f"post {i} #tag @{reader.username}")
    await api.settle()
    cold = await _feed(api, reader)  # materializes the timeline and fills the caches
    assert len(cold) == 30
    cache = api.runtime.feed.cache
    local = cache.local if isinstance(cache, LayeredPostCache) else cache
    assert isinstance(local, MemoryPostCache)
    assert len(await local.get([int(p["postId"]) for p in cold])) == 30
    if api.runtime.redis is not None:
        keys = Keys(api.runtime.settings.redis_prefix)
        assert await api.runtime.redis.exists(*(keys.post(int(p["postId"])) for p in cold)) == 30
    counter = api.runtime.db.statements
    counter.reset()
    r = await api.client.get("/api/feed", params={"limit": 20}, headers=reader.headers)
    assert r.json()["posts"] == cold[:20]
    # live posts with counts, flags, authors, visibility and the check of this process's cached
    # graph (1), + the timeline window where timelines live in the database; the posts' immutable
    # fields come from this process's cache
    assert counter.count == (1 if api.runtime.redis is not None else 2), counter.recent


async def test_pages_read_posts_by_id_once_this_process_knows_their_originals(api: Api) -> None:
    # A page's statement reaches the originals of its reposts and quotes through a CTE until this
    # process has seen them all, then takes their ids; both pages must be the same page.
    reader, author, stranger = await api.register(), await api.register(), await api.register()
    await api.follow(reader, author)
    deep = await api.post(stranger, "quoted by a quote")
    quote = await api.post(stranger, "a quote", quoteOfId=deep)
    original = await api.post(stranger, "quoted")
    gone = await api.post(stranger, "reposted, then deleted")
    for reposted in (quote, gone):
        r = await api.client.post(f"/api/posts/{reposted}/repost", headers=author.headers)
        assert r.status_code == 200, r.text
    await api.post(author, "quoting", quoteOfId=original)
    await api.post(author, "plain")
    r = await api.client.delete(f"/api/posts/{gone}", headers=stranger.headers)
    assert r.status_code == 200, r.text
    await api.settle()
    cache = api.runtime.feed.cache
    local = cache.local if isinstance(cache, LayeredPostCache) else cache
    assert isinstance(local, MemoryPostCache)
    counter = api.runtime.db.statements

    first = await _feed(api, reader)
    seen = {int(deep), int(quote), int(original), int(gone)}
    seen |= {int(p[key]) for p in first for key in ("postId", "repostId") if p[key] is not None}

    async def page(*, forget: bool) -> tuple[list[dict[str, Any]], list[bool]]:
        """The page, and for each live-rows statement it ran whether it reached originals in SQL."""
        if forget:  # as a process that has not seen these posts yet
            await local.forget_posts(sorted(seen))
        counter.reset()
        shown = await _feed(api, reader)
        return shown, ["WITH page" in s for s in counter.recent if " AS visible" in s]

    cold, cold_statements = await page(forget=True)
    warm, warm_statements = await page(forget=False)
    assert warm == cold
    shown = [(p["content"], (p["quoteOf"] or {}).get("content"), p["repostId"] is not None) for p in warm]
    assert shown == [
        ("plain", None, False),
        ("quoting", "quoted", False),
        ("a quote", "quoted by a quote", True),
    ]
    assert cold_statements == [True]
    assert warm_statements == [False]
    # The repost known here, its original not: the original quotes a post the ids cannot name.
    await local.forget_posts([int(quote), int(deep)])
    assert await page(forget=False) == (cold, [False, True])


async def test_an_anonymous_page_reads_posts_by_id_once_warm_and_shows_the_same(api: Api) -> None:
    author, stranger = await api.register(), await api.register()
    quoted = await api.post(stranger, "quoted by a quote")
    quote = await api.post(stranger, "a quote", quoteOfId=quoted)
    r = await api.client.post(f"/api/posts/{quote}/repost", headers=author.headers)
    assert r.status_code == 200, r.text
    await api.post(author, "plain")
    cache = api.runtime.feed.cache
    local = cache.local if isinstance(cache, LayeredPostCache) else cache
    assert isinstance(local, MemoryPostCache)
    counter = api.runtime.db.statements

    async def anonymous_page() -> tuple[list[dict[str, Any]], list[bool]]:
        counter.reset()
        r = await api.client.get(f"/api/users/{author.id}/posts")  # no token
        assert r.status_code == 200, r.text
        return r.json()["posts"], ["WITH page" in s for s in counter.recent if " AS visible" in s]

    first, _ = await anonymous_page()
    await local.forget_posts(sorted({int(quoted), int(quote)} | {int(p["postId"]) for p in first}))
    await local.forget_posts([int(p["repostId"]) for p in first if p["repostId"] is not None])
    cold, cold_statements = await anonymous_page()
    warm, warm_statements = await anonymous_page()
    assert (cold_statements, warm_statements) == ([True], [False])
    assert warm == cold
    assert [(p["content"], (p["quoteOf"] or {}).get("content")) for p in warm] == [
        ("plain", None),
        ("a quote", "quoted by a quote"),
    ]
    assert all(p["liked"] is False for p in warm)


async def test_a_new_post_is_answered_from_the_entry_its_writer_put(api: Api) -> None:
    # The writer puts the new post's entry in the post cache: the answer to the POST, and later
    # pages, need not read its fields back, and the entry is the one the database would give.
    author, mentioned = await api.register(), await api.register()
    quoted = await api.post(mentioned, "quoted")
    replied = await api.post(author, "first")
    counter = api.runtime.db.statements
    counter.reset()
    r = await api.client.post(
        "/api/posts",
        json={
            "content": f"  hello @{mentioned.username} @nobody_here #Tag #two  ",
            "replyToId": replied,
            "quoteOfId": quoted,
        },
        headers=author.headers,
    )
    assert r.status_code == 201, r.text
    assert not any("posts.content" in s for s in counter.recent), counter.recent
    post_id = int(r.json()["postId"])
    cache = api.runtime.feed.cache
    local = cache.local if isinstance(cache, LayeredPostCache) else cache
    assert isinstance(local, MemoryPostCache)
    async with api.runtime.db.read() as conn:
        stored = (await _post_entries(conn, [post_id]))[post_id]
    assert local.peek([post_id]) == {post_id: stored}
    assert stored["mentions"] == [{"id": mentioned.id, "username": mentioned.username}]
    assert (r.json()["content"], r.json()["hashtags"]) == (
        f"hello @{mentioned.username} @nobody_here #Tag #two",
        stored["hashtags"],
    )
    shown = await api.client.get(f"/api/posts/{post_id}", headers=author.headers)
    assert shown.json() == r.json()


async def test_warm_pages_leave_no_garbage_for_the_cycle_collector(api: Api) -> None:
    # What a page drops must be freed as it goes: cyclic garbage waits for the collector, whose
    # passes stall every request of the process (6-12 ms each in the production API, session 7).
    reader, stranger = await api.register(), await api.register()
    for author in [await api.register() for _ in range(3)]:
        await api.follow(reader, author)
        original = await api.post(stranger, "original #tag")
        await api.post(author, f"quoting @{reader.username}", quoteOfId=original)
        r = await api.client.post(f"/api/posts/{original}/repost", headers=author.headers)
        assert r.status_code == 200, r.text
    await api.settle()
    viewer = int(reader.id)
    for _ in range(3):  # caches filled, the graph cached
        page = await home_feed(api.runtime.feed, viewer_id=viewer, cursor=None, limit=20, now=utcnow())
    assert len(page.posts) == 6
    assert sum(item.reposted_by is not None for item in page.posts) == 3
    gc.collect()
    gc.disable()
    try:
        for _ in range(20):
            await home_feed(api.runtime.feed, viewer_id=viewer, cursor=None, limit=20, now=utcnow())
        assert gc.collect() == 0
    finally:
        gc.enable()


async def test_profile_edits_show_at_once_with_a_warm_cache(api: Api) -> None:
    reader, author = await api.register(), await api.register()
    await api.follow(reader, author)
    post = await api.post(author, "hello")
    await api.settle()
    assert (await _feed(api, reader))[0]["author"]["displayName"] == author.username
    r = await api.client.patch("/api/me", json={"displayName": "New Name"}, headers=author.headers)
    assert r.status_code == 200, r.text
    assert (await _feed(api, reader))[0]["author"]["displayName"] == "New Name"
    r = await api.client.get(f"/api/posts/{post}")
    assert r.json()["author"]["displayName"] == "New Name"


async def test_going_private_hides_posts_at_once_with_a_warm_cache(api: Api) -> None:
    reader, reposter, author = await api.register(), await api.register(), await api.register()
    await api.follow(reader, reposter)
    post = await api.post(author, "soon private")
    r = await api.client.post(f"/api/posts/{post}/repost", headers=reposter.headers)
    assert r.status_code == 200
    await api.settle()
    assert [p["postId"] for p in await _feed(api, reader)] == [post]
    assert (await api.client.get(f"/api/posts/{post}")).status_code == 200
    r = await api.client.patch("/api/me", json={"isPrivate": True}, headers=author.headers)
    assert r.status_code == 200, r.text
    assert await _feed(api, reader) == []
    assert (await api.client.get(f"/api/posts/{post}")).status_code == 404
    assert (await api.client.get(f"/api/posts/{post}", headers=author.headers)).status_code == 200


async def test_deletes_and_unreposts_show_at_once_with_a_warm_cache(api: Api) -> None:
    reader, reposter, author = await api.register(), await api.register(), await api.register()
    await api.follow(reader, reposter)
    await api.follow(reader, author)
    kept, doomed = await api.post(author, "kept"), await api.post(author, "doomed")
    other = await api.post(await api.register(), "reposted")
    r = await api.client.post(f"/api/posts/{other}/repost", headers=reposter.headers)
    assert r.status_code == 200
    await api.settle()
    assert [p["postId"] for p in await _feed(api, reader)] == [other, doomed, kept]
    assert (await api.client.get(f"/api/posts/{doomed}")).status_code == 200
    assert (await api.client.delete(f"/api/posts/{doomed}", headers=author.headers)).status_code == 200
    r = await api.client.delete(f"/api/posts/{other}/repost", headers=reposter.headers)
    assert r.status_code == 200
    assert [p["postId"] for p in await _feed(api, reader)] == [kept]
    assert (await api.client.get(f"/api/posts/{doomed}")).status_code == 404


async def test_counts_and_flags_show_at_once_with_a_warm_cache(api: Api) -> None:
    reader, author = await api.register(), await api.register()
    await api.follow(reader, author)
    post = await api.post(author, "like me")
    await api.settle()
    assert (await _feed(api, reader))[0]["likeCount"] == 0
    assert (await api.client.post(f"/api/posts/{post}/like", headers=reader.headers)).status_code == 200
    await api.client.post(f"/api/posts/{post}/bookmark", headers=reader.headers)
    await api.post(author, "a reply", replyToId=post)
    shown = (await _feed(api, reader))[-1]
    assert (shown["likeCount"], shown["liked"], shown["bookmarked"], shown["commentCount"]) == (
        1,
        True,
        True,
        1,
    )


async def test_pages_stay_exact_while_redis_is_down(
    profile: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hydration falls back to the database, and an edit made during the outage is not lost after it."""
    if profile != "production":
        pytest.skip("only the production profile has Redis")
    monkeypatch.setattr(roost.runtime, "REDIS_RETRY_SECONDS", 0.0)
    url = make_url(REDIS_URL)
    async with TcpProxy.to(url.host or "127.0.0.1", url.port or 6379) as proxy:
        proxied = f"redis://127.0.0.1:{proxy.port}/0"
        async with running(profile, tmp_path, redis_url=proxied) as rt, api_client(rt) as api:
            reader, author = await api.register(), await api.register()
            await api.follow(reader, author)
            post = await api.post(author, "hello")
            await api.settle()
            assert (await _feed(api, reader))[0]["author"]["displayName"] == author.username

            await proxy.cut()
            r = await api.client.patch("/api/me", json={"displayName": "Offline"}, headers=author.headers)
            assert r.status_code == 200, r.text
            shown = await _feed(api, reader)
            assert [(p["postId"], p["content"], p["author"]["displayName"]) for p in shown] == [
                (post, "hello", "Offline")
            ]
            assert (await api.client.get(f"/api/posts/{post}")).json()["author"]["displayName"] == "Offline"

            await proxy.restore()
            assert (await _feed(api, reader))[0]["author"]["displayName"] == "Offline"
            assert (await api.client.get(f"/api/posts/{post}")).json()["author"]["displayName"] == "Offline"
