"""The project's SQL (cli/apigw_logs/sql/): each report is written once, in Athena's dialect."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

SQL = Path(__file__).resolve().parents[1] / "cli" / "apigw_logs" / "sql"
REPORTS = sorted(SQL.glob("*.sql"))


def test_there_is_a_report_for_each_question_the_query_layer_answers():
    assert {path.stem for path in REPORTS} >= {
        "requests_per_customer_per_day",
        "customer_report",
        "error_rate_by_plan",
        "top_resources_per_customer",
        "unknown_api_keys",
        "data_quality",
    }


@pytest.mark.parametrize("path", REPORTS, ids=[path.stem for path in REPORTS])
def test_each_report_parses_as_trino_with_a_bounds_window_and_an_hour_wider_partition_filter(path):
    tree = sqlglot.parse_one(path.read_text(encoding="utf-8"), read="trino")
    bounds = [cte for cte in tree.find_all(exp.CTE) if cte.alias == "bounds"]
    assert len(bounds) == 1, "one place to set the window"
    assert {e.alias for e in bounds[0].this.expressions} == {"since", "until"}
    text = path.read_text(encoding="utf-8")
    # Requests are filtered by request time, and the arrival-hour partitions an hour wider.
    assert "requested_at >= bounds.since" in text or "arrived_at >= bounds.since" in text
    assert "bounds.since - INTERVAL '1' HOUR" in text and "bounds.until + INTERVAL '1' HOUR" in text


@pytest.mark.parametrize("path", REPORTS, ids=[path.stem for path in REPORTS])
def test_no_division_has_a_decimal_literal_which_trino_would_round_to_its_scale(path):
    # In Trino 1.0 is DECIMAL(2,1), and a decimal quotient keeps the larger scale of the two:
    # count_if(...) * 1.0 / count(*) is rounded to one place, 0.0326 to 0.0. A double does not.
    tree = sqlglot.parse_one(path.read_text(encoding="utf-8"), read="trino")
    for division in tree.find_all(exp.Div):
        literals = [node for node in division.find_all(exp.Literal) if not node.is_string]
        assert all("." not in node.this for node in literals), division.sql("trino")
