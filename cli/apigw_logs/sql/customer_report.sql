-- Per-customer report: requests, client (4xx) and server (5xx) errors, and latency percentiles,
-- for each customer and usage plan, among enriched requests. Busiest first. A customer is its API
-- keys' customerId (a key without one is its own customer, by name); its name is its keys' first name.
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
        usage_plan_id,
        usage_plan_name,
        enrichment_status
    FROM access_logs
    CROSS JOIN bounds
    WHERE (bounds.since IS NULL OR dt >= date_format(bounds.since - INTERVAL '1' HOUR, '%Y-%m-%d-%H'))
      AND (bounds.until IS NULL OR dt <= date_format(bounds.until + INTERVAL '1' HOUR, '%Y-%m-%d-%H'))
)
SELECT
    max(customer_id) AS customer_id,
    min(customer_name) AS customer_name,
    usage_plan_id,
    usage_plan_name,
    count(*) AS requests,
    count_if(status_code BETWEEN 400 AND 499) AS client_errors,
    count_if(status_code BETWEEN 500 AND 599) AS server_errors,
    approx_percentile(latency_ms, 0.5) AS latency_p50_ms,
    approx_percentile(latency_ms, 0.95) AS latency_p95_ms
FROM requests
CROSS JOIN bounds
WHERE enrichment_status = 'enriched'
  AND (bounds.since IS NULL OR requested_at >= bounds.since)
  AND (bounds.until IS NULL OR requested_at < bounds.until)
GROUP BY customer_key, usage_plan_id, usage_plan_name
ORDER BY requests DESC, customer_id, usage_plan_id
