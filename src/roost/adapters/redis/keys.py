"""Redis key names, each carrying its user's hash tag so one user's keys share a Cluster slot."""

from __future__ import annotations


class Keys:
    """Builds `<prefix>:<kind>:{<user_id>}`; the prefix stays outside the braces.

    Redis Cluster hashes only the first `{...}` of a key, so a brace in the prefix would put every
    key in one slot; the constructor refuses it.
    """

    def __init__(self, prefix: str) -> None:
        if not prefix or "{" in prefix or "}" in prefix:
            raise ValueError(f"Redis key prefix must be non-empty and brace-free, got {prefix!r}")
        self.prefix = prefix

    def _key(self, kind: str, user_id: int) -> str:
        return f"{self.prefix}:{kind}:{{{user_id}}}"

    def timeline(self, owner_id: int) -> str:
        """List of the post ids in an owner's home timeline, oldest first.

        Earlier names are not read: `tl` held a sorted set, `tl2` lists written before the ceiling
        (`timeline_ceiling`), which every writer of these lists must keep."""
        return self._key("tl3", owner_id)

    def timeline_meta(self, owner_id: int) -> str:
        """String holding the timeline's floor; its absence means the timeline is not materialized."""
        return self._key("tlm3", owner_id)

    def timeline_ceiling(self) -> str:
        """String: an id no timeline list holds anything above (standalone Redis only: no hash tag)."""
        return f"{self.prefix}:tlceil"

    def recent(self, author_id: int) -> str:
        """Sorted set of an author's newest post ids (the celebrity pull path)."""
        return self._key("rp", author_id)

    def recent_meta(self, author_id: int) -> str:
        """String holding the floor down to which the author's recent list is complete."""
        return self._key("rpm", author_id)

    def post(self, post_id: int) -> str:
        """String: a post's cached immutable fields (hydration)."""
        return self._key("post", post_id)
