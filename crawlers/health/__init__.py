"""Crawl health: Spidermon monitors run when a spider closes, and where their alerts go."""
