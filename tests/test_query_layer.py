"""The query layer in the template: the Glue tables read the layout the stream writes, the saved
queries are the project's SQL files as they are, and the workgroup bounds cost and keeps results briefly.

Nothing here deploys: moto runs neither Firehose through CloudFormation nor Athena. The template
is read as written, and checked against fields.py (the one home of the layout and the columns)
and cli/apigw_logs/sql/.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlglot
from cfnlint.decode import cfn_yaml
from sqlglot import exp

from apigw_enrichment import fields
from apigw_logs import queries
from tests.support.events import ROOT

TEMPLATE = cfn_yaml.load(str(ROOT / "template.yaml"))
RESOURCES = TEMPLATE["Resources"]
PARAMETERS = TEMPLATE["Parameters"]
S3_DEST = RESOURCES["DeliveryStream"]["Properties"]["ExtendedS3DestinationConfiguration"]
WORKGROUP = RESOURCES["AthenaWorkGroup"]["Properties"]
BUCKET_RULES = RESOURCES["LogBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
SQL_FILES = sorted((ROOT / "cli" / "apigw_logs" / "sql").glob("*.sql"))
NAMED_QUERIES = {
    str(resource["Properties"]["Name"]): resource["Properties"]
    for resource in RESOURCES.values()
    if resource["Type"] == "AWS::Athena::NamedQuery"
}

# Firehose's !{timestamp:...} and Athena's projection.<key>.format both use Java's date patterns.
JAVA_TO_STRFTIME = {"yyyy": "%Y", "MM": "%m", "dd": "%d", "HH": "%H"}
ONE_HOUR = datetime(2025, 11, 21, 9, 41, 7, tzinfo=UTC)
BUCKET = "example-bucket"
ERROR_OUTPUT_TYPE = "processing-failed"  # what Firehose writes for !{firehose:error-output-type}


def strftime_pattern(java: str) -> str:
    pattern = re.sub("|".join(JAVA_TO_STRFTIME), lambda m: JAVA_TO_STRFTIME[m.group()], java)
    assert not re.search(r"[A-Za-z]", re.sub(r"%[YmdH]", "", pattern)), f"a Java pattern letter left in {java!r}"
    return pattern


def table(name: str) -> dict[str, Any]:
    (found,) = [
        r["Properties"]
        for r in RESOURCES.values()
        if r["Type"] == "AWS::Glue::Table" and r["Properties"]["TableInput"]["Name"] == name
    ]
    return found


def firehose_location(prefix: str, when: datetime) -> str:
    """Where Firehose puts an object that arrives at `when`, for a Prefix or ErrorOutputPrefix."""
    location = prefix.replace("!{firehose:error-output-type}", ERROR_OUTPUT_TYPE)
    location = re.sub(r"!\{timestamp:([^}]+)\}", lambda m: when.strftime(strftime_pattern(m.group(1))), location)
    assert "!{" not in location, prefix
    return f"s3://{BUCKET}/{location}"


def projected_location(table_input: dict[str, Any], when: datetime) -> str:
    """Where the table's partition projection looks for the partition holding `when`."""
    parameters = table_input["Parameters"]
    value = when.strftime(strftime_pattern(parameters[f"projection.{fields.PARTITION_KEY}.format"]))
    template = parameters["storage.location.template"]["Fn::Sub"]
    return template.replace("${LogBucket}", BUCKET).replace(f"${{!{fields.PARTITION_KEY}}}", value)


def leading_comment(text: str) -> str:
    return " ".join(line.removeprefix("--").strip() for line in text.splitlines() if line.startswith("--"))


# --- the tables read what the stream writes ---


def test_the_access_logs_table_has_one_string_column_for_each_log_column_in_order():
    columns = table("access_logs")["TableInput"]["StorageDescriptor"]["Columns"]
    assert [c["Name"] for c in columns] == list(fields.log_columns())
    assert {c["Type"] for c in columns} == {"string"}, "cast with try_cast in SQL: '-' becomes NULL there"


def test_the_processing_errors_table_has_firehoses_error_record_lower_cased():
    columns = table("processing_errors")["TableInput"]["StorageDescriptor"]["Columns"]
    assert [c["Name"] for c in columns] == [
        "attemptsmade", "arrivaltimestamp", "errorcode", "errormessage", "attemptendingtimestamp", "rawdata",
        "lambdaarn",
    ]  # fmt: skip
    assert {c["Type"] for c in columns} == {"string"}


@pytest.mark.parametrize("name", ["access_logs", "processing_errors"])
def test_each_table_is_external_json_read_by_the_openx_serde_and_partitioned_by_the_arrival_hour(name):
    table_input = table(name)["TableInput"]
    assert table(name)["DatabaseName"] == {"Ref": "GlueDatabase"}
    assert table_input["TableType"] == "EXTERNAL_TABLE"
    storage = table_input["StorageDescriptor"]
    assert storage["SerdeInfo"] == {
        "SerializationLibrary": "org.openx.data.jsonserde.JsonSerDe",
        "Parameters": {"ignore.malformed.json": "true"},
    }
    assert storage["InputFormat"] == "org.apache.hadoop.mapred.TextInputFormat"
    assert storage["OutputFormat"] == "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"
    assert [(k["Name"], k["Type"]) for k in table_input["PartitionKeys"]] == [(fields.PARTITION_KEY, "string")]


@pytest.mark.parametrize(
    ("name", "prefix"),
    [("access_logs", fields.LOGS_PREFIX), ("processing_errors", f"{fields.ERRORS_PREFIX}{ERROR_OUTPUT_TYPE}/")],
)
def test_each_tables_partitions_are_projected_hourly_from_2025_under_its_prefix(name, prefix):
    parameters = table(name)["TableInput"]["Parameters"]
    key = fields.PARTITION_KEY
    assert {k: v for k, v in parameters.items() if k.startswith("projection.")} == {
        "projection.enabled": "true",
        f"projection.{key}.type": "date",
        f"projection.{key}.format": "yyyy-MM-dd-HH",
        f"projection.{key}.range": "2025-01-01-00,NOW",
        f"projection.{key}.interval": "1",
        f"projection.{key}.interval.unit": "HOURS",
    }
    location = table(name)["TableInput"]["StorageDescriptor"]["Location"]["Fn::Sub"]
    assert location == f"s3://${{LogBucket}}/{prefix}"
    assert parameters["storage.location.template"] == {"Fn::Sub": f"{location}{key}=${{!{key}}}/"}
    start = parameters[f"projection.{key}.range"].split(",")[0]
    assert datetime.strptime(start, fields.PARTITION_FORMAT).replace(tzinfo=UTC) == datetime(2025, 1, 1, tzinfo=UTC)


def test_firehoses_pattern_athenas_format_and_partition_format_write_the_same_hour():
    # GIVEN one instant, WHEN each of the three spellings formats it, THEN they agree.
    (firehose_pattern,) = re.findall(r"!\{timestamp:([^}]+)\}", S3_DEST["Prefix"])
    athena_format = table("access_logs")["TableInput"]["Parameters"][f"projection.{fields.PARTITION_KEY}.format"]
    formatted = {
        "firehose": ONE_HOUR.strftime(strftime_pattern(firehose_pattern)),
        "athena": ONE_HOUR.strftime(strftime_pattern(athena_format)),
        "fields.PARTITION_FORMAT": ONE_HOUR.strftime(fields.PARTITION_FORMAT),
    }
    assert set(formatted.values()) == {"2025-11-21-09"}, formatted


@pytest.mark.parametrize(
    ("name", "stream_prefix", "prefix"),
    [
        ("access_logs", "Prefix", fields.LOGS_PREFIX),
        ("processing_errors", "ErrorOutputPrefix", f"{fields.ERRORS_PREFIX}{ERROR_OUTPUT_TYPE}/"),
    ],
)
def test_the_projection_looks_exactly_where_the_stream_writes(name, stream_prefix, prefix):
    expected = f"s3://{BUCKET}/{prefix}{fields.PARTITION_KEY}={ONE_HOUR.strftime(fields.PARTITION_FORMAT)}/"
    assert firehose_location(S3_DEST[stream_prefix], ONE_HOUR) == expected
    assert projected_location(table(name)["TableInput"], ONE_HOUR) == expected


# --- the saved queries are the project's SQL ---


def test_there_is_one_saved_query_per_sql_file():
    assert sorted(NAMED_QUERIES) == [path.stem for path in SQL_FILES]
    assert len(SQL_FILES) == 7


@pytest.mark.parametrize("path", SQL_FILES, ids=[path.stem for path in SQL_FILES])
def test_each_saved_query_is_its_sql_file_as_athena_runs_it(path):
    text = path.read_text(encoding="utf-8")
    query = NAMED_QUERIES[path.stem]
    assert str(query["QueryString"]).rstrip("\n") == queries.for_athena(text).rstrip("\n"), (
        f"template.yaml's {path.stem} QueryString differs from {path.name}: run `python -m apigw_logs.queries --write`"
    )
    description = str(query["Description"])
    assert leading_comment(text).startswith(description), "the description is the file's own first words"
    assert description.endswith(".")
    assert len(description) <= 1024
    assert query["Database"] == {"Ref": "GlueDatabase"}
    assert query["WorkGroup"] == {"Ref": "AthenaWorkGroup"}


@pytest.mark.parametrize("path", SQL_FILES, ids=[path.stem for path in SQL_FILES])
def test_each_query_reads_only_the_stacks_tables_unqualified(path):
    tree = sqlglot.parse_one(path.read_text(encoding="utf-8"), read="trino")
    ctes = {cte.alias for cte in tree.find_all(exp.CTE)}
    tables = [t for t in tree.find_all(exp.Table) if t.name not in ctes]
    assert tables
    assert all(not t.db for t in tables), "the saved query's Database resolves them"
    assert {t.name for t in tables} <= {"access_logs", "processing_errors"}


# --- the database, the workgroup and the results' lifetime ---


def test_the_database_is_named_by_a_parameter_athena_accepts():
    database = RESOURCES["GlueDatabase"]["Properties"]
    assert database["DatabaseInput"]["Name"] == {"Ref": "GlueDatabaseName"}
    parameter = PARAMETERS["GlueDatabaseName"]
    assert parameter["Default"] == "apigw_access_logs"
    pattern = re.compile(parameter["AllowedPattern"])
    for good in ("apigw_access_logs", "logs2", "a" * 255):
        assert pattern.fullmatch(good), good
    for bad in ("", "Upper", "has-hyphen", "has space", "1starts_with_a_digit", "_x", "a" * 256):
        assert not pattern.fullmatch(bad), bad


def test_the_workgroup_runs_engine_3_enforces_its_settings_and_bounds_each_query():
    config = WORKGROUP["WorkGroupConfiguration"]
    assert config["EngineVersion"] == {"SelectedEngineVersion": "Athena engine version 3"}
    assert config["EnforceWorkGroupConfiguration"] is True
    assert config["PublishCloudWatchMetricsEnabled"] is True
    assert config["ResultConfiguration"] == {
        "OutputLocation": {"Fn::Sub": "s3://${LogBucket}/athena-results/"},
        "EncryptionConfiguration": {"EncryptionOption": "SSE_S3"},
    }
    assert config["BytesScannedCutoffPerQuery"] == {"Ref": "AthenaBytesScannedCutoff"}
    cutoff = PARAMETERS["AthenaBytesScannedCutoff"]
    assert cutoff["Default"] == 10 * 1000**3
    assert cutoff["MinValue"] == 10 * 1000**2, "Athena's minimum"
    assert WORKGROUP["RecursiveDeleteOption"] is True, "the stack deletes cleanly"


def test_query_results_expire_after_the_parameters_days_old_versions_too():
    results_prefix = WORKGROUP["WorkGroupConfiguration"]["ResultConfiguration"]["OutputLocation"]["Fn::Sub"]
    prefix = results_prefix.removeprefix("s3://${LogBucket}/")
    (rule,) = [r for r in BUCKET_RULES if r.get("Prefix") == prefix]
    assert rule["Status"] == "Enabled"
    assert rule["ExpirationInDays"] == {"Ref": "AthenaResultsRetentionDays"}
    assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": {"Ref": "AthenaResultsRetentionDays"}}
    assert PARAMETERS["AthenaResultsRetentionDays"]["Default"] == 3


def test_logs_and_failed_records_still_expire_after_log_retention_days():
    retention = {r["Prefix"]: r["ExpirationInDays"] for r in BUCKET_RULES if "Prefix" in r and "ExpirationInDays" in r}
    for written_under in (S3_DEST["Prefix"], S3_DEST["ErrorOutputPrefix"]):
        (top,) = [p for p in retention if written_under.startswith(p)]
        assert retention[top] == {"Ref": "LogRetentionDays"}, written_under


def test_the_outputs_name_the_database_the_table_and_the_workgroup():
    outputs = {name: output["Value"] for name, output in TEMPLATE["Outputs"].items()}
    assert outputs["GlueDatabaseName"] == {"Ref": "GlueDatabase"}
    assert outputs["AccessLogsTable"] == {"Fn::Sub": "${GlueDatabase}.${AccessLogsTable}"}
    assert outputs["AthenaWorkGroup"] == {"Ref": "AthenaWorkGroup"}


# --- the docs say what the stack creates ---


def test_the_docs_list_the_query_layers_parameters_with_their_defaults():
    doc = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    for name in ("GlueDatabaseName", "AthenaBytesScannedCutoff", "AthenaResultsRetentionDays"):
        assert f"| `{name}` | `{PARAMETERS[name]['Default']}` |" in doc, name


def test_the_docs_ddl_is_the_table_the_stack_creates():
    doc = (ROOT / "docs" / "output.md").read_text(encoding="utf-8")
    ddl = doc[doc.index("CREATE EXTERNAL TABLE") :]
    ddl = ddl[: ddl.index("```")]
    columns = re.findall(r"\b(\w+) string", ddl[: ddl.index("PARTITIONED BY")])
    assert columns == list(fields.log_columns())
    assert f"PARTITIONED BY ({fields.PARTITION_KEY} string)" in ddl
    for key, value in table("access_logs")["TableInput"]["Parameters"].items():
        if key.startswith("projection."):
            assert f"'{key}' = '{value}'" in ddl, key
    assert "'storage.location.template' = 's3://YOUR_BUCKET/logs/dt=${dt}/'" in ddl


def test_the_docs_describe_every_saved_query():
    doc = (ROOT / "docs" / "output.md").read_text(encoding="utf-8")
    for name in NAMED_QUERIES:
        assert f"`{name}`" in doc, name


# --- the saved queries prune partitions: their partition filter folds to a constant ---


@pytest.mark.parametrize("name", queries.names())
def test_a_saved_querys_partition_filter_compares_dt_with_constants_only(name):
    tree = sqlglot.parse_one(str(NAMED_QUERIES[name]["QueryString"]), read="trino")
    assert not [cte for cte in tree.find_all(exp.CTE) if cte.alias == "bounds"]
    assert not [table for table in tree.find_all(exp.Table) if table.name == "bounds"]
    comparisons = [
        node
        for node in tree.find_all(exp.GTE, exp.LTE)
        if isinstance(node.this, exp.Column) and node.this.name == fields.PARTITION_KEY
    ]
    assert len(comparisons) >= 2, "a lower and an upper bound on the partition"
    for comparison in comparisons:
        assert not list(comparison.expression.find_all(exp.Column)), comparison.sql("trino")


def test_the_athena_rendering_answers_what_the_source_answers(tmp_path):
    """Both, run by DuckDB over the same rows (the last 30 days' worth), give the same result."""
    import duckdb  # noqa: PLC0415 - only this test runs SQL

    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    columns = [*fields.log_columns(), fields.PARTITION_KEY]
    con.execute("CREATE TABLE access_logs (" + ", ".join(f'"{c}" VARCHAR' for c in columns) + ")")
    con.execute("CREATE TABLE processing_errors (arrivaltimestamp VARCHAR, dt VARCHAR)")
    now_ms = int(con.execute("SELECT epoch_ms(current_timestamp)").fetchone()[0])
    rows = []
    for n in range(400):
        ms = now_ms - n * 3_700_000  # back over about 17 days, and a few older than the window
        if n % 7 == 0:
            ms -= 40 * 86_400_000
        hour = con.execute("SELECT strftime(to_timestamp(? / 1000.0), '%Y-%m-%d-%H')", [ms]).fetchone()[0]
        row = dict.fromkeys(columns, "-")
        row.update(
            request_time_epoch=str(ms), status=("200", "404", "503")[n % 3], response_latency=str(10 + n % 90),
            customer_id=f"c{n % 4}", customer_name=f"C{n % 4}", usage_plan_id=f"p{n % 2}", usage_plan_name=f"P{n % 2}",
            enrichment_status=("enriched", "enriched", "unknown_api_key", "no_api_key")[n % 4], method="GET",
            resource_path=f"/r{n % 3}", api_id="a1", stage="prod", key_id=f"k{n % 5}", dt=hour,
        )  # fmt: skip
        rows.append([row[c] for c in columns])
    placeholders = ", ".join("?" * len(columns))
    con.executemany(f"INSERT INTO access_logs VALUES ({placeholders})", rows)  # noqa: S608 - placeholders only
    con.execute("INSERT INTO processing_errors VALUES (?, ?)", [str(now_ms - 3_600_000), "x"])

    def run(sql: str) -> list[tuple[Any, ...]]:
        duck = sqlglot.transpile(sql, read="trino", write="duckdb")[0]
        # As text: fetching a TIMESTAMPTZ into Python would need pytz.
        return con.execute(f"SELECT COLUMNS(*)::VARCHAR FROM ({duck})").fetchall()  # noqa: S608 - our own SQL

    for name in queries.names():
        text = queries.source(name)
        as_written, as_saved = run(text), run(queries.for_athena(text))
        assert as_saved == as_written, name
        assert as_written, f"{name}: the rows are in its window"
