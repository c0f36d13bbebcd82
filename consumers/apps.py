from django.apps import AppConfig


class ConsumersConfig(AppConfig):
    """Tools told of resource events (SQLPad, Metabase, webhooks, …): see DESIGN §5."""

    name = "consumers"
    verbose_name = "Consumers"
