-- Calls with API keys that no usage plan holds on the stage called: an abuse signal. A key that
-- exists but is on no plan for that stage still names its customer. Most calls first.
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
        api_id,
        stage,
        key_id,
        customer_id,
        customer_name,
        enrichment_status
    FROM access_logs
    CROSS JOIN bounds
    WHERE (bounds.since IS NULL OR dt >= date_format(bounds.since - INTERVAL '1' HOUR, '%Y-%m-%d-%H'))
      AND (bounds.until IS NULL OR dt <= date_format(bounds.until + INTERVAL '1' HOUR, '%Y-%m-%d-%H'))
)
SELECT
    api_id,
    stage,
    key_id,
    customer_id,
    customer_name,
    count(*) AS requests,
    min(requested_at) AS first_seen,
    max(requested_at) AS last_seen
FROM requests
CROSS JOIN bounds
WHERE enrichment_status = 'unknown_api_key'
  AND (bounds.since IS NULL OR requested_at >= bounds.since)
  AND (bounds.until IS NULL OR requested_at < bounds.until)
GROUP BY api_id, stage, key_id, customer_id, customer_name
ORDER BY requests DESC, api_id, stage, key_id
