"""An emulated API Gateway account (moto), seeded from a JSON file such as events/demo_account.json.

Used by `apigw-logs invoke` and the tests. The ids in the file are kept, so sample events that
name them enrich the same way they would against a real account with those ids.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError
from moto.apigateway.utils import ApigwApiKeyIdentifier, ApigwUsagePlanIdentifier
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.utilities.id_generator import TAG_KEY_CUSTOM_ID, moto_id_manager

if TYPE_CHECKING:
    from collections.abc import Mapping

    from mypy_boto3_apigateway import APIGatewayClient

# The sample events and the demo account live in the repository's events/ folder, which is where
# this package runs from: the project is installed editable (make venv), from cli/apigw_logs/.
EVENTS = Path(__file__).resolve().parents[2] / "events"
DEMO_ACCOUNT = EVENTS / "demo_account.json"


class AccountFileError(ValueError):
    """The account file is missing, not JSON, or not shaped as expected."""


def read_json_file(path: Path, what: str, error: type[ValueError]) -> Any:
    """Read a JSON file, or raise `error` with one line saying what is wrong with it."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{path}: no such {what}") from None
    except IsADirectoryError:
        raise error(f"{path}: is a directory, not an {what}") from None
    except OSError as problem:  # permission denied, a broken link, an unreadable device...
        raise error(f"{path}: cannot read the {what} ({problem.strerror or type(problem).__name__})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as problem:
        raise error(f"{path}: not valid JSON ({problem})") from None


def load_account(path: Path) -> dict[str, Any]:
    account = read_json_file(path, "account file", AccountFileError)
    if not isinstance(account, dict):
        raise AccountFileError(f"{path}: expected a JSON object with restApis, apiKeys and usagePlans")
    for section in ("restApis", "apiKeys", "usagePlans"):
        if not isinstance(account.get(section, []), list):
            raise AccountFileError(f"{path}: '{section}' must be a list")
    if not isinstance(account.get("region", ""), str):
        raise AccountFileError(f"{path}: 'region' must be a string")
    return account


def seed_account(client: APIGatewayClient, account: Mapping[str, Any]) -> None:
    """Create the account's REST APIs and stages, API keys and usage plans in moto."""
    region = client.meta.region_name
    try:
        for api in account.get("restApis", []):
            _create_rest_api(client, api)
        for key in account.get("apiKeys", []):
            moto_id_manager.set_custom_id(ApigwApiKeyIdentifier(DEFAULT_ACCOUNT_ID, region, key["value"]), key["id"])
            created = client.create_api_key(
                name=key["name"], value=key["value"], customerId=key.get("customerId", ""), enabled=True
            )
            _expect_id(created["id"], key["id"], "API key")
        for plan in account.get("usagePlans", []):
            moto_id_manager.set_custom_id(
                ApigwUsagePlanIdentifier(DEFAULT_ACCOUNT_ID, region, plan["name"]), plan["id"]
            )
            created_plan = client.create_usage_plan(name=plan["name"], apiStages=plan.get("apiStages", []))
            _expect_id(created_plan["id"], plan["id"], "usage plan")
            for key_id in plan.get("keyIds", []):
                client.create_usage_plan_key(usagePlanId=plan["id"], keyId=key_id, keyType="API_KEY")
    except KeyError as missing:
        raise AccountFileError(f"account file: an entry lacks the field {missing}") from None
    except (TypeError, AttributeError):
        raise AccountFileError("account file: an entry is not an object with the expected fields") from None
    except (BotoCoreError, ClientError) as refused:  # a value of the wrong type, a key value too short...
        reason = " ".join(str(refused).split())  # botocore's validation message spans lines
        raise AccountFileError(f"account file: the emulated API Gateway refused an entry: {reason}") from None


def _create_rest_api(client: APIGatewayClient, api: Mapping[str, Any]) -> None:
    created = client.create_rest_api(name=api["name"], tags={TAG_KEY_CUSTOM_ID: api["id"]})
    _expect_id(created["id"], api["id"], "REST API")
    root = next(item["id"] for item in client.get_resources(restApiId=api["id"])["items"] if item["path"] == "/")
    # A stage needs a deployment, and a deployment needs a method with an integration.
    client.put_method(restApiId=api["id"], resourceId=root, httpMethod="GET", authorizationType="NONE")
    client.put_integration(restApiId=api["id"], resourceId=root, httpMethod="GET", type="MOCK")
    for stage in api.get("stages", []):
        client.create_deployment(restApiId=api["id"], stageName=stage)


def _expect_id(actual: str, wanted: str, what: str) -> None:
    if actual != wanted:
        raise AccountFileError(f"the emulator gave the {what} id {actual!r} instead of {wanted!r}")
