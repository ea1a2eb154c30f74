"""One home for what the function's output is made of: the five fields it adds, the statuses,
the raw-key fields it masks, and the access-log format it recommends.

The template (its AccessLogFormat output), the docs and the tests are checked against this
module (tests/unit/test_fields.py).
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping


class EnrichmentStatus(StrEnum):
    ENRICHED = "enriched"
    NO_API_KEY = "no_api_key"
    UNKNOWN_API_KEY = "unknown_api_key"
    LOOKUP_UNAVAILABLE = "lookup_unavailable"
    # The line names two different API ids, stages or key ids (a duplicated field, or two of
    # the names one identity may be read from): it is attributed to no one.
    CONFLICTING_IDENTITY = "conflicting_identity"


# The fields added to every Ok record, in the order they are added.
ENRICHMENT_FIELDS = ("usage_plan_id", "usage_plan_name", "customer_id", "customer_name", "enrichment_status")

ENRICHMENT_STATUS = ENRICHMENT_FIELDS[-1]

# Fields that may carry the raw API key ($context.identity.apiKey), the secret itself.
API_KEY_VALUE_FIELDS = ("api_key", "apiKey")

NO_KEY_MARKERS = ("", "-")  # API Gateway writes "-" for an empty $context value.

# The format to set as a stage's accessLogSettings/format (the stack's AccessLogFormat output):
# one JSON object a line, every value a string, the key id logged and never the key itself.
RECOMMENDED_ACCESS_LOG_FORMAT = (
    '{"request_id":"$context.requestId","extended_request_id":"$context.extendedRequestId",'
    '"request_time":"$context.requestTime","request_time_epoch":"$context.requestTimeEpoch",'
    '"api_id":"$context.apiId","stage":"$context.stage","resource_path":"$context.resourcePath",'
    '"path":"$context.path","method":"$context.httpMethod","protocol":"$context.protocol",'
    '"status":"$context.status","response_length":"$context.responseLength",'
    '"response_latency":"$context.responseLatency","integration_latency":"$context.integration.latency",'
    '"key_id":"$context.identity.apiKeyId","source_ip":"$context.identity.sourceIp",'
    '"user_agent":"$context.identity.userAgent","error_message":$context.error.messageString}'
)

_FIELD = re.compile(r'"(\w+)":"?(\$context\.[\w.]+)')


def recommended_fields() -> dict[str, str]:
    """Each field the recommended format logs, in order, with the `$context` variable it holds."""
    return dict(_FIELD.findall(RECOMMENDED_ACCESS_LOG_FORMAT))


CONTEXT_PREFIX = "$context."

# Where the rule in field_name would give a longer name than the recommended format has always
# used. integrationLatency is the older spelling of integration.latency: one meaning, one name.
_FIELD_NAMES = {
    "httpMethod": "method",
    "identity.apiKeyId": "key_id",
    "error.messageString": "error_message",
    "integrationLatency": "integration_latency",
}
_WORD_START = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def field_name(variable: str) -> str:
    """The field a `$context` variable is written under, whatever format the stage logs in.

    A line of a text format (CLF, CSV, XML...) becomes one JSON object with these names, and
    the recommended JSON format uses them too, so the Glue table and the report read every
    stage alike. The rule: drop `$context.` and a leading `identity.`, then snake_case each
    part and join the parts with `_` (`$context.identity.sourceIp` -> `source_ip`,
    `$context.authorizer.claims.sub` -> `authorizer_claims_sub`), but for the few names in
    _FIELD_NAMES. `$context.identity.apiKey` is `api_key`, one of the fields masked.
    """
    path = variable.removeprefix(CONTEXT_PREFIX)
    named = _FIELD_NAMES.get(path)
    if named is not None:
        return named
    return "_".join(_WORD_START.sub("_", part).lower() for part in path.removeprefix("identity.").split("."))


# Where the stream writes records in the bucket: one Hive-style partition an hour, by Firehose's
# arrival time (UTC), e.g. logs/dt=2025-11-21-09/. The template's Prefix, the Glue table's
# partition projection and the local demo's writer all follow these.
LOGS_PREFIX = "logs/"
ERRORS_PREFIX = "errors/"
PARTITION_KEY = "dt"
PARTITION_FORMAT = "%Y-%m-%d-%H"  # strftime; Firehose's and Athena's own spelling is yyyy-MM-dd-HH


def log_columns() -> tuple[str, ...]:
    """The columns of the query layer: each field the recommended format logs, then the five."""
    return (*recommended_fields(), *ENRICHMENT_FIELDS)


_STATUSES = frozenset(status.value for status in EnrichmentStatus)


def is_enriched(obj: Mapping[str, Any]) -> bool:
    """Whether a record carries the five fields as this function writes them.

    Records that did not fit in a response are put back into the stream enriched, and come
    through the function again; a copy marked as re-ingested (records.REINGESTED_MARK) that
    carries them passes unchanged, not enriched twice. An unmarked line that carries them
    is enriched like any other, its five fields overwritten.
    """
    status = obj.get(ENRICHMENT_STATUS)
    if not isinstance(status, str) or status not in _STATUSES:
        return False
    return all(name in obj and (obj[name] is None or isinstance(obj[name], str)) for name in ENRICHMENT_FIELDS)
