-- Requests per customer and hour (UTC), among enriched requests: the report's chart over time.
-- Requests are counted by request time (UTC) between the bounds (since, until); the partition filter
-- (Firehose's arrival hour) is an hour wider on each side, so no request near a boundary is lost.
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
        customer_id,
        customer_name,
        coalesce(customer_id, customer_name) AS customer_key,  -- the customer: its customerId, or the key's name
        enrichment_status
    FROM access_logs
    CROSS JOIN bounds
    WHERE (bounds.since IS NULL OR dt >= date_format(bounds.since - INTERVAL '1' HOUR, '%Y-%m-%d-%H'))
      AND (bounds.until IS NULL OR dt <= date_format(bounds.until + INTERVAL '1' HOUR, '%Y-%m-%d-%H'))
)
SELECT
    date_trunc('hour', requested_at) AS hour,
    max(customer_id) AS customer_id,
    min(customer_name) AS customer_name,
    count(*) AS requests
FROM requests
CROSS JOIN bounds
WHERE enrichment_status = 'enriched'
  AND (bounds.since IS NULL OR requested_at >= bounds.since)
  AND (bounds.until IS NULL OR requested_at < bounds.until)
GROUP BY date_trunc('hour', requested_at), customer_key
ORDER BY hour, requests DESC, customer_id
