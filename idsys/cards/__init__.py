"""Cards: card numbers, issuance, print queue, PDF rendering, QR, revocation and renewal.

`idsys.cards.pdf` and `idsys.cards.fonts` are pure (no Flask, no database): they turn an already
decided, already signed card into printable PDF pages, so they can be tested and benchmarked alone.
"""
