"""Benchmarks: synthetic graphs, bulk loading, the HTTP workload driver and reports."""
