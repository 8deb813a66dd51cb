"""Scrapy item pipelines, in ITEM_PIPELINES order (crawlers/settings.py):

validate 100 → dedup 200 → image text (OCR) 350 → detect 400 → evidence 450 → store 500 →
refer 600 → follow-up 650 (only when the runner wrote a follow-up plan).
"""
