"""Delete a versioned S3 bucket: every object version and every delete marker, then the bucket.

`aws s3 rb --force` deletes only the current versions, so on the stack's versioned log bucket it fails
with BucketNotEmpty. Usage:

    .venv/bin/apigw-logs delete-bucket BUCKET [--region REGION] [--yes]

It asks you to type the bucket name unless --yes is given. It reads only the listing (keys and version
ids), never an object's contents.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import boto3
import click
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef

DELETE_BATCH = 1000  # the most keys one DeleteObjects request takes
# Standard mode retries throttling (SlowDown) and 5xx with backoff; a big bucket makes many requests.
RETRIES = Config(retries={"mode": "standard", "max_attempts": 10})


class CleanupError(Exception):
    """A failure to report as one line."""


@dataclass
class Removed:
    versions: int = 0
    delete_markers: int = 0


def s3_client(region: str | None) -> S3Client:
    return boto3.client("s3", region_name=region, config=RETRIES)


def pages(s3: S3Client, bucket: str) -> Iterator[list[tuple[ObjectIdentifierTypeDef, bool]]]:
    """Each page of the listing as (identifier, is a delete marker) pairs: versions and delete markers."""
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        entries: list[tuple[ObjectIdentifierTypeDef, bool]] = []
        entries += (({"Key": v["Key"], "VersionId": v["VersionId"]}, False) for v in page.get("Versions", []))
        entries += (({"Key": m["Key"], "VersionId": m["VersionId"]}, True) for m in page.get("DeleteMarkers", []))
        yield entries


def delete_batch(
    s3: S3Client, bucket: str, batch: list[tuple[ObjectIdentifierTypeDef, bool]], removed: Removed
) -> None:
    response = s3.delete_objects(
        Bucket=bucket, Delete={"Objects": [identifier for identifier, _ in batch], "Quiet": True}
    )
    errors = response.get("Errors", [])
    if errors:
        first = errors[0]
        raise CleanupError(
            f"could not delete {len(errors)} of {len(batch)} versions"
            f" (first: {first.get('Key', '?')!r}: {first.get('Code', '?')}: {first.get('Message', '')})"
        )
    markers = sum(is_marker for _, is_marker in batch)
    removed.delete_markers += markers
    removed.versions += len(batch) - markers


def delete_all(
    s3: S3Client, bucket: str, entries: list[tuple[ObjectIdentifierTypeDef, bool]], removed: Removed
) -> None:
    for start in range(0, len(entries), DELETE_BATCH):
        delete_batch(s3, bucket, entries[start : start + DELETE_BATCH], removed)


def empty_bucket(s3: S3Client, bucket: str) -> Removed:
    """Delete every object version and delete marker, at most DELETE_BATCH per request.

    A page is deleted only after the next one is listed, since each listing resumes from the last entry of
    the page before: S3 copes if that entry is gone, but moto (what the tests run against) loses its place.
    """
    removed = Removed()
    previous: list[tuple[ObjectIdentifierTypeDef, bool]] = []
    for page in pages(s3, bucket):
        delete_all(s3, bucket, previous, removed)
        previous = page
    delete_all(s3, bucket, previous, removed)
    return removed


def confirmed(bucket: str) -> bool:
    try:
        answer = input(f"Delete every object version in s3://{bucket}, then the bucket? Type its name to confirm: ")
    except EOFError:
        return False
    return answer.strip() == bucket


def one_line(error: Exception) -> str:
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        if code in {"404", "NoSuchBucket"}:
            return "no such bucket"
        if code in {"403", "AccessDenied"}:
            return f"access denied ({error.operation_name}): check your credentials and permissions"
    return " ".join(str(error).split())


def delete(bucket: str, *, region: str | None = None, assume_yes: bool = False) -> int:
    """Empty `bucket` and delete it, after confirmation unless `assume_yes`; the exit status."""
    try:
        s3 = s3_client(region)
        s3.head_bucket(Bucket=bucket)
        if not assume_yes and not confirmed(bucket):
            click.echo(f"not confirmed: nothing deleted from s3://{bucket}", err=True)
            return 1
        removed = empty_bucket(s3, bucket)
        s3.delete_bucket(Bucket=bucket)
    except (ClientError, BotoCoreError, CleanupError) as error:
        click.echo(f"error: s3://{bucket}: {one_line(error)}", err=True)
        return 1
    except KeyboardInterrupt:
        click.echo(f"interrupted: s3://{bucket} may be partly emptied; run this again to finish", err=True)
        return 130
    click.echo(
        f"deleted s3://{bucket}: removed {removed.versions} versions and {removed.delete_markers} delete markers"
    )
    return 0
