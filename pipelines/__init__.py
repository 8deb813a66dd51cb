"""Scrapy item pipelines: validate → dedup → image text → detect → store → refer.

Order (ITEM_PIPELINES, with gaps for later stages such as evidence at 300):
validate 100, dedup 200, image text (OCR) 350, detect 400, store 500, refer 600.
"""
