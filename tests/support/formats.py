"""Access-log formats for the tests: API Gateway's four console examples and the seed guide's."""

from __future__ import annotations

# The examples the API Gateway console offers (Developer Guide, "Set up API logging"), each as
# one line: the guide's continuation characters are a visual aid only.
CLF = (
    "$context.identity.sourceIp $context.identity.caller $context.identity.user [$context.requestTime] "
    '"$context.httpMethod $context.resourcePath $context.protocol" $context.status $context.responseLength '
    "$context.requestId"
)
JSON = (
    '{ "requestId":"$context.requestId", "ip": "$context.identity.sourceIp", "caller":"$context.identity.caller", '
    '"user":"$context.identity.user","requestTime":"$context.requestTime", "httpMethod":"$context.httpMethod",'
    '"resourcePath":"$context.resourcePath", "status":"$context.status","protocol":"$context.protocol", '
    '"responseLength":"$context.responseLength" }'
)
XML = (
    '<request id="$context.requestId"> <ip>$context.identity.sourceIp</ip> <caller>$context.identity.caller</caller> '
    "<user>$context.identity.user</user> <requestTime>$context.requestTime</requestTime> "
    "<httpMethod>$context.httpMethod</httpMethod> <resourcePath>$context.resourcePath</resourcePath> "
    "<status>$context.status</status> <protocol>$context.protocol</protocol> "
    "<responseLength>$context.responseLength</responseLength> </request>"
)
CSV = (
    "$context.identity.sourceIp,$context.identity.caller,$context.identity.user,$context.requestTime,"
    "$context.httpMethod,$context.resourcePath,$context.protocol,$context.status,$context.responseLength,"
    "$context.requestId"
)

# The seed guide's format (shared/seeds/002), straight quotes: it logs the raw key.
SEED_GUIDE = (
    '{"api_id": "$context.apiId","api_key": "$context.identity.apiKey","key_id": "$context.identity.apiKeyId",'
    '"ip": "$context.identity.sourceIp","method": "$context.httpMethod","uri": "$context.path",'
    '"response_size":"$context.responseLength","response_status": "$context.status",'
    '"resource_id": "$context.resourceId","request_id": "$context.requestId",'
    '"request_latency": "$context.responseLatency","request_time":"$context.requestTime","stage": "$context.stage"}'
)
# The same as the guide prints it, with typographic quotes: no JSON, so read as text.
SEED_GUIDE_AS_PRINTED = SEED_GUIDE.replace('"', "\u201c")

# The console's CLF, with what this project needs to attribute a line: API, stage and key id.
CLF_WITH_KEY = (
    '$context.identity.sourceIp - - [$context.requestTime] "$context.httpMethod $context.resourcePath '
    '$context.protocol" $context.status $context.responseLength $context.requestId $context.apiId '
    '$context.stage $context.identity.apiKeyId "$context.identity.userAgent"'
)
CSV_WITH_KEY = (
    "$context.requestId,$context.apiId,$context.stage,$context.identity.apiKeyId,$context.identity.userAgent,"
    "$context.status,$context.requestTime"
)

TIME = "21/Nov/2025:09:15:02 +0000"
