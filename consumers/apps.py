from django.apps import AppConfig


class ConsumersConfig(AppConfig):
    """Tools told of resource events (SQLPad, Metabase, webhooks, …): README, Consumers."""

    name = "consumers"
    verbose_name = "Consumers"
