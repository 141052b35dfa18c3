"""A post is written as one statement on PostgreSQL, all of it or none of it lands, and its event
tells the workers what they need not read."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from tests.support import Api

from roost.actions.posts import create_post
from roost.adapters.sql.tables import outbox, posts, users
from roost.core.ids import IdGenerator
from roost.ports import Event
from roost.runtime import Runtime
from roost.workers import notifications

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


class _ReusedEventId(IdGenerator):
    """Hands out fresh ids, except that the next event gets the id of an event already written."""

    def __init__(self, taken: int) -> None:
        super().__init__(worker_id=1)
        self._calls = 0
        self._taken = taken

    def next_id(self) -> int:
        self._calls += 1
        return self._taken if self._calls == 2 else super().next_id()  # post id first, then event id


async def _state(runtime: Runtime, author_id: int, parent_id: int) -> tuple[int, ...]:
    """The author's post count, posts written, events written, and the parent's reply count."""
    async with runtime.db.read() as conn:
        row = (
            await conn.execute(
                select(
                    select(users.c.post_count).where(users.c.id == author_id).scalar_subquery(),
                    select(func.count()).select_from(posts).scalar_subquery(),
                    select(func.count()).select_from(outbox).scalar_subquery(),
                    select(posts.c.reply_count).where(posts.c.id == parent_id).scalar_subquery(),
                )
            )
        ).one()
    return tuple(int(n) for n in row)


async def test_a_post_with_its_counts_and_event_is_one_statement_on_postgresql(api: Api) -> None:
    runtime, jane = api.runtime, int((await api.register("jane")).id)
    parent = await create_post(runtime.db, runtime.ids, author_id=jane, content="parent", now=NOW)
    before = await _state(runtime, jane, parent)
    runtime.db.statements.reset()
    reply = await create_post(
        runtime.db, runtime.ids, author_id=jane, content="a reply", reply_to_id=parent, now=NOW
    )
    writes = [s for s in runtime.db.statements.recent if not s.lstrip().upper().startswith("SELECT")]
    if runtime.db.is_sqlite:
        assert len(writes) == 4  # author's count, replied-to / quoted counts, post, event
    else:
        assert len(writes) == 1
        assert writes[0].lstrip().startswith("WITH")
    assert await _state(runtime, jane, parent) == tuple(n + 1 for n in before)
    async with runtime.db.read() as conn:
        event = (await conn.execute(select(outbox).order_by(outbox.c.id.desc()).limit(1))).one()
        row = (await conn.execute(select(posts).where(posts.c.id == reply))).one()
    assert (event.topic, event.partition_key, event.payload) == (
        "post.created",
        jane,
        {"postId": reply, "authorId": jane, "notifies": True},
    )
    assert (row.author_id, row.content, row.reply_to_id, row.quote_of_id) == (jane, "a reply", parent, None)
    assert row.created_at == NOW


async def test_a_post_whose_event_cannot_be_written_leaves_nothing_behind(api: Api) -> None:
    runtime, jane = api.runtime, int((await api.register("jane")).id)
    parent = await create_post(runtime.db, runtime.ids, author_id=jane, content="parent", now=NOW)
    async with runtime.db.read() as conn:
        taken = await conn.scalar(select(func.max(outbox.c.id)))
    assert taken is not None
    before = await _state(runtime, jane, parent)
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
        await create_post(
            runtime.db, _ReusedEventId(taken), author_id=jane, content="lost", reply_to_id=parent, now=NOW
        )
    assert await _state(runtime, jane, parent) == before  # no post, no count moved, no event


async def test_the_notifications_worker_skips_plain_posts_without_reading_them(api: Api) -> None:
    runtime, jane_user = api.runtime, await api.register("jane")
    jane, bob = int(jane_user.id), int((await api.register("bob")).id)
    parent = await create_post(runtime.db, runtime.ids, author_id=jane, content="parent", now=NOW)
    plain = await create_post(runtime.db, runtime.ids, author_id=bob, content="plain", now=NOW)
    reply = await create_post(
        runtime.db, runtime.ids, author_id=bob, content="hi", reply_to_id=parent, now=NOW
    )
    async with runtime.db.read() as conn:
        rows = await conn.execute(select(outbox.c.payload).where(outbox.c.topic == "post.created"))
        events = {
            p["postId"]: Event(id=0, topic="post.created", key=p["authorId"], payload=p) for (p,) in rows
        }
    runtime.db.statements.reset()
    await notifications.on_post_created(runtime.workers, events[plain])
    assert runtime.db.statements.count == 0
    await notifications.on_post_created(runtime.workers, events[reply])
    r = await api.client.get("/api/notifications", headers=jane_user.headers)
    assert [(n["type"], n["actors"][0]["id"]) for n in r.json()["notifications"]] == [("reply", str(bob))]
