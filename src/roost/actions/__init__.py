"""Use cases that change state. Only actions write, and only actions emit events."""
