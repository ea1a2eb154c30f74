"""apigw-logs delete-bucket: empties a versioned bucket (every version and delete marker), then deletes it."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber
from click.testing import CliRunner
from moto import mock_aws

from apigw_logs import delete_bucket
from apigw_logs.main import cli

BUCKET = "apigw-access-log-enrichment-logbucket-test"
KEYS = 260  # each written 4 times: 1,040 versions, more than one DeleteObjects request takes
DELETED_KEYS = 60  # each gets a delete marker on top of its 4 versions


@pytest.fixture
def s3():
    """moto started before any client exists; conftest sets the fake credentials and region."""
    with mock_aws():
        yield boto3.client("s3", region_name="us-east-1")


def versioned_bucket(s3) -> None:
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="before-versioning.json", Body=b"{}")  # its version id is "null"
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    for key in range(KEYS):
        for write in range(4):  # three noncurrent versions and a current one
            s3.put_object(Bucket=BUCKET, Key=f"logs/{key:04d}.gz", Body=f"secret-payload-{key}-{write}".encode())
    for key in range(DELETED_KEYS):
        s3.delete_object(Bucket=BUCKET, Key=f"logs/{key:04d}.gz")


def bucket_names(s3) -> list[str]:
    return [bucket["Name"] for bucket in s3.list_buckets()["Buckets"]]


def test_every_version_and_delete_marker_is_removed_in_batches_then_the_bucket(s3, monkeypatch, capsys):
    # GIVEN a versioned bucket with noncurrent versions and delete markers, 1,101 entries in all
    versioned_bucket(s3)
    batch_sizes: list[int] = []

    def recording_client(region):
        client = boto3.client("s3", region_name=region, config=delete_bucket.RETRIES)
        client.meta.events.register(
            "before-parameter-build.s3.DeleteObjects",
            lambda params, **_: batch_sizes.append(len(params["Delete"]["Objects"])),
        )
        return client

    monkeypatch.setattr(delete_bucket, "s3_client", recording_client)
    # WHEN the script runs without asking
    code = delete_bucket.delete(BUCKET, assume_yes=True)
    # THEN the bucket is gone, in requests of at most 1,000, and the counts are reported
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    assert BUCKET not in bucket_names(s3)
    assert sum(batch_sizes) == 1 + KEYS * 4 + DELETED_KEYS
    assert len(batch_sizes) >= 2
    assert max(batch_sizes) <= 1000
    assert out == f"deleted s3://{BUCKET}: removed {1 + KEYS * 4} versions and {DELETED_KEYS} delete markers\n"
    assert "secret-payload" not in out + err


@pytest.mark.parametrize("answer", ["", "no", "some-other-bucket"])
def test_a_declined_confirmation_deletes_nothing(s3, monkeypatch, capsys, answer):
    versioned_bucket(s3)
    before = s3.list_object_versions(Bucket=BUCKET, MaxKeys=1000)
    monkeypatch.setattr("builtins.input", lambda _prompt: answer)
    assert delete_bucket.delete(BUCKET) == 1
    assert capsys.readouterr().err == f"not confirmed: nothing deleted from s3://{BUCKET}\n"
    assert BUCKET in bucket_names(s3)
    after = s3.list_object_versions(Bucket=BUCKET, MaxKeys=1000)
    assert (after["Versions"], after["DeleteMarkers"]) == (before["Versions"], before["DeleteMarkers"])


def test_typing_the_bucket_name_confirms(s3, monkeypatch, capsys):
    s3.create_bucket(Bucket=BUCKET)
    prompts: list[str] = []
    monkeypatch.setattr("builtins.input", lambda prompt: prompts.append(prompt) or BUCKET)
    assert delete_bucket.delete(BUCKET) == 0
    assert BUCKET in prompts[0]
    assert capsys.readouterr().out == f"deleted s3://{BUCKET}: removed 0 versions and 0 delete markers\n"
    assert BUCKET not in bucket_names(s3)


def test_end_of_input_at_the_prompt_deletes_nothing(s3, monkeypatch):
    s3.create_bucket(Bucket=BUCKET)

    def closed(_prompt):
        raise EOFError

    monkeypatch.setattr("builtins.input", closed)
    assert delete_bucket.delete(BUCKET) == 1
    assert BUCKET in bucket_names(s3)


def test_a_missing_bucket_is_one_line_and_a_nonzero_exit(s3, capsys):
    code = delete_bucket.delete("no-such-bucket-here", assume_yes=True)
    out, err = capsys.readouterr()
    assert code != 0
    assert out == ""
    assert err == "error: s3://no-such-bucket-here: no such bucket\n"
    assert "Traceback" not in err


def test_no_credentials_is_one_line_and_a_nonzero_exit(monkeypatch, capsys):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance-metadata lookup over the network
    code = delete_bucket.delete(BUCKET, assume_yes=True)
    err = capsys.readouterr().err
    assert code != 0
    assert err == f"error: s3://{BUCKET}: Unable to locate credentials\n"


def stubbed(monkeypatch) -> Stubber:
    client = boto3.client("s3", region_name="us-east-1")
    monkeypatch.setattr(delete_bucket, "s3_client", lambda _region: client)
    return Stubber(client)


def test_access_denied_is_one_line_and_a_nonzero_exit(monkeypatch, capsys):
    stubber = stubbed(monkeypatch)
    stubber.add_client_error("head_bucket", service_error_code="403", service_message="Forbidden", http_status_code=403)
    with stubber:
        code = delete_bucket.delete(BUCKET, assume_yes=True)
    assert code != 0
    assert capsys.readouterr().err == (
        f"error: s3://{BUCKET}: access denied (HeadBucket): check your credentials and permissions\n"
    )


def test_a_version_that_will_not_delete_stops_before_the_bucket_with_one_line(monkeypatch, capsys):
    # GIVEN DeleteObjects reports one entry it could not delete (say, under object lock)
    stubber = stubbed(monkeypatch)
    stubber.add_response("head_bucket", {}, {"Bucket": BUCKET})
    stubber.add_response(
        "list_object_versions",
        {"Versions": [{"Key": "logs/a.gz", "VersionId": "v1"}, {"Key": "logs/b.gz", "VersionId": "v2"}]},
        {"Bucket": BUCKET},
    )
    stubber.add_response(
        "delete_objects",
        {"Errors": [{"Key": "logs/b.gz", "VersionId": "v2", "Code": "AccessDenied", "Message": "Access Denied"}]},
        {
            "Bucket": BUCKET,
            "Delete": {
                "Objects": [{"Key": "logs/a.gz", "VersionId": "v1"}, {"Key": "logs/b.gz", "VersionId": "v2"}],
                "Quiet": True,
            },
        },
    )
    # WHEN the script runs; THEN it stops there (no delete_bucket call is stubbed) and says why in one line
    with stubber:
        code = delete_bucket.delete(BUCKET, assume_yes=True)
    stubber.assert_no_pending_responses()
    assert code != 0
    assert capsys.readouterr().err == (
        f"error: s3://{BUCKET}: could not delete 1 of 2 versions (first: 'logs/b.gz': AccessDenied: Access Denied)\n"
    )


def test_the_command_line_deletes_the_bucket_and_exits_non_zero_when_it_cannot(s3):
    # GIVEN the bucket, through `apigw-logs delete-bucket` as the docs run it
    versioned_bucket(s3)
    runner = CliRunner()
    # WHEN it is told not to ask
    done = runner.invoke(cli, ["delete-bucket", BUCKET, "--yes"])
    # THEN the bucket is gone; and a second run, with nothing left to delete, says so in one line
    assert done.exit_code == 0, done.output
    assert f"deleted s3://{BUCKET}: removed {1 + KEYS * 4} versions and {DELETED_KEYS} delete markers" in done.output
    assert BUCKET not in bucket_names(s3)
    again = runner.invoke(cli, ["delete-bucket", BUCKET, "--yes"])
    assert again.exit_code == 1
    assert again.output.strip().splitlines() == [f"error: s3://{BUCKET}: no such bucket"]
