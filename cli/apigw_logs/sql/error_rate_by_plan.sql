-- Error rates by usage plan: the share of enriched requests answered 4xx and 5xx. Worst first.
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
        usage_plan_id,
        usage_plan_name,
        enrichment_status
    FROM access_logs
    CROSS JOIN bounds
    WHERE (bounds.since IS NULL OR dt >= date_format(bounds.since - INTERVAL '1' HOUR, '%Y-%m-%d-%H'))
      AND (bounds.until IS NULL OR dt <= date_format(bounds.until + INTERVAL '1' HOUR, '%Y-%m-%d-%H'))
)
SELECT
    usage_plan_id,
    usage_plan_name,
    count(*) AS requests,
    count_if(status_code BETWEEN 400 AND 499) AS client_errors,
    count_if(status_code BETWEEN 500 AND 599) AS server_errors,
    round(CAST(count_if(status_code BETWEEN 400 AND 499) AS double) / count(*), 4) AS client_error_rate,
    round(CAST(count_if(status_code BETWEEN 500 AND 599) AS double) / count(*), 4) AS server_error_rate
FROM requests
CROSS JOIN bounds
WHERE enrichment_status = 'enriched'
  AND (bounds.since IS NULL OR requested_at >= bounds.since)
  AND (bounds.until IS NULL OR requested_at < bounds.until)
GROUP BY usage_plan_id, usage_plan_name
ORDER BY server_error_rate DESC, client_error_rate DESC, requests DESC, usage_plan_id
