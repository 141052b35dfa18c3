"""Read paths: profiles, posts, lists and the home feed, hydrated in bulk."""
