"""Card verification: partner registry, partner API, status list, scanner page, public key set.

`offline` is the pure part (no Flask, no database): it checks a QR text against a published JWK
set and a signed status list, exactly as a partner's own verifier would between syncs.
"""
