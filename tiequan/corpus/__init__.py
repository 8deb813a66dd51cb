"""The classifier's training corpus: hand-written fragments and the seeded generator.

``python -m tiequan.corpus.build`` rewrites ``config/corpus/*.jsonl`` and the count tables
of ``config/corpus/DATASHEET.md``. The fragments are deliberately independent of the
sandbox marketplace's phrase lists, so the sandbox stays an independent end-to-end check.
"""
