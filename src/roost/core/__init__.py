"""Settings, ids, errors, text parsing and security: code with no I/O of its own."""
