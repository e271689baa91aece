"""Workspace pages: the user's workspaces, a workspace's overview, and its administration (members, cloud
accounts, shared VMs). Views stay thin: resolve the workspace for this user (404 when not a member), check the
role (403), call a selector or service, render."""
from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View
from django.views.generic import TemplateView

from vms.access import Access
from vms.forms import add_service_errors
from vms.providers.registry import PROVIDER_CHOICES
from vms.rendering import workspace_summary
from vms.selectors import vms_visible_to
from vms.sharing import SHARE_PERMISSIONS, vm_shares_in_workspace
from workspaces import selectors, services
from workspaces.forms import AccountForm, AccountSecretForm, MemberInviteForm, MemberRoleForm
from workspaces.models import CloudAccount, Membership, Workspace
from workspaces.roles import MANAGE_ACCOUNTS, MANAGE_MEMBERS, MANAGE_VMS, OPERATE_VMS, VIEW, Role

PROVIDER_LABELS = dict(PROVIDER_CHOICES)


# -- request helpers shared with vms.views --------------------------------------------------------

def access_of(request) -> Access:
    """One Access per request: the user's permissions, loaded once (two queries)."""
    if not hasattr(request, "_skyclust_access"):
        request._skyclust_access = Access(request.user)
    return request._skyclust_access


def access_of_fresh(request) -> Access:
    """After a change to the user's own role: forget the permissions loaded earlier in this request."""
    request._skyclust_access = Access(request.user)
    return request._skyclust_access


def workspace_or_404(request, key: str) -> Workspace:
    """The workspace named by slug or UUID in the URL, if the user is a member; else a 404."""
    workspaces = selectors.workspaces_visible_to(access_of(request))
    try:
        lookup = {"pk": UUID(key)}
    except ValueError:
        lookup = {"slug": key}
    try:
        return workspaces.get(**lookup)
    except Workspace.DoesNotExist:
        raise Http404("No such workspace.") from None


def workspace_context(request, workspace: Workspace) -> dict:
    """What every page of a workspace shows: the workspace, the user's powers in it, the live connection."""
    access = access_of(request)
    can = {name: access.has_workspace_permission(workspace.pk, perm) for name, perm in (
        ("operate", OPERATE_VMS), ("manage_vms", MANAGE_VMS), ("manage_members", MANAGE_MEMBERS), ("manage_accounts", MANAGE_ACCOUNTS),
    )}
    can["administer"] = can["manage_members"] or can["manage_accounts"]
    return {"workspace": workspace, "can": can, "live_workspace_id": workspace.pk}


def safe_next(request, fallback: str) -> str:
    """A local URL from `next`, or the fallback (never an open redirect)."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(candidate, {request.get_host()}, require_https=request.is_secure()):
        return candidate
    return fallback


class WorkspaceMixin(LoginRequiredMixin):
    """Resolves `self.workspace` (404 for non-members) and requires `permission` in it (403 otherwise)."""

    permission = VIEW
    section = ""

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        self.workspace = workspace_or_404(request, kwargs["ws"])
        if not access_of(request).has_workspace_permission(self.workspace.pk, self.permission):
            raise PermissionDenied(f"Your role in {self.workspace.name} does not allow this.")
        return super().dispatch(request, *args, **kwargs)

    def base_context(self) -> dict:
        return workspace_context(self.request, self.workspace) | {"section": self.section}


# -- the user's workspaces and a workspace's overview ---------------------------------------------

class HomeView(LoginRequiredMixin, TemplateView):
    """The user's workspaces; straight to the only one when there is exactly one and nothing is shared."""

    template_name = "workspaces/home.html"

    def get(self, request, *args, **kwargs):
        access = access_of(request)
        workspaces = list(
            selectors.workspaces_visible_to(access).annotate(vm_count=Count("vms")).order_by("name")
        )
        shared = list(
            vms_visible_to(access).filter(pk__in=list(access.shared_vm_permissions)).exclude(workspace_id__in=access.workspace_ids())
        )
        if len(workspaces) == 1 and not shared:
            return redirect("workspace", ws=workspaces[0].slug)
        roles = dict(Membership.objects.filter(user=request.user).values_list("workspace_id", "role"))
        for workspace in workspaces:
            workspace.role_label = Role(roles[workspace.pk]).label if workspace.pk in roles else ""
        return self.render_to_response({"workspaces": workspaces, "shared_vms": shared})


class WorkspaceOverviewView(WorkspaceMixin, TemplateView):
    template_name = "workspaces/overview.html"
    section = "overview"

    def get_context_data(self, **kwargs):
        return self.base_context() | {"summary": workspace_summary(self.workspace.pk), "now": timezone.now()}


# -- members --------------------------------------------------------------------------------------

class MembersView(WorkspaceMixin, TemplateView):
    template_name = "workspaces/settings_members.html"
    permission = MANAGE_MEMBERS
    section = "members"

    def get_context_data(self, invite_form=None, **kwargs):
        members = list(selectors.members_of(self.workspace))
        for membership in members:
            membership.role_form = MemberRoleForm(initial={"role": membership.role}, prefix=f"m{membership.pk}")
        return self.base_context() | {
            "members": members,
            "invite_form": invite_form or MemberInviteForm(),
            "is_owner": any(m.user_id == self.request.user.pk and m.role == Role.OWNER for m in members),
        }

    def post(self, request, *args, **kwargs):
        form = MemberInviteForm(request.POST)
        if form.is_valid():
            try:
                services.member_add(workspace=self.workspace, user=form.user, role=form.cleaned_data["role"], actor=request.user)
            except ValidationError as error:
                add_service_errors(form, error)
            except PermissionDenied as error:
                form.add_error("role", str(error))
            else:
                messages.success(request, f"{form.user.get_username()} joined {self.workspace.name} as {Role(form.cleaned_data['role']).label.lower()}.")
                return redirect("members", ws=self.workspace.slug)
        return self.render_to_response(self.get_context_data(invite_form=form), status=400)


class MembershipActionMixin(WorkspaceMixin):
    permission = MANAGE_MEMBERS
    http_method_names = ["post"]

    def membership(self) -> Membership:
        return get_object_or_404(Membership.objects.select_related("user", "workspace"), pk=self.kwargs["membership_id"], workspace=self.workspace)

    def back(self):
        return redirect("members", ws=self.workspace.slug)


class MemberRoleView(MembershipActionMixin, View):
    def post(self, request, *args, **kwargs):
        membership = self.membership()
        form = MemberRoleForm(request.POST, prefix=f"m{membership.pk}")
        if not form.is_valid():
            messages.error(request, "Choose one of the roles.")
            return self.back()
        try:
            services.member_change_role(membership=membership, role=form.cleaned_data["role"], actor=request.user)
        except (ValidationError, PermissionDenied) as error:
            messages.error(request, _first_message(error))
        else:
            messages.success(request, f"{membership.user.get_username()} is now {Role(form.cleaned_data['role']).label.lower()}.")
        if not access_of_fresh(request).has_workspace_permission(self.workspace.pk, MANAGE_MEMBERS):
            return redirect("workspace", ws=self.workspace.slug)  # demoted themselves
        return self.back()


class MemberRemoveView(MembershipActionMixin, View):
    def post(self, request, *args, **kwargs):
        membership = self.membership()
        try:
            services.member_remove(membership=membership, actor=request.user)
        except (ValidationError, PermissionDenied) as error:
            messages.error(request, _first_message(error))
            return self.back()
        messages.success(request, f"{membership.user.get_username()} was removed from {self.workspace.name}.")
        if membership.user_id == request.user.pk:
            return redirect("home")
        return self.back()


def _first_message(error) -> str:
    if isinstance(error, ValidationError):
        return " ".join(error.messages)
    return str(error)


# -- cloud accounts -------------------------------------------------------------------------------

class AccountsView(WorkspaceMixin, TemplateView):
    template_name = "workspaces/settings_accounts.html"
    permission = MANAGE_ACCOUNTS
    section = "accounts"

    def get_context_data(self, **kwargs):
        accounts = CloudAccount.objects.filter(workspace=self.workspace).annotate(vm_count=Count("vms")).order_by("provider", "name")
        return self.base_context() | {"accounts": accounts, "providers": PROVIDER_CHOICES}


class AccountCreateView(WorkspaceMixin, TemplateView):
    template_name = "workspaces/account_form.html"
    permission = MANAGE_ACCOUNTS
    section = "accounts"

    def dispatch(self, request, *args, **kwargs):
        if kwargs["provider"] not in PROVIDER_LABELS:
            raise Http404("Unknown provider.")
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, form=None, **kwargs):
        provider = self.kwargs["provider"]
        return self.base_context() | {"form": form or AccountForm(provider=provider), "provider_label": PROVIDER_LABELS[provider]}

    def post(self, request, *args, **kwargs):
        form = AccountForm(request.POST, provider=self.kwargs["provider"])
        if form.is_valid():
            try:
                account = services.account_create(
                    workspace=self.workspace, provider=form.provider, name=form.cleaned_data["name"], actor=request.user,
                    credentials=form.secret_values, settings=form.setting_values, endpoint_url=form.cleaned_data["endpoint_url"],
                )
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                messages.success(request, f"Added {account}. Verify it to check the credentials.")
                return redirect("accounts", ws=self.workspace.slug)
        return self.render_to_response(self.get_context_data(form=form), status=400)


class AccountMixin(WorkspaceMixin):
    permission = MANAGE_ACCOUNTS
    section = "accounts"

    def account(self) -> CloudAccount:
        return get_object_or_404(CloudAccount.objects.select_related("workspace"), pk=self.kwargs["account_id"], workspace=self.workspace)

    def back(self):
        return redirect("accounts", ws=self.workspace.slug)


class AccountSecretView(AccountMixin, TemplateView):
    template_name = "workspaces/account_secret.html"

    def get_context_data(self, form=None, **kwargs):
        account = self.account()
        return self.base_context() | {"account": account, "form": form or AccountSecretForm(provider=account.provider)}

    def post(self, request, *args, **kwargs):
        account = self.account()
        form = AccountSecretForm(request.POST, provider=account.provider)
        if form.is_valid():
            try:
                services.account_replace_credentials(account=account, credentials=form.secret_values, actor=request.user)
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                messages.success(request, f"Replaced the secret of {account.name}. Verify it to check it.")
                return self.back()
        return self.render_to_response(self.get_context_data(form=form), status=400)


class AccountVerifyView(AccountMixin, View):
    http_method_names = ["post"]

    def post(self, request, *args, **kwargs):
        account = self.account()
        reason = services.account_verify(account=account, actor=request.user)
        if reason:
            messages.error(request, f"{account.name} could not be verified: {reason}")
        else:
            messages.success(request, f"{account.name} works: the cloud answered.")
        return self.back()


class AccountRemoveView(AccountMixin, View):
    http_method_names = ["post"]

    def post(self, request, *args, **kwargs):
        account = self.account()
        try:
            services.account_remove(account=account, actor=request.user)
        except ValidationError as error:
            messages.error(request, _first_message(error))
        else:
            messages.success(request, f"Removed {account.name}.")
        return self.back()


# -- shared VMs -----------------------------------------------------------------------------------

class SharingView(WorkspaceMixin, TemplateView):
    template_name = "workspaces/settings_sharing.html"
    permission = MANAGE_MEMBERS
    section = "sharing"

    def get_context_data(self, **kwargs):
        return self.base_context() | {"shares": vm_shares_in_workspace(self.workspace.pk), "share_labels": SHARE_PERMISSIONS}


class SettingsView(WorkspaceMixin, View):
    """/w/<ws>/settings/ goes to the first section this user may manage."""

    def get(self, request, *args, **kwargs):
        access = access_of(request)
        if access.has_workspace_permission(self.workspace.pk, MANAGE_MEMBERS):
            return HttpResponseRedirect(reverse("members", kwargs={"ws": self.workspace.slug}))
        if access.has_workspace_permission(self.workspace.pk, MANAGE_ACCOUNTS):
            return HttpResponseRedirect(reverse("accounts", kwargs={"ws": self.workspace.slug}))
        raise PermissionDenied(f"Your role in {self.workspace.name} does not allow administration.")
