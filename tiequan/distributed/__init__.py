"""Distributed crawling: a run seeded into Redis, crawled by `tiequan worker` processes."""
