"""Builder classes by key. Adding a tool: one builder module and one line here."""

from consumers.builders.base import ConsumerBuilder
from consumers.builders.dremio import DremioBuilder
from consumers.builders.log import LogBuilder
from consumers.builders.metabase import MetabaseBuilder
from consumers.builders.sqlpad import SQLPadBuilder
from consumers.builders.superset import SupersetBuilder
from consumers.builders.webhook import WebhookBuilder

BUILDERS: dict[str, type[ConsumerBuilder]] = {
    builder.key: builder
    for builder in (
        LogBuilder,
        WebhookBuilder,
        SQLPadBuilder,
        MetabaseBuilder,
        SupersetBuilder,
        DremioBuilder,
    )
}


def builder_class(key: str) -> type[ConsumerBuilder]:
    try:
        return BUILDERS[key]
    except KeyError:
        raise LookupError(f"unknown builder {key!r}") from None


def builder_choices() -> list[tuple[str, str]]:
    return [(key, builder.label) for key, builder in BUILDERS.items()]
