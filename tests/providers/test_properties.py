"""Declared properties: generic validation, the declarations per class, form fields."""

from __future__ import annotations

import pytest
from django import forms

from providers.adapters import registry
from providers.adapters.base import InstanceConfig, PropertyError
from providers.adapters.properties import (
    MASK,
    MAX_SECRET_LENGTH,
    MAX_STRING_LENGTH,
    PropertySpec,
    validate,
)
from resourcemanager.ui.schema_forms import form_fields

SPECS = {
    "limit": PropertySpec("A limit", kind="integer", minimum=1, maximum=10),
    "zero_ok": PropertySpec("Zero or more", kind="integer", default=0, minimum=0),
    "flag": PropertySpec("A flag", kind="boolean", default=False),
    "label": PropertySpec("A label", max_length=8),
    "tier": PropertySpec("A tier", kind="choice", choices=("small", "large"), default="small",
                         updatable=False),
}


def test_defaults_are_filled_in():
    assert validate(SPECS, {}) == {"limit": None, "zero_ok": 0, "flag": False, "label": None,
                                   "tier": "small"}


def test_values_are_normalized():
    result = validate(SPECS, {"limit": 10, "flag": True, "label": "  ab c ", "tier": "large"})

    assert result == {"limit": 10, "zero_ok": 0, "flag": True, "label": "ab c", "tier": "large"}


@pytest.mark.parametrize(("given", "message"), [
    ({"nope": 1}, "unknown property 'nope'; known properties: limit, zero_ok, flag, label, tier"),
    ({"x'; DROP ROLE postgres; --": 1}, "unknown a property; known properties: "),
    ({"limit": "5"}, "property 'limit' must be an integer"),
    ({"limit": True}, "property 'limit' must be an integer"),
    ({"limit": 5.0}, "property 'limit' must be an integer"),
    ({"limit": [5]}, "property 'limit' must be an integer"),
    ({"limit": 0}, "property 'limit' must be an integer from 1 to 10"),
    ({"limit": 11}, "property 'limit' must be an integer from 1 to 10"),
    ({"zero_ok": -1}, "property 'zero_ok' must be an integer of at least 0"),
    ({"flag": 1}, "property 'flag' must be true or false"),
    ({"flag": "true"}, "property 'flag' must be true or false"),
    ({"label": "x" * 9}, "property 'label' must be a string of at most 8 characters"),
    ({"label": "a\nb"}, "property 'label' must be a string of at most 8 characters"),
    ({"label": 5}, "property 'label' must be a string of at most 8 characters"),
    ({"tier": "huge'; --"}, "property 'tier' must be one of small, large"),
])
def test_bad_values_are_refused_without_repeating_them(given, message):
    with pytest.raises(PropertyError) as info:
        validate(SPECS, given)

    assert str(info.value).startswith(message)
    assert "DROP" not in str(info.value) and "huge" not in str(info.value)


def test_required_properties_must_be_given():
    specs = {"region": PropertySpec("Region", required=True)}
    with pytest.raises(PropertyError, match="property 'region' is required"):
        validate(specs, {"region": "  "})
    assert validate(specs, {"region": "eu"}) == {"region": "eu"}


def test_an_update_changes_what_it_names_and_null_restores_the_default():
    current = validate(SPECS, {"limit": 3, "flag": True})

    assert validate(SPECS, {"limit": 4}, current) == current | {"limit": 4}
    assert validate(SPECS, {"flag": None}, current) == current | {"flag": False}
    assert validate(SPECS, {}, {}) == validate(SPECS, {})  # stored before the schema existed


def test_an_update_cannot_change_a_property_that_is_not_updatable():
    current = validate(SPECS, {"tier": "large"})

    with pytest.raises(PropertyError, match="property 'tier' cannot be changed after creation"):
        validate(SPECS, {"tier": "small"}, current)
    with pytest.raises(PropertyError, match="'tier' cannot be changed"):
        validate(SPECS, {"tier": None}, current)  # back to the default is a change too
    assert validate(SPECS, {"tier": "large", "limit": 2}, current)["tier"] == "large"
    with pytest.raises(PropertyError, match="'tier' cannot be changed"):
        validate(SPECS, {"tier": "large"}, {})  # stored empty: created with the default


SECRETS = {
    "token": PropertySpec("A token", required=True, secret=True),
    "note": PropertySpec("A note"),
}


@pytest.mark.parametrize("left", [None, "", MASK])
def test_a_secret_left_empty_or_masked_keeps_its_value_on_update(left):
    current = validate(SECRETS, {"token": " tok "})

    assert current == {"token": " tok ", "note": None}  # secrets are not stripped
    assert validate(SECRETS, {"token": left, "note": "n"}, current) == {"token": " tok ",
                                                                        "note": "n"}
    assert validate(SECRETS, {"token": "new"}, current)["token"] == "new"
    with pytest.raises(PropertyError, match="property 'token' is required"):
        validate(SECRETS, {"token": left})  # on a creation it is not given


def test_strings_and_secrets_have_default_lengths():
    assert PropertySpec("x").max_length == MAX_STRING_LENGTH == 255
    assert PropertySpec("x", secret=True).max_length == MAX_SECRET_LENGTH == 4096
    assert PropertySpec("x", secret=True, max_length=64).max_length == 64
    assert validate(SECRETS, {"token": "t" * 4096})["token"] == "t" * 4096
    with pytest.raises(PropertyError, match="'token' must be a string of at most 4096"):
        validate(SECRETS, {"token": "t" * 4097})


@pytest.mark.parametrize("given", [["limit"], "limit=1", 5])
def test_properties_must_be_an_object(given):
    with pytest.raises(PropertyError, match="properties must be an object"):
        validate(SPECS, given)
    assert validate(SPECS, None) == validate(SPECS, {})


def test_a_spec_must_be_consistent():
    with pytest.raises(ValueError, match="unknown property kind"):
        PropertySpec("x", kind="float")
    with pytest.raises(ValueError, match="choices"):
        PropertySpec("x", kind="choice")
    with pytest.raises(ValueError, match="choices"):
        PropertySpec("x", choices=("a",))


def adapter(key: str):
    return registry.adapter_class(key)(InstanceConfig("h", 1, "u", "p"))


@pytest.mark.parametrize(("key", "names"), [
    ("postgresql", ["connection_limit"]),
    ("yugabytedb", ["connection_limit"]),
    ("cockroachdb", []),
    ("mysql", ["max_user_connections"]),
    ("tidb", []),
    ("mongodb", []),
    ("s3", ["versioning"]),
])
def test_each_class_declares_its_properties(key, names):
    assert list(registry.adapter_class(key).properties) == names


def test_classes_without_properties_refuse_any():
    with pytest.raises(PropertyError, match="MongoDB resources take no properties"):
        adapter("mongodb").validate_properties({"connection_limit": 2})
    assert adapter("cockroachdb").validate_properties({}) == {}


def test_the_declared_bounds():
    pg, mysql, s3 = adapter("postgresql"), adapter("mysql"), adapter("s3")

    assert pg.validate_properties({}) == {"connection_limit": None}
    assert pg.validate_properties({"connection_limit": 10_000}) == {"connection_limit": 10_000}
    for bad in (0, -1, 10_001, True, "2"):
        with pytest.raises(PropertyError, match="'connection_limit'"):
            pg.validate_properties({"connection_limit": bad})
    assert mysql.validate_properties({}) == {"max_user_connections": 0}
    with pytest.raises(PropertyError, match="from 0 to 10000"):
        mysql.validate_properties({"max_user_connections": 10_001})
    assert s3.validate_properties({"versioning": True}) == {"versioning": True}
    with pytest.raises(PropertyError, match="true or false"):
        s3.validate_properties({"versioning": "yes"})


def test_form_fields_follow_the_schema():
    fields = form_fields(SPECS)

    assert isinstance(fields["limit"], forms.IntegerField)
    assert (fields["limit"].min_value, fields["limit"].max_value) == (1, 10)
    assert not fields["limit"].required
    assert fields["limit"].help_text == "A limit"
    assert isinstance(fields["flag"], forms.BooleanField) and not fields["flag"].required
    assert fields["label"].max_length == 8
    assert fields["tier"].initial == "small"
    assert [value for value, _ in fields["tier"].choices] == ["small", "large"]
    assert not fields["tier"].disabled
    assert form_fields(SPECS, editing=True)["tier"].disabled


def test_a_form_built_from_the_schema_feeds_validate():
    form_class = type("PropertiesForm", (forms.Form,), form_fields(SPECS))
    form = form_class(data={"limit": "", "zero_ok": "3", "flag": "on", "label": " x ",
                            "tier": "large"})

    assert form.is_valid(), form.errors
    assert validate(SPECS, form.cleaned_data) == {"limit": None, "zero_ok": 3, "flag": True,
                                                  "label": "x", "tier": "large"}
    assert not form_class(data={"limit": "11", "tier": "small"}).is_valid()
