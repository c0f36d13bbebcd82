import django_filters

from resourcemanager.resources.models import Resource


class ResourceFilter(django_filters.FilterSet):
    provider = django_filters.CharFilter(field_name="provider__key")
    type = django_filters.ChoiceFilter(choices=Resource.Type.choices)
    status = django_filters.ChoiceFilter(choices=Resource.Status.choices)
    tag = django_filters.CharFilter(method="filter_tag")
    managed = django_filters.BooleanFilter()

    class Meta:
        model = Resource
        fields = ["provider", "type", "status", "tag", "managed"]

    def filter_tag(self, queryset, name, value):
        return queryset.with_tag(value)
