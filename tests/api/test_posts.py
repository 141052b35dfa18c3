"""Posts: the content rules, extraction, replies and quotes, reading, deleting, and a user's posts."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import update

from roost.adapters.sql.tables import users
from tests.api.test_accounts import ISO_Z, assert_error
from tests.support import Api, User

POST_KEYS = {
    "postId",
    "author",
    "content",
    "mediaUrls",
    "media",
    "hashtags",
    "mentions",
    "createdAt",
    "replyToId",
    "quoteOf",
    "likeCount",
    "commentCount",
    "repostCount",
    "quoteCount",
    "liked",
    "reposted",
    "bookmarked",
}


async def create(api: Api, user: User, **body: Any) -> Any:
    return await api.client.post("/api/posts", json=body, headers=user.headers)


async def get(api: Api, post_id: str, viewer: User | None = None) -> Any:
    return await api.client.get(f"/api/posts/{post_id}", headers=viewer.headers if viewer else None)


async def profile_post_ids(
    api: Api, user: User, *, limit: int = 100, viewer: User | None = None
) -> list[str]:
    """Every post id on the user's profile, following cursors to the end."""
    ids: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        r = await api.client.get(
            f"/api/users/{user.id}/posts", params=params, headers=viewer.headers if viewer else None
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["hasMore"] == (body["nextCursor"] is not None)
        ids.extend(p["postId"] for p in body["posts"])
        cursor = body["nextCursor"]
        if not body["hasMore"]:
            return ids


async def test_create_answers_the_full_post(api: Api) -> None:
    jane = await api.register("jane", displayName="Jane")
    r = await create(api, jane, content="  Just shipped a new feature! #release  ")
    assert r.status_code == 201, r.text
    post = r.json()
    assert set(post) == POST_KEYS
    assert post["postId"].isdigit()
    assert post["author"] == {
        "id": jane.id,
        "username": "jane",
        "displayName": "Jane",
        "avatarUrl": None,
        "isVerified": False,
    }
    assert post["content"] == "Just shipped a new feature! #release"
    assert post["hashtags"] == ["release"]
    assert post["mentions"] == []
    assert post["mediaUrls"] == []
    assert post["media"] == []
    assert ISO_Z.match(post["createdAt"])
    assert (post["replyToId"], post["quoteOf"]) == (None, None)
    assert [post[k] for k in ("likeCount", "commentCount", "repostCount", "quoteCount")] == [0, 0, 0, 0]
    assert (post["liked"], post["reposted"], post["bookmarked"]) == (False, False, False)
    assert (await get(api, post["postId"])).json() == post


async def test_the_answer_to_a_new_post_is_the_post_read_back(api: Api) -> None:
    """The answer is built from what the write stored and returned (the author's display fields as
    of the write), not read back: a read right after shows the same post, whatever it holds."""
    jane, bob = await api.register("jane"), await api.register("Bob")
    parent = await api.post(bob, "parent")
    r = await api.client.patch("/api/me", json={"displayName": "Jane Q"}, headers=jane.headers)
    assert r.status_code == 200, r.text
    async with api.runtime.db.transaction() as conn:
        await conn.execute(
            update(users)
            .where(users.c.id == int(jane.id))
            .values(is_verified=True, avatar_url="https://cdn.example/jane.png")
        )
    bodies: list[dict[str, Any]] = [
        {"content": "  plain, with an emoji 🎉  "},
        {"content": "hi @bob and @nobody #Launch #日本", "replyToId": parent},
        {"content": "a quote", "quoteOfId": parent},
        {"content": "a reply that quotes @Bob", "replyToId": parent, "quoteOfId": parent},
    ]
    for body in bodies:
        r = await create(api, jane, **body)
        assert r.status_code == 201, r.text
        post = r.json()
        assert post["author"] == {
            "id": jane.id,
            "username": "jane",
            "displayName": "Jane Q",
            "avatarUrl": "https://cdn.example/jane.png",
            "isVerified": True,
        }
        assert post["author"]["isVerified"] is True
        # Read back from the database: without the cache entry the writer put.
        cache = api.runtime.feed.cache
        assert cache is not None
        await cache.forget_posts([int(post["postId"])])
        assert (await get(api, post["postId"], jane)).json() == post
        assert (await get(api, post["postId"])).json() == post


async def test_the_answer_to_a_new_post_reads_nothing_back(api: Api) -> None:
    jane = await api.register("jane")
    await api.post(jane, "the first")
    api.runtime.db.statements.reset()
    r = await create(api, jane, content="the second #news")
    assert r.status_code == 201, r.text
    sent = api.runtime.db.statements.recent
    if api.runtime.db.is_sqlite:  # the write's four parts (author's count, counts, post, event)
        assert [s.split()[0] for s in sent] == ["UPDATE", "UPDATE", "INSERT", "INSERT"]
    else:  # one statement of data-modifying CTEs
        assert [s.split()[0] for s in sent] == ["WITH"]


async def test_newer_posts_have_larger_ids(api: Api) -> None:
    jane = await api.register("jane")
    ids = [int(await api.post(jane, f"post {i}")) for i in range(5)]
    assert ids == sorted(ids)
    assert len(set(ids)) == 5


async def test_creating_needs_a_token(api: Api) -> None:
    r = await api.client.post("/api/posts", json={"content": "hi"})
    assert r.status_code == 401
    assert_error(r.json(), "unauthorized")


@pytest.mark.parametrize(
    "content",
    [
        "x",
        "x" * 280,
        "😀" * 280,  # each emoji is one code point
        "x\u0301" * 140,  # a combining mark with no precomposed form is a code point of its own
        "  " + "y" * 280 + " \n ",  # surrounding white space does not count
    ],
)
async def test_content_up_to_280_code_points_is_accepted(api: Api, content: str) -> None:
    jane = await api.register("jane")
    r = await create(api, jane, content=content)
    assert r.status_code == 201, r.text
    assert r.json()["content"] == content.strip()


@pytest.mark.parametrize(
    "content",
    ["", "   ", "\n\t \u3000", "x" * 281, "😀" * 281, "x\u0301" * 140 + "x", "y" * 5000],
)
async def test_content_outside_the_rules_is_refused(api: Api, content: str) -> None:
    jane = await api.register("jane")
    r = await create(api, jane, content=content)
    assert r.status_code == 400, r.text
    assert_error(r.json(), "validation_failed")
    assert await profile_post_ids(api, jane) == []
    assert (await api.client.get(f"/api/users/{jane.id}")).json()["postCount"] == 0


async def test_hashtags_and_mentions_of_existing_users_are_extracted(api: Api) -> None:
    jane, bob = await api.register("jane"), await api.register("Bob")
    r = await create(
        api, jane, content="hi @bob and @BOB, @nobody, mail@jane.dev #Launch #launch #日本 #123 #नमस्ते"
    )
    assert r.status_code == 201, r.text
    post = r.json()
    assert post["hashtags"] == ["launch", "日本", "नमस्ते"]
    assert post["mentions"] == [{"id": bob.id, "username": "Bob"}]


async def test_reply_and_quote(api: Api) -> None:
    jane, bob = await api.register("jane"), await api.register("bob")
    parent = await api.post(jane, "parent")
    r = await create(api, bob, content="a reply", replyToId=parent)
    assert r.status_code == 201, r.text
    reply = r.json()
    assert reply["replyToId"] == parent
    r = await create(api, bob, content="a quote", quoteOfId=parent)
    assert r.status_code == 201, r.text
    quote = r.json()
    assert quote["quoteOf"]["postId"] == parent
    assert quote["quoteOf"]["content"] == "parent"
    assert quote["quoteOf"]["quoteOf"] is None
    shown = (await get(api, parent)).json()
    assert (shown["commentCount"], shown["quoteCount"]) == (1, 1)
    await api.client.delete(f"/api/posts/{reply['postId']}", headers=bob.headers)
    await api.client.delete(f"/api/posts/{quote['postId']}", headers=bob.headers)
    shown = (await get(api, parent)).json()
    assert (shown["commentCount"], shown["quoteCount"]) == (0, 0)


async def test_a_reply_that_quotes_its_parent_counts_as_both(api: Api) -> None:
    jane, bob = await api.register("jane"), await api.register("bob")
    parent = await api.post(jane, "parent")
    r = await create(api, bob, content="both at once", replyToId=parent, quoteOfId=parent)
    assert r.status_code == 201, r.text
    shown = (await get(api, parent)).json()
    assert (shown["commentCount"], shown["quoteCount"]) == (1, 1)
    await api.client.delete(f"/api/posts/{r.json()['postId']}", headers=bob.headers)
    shown = (await get(api, parent)).json()
    assert (shown["commentCount"], shown["quoteCount"]) == (0, 0)


@pytest.mark.parametrize("field", ["replyToId", "quoteOfId"])
async def test_reply_or_quote_of_an_unknown_or_deleted_post_is_400(api: Api, field: str) -> None:
    jane = await api.register("jane")
    gone = await api.post(jane, "soon gone")
    await api.client.delete(f"/api/posts/{gone}", headers=jane.headers)
    unknown = str(api.runtime.ids.next_id())
    for target in (unknown, gone, "abc", "0", "-5", "9" * 25):
        r = await create(api, jane, content="hi", **{field: target})
        assert r.status_code == 400, (target, r.text)
        assert_error(r.json(), "validation_failed")
    r = await create(api, jane, content="hi", **{field: 12})  # a number, not the decimal string
    assert r.status_code == 400
    assert (await api.client.get(f"/api/users/{jane.id}")).json()["postCount"] == 0


async def test_get_unknown_post_is_404(api: Api) -> None:
    r = await get(api, str(api.runtime.ids.next_id()))
    assert r.status_code == 404
    assert_error(r.json(), "not_found")


async def test_only_the_author_deletes(api: Api) -> None:
    jane, bob = await api.register("jane"), await api.register("bob")
    post_id = await api.post(jane, "mine")
    r = await api.client.delete(f"/api/posts/{post_id}", headers=bob.headers)
    assert r.status_code == 403
    assert_error(r.json(), "forbidden")
    assert (await get(api, post_id)).status_code == 200
    r = await api.client.delete(f"/api/posts/{post_id}")
    assert r.status_code == 401
    r = await api.client.delete(f"/api/posts/{post_id}", headers=jane.headers)
    assert r.status_code == 200
    assert r.json() == {"postId": post_id, "status": "deleted"}


async def test_a_deleted_post_is_gone_everywhere(api: Api) -> None:
    jane, bob = await api.register("jane"), await api.register("bob")
    await api.follow(bob, jane)
    keep, drop = await api.post(jane, "keep"), await api.post(jane, "drop")
    await api.settle()
    assert await api.feed_ids(bob) == [drop, keep]
    assert (await api.client.delete(f"/api/posts/{drop}", headers=jane.headers)).status_code == 200
    for viewer in (None, jane, bob):
        r = await get(api, drop, viewer)
        assert r.status_code == 404
        assert_error(r.json(), "not_found")
    assert await profile_post_ids(api, jane) == [keep]
    assert await api.feed_ids(bob) == [keep]  # at once, before any clean-up ran
    await api.settle()
    assert await api.feed_ids(bob) == [keep]
    r = await api.client.delete(f"/api/posts/{drop}", headers=jane.headers)
    assert r.status_code == 404


async def test_user_posts_newest_first_with_exact_pagination(api: Api) -> None:
    jane = await api.register("jane")
    made = [await api.post(jane, f"post {i}") for i in range(23)]
    newest_first = made[::-1]
    for limit in (1, 5, 10, 23, 100):
        assert await profile_post_ids(api, jane, limit=limit) == newest_first
    r = await api.client.get(f"/api/users/{jane.id}/posts", params={"limit": 23})
    assert (r.json()["hasMore"], r.json()["nextCursor"]) == (False, None)


async def test_user_posts_pagination_is_stable_while_new_posts_arrive(api: Api) -> None:
    jane = await api.register("jane")
    made = [await api.post(jane, f"old {i}") for i in range(12)]
    seen: list[str] = []
    r = await api.client.get(f"/api/users/{jane.id}/posts", params={"limit": 5})
    seen += [p["postId"] for p in r.json()["posts"]]
    cursor = r.json()["nextCursor"]
    newer = [await api.post(jane, f"new {i}") for i in range(4)]
    await api.client.delete(f"/api/posts/{newer[0]}", headers=jane.headers)
    while cursor:
        r = await api.client.get(f"/api/users/{jane.id}/posts", params={"limit": 5, "cursor": cursor})
        assert r.status_code == 200, r.text
        seen += [p["postId"] for p in r.json()["posts"]]
        cursor = r.json()["nextCursor"]
    assert seen == made[::-1]
    assert await profile_post_ids(api, jane, limit=3) == newer[:0:-1] + made[::-1]


async def test_user_posts_of_unknown_user_is_404(api: Api) -> None:
    r = await api.client.get(f"/api/users/{api.runtime.ids.next_id()}/posts")
    assert r.status_code == 404
    assert_error(r.json(), "not_found")


async def test_a_private_accounts_posts_are_for_its_followers(api: Api) -> None:
    jane, bob = await api.register("jane"), await api.register("bob")
    post_id = await api.post(jane, "secret")
    await api.client.patch("/api/me", json={"isPrivate": True}, headers=jane.headers)
    assert (await get(api, post_id)).status_code == 404
    assert (await get(api, post_id, bob)).status_code == 404
    assert (await get(api, post_id, jane)).status_code == 200
    r = await api.client.get(f"/api/users/{jane.id}/posts", headers=bob.headers)
    assert r.status_code == 403
    assert_error(r.json(), "forbidden")
    assert await profile_post_ids(api, jane, viewer=jane) == [post_id]


async def test_concurrent_deletes_count_once(api: Api) -> None:
    jane = await api.register("jane")
    parent = await api.post(jane, "parent")
    keep = await api.post(jane, "keep")
    reply = await api.post(jane, "reply", replyToId=parent)
    answers = await asyncio.gather(
        *(api.client.delete(f"/api/posts/{reply}", headers=jane.headers) for _ in range(6))
    )
    assert sorted(r.status_code for r in answers) == [200] + [404] * 5
    assert (await api.client.get(f"/api/users/{jane.id}")).json()["postCount"] == 2
    assert (await get(api, parent)).json()["commentCount"] == 0
    assert await profile_post_ids(api, jane) == [keep, parent]


@pytest.mark.parametrize("field", ["replyToId", "quoteOfId"])
async def test_reply_or_quote_of_a_post_the_author_cannot_see_is_400(api: Api, field: str) -> None:
    jane, bob, carol = await api.register("jane"), await api.register("bob"), await api.register("carol")
    private = await api.post(jane, "for followers only")
    await api.client.patch("/api/me", json={"isPrivate": True}, headers=jane.headers)
    blocker = await api.post(carol, "carol's post")
    await api.client.post(f"/api/users/{bob.id}/block", headers=carol.headers)
    for target in (private, blocker):
        r = await create(api, bob, content="hi", **{field: target})
        assert r.status_code == 400, r.text
        assert_error(r.json(), "validation_failed")
    # The same answer as for a post that does not exist: nothing confirms the hidden post is there.
    r = await create(api, bob, content="hi", **{field: str(api.runtime.ids.next_id())})
    assert r.status_code == 400
    for author, target in ((jane, private), (carol, blocker)):
        r = await create(api, author, content="own", **{field: target})
        assert r.status_code == 201, r.text
    assert (await api.client.get(f"/api/users/{bob.id}")).json()["postCount"] == 0


async def test_a_block_hides_posts_both_ways_and_unblocking_shows_them_again(api: Api) -> None:
    jane, bob = await api.register("jane"), await api.register("bob")
    janes, bobs = await api.post(jane, "jane's"), await api.post(bob, "bob's")
    await api.client.post(f"/api/users/{bob.id}/block", headers=jane.headers)
    for viewer, post_id in ((bob, janes), (jane, bobs)):
        r = await api.client.get(f"/api/posts/{post_id}", headers=viewer.headers)
        assert r.status_code == 404, r.text
        assert_error(r.json(), "not_found")
    r = await api.client.get(f"/api/users/{jane.id}/posts", headers=bob.headers)
    assert r.status_code == 403
    for viewer, post_id in ((jane, janes), (bob, bobs)):  # their own posts stay theirs to see
        assert (await api.client.get(f"/api/posts/{post_id}", headers=viewer.headers)).status_code == 200
    await api.client.delete(f"/api/users/{bob.id}/block", headers=jane.headers)
    r = await api.client.get(f"/api/posts/{janes}", headers=bob.headers)
    assert r.status_code == 200
    assert r.json()["content"] == "jane's"
