"""Redis adapters for the production profile: timelines, recent-post lists and their key names."""
