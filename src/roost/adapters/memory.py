"""The in-process post cache: every profile's first stop for a post's immutable fields.

A post's content, hashtags, mentions, media and links never change while it lives (whether it
lives is read from the database with every page), so this process may keep them for as long as it
has room, with nothing to invalidate across processes. Alone it is the embedded profile's cache; in
production it sits in front of the shared Redis cache, which fills it on a miss.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

from roost.ports import PostCache


class MemoryPostCache:
    """PostCache in this process's memory: the `capacity` most recently used entries."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[int, Mapping[str, Any]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, post_ids: Sequence[int]) -> dict[int, Mapping[str, Any]]:
        return self.peek(post_ids)

    def peek(self, post_ids: Sequence[int]) -> dict[int, Mapping[str, Any]]:
        found: dict[int, Mapping[str, Any]] = {}
        entries = self._entries
        for post_id in post_ids:
            entry = entries.get(post_id)
            if entry is not None:
                entries.move_to_end(post_id)
                found[post_id] = entry
        return found

    async def put(self, posts: Mapping[int, Mapping[str, Any]]) -> None:
        if self._capacity == 0:
            return
        self._entries.update(posts)
        while len(self._entries) > self._capacity:
            self._entries.popitem(last=False)

    async def forget_posts(self, post_ids: Sequence[int]) -> None:
        for post_id in post_ids:
            self._entries.pop(post_id, None)


class LayeredPostCache:
    """This process's entries first, then a shared cache; what the shared one has is kept here too."""

    def __init__(self, local: MemoryPostCache, shared: PostCache) -> None:
        self.local = local
        self._shared = shared

    async def get(self, post_ids: Sequence[int]) -> dict[int, Mapping[str, Any]]:
        found = await self.local.get(post_ids)
        missing = [i for i in post_ids if i not in found]
        if missing:
            shared = await self._shared.get(missing)
            if shared:
                await self.local.put(shared)
                found.update(shared)
        return found

    def peek(self, post_ids: Sequence[int]) -> dict[int, Mapping[str, Any]]:
        return self.local.peek(post_ids)

    async def put(self, posts: Mapping[int, Mapping[str, Any]]) -> None:
        await self.local.put(posts)
        await self._shared.put(posts)

    async def forget_posts(self, post_ids: Sequence[int]) -> None:
        await self.local.forget_posts(post_ids)
        await self._shared.forget_posts(post_ids)
