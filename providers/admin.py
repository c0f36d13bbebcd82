from django import forms
from django.contrib import admin, messages

from providers.models import Provider
from providers.services import ping_provider, save_provider, validate_options
from resourcemanager.admin import OperatorOnlyAdmin
from resourcemanager.errors import ServiceError
from resourcemanager.identity import principal_of


class ProviderForm(forms.ModelForm):
    password = forms.CharField(
        widget=forms.PasswordInput(render_value=False),
        required=False,
        help_text="Admin password of the server; leave empty to keep the stored one.",
    )

    class Meta:
        model = Provider
        fields = [
            "key",
            "provider_class",
            "description",
            "host",
            "port",
            "username",
            "password",
            "options",
            "allowed_scopes",
            "enabled",
            "is_default",
        ]

    def clean(self):
        data = super().clean()
        if "provider_class" in data and "options" in data:
            try:
                validate_options(data["provider_class"], data["options"])
            except ServiceError as exc:
                self.add_error("options", exc.message)
        return data

    def clean_password(self):
        return self.cleaned_data["password"] or (self.instance.password if self.instance else "")


@admin.register(Provider)
class ProviderAdmin(OperatorOnlyAdmin):
    form = ProviderForm
    list_display = [
        "key", "provider_class", "host", "port", "enabled", "is_default", "reachable", "source"
    ]
    list_filter = ["provider_class", "enabled", "source"]
    readonly_fields = ["reachable", "reachability_message", "reachability_checked_at"]
    actions = ["test_connection"]

    def save_model(self, request, obj, form, change):
        save_provider(principal_of(request), obj, created=not change)

    def has_delete_permission(self, request, obj=None):
        return False  # disable instead: resources keep referring to it

    @admin.action(description="Test connection with the admin account")
    def test_connection(self, request, queryset):
        for provider in queryset:
            problem = ping_provider(provider)
            if problem:
                self.message_user(request, f"{provider}: {problem}", messages.ERROR)
            else:
                self.message_user(request, f"{provider}: reachable", messages.SUCCESS)
