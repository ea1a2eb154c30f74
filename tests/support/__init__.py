"""What the tests and the benchmark share: fakes of AWS, a clock, event builders, log readers.

- fake_apigateway.py: an API Gateway that pages like the real one, at botocore's HTTP layer;
- fake_firehose.py: a PutRecordBatch that rejects chosen entries or requests;
- account.py: the demo account, emulated by moto;
- events.py: Firehose events built from lines, and the responses read back;
- directory.py: a fixed usage-plan directory, for tests about records rather than lookups;
- logs.py: everything the handler logged, and its EMF metrics;
- clock.py: a clock that moves only when told.
"""
