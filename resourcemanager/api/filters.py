import django_filters
from django import forms

from resourcemanager.resources.models import Resource


class StrictBooleanField(forms.NullBooleanField):
    """``true`` or ``false`` (absent: no filter); anything else is refused, not ignored."""

    widget = forms.TextInput

    def to_python(self, value):
        if value in (None, ""):
            return None
        if value in ("true", "false"):
            return value == "true"
        raise forms.ValidationError("must be true or false", code="invalid")

    def validate(self, value):
        """Any outcome of ``to_python`` is valid."""


class StrictBooleanFilter(django_filters.BooleanFilter):
    field_class = StrictBooleanField


class ResourceFilter(django_filters.FilterSet):
    provider = django_filters.CharFilter(field_name="provider__key")
    type = django_filters.ChoiceFilter(choices=Resource.Type.choices)
    status = django_filters.ChoiceFilter(choices=Resource.Status.choices)
    tag = django_filters.CharFilter(method="filter_tag")
    managed = StrictBooleanFilter()

    class Meta:
        model = Resource
        fields = ["provider", "type", "status", "tag", "managed"]

    def filter_tag(self, queryset, name, value):
        return queryset.with_tag(value)
