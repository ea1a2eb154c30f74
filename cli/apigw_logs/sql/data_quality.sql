-- Data quality: how many records carry each enrichment status, and how many failed processing
-- (kept by Firehose under errors/processing-failed/), each with its share of all records.
-- Records are counted by request time (UTC; failures by their arrival time) between the bounds (since, until);
-- the partition filter (Firehose's arrival hour) is an hour wider on each side, so that no record near
-- a boundary is lost.
WITH bounds AS (
    SELECT
        date_trunc('day', current_timestamp - INTERVAL '30' DAY) AS since,
        current_timestamp AS until
),
requests AS (
    SELECT
        from_unixtime(try_cast(request_time_epoch AS bigint) / 1e3) AS requested_at,
        try_cast(status AS integer) AS status_code,
        try_cast(response_latency AS integer) AS latency_ms,
        enrichment_status
    FROM access_logs
    CROSS JOIN bounds
    WHERE (bounds.since IS NULL OR dt >= date_format(bounds.since - INTERVAL '1' HOUR, '%Y-%m-%d-%H'))
      AND (bounds.until IS NULL OR dt <= date_format(bounds.until + INTERVAL '1' HOUR, '%Y-%m-%d-%H'))
),
failures AS (
    SELECT from_unixtime(try_cast(arrivaltimestamp AS bigint) / 1e3) AS arrived_at
    FROM processing_errors
    CROSS JOIN bounds
    WHERE (bounds.since IS NULL OR dt >= date_format(bounds.since - INTERVAL '1' HOUR, '%Y-%m-%d-%H'))
      AND (bounds.until IS NULL OR dt <= date_format(bounds.until + INTERVAL '1' HOUR, '%Y-%m-%d-%H'))
),
counted AS (
    SELECT coalesce(enrichment_status, 'none') AS outcome, count(*) AS records
    FROM requests
    CROSS JOIN bounds
    WHERE (bounds.since IS NULL OR requested_at >= bounds.since)
      AND (bounds.until IS NULL OR requested_at < bounds.until)
    GROUP BY coalesce(enrichment_status, 'none')
    UNION ALL
    SELECT 'processing_failed' AS outcome, count(*) AS records
    FROM failures
    CROSS JOIN bounds
    WHERE (bounds.since IS NULL OR arrived_at >= bounds.since)
      AND (bounds.until IS NULL OR arrived_at < bounds.until)
)
SELECT
    outcome,
    records,
    round(CAST(records AS double) / nullif(sum(records) OVER (), 0), 4) AS share
FROM counted
ORDER BY records DESC, outcome
