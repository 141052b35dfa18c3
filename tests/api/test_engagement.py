"""Likes, reposts, replies, quotes and bookmarks through the HTTP API."""

from __future__ import annotations

from typing import Any

from tests.support import Api, User


async def _get_post(api: Api, post_id: str, viewer: User | None = None) -> dict[str, Any]:
    r = await api.client.get(f"/api/posts/{post_id}", headers=viewer.headers if viewer else None)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def _feed(api: Api, user: User, limit: int = 100) -> list[dict[str, Any]]:
    r = await api.client.get("/api/feed", params={"limit": limit}, headers=user.headers)
    assert r.status_code == 200, r.text
    posts: list[dict[str, Any]] = r.json()["posts"]
    return posts


async def test_like_is_idempotent_and_counted(api: Api) -> None:
    alice, bob, carol = await api.register("alice"), await api.register("bob"), await api.register("carol")
    post = await api.post(alice, "like me")
    for _ in range(2):
        r = await api.client.post(f"/api/posts/{post}/like", headers=bob.headers)
        assert r.status_code == 200, r.text
        assert r.json() == {"postId": post, "liked": True, "likeCount": 1}
    r = await api.client.post(f"/api/posts/{post}/like", headers=carol.headers)
    assert r.json()["likeCount"] == 2
    assert (await _get_post(api, post, bob))["liked"] is True
    assert (await _get_post(api, post, alice))["liked"] is False
    assert (await _get_post(api, post))["likeCount"] == 2
    for _ in range(2):
        r = await api.client.delete(f"/api/posts/{post}/like", headers=bob.headers)
        assert r.status_code == 200
        assert r.json() == {"postId": post, "liked": False, "likeCount": 1}
    body = await _get_post(api, post, bob)
    assert (body["liked"], body["likeCount"]) == (False, 1)


async def test_liked_flag_in_feed_is_per_viewer(api: Api) -> None:
    alice, bob, carol = await api.register("alice"), await api.register("bob"), await api.register("carol")
    await api.follow(bob, alice)
    await api.follow(carol, alice)
    first, second = await api.post(alice, "one"), await api.post(alice, "two")
    await api.client.post(f"/api/posts/{first}/like", headers=bob.headers)
    await api.client.post(f"/api/posts/{second}/bookmark", headers=bob.headers)
    await api.settle()
    flags = {p["postId"]: (p["liked"], p["bookmarked"], p["likeCount"]) for p in await _feed(api, bob)}
    assert flags == {first: (True, False, 1), second: (False, True, 0)}
    carol_flags = {p["postId"]: (p["liked"], p["bookmarked"]) for p in await _feed(api, carol)}
    assert carol_flags == {first: (False, False), second: (False, False)}


async def test_engagement_errors(api: Api) -> None:
    alice = await api.register("alice")
    post = await api.post(alice)
    r = await api.client.post(f"/api/posts/{post}/like")
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "unauthorized"
    r = await api.client.post("/api/posts/12345/like", headers=alice.headers)
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"
    for path in ("/api/posts/abc/repost", "/api/posts/-1/bookmark", "/api/posts/abc/replies"):
        r = await (api.client.get if path.endswith("replies") else api.client.post)(
            path, headers=alice.headers
        )
        assert r.status_code == 400, path
        assert r.json()["error"]["code"] == "invalid_request"
    r = await api.client.get(f"/api/posts/{post}/replies", params={"cursor": "garbage"})
    assert r.status_code == 400
    r = await api.client.delete(f"/api/posts/{post}", headers=alice.headers)
    assert r.status_code == 200
    for verb in ("like", "repost", "bookmark"):
        r = await api.client.post(f"/api/posts/{post}/{verb}", headers=alice.headers)
        assert r.status_code == 404, verb


async def test_repost_reaches_followers_once_and_undo_removes_it(api: Api) -> None:
    alice, bob, carol, dave = [await api.register(n) for n in ("alice", "bob", "carol", "dave")]
    await api.follow(carol, bob)
    await api.follow(dave, bob)
    await api.follow(dave, alice)
    post = await api.post(alice, "worth sharing")
    for _ in range(2):
        r = await api.client.post(f"/api/posts/{post}/repost", headers=bob.headers)
        assert r.json() == {"postId": post, "reposted": True, "repostCount": 1}
    await api.settle()
    [item] = await _feed(api, carol)
    assert item["postId"] == post
    assert item["repostedBy"]["id"] == bob.id
    assert item["repostId"] is not None
    assert item["repostCount"] == 1
    # Dave follows both: the post shows once, as alice's post.
    dave_feed = await _feed(api, dave)
    assert [(p["postId"], p["repostedBy"]) for p in dave_feed] == [(post, None)]
    assert (await _get_post(api, post, bob))["reposted"] is True
    assert (await _get_post(api, post, carol))["reposted"] is False
    r = await api.client.get(f"/api/users/{bob.id}/posts")
    assert [(p["postId"], p["repostedBy"]["id"]) for p in r.json()["posts"]] == [(post, bob.id)]

    r = await api.client.delete(f"/api/posts/{post}/repost", headers=bob.headers)
    assert r.json() == {"postId": post, "reposted": False, "repostCount": 0}
    await api.settle()
    assert await _feed(api, carol) == []
    assert (await _get_post(api, post, bob))["reposted"] is False
    r = await api.client.get(f"/api/users/{bob.id}/posts")
    assert r.json()["posts"] == []


async def test_deleting_the_original_removes_reposts_from_feeds(api: Api) -> None:
    alice, bob, carol = await api.register("alice"), await api.register("bob"), await api.register("carol")
    await api.follow(carol, bob)
    post = await api.post(alice, "soon gone")
    await api.client.post(f"/api/posts/{post}/repost", headers=bob.headers)
    await api.settle()
    assert [p["postId"] for p in await _feed(api, carol)] == [post]
    r = await api.client.delete(f"/api/posts/{post}", headers=alice.headers)
    assert r.status_code == 200
    await api.settle()
    assert await _feed(api, carol) == []
    r = await api.client.get(f"/api/users/{bob.id}/posts")
    assert r.json()["posts"] == []


async def test_a_repost_by_many_followees_shows_once_across_pages(api: Api) -> None:
    viewer = await api.register("viewer")
    author = await api.register("author")
    reposters = [await api.register(f"r{i}") for i in range(5)]
    post = await api.post(author, "viral")
    for r_user in reposters:
        await api.follow(viewer, r_user)
        await api.client.post(f"/api/posts/{post}/repost", headers=r_user.headers)
        await api.post(r_user, f"own post of {r_user.username}")
    await api.settle()
    ids = await api.feed_ids(viewer, limit=2)
    assert ids.count(post) == 1
    assert len(ids) == 6


async def test_replies_are_listed_oldest_first_and_counted(api: Api) -> None:
    alice, bob, carol = await api.register("alice"), await api.register("bob"), await api.register("carol")
    await api.follow(carol, bob)
    post = await api.post(alice, "question?")
    replies = [await api.post(bob if i % 2 else alice, f"answer {i}", replyToId=post) for i in range(5)]
    assert (await _get_post(api, post))["commentCount"] == 5
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        r = await api.client.get(f"/api/posts/{post}/replies", params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        assert all(p["replyToId"] == post for p in body["posts"])
        seen += [p["postId"] for p in body["posts"]]
        cursor = body["nextCursor"]
        if not body["hasMore"]:
            break
    assert seen == replies
    # A reply reaches the replier's followers like any post.
    await api.settle()
    assert set(await api.feed_ids(carol)) == {replies[1], replies[3]}
    await api.client.delete(f"/api/posts/{replies[0]}", headers=alice.headers)
    r = await api.client.get(f"/api/posts/{post}/replies")
    assert [p["postId"] for p in r.json()["posts"]] == replies[1:]
    assert (await _get_post(api, post))["commentCount"] == 4


async def test_quote_nests_the_quoted_post(api: Api) -> None:
    alice, bob = await api.register("alice"), await api.register("bob")
    post = await api.post(alice, "original")
    quote = await api.post(bob, "look at this", quoteOfId=post)
    body = await _get_post(api, quote, alice)
    assert body["quoteOf"]["postId"] == post
    assert body["quoteOf"]["content"] == "original"
    assert body["quoteOf"]["quoteOf"] is None
    assert (await _get_post(api, post))["quoteCount"] == 1
    await api.client.post(f"/api/posts/{post}/like", headers=alice.headers)
    body = await _get_post(api, quote, alice)
    assert body["quoteOf"]["liked"] is True
    assert body["liked"] is False


async def test_bookmarks_are_private_and_listed_newest_first(api: Api) -> None:
    alice, bob = await api.register("alice"), await api.register("bob")
    posts = [await api.post(alice, f"post {i}") for i in range(4)]
    for post in (posts[2], posts[0], posts[3]):
        for _ in range(2):
            r = await api.client.post(f"/api/posts/{post}/bookmark", headers=bob.headers)
            assert r.json() == {"postId": post, "bookmarked": True}
    r = await api.client.get("/api/bookmarks", params={"limit": 2}, headers=bob.headers)
    body = r.json()
    assert [p["postId"] for p in body["posts"]] == [posts[3], posts[0]]
    assert all(p["bookmarked"] for p in body["posts"])
    r = await api.client.get(
        "/api/bookmarks", params={"limit": 2, "cursor": body["nextCursor"]}, headers=bob.headers
    )
    assert [p["postId"] for p in r.json()["posts"]] == [posts[2]]
    assert r.json()["hasMore"] is False
    r = await api.client.get("/api/bookmarks", headers=alice.headers)
    assert r.json()["posts"] == []
    assert (await _get_post(api, posts[0], alice))["bookmarked"] is False
    r = await api.client.delete(f"/api/posts/{posts[0]}/bookmark", headers=bob.headers)
    assert r.json() == {"postId": posts[0], "bookmarked": False}
    r = await api.client.get("/api/bookmarks", headers=bob.headers)
    assert [p["postId"] for p in r.json()["posts"]] == [posts[3], posts[2]]
    assert (await api.client.get("/api/bookmarks")).status_code == 401
