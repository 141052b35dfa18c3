"""roost: a social feed server with a hybrid push/pull home timeline."""

__version__ = "0.1.0"
