"""In-process adapters for the embedded profile: timelines in SQL tables, inline event dispatch."""
