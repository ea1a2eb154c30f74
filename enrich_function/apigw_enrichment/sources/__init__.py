"""Sources: how a Firehose event and its records become access-log lines.

- firehose.py: the transformation event, and a record whose data is one line as API Gateway
  sent it (or one of the function's own re-ingested copies).

A new input shape (a CloudWatch Logs subscription envelope: one record, many lines) is a new
module here.
"""
