"""The account's usage plans and API keys, as an immutable lookup table.

Built once per cache load from the control-plane listings; no I/O here. Key *values*
never enter it: only ids, names and customer ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from apigw_enrichment.encoding.plain import encode_line
from apigw_enrichment.fields import EnrichmentStatus

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from apigw_enrichment.enrichment.keys import LookupKey


@dataclass(frozen=True, slots=True)
class Enrichment:
    """The five fields added to every Ok record."""

    status: EnrichmentStatus
    usage_plan_id: str | None = None
    usage_plan_name: str | None = None
    customer_id: str | None = None
    customer_name: str | None = None
    # The five fields as JSON members, closing the object and the line:
    # `"usage_plan_id":...,"enrichment_status":"enriched"}\n`. Serialized once, when the
    # directory is built, and appended to every record that gets them.
    json_members: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "json_members", encode_line(self.as_fields())[1:])

    def as_fields(self) -> dict[str, str | None]:
        return {
            "usage_plan_id": self.usage_plan_id,
            "usage_plan_name": self.usage_plan_name,
            "customer_id": self.customer_id,
            "customer_name": self.customer_name,
            "enrichment_status": self.status.value,
        }


NO_API_KEY = Enrichment(EnrichmentStatus.NO_API_KEY)

UNKNOWN_API_KEY = Enrichment(EnrichmentStatus.UNKNOWN_API_KEY)

LOOKUP_UNAVAILABLE = Enrichment(EnrichmentStatus.LOOKUP_UNAVAILABLE)

CONFLICTING_IDENTITY = Enrichment(EnrichmentStatus.CONFLICTING_IDENTITY)


@dataclass(frozen=True, slots=True)
class Customer:
    key_id: str
    name: str | None
    customer_id: str | None


@dataclass(frozen=True, slots=True)
class PlanKeys:
    """One usage plan as the control plane lists it, with the keys on it (values removed)."""

    plan: Mapping[str, Any]
    keys: tuple[Customer, ...]


@dataclass(frozen=True, slots=True)
class UsagePlanDirectory:
    """Maps (api id, stage, key id) to the plan and customer, ready to add to a record."""

    _by_stage_key: Mapping[tuple[str, str, str], Enrichment]
    # A key that is on no plan for the record's stage still names its customer.
    _unplanned: Mapping[str, Enrichment]
    plan_count: int = 0
    key_count: int = 0
    conflicts: int = field(default=0, compare=False)

    def lookup(self, api_id: str | None, stage: str | None, key_id: str) -> Enrichment:
        if api_id is not None and stage is not None:
            found = self._by_stage_key.get((api_id, stage, key_id))
            if found is not None:
                return found
        return self._unplanned.get(key_id, UNKNOWN_API_KEY)

    def knows(self, api_id: str | None, stage: str | None, key_id: str) -> bool:
        return api_id is not None and stage is not None and (api_id, stage, key_id) in self._by_stage_key

    def may_learn(self, api_id: str | None, stage: str | None, key_id: str) -> bool:
        """Whether asking API Gateway about this key could change what lookup() answers: the key
        is not known at all, or the line names its API and stage and the key is on no plan for
        them. A line without its API id or stage can be given no more than its key's customer,
        which a known key has already."""
        if key_id not in self._unplanned:
            return True
        return api_id is not None and stage is not None and (api_id, stage, key_id) not in self._by_stage_key

    def with_keys(self, found: Iterable[tuple[Customer, Iterable[Mapping[str, Any]]]]) -> UsagePlanDirectory:
        """This directory and these keys, each looked up alone: its customer and the plans it is on
        (as GetUsagePlans lists them). A new directory; this one is not changed."""
        by_stage_key = dict(self._by_stage_key)
        unplanned = dict(self._unplanned)
        for customer, plans in found:
            unplanned[customer.key_id] = Enrichment(
                EnrichmentStatus.UNKNOWN_API_KEY, None, None, customer.customer_id, customer.name
            )
            for plan in plans:
                enrichment = Enrichment(
                    EnrichmentStatus.ENRICHED, plan.get("id"), plan.get("name"), customer.customer_id, customer.name
                )
                for stage in plan.get("apiStages", ()):
                    by_stage_key.setdefault((stage["apiId"], stage["stage"], customer.key_id), enrichment)
        return UsagePlanDirectory(
            MappingProxyType(by_stage_key),
            MappingProxyType(unplanned),
            plan_count=self.plan_count,
            key_count=len(unplanned),
            conflicts=self.conflicts,
        )


def build_directory(plans: Iterable[PlanKeys], api_keys: Iterable[Mapping[str, Any]]) -> UsagePlanDirectory:
    """Join the usage plans, their keys and the account's API keys into one directory.

    A key may sit on several plans but on only one per API stage (API Gateway enforces
    that); should two plans ever claim the same stage and key, the first listed wins and
    the clash is counted.
    """
    customers: dict[str, Customer] = {}
    for item in api_keys:
        key_id = item.get("id")
        if isinstance(key_id, str):
            customers[key_id] = Customer(key_id, item.get("name"), item.get("customerId"))

    by_stage_key: dict[tuple[str, str, str], Enrichment] = {}
    conflicts = 0
    plan_count = 0
    for entry in plans:
        plan_count += 1
        plan_id, plan_name = entry.plan.get("id"), entry.plan.get("name")
        stages = [
            (stage["apiId"], stage["stage"])
            for stage in entry.plan.get("apiStages", ())
            if isinstance(stage.get("apiId"), str) and isinstance(stage.get("stage"), str)
        ]
        for listed in entry.keys:
            # GetApiKeys has the customerId; the plan's own key listing is the fallback
            # for a key created between the two listings.
            customer = customers.setdefault(listed.key_id, listed)
            enrichment = Enrichment(EnrichmentStatus.ENRICHED, plan_id, plan_name, customer.customer_id, customer.name)
            for api_id, stage in stages:
                slot = (api_id, stage, listed.key_id)
                if slot in by_stage_key:
                    conflicts += 1
                    continue
                by_stage_key[slot] = enrichment

    unplanned = {
        key_id: Enrichment(EnrichmentStatus.UNKNOWN_API_KEY, None, None, customer.customer_id, customer.name)
        for key_id, customer in customers.items()
    }
    return UsagePlanDirectory(
        MappingProxyType(by_stage_key),
        MappingProxyType(unplanned),
        plan_count=plan_count,
        key_count=len(customers),
        conflicts=conflicts,
    )


def enrichment_for(key: LookupKey, directory: UsagePlanDirectory | None) -> Enrichment:
    """Decide the five added fields for one record's (api id, stage, key id)."""
    if key.conflicting:
        return CONFLICTING_IDENTITY
    if key.key_unusable:
        return UNKNOWN_API_KEY
    if key.key_id is None:
        return NO_API_KEY
    if directory is None:
        return LOOKUP_UNAVAILABLE
    return directory.lookup(key.api_id, key.stage, key.key_id)
