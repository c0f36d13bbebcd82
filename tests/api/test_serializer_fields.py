"""Serializers that work their fields out once per class give each instance fields of its
own: bound to that instance alone, the worked-out ones never bound at all."""

from __future__ import annotations

from resourcemanager.api import serializers
from resourcemanager.api.serializers import FieldsWorkedOutOnce


def test_each_serializer_binds_fields_of_its_own():
    first = serializers.ResourceWithSecretSerializer()
    second = serializers.ResourceWithSecretSerializer()

    assert first.fields.keys() == second.fields.keys()
    for name, field in first.fields.items():
        other = second.fields[name]
        assert field is not other
        assert (field.parent, other.parent) == (first, second)
        assert field.field_name == other.field_name == name
    nested = first.fields["credentials"], second.fields["credentials"]
    assert nested[0].fields["password"] is not nested[1].fields["password"]
    assert nested[0].fields["password"].parent is nested[0]
    worked_out = FieldsWorkedOutOnce._worked_out[serializers.ResourceWithSecretSerializer]
    assert all(field.parent is None for field in worked_out.values())
    assert all(field.parent is None
               for field in FieldsWorkedOutOnce._worked_out[
                   serializers.CredentialsSerializer].values())
