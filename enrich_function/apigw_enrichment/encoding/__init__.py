"""Encoding: how an enriched record is written back as one line of base64.

- splice.py: the fast path, the five fields appended to the record's own bytes and base64;
- plain.py: the plain path, the object written out again.
"""
