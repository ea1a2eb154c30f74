"""The report SQL (sql/*.sql) as each engine runs it: one source, rendered for Athena and for DuckDB.

Each report sets its window once, in a `bounds` CTE, and filters on it through `CROSS JOIN
bounds`. That reads well, and DuckDB runs it as written (with the bounds set to literals by
the local report). Athena prunes partitions only by predicates it can fold to constants at
planning time; a predicate on a joined relation is not one, and could scan every hour of the
table. So the stack's saved queries are this source with the bounds written out where they are
used: `dt >= date_format(date_trunc('day', current_timestamp - INTERVAL '30' DAY) - ...)` folds
to a constant, and the partition projection reads only the window's hours.

    python -m apigw_logs.queries [NAME...]  # print the reports (or those named) as Athena runs them
    python -m apigw_logs.queries --write    # write them all into template.yaml's saved queries
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import click
import sqlglot
from sqlglot import exp

SQL = Path(__file__).resolve().parent / "sql"
TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"  # the repository (an editable install)
BOUNDS = "bounds"
QUERY_STRING_INDENT = " " * 10  # under `QueryString: |`, as template.yaml lays it out


def names() -> list[str]:
    """The reports, by file name, in order."""
    return sorted(path.stem for path in SQL.glob("*.sql"))


def source(name: str) -> str:
    return (SQL / f"{name}.sql").read_text(encoding="utf-8")


def leading_comment(text: str) -> list[str]:
    """The report's opening `--` lines: what it answers."""
    lines = []
    for line in text.splitlines():
        if not line.startswith("--"):
            break
        lines.append(line)
    return lines


def for_athena(text: str) -> str:
    """The report with its bounds written out where they are used, so that Athena prunes partitions."""
    tree = sqlglot.parse_one(text, read="trino")
    cte = next(cte for cte in tree.find_all(exp.CTE) if cte.alias == BOUNDS)
    values = {expression.alias: expression.this for expression in cte.this.expressions}
    # `bounds.x IS NULL OR condition` lets the local report pass no bound; a saved query always
    # has both, so only the condition stays.
    for either in list(tree.find_all(exp.Or)):
        if _is_bound_null(either.this):
            either.replace(either.expression.copy())
        elif _is_bound_null(either.expression):
            either.replace(either.this.copy())
    for column in list(tree.find_all(exp.Column)):
        if column.table == BOUNDS:
            value = values[column.name].copy()
            column.replace(value if isinstance(value, exp.CurrentTimestamp) else exp.Paren(this=value))
    for join in list(tree.find_all(exp.Join)):
        if isinstance(join.this, exp.Table) and join.this.name == BOUNDS:
            join.pop()
    cte.pop()
    header = [
        *leading_comment(text),
        "-- Here the window is written out where it is used, so that Athena reads only its partitions",
        "-- (change it in each place):",
        *(f"--   {name} = {value.sql('trino')}" for name, value in values.items()),
        "-- Generated from the project's SQL by apigw_logs.queries.",
    ]
    return "\n".join(header) + "\n" + tree.sql("trino", pretty=True, comments=False) + "\n"


def _is_bound_null(node: exp.Expression) -> bool:
    return isinstance(node, exp.Is) and isinstance(node.this, exp.Column) and node.this.table == BOUNDS


def write_template(path: Path = TEMPLATE) -> list[str]:
    """Replace each saved query's QueryString block in the template; return the names changed."""
    template = path.read_text(encoding="utf-8")
    changed = []
    for name in names():
        block = re.compile(
            rf"(      Name: {re.escape(name)}\n(?:      (?!QueryString).*\n)*      QueryString: \|\n)"
            rf"((?:{QUERY_STRING_INDENT}.*\n|\n)+)"
        )
        match = block.search(template)
        if match is None:
            raise SystemExit(f"queries: no saved query named {name} with a `QueryString: |` block in {path}")
        text = "".join(
            f"{QUERY_STRING_INDENT}{line}\n" if line else "\n" for line in for_athena(source(name)).splitlines()
        )
        if match.group(2) != text:
            template = template[: match.start(2)] + text + template[match.end(2) :]
            changed.append(name)
    path.write_text(template, encoding="utf-8")
    return changed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", metavar="NAME", help="reports to print (default: all)")
    parser.add_argument("--write", action="store_true", help="write the saved queries into template.yaml")
    args = parser.parse_args()
    unknown = sorted(set(args.names) - set(names()))
    if unknown:
        parser.error(f"no such report: {', '.join(unknown)} (there are: {', '.join(names())})")
    if args.write:
        changed = write_template()
        listed = f" ({', '.join(changed)})" if changed else ""
        click.echo(f"template.yaml: {len(changed)} saved queries rewritten{listed}")
        return
    if len(args.names) == 1:
        click.echo(for_athena(source(args.names[0])), nl=False)
        return
    for name in args.names or names():
        click.echo(f"-- {name}\n{for_athena(source(name))}")


if __name__ == "__main__":
    main()
