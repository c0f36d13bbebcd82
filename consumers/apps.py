from django.apps import AppConfig


class ConsumersConfig(AppConfig):
    """Tools told of resource events (SQLPad, Metabase, webhooks, …): README, Consumers."""

    name = "consumers"
    verbose_name = "Consumers"

    def ready(self) -> None:
        # Django's place for connecting receivers: the services need the models loaded.
        from consumers.services import forget_scope
        from resourcemanager.erasure.deletion import scope_deleting

        scope_deleting.connect(forget_scope, dispatch_uid="consumers.forget_scope")
