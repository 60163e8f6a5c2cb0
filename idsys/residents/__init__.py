"""Residents: the public status page, pre-applications, and their hand-off at the counter.

Nothing here needs an account. What a resident sees depends only on what they type (a reference
number and their date of birth, or their own pre-application), so the pages can be used from a
phone or a library computer without telling anyone else anything about them.
"""
