"""Scrapy item pipelines: validate → dedup → detect → store → refer.

Order (ITEM_PIPELINES, with gaps for later stages such as evidence at 300):
validate 100, dedup 200, detect 400, store 500, refer 600.
"""
