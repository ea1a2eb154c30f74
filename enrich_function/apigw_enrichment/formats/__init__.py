"""Formats: how an access-log line becomes a JSON object.

- json_line.py: a line that is a JSON object (the recommended format, and any JSON template).

A format compiled from a `$context` template (CLF, CSV, XML) is a new module here.
"""
