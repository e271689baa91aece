from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from workspaces import services
from workspaces.models import AuditEvent, CloudAccount, Membership, Workspace


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]
    readonly_fields = ["user", "role", "created_at"]
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False  # roles carry guardian permissions: change them through the Membership admin


@admin.register(Workspace)
class WorkspaceAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]


class MembershipForm(forms.ModelForm):
    class Meta:
        model = Membership
        fields = ["user", "workspace", "role"]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    """Saves go through the workspace services so guardian permissions and audit stay in step."""

    form = MembershipForm
    list_display = ["user", "workspace", "role", "created_at"]
    list_filter = ["role", "workspace"]
    search_fields = ["user__username", "workspace__name"]
    autocomplete_fields = ["user", "workspace"]

    def get_readonly_fields(self, request, obj=None):
        return ["user", "workspace"] if obj else []

    def save_model(self, request, obj, form, change):
        try:
            if change:
                services.member_change_role(membership=obj, role=obj.role, actor=request.user, authorize=False)
            else:
                saved = services.member_add(workspace=obj.workspace, user=obj.user, role=obj.role, actor=request.user, authorize=False)
                obj.pk = saved.pk
        except ValidationError as error:
            self.message_user(request, "; ".join(error.messages), messages.ERROR)

    def delete_model(self, request, obj):
        try:
            services.member_remove(membership=obj, actor=request.user, authorize=False)
        except ValidationError as error:
            self.message_user(request, "; ".join(error.messages), messages.ERROR)

    def has_delete_permission(self, request, obj=None):
        return obj is not None and super().has_delete_permission(request, obj)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # bulk delete would bypass the last-owner rule
        return actions


class CloudAccountForm(forms.ModelForm):
    """Secrets are write-only: the form never shows them; a filled field replaces the stored secret."""

    secret_json = forms.CharField(
        label="New credentials (JSON)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "autocomplete": "off"}),
        help_text='Leave empty to keep the stored secret. AWS: {"access_key_id": ..., "secret_access_key": ...}; '
        'GCP: {"service_account_json": "..."}; Azure: {"tenant_id": ..., "client_id": ..., "client_secret": ...}. '
        'Enter {} to switch to ambient credentials.',
    )

    class Meta:
        model = CloudAccount
        fields = ["workspace", "provider", "name", "settings", "endpoint_url"]

    def clean(self):
        cleaned = super().clean()
        provider = cleaned.get("provider") or (self.instance.provider if self.instance.pk else None)
        if provider:
            secret = cleaned.get("secret_json")
            try:
                services.clean_account_fields(provider, secret or {}, cleaned.get("settings") or {})
            except ValidationError as error:
                for key, messages in error.message_dict.items():
                    if key in self.fields:
                        self.add_error(key, messages)
                    else:  # a key inside the settings or credentials JSON
                        field = "secret_json" if key in services.ACCOUNT_SECRETS[provider] else "settings"
                        self.add_error(field, [f"{key}: {message}" for message in messages])
        return cleaned

    def clean_secret_json(self):
        import json

        raw = self.cleaned_data["secret_json"].strip()
        if not raw:
            return None
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as error:
            raise ValidationError(f"Not valid JSON: {error.msg}.") from None
        if not isinstance(value, dict):
            raise ValidationError("Credentials must be a JSON object.")
        return value


@admin.register(CloudAccount)
class CloudAccountAdmin(admin.ModelAdmin):
    form = CloudAccountForm
    list_display = ["name", "provider", "workspace", "uses_ambient_credentials", "endpoint_url", "last_verified_at", "last_verify_error"]
    list_filter = ["provider", "workspace"]
    search_fields = ["name", "workspace__name"]
    readonly_fields = ["last_verified_at", "last_verify_error", "created_at"]
    actions = ["verify_accounts"]

    def get_readonly_fields(self, request, obj=None):
        # Moving an account or changing its cloud would strand its VMs: make a new account instead.
        return [*self.readonly_fields, "workspace", "provider"] if obj else self.readonly_fields

    def save_model(self, request, obj, form, change):
        """Through the workspace services, so every change is audited and secrets stay write-only."""
        secret = form.cleaned_data.get("secret_json")
        if not change:
            saved = services.account_create(
                workspace=obj.workspace, provider=obj.provider, name=obj.name, actor=request.user, credentials=secret or {},
                settings=obj.settings, endpoint_url=obj.endpoint_url, authorize=False,
            )
            obj.pk = saved.pk
            return
        services.account_update(account=obj, actor=request.user, name=obj.name, settings=obj.settings, endpoint_url=obj.endpoint_url, authorize=False)
        if secret is not None:
            services.account_replace_credentials(account=obj, credentials=secret, actor=request.user, authorize=False)

    @admin.action(description="Verify the selected accounts with one cheap read call")
    def verify_accounts(self, request, queryset):
        for account in queryset:
            reason = services.account_verify(account=account, actor=request.user, authorize=False)
            if reason:
                self.message_user(request, f"{account}: {reason}", messages.ERROR)
            else:
                self.message_user(request, f"{account}: verified.", messages.SUCCESS)


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Append-only: nobody, superusers included, may add, change or delete an audit row."""

    list_display = ["created_at", "actor_repr", "source", "action", "target_type", "target_repr", "outcome", "workspace"]
    list_filter = ["workspace", "action", "source", "outcome", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["actor_repr", "action", "target_repr", "target_id", "request_id", "message"]
    date_hierarchy = "created_at"
    list_select_related = ["workspace"]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
