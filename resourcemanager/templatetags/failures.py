"""``{% status_shown resource %}``, ``{% check_shown resource %}``,
``{% reachability_shown provider %}``: failure messages as the signed-in user may read
them (detail for operators, else neutral)."""

from django import template

from providers.models import Provider
from resourcemanager.resources import failures
from resourcemanager.resources.models import Resource

register = template.Library()


def _operator(context: template.Context) -> bool:
    request = context.get("request")
    return bool(request is not None and request.user.is_superuser)


@register.simple_tag(takes_context=True)
def status_shown(context: template.Context, resource: Resource) -> str:
    return failures.status_shown(resource, operator=_operator(context))


@register.simple_tag(takes_context=True)
def check_shown(context: template.Context, resource: Resource) -> str:
    return failures.check_shown(resource, operator=_operator(context))


@register.simple_tag(takes_context=True)
def reachability_shown(context: template.Context, provider: Provider) -> str:
    return failures.reachability_shown(provider, operator=_operator(context))
