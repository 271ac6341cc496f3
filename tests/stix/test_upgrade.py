"""STIX 2.0 objects become valid STIX 2.1 objects, losing nothing, without touching the input."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import pytest

from mburoja.stix.upgrade import LABELS_MOVED_TO, is_stix20_bundle, upgrade_object_20
from mburoja.stix.validate import validate

T0 = "2017-03-01T10:00:00.000Z"


def obj20(type_name: str, **props: Any) -> dict[str, Any]:
    """A STIX 2.0 SDO: no ``spec_version`` on the object, ``created``/``modified`` set."""
    return {
        "type": type_name,
        "id": f"{type_name}--{uuid.uuid4()}",
        "created": T0,
        "modified": T0,
        **props,
    }


def indicator20(**props: Any) -> dict[str, Any]:
    return obj20(
        "indicator",
        labels=["malicious-activity"],
        pattern="[ipv4-addr:value = '198.51.100.1']",
        valid_from=T0,
        **props,
    )


def errors_of(obj: dict[str, Any]) -> list[str]:
    return [str(i) for i in validate(obj) if i.level == "error"]


def test_every_object_gets_spec_version_21() -> None:
    assert upgrade_object_20(obj20("campaign", name="c"))["spec_version"] == "2.1"
    assert upgrade_object_20(obj20("x-custom", x_a=1))["spec_version"] == "2.1"


@pytest.mark.parametrize("type_name", sorted(LABELS_MOVED_TO))
def test_type_labels_are_copied_to_the_21_types_property_and_kept(type_name: str) -> None:
    original = obj20(type_name, labels=["alpha", "beta"])
    upgraded = upgrade_object_20(original)
    assert upgraded[LABELS_MOVED_TO[type_name]] == ["alpha", "beta"]
    assert upgraded["labels"] == ["alpha", "beta"]
    assert upgraded[LABELS_MOVED_TO[type_name]] is not original["labels"]


def test_an_existing_types_property_is_not_overwritten() -> None:
    upgraded = upgrade_object_20(indicator20(indicator_types=["benign"]))
    assert upgraded["indicator_types"] == ["benign"]


def test_labels_of_other_types_stay_labels_only() -> None:
    upgraded = upgrade_object_20(obj20("campaign", name="c", labels=["x"]))
    assert upgraded["labels"] == ["x"]
    assert set(upgraded) - {"spec_version"} == set(obj20("campaign", name="c", labels=["x"]))


def test_indicators_get_the_stix_pattern_type() -> None:
    assert upgrade_object_20(indicator20())["pattern_type"] == "stix"


def test_malware_is_a_family_unless_it_says_otherwise() -> None:
    assert upgrade_object_20(obj20("malware", name="m", labels=["trojan"]))["is_family"] is True
    explicit = obj20("malware", name="m", labels=["trojan"], is_family=False)
    assert upgrade_object_20(explicit)["is_family"] is False


def test_the_input_is_never_mutated() -> None:
    original = indicator20(x_custom={"nested": [1, 2]})
    before = copy.deepcopy(original)
    upgraded = upgrade_object_20(original)
    assert original == before
    assert upgraded is not original


def test_custom_properties_and_deprecated_observed_data_objects_survive() -> None:
    observed = obj20(
        "observed-data",
        first_observed=T0,
        last_observed=T0,
        number_observed=1,
        objects={"0": {"type": "ipv4-addr", "value": "198.51.100.1"}},
        x_source="sensor-7",
    )
    upgraded = upgrade_object_20(observed)
    assert upgraded["objects"] == observed["objects"]
    assert upgraded["x_source"] == "sensor-7"
    assert errors_of(upgraded) == []


def test_an_object_that_states_its_spec_version_is_left_as_it_is() -> None:
    stated = {**indicator20(), "spec_version": "2.1"}
    assert upgrade_object_20(stated) == stated


@pytest.mark.parametrize(
    "original",
    [
        indicator20(),
        obj20("malware", name="Poison Ivy", labels=["remote-access-trojan"]),
        obj20("threat-actor", name="APT", labels=["nation-state"]),
        obj20("tool", name="nmap", labels=["information-gathering"]),
        obj20(
            "report",
            name="r",
            labels=["threat-report"],
            published=T0,
            object_refs=[f"indicator--{uuid.uuid4()}"],
        ),
        obj20("identity", name="CERT", identity_class="organization"),
        obj20(
            "relationship",
            relationship_type="uses",
            source_ref=f"malware--{uuid.uuid4()}",
            target_ref=f"tool--{uuid.uuid4()}",
        ),
        {
            "type": "marking-definition",
            "id": "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
            "created": "2017-01-20T00:00:00.000Z",
            "definition_type": "tlp",
            "definition": {"tlp": "green"},
        },
    ],
    ids=lambda o: o["type"],
)
def test_upgraded_20_objects_are_valid_21(original: dict[str, Any]) -> None:
    assert errors_of(original) != []  # as 2.0 they are not valid 2.1 ...
    assert errors_of(upgrade_object_20(original)) == []  # ... and now they are


def test_a_20_bundle_is_recognised_by_its_spec_version() -> None:
    head = {"type": "bundle", "id": f"bundle--{uuid.uuid4()}"}
    assert is_stix20_bundle({**head, "spec_version": "2.0"})
    assert not is_stix20_bundle(head)
    assert not is_stix20_bundle({**head, "spec_version": "2.1"})
    assert not is_stix20_bundle({"type": "indicator", "spec_version": "2.0"})
