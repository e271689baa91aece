"""VM pages: list, detail, lifecycle and bulk actions, create and edit, sharing.

Lifecycle actions answer HTMX with out-of-band fragments (`vms.rendering.vm_change_fragments`: the row, the
detail status block and the summary, exactly what a WebSocket push sends) plus an out-of-band message, and
keep honest status codes: 200 done, 403 not allowed, 409 not from this status, 502 the cloud failed. htmx 2
does not swap 4xx/5xx by default, so those answers carry `X-SkyClust-Fragment: 1` and static/js/app.js lets
htmx swap exactly the responses that carry it (a proxy's 502 page or a crash never lands in the table).
Without JavaScript the same forms post normally and get a redirect (or an error page with the status).
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views import View
from django.views.generic import TemplateView

from vms import rendering, selectors, services, sharing
from vms.forms import BulkActionForm, ShareForm, VMCreateForm, VMEditForm, VMFilterForm, add_service_errors
from vms.models import VM
from vms.providers.base import ProviderError
from vms.rendering import vm_change_fragments, vm_view, vm_views
from vms.state import InvalidTransition
from workspaces.models import AuditEvent, CloudAccount
from workspaces.roles import MANAGE_MEMBERS, MANAGE_VMS, OPERATE_VMS, VIEW
from workspaces.views import WorkspaceMixin, access_of, safe_next, workspace_context

PAGE_SIZE = 50
ACTIONS = (*services.LIFECYCLE_COMMANDS, "delete")
FRAGMENT_HEADER = "X-SkyClust-Fragment"
IN_PROGRESS = {"start": "Starting", "stop": "Stopping", "restart": "Restarting", "terminate": "Terminating"}


def vm_or_404(request, vm_id) -> VM:
    try:
        return selectors.vm_get_visible(access_of(request), vm_id)
    except VM.DoesNotExist:
        raise Http404("No such VM.") from None


def wants_fragment(request) -> bool:
    """An HTMX request that expects a piece of a page (a history restore wants the whole page)."""
    return bool(request.htmx) and not request.htmx.history_restore_request


@dataclass(frozen=True)
class Flash:
    """A message shown in #messages; same shape as django.contrib.messages for the template."""

    tags: str
    message: str

    def __str__(self):
        return self.message


def messages_fragment(*flashes: Flash) -> str:
    return render_to_string("base.html#messages", {"messages": flashes, "oob": True})


def fragment_response(content: str, status: int = 200) -> HttpResponse:
    response = HttpResponse(content, status=status)
    response[FRAGMENT_HEADER] = "1"
    return response


# -- list -----------------------------------------------------------------------------------------

class VMListView(WorkspaceMixin, TemplateView):
    template_name = "vms/vm_list.html"
    section = "vms"

    def get(self, request, *args, **kwargs):
        access = access_of(request)
        filters = VMFilterForm(request.GET)
        values = filters.values()
        queryset = selectors.vms_filtered(
            selectors.vms_visible_to(access), workspace_id=self.workspace.pk, status=values["status"], provider=values["provider"],
            region=values["region"], search=values["q"], ordering=values["sort"],
        )
        page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
        context = self.base_context() | {
            "filters": filters,
            "filtered": filters.active,
            "sort": values["sort"] or selectors.DEFAULT_ORDERING,
            "sort_param": values["sort"],
            "fragment": wants_fragment(request),
            "page": page,
            "rows": vm_views(page.object_list, access),
            "next_url": request.get_full_path(),
            "now": timezone.now(),
        }
        template = "vms/vm_list.html#vm-table" if wants_fragment(request) else self.template_name
        response = render(request, template, context)
        patch_vary_headers(response, ["HX-Request"])
        return response


# -- detail ---------------------------------------------------------------------------------------

def detail_context(request, vm: VM, share_form=None) -> dict:
    access = access_of(request)
    context = {"row": vm_view(vm, access), "vm": vm, "now": timezone.now(), "next_url": request.get_full_path()}
    if access.has_workspace_permission(vm.workspace_id, VIEW):  # members get the workspace's header and live updates
        context |= workspace_context(request, vm.workspace) | {"section": "vms"}
    context["can_edit"] = access.can(vm, "update")
    context["can_share"] = access.has_workspace_permission(vm.workspace_id, MANAGE_MEMBERS)
    if context["can_share"]:
        context["shares"] = sharing.vm_shares_of(vm)
        context["share_form"] = share_form or ShareForm()
    context["events"] = AuditEvent.objects.filter(target_type="vm", target_id=str(vm.pk)).order_by("-created_at", "-id")[:100]
    context["metadata"] = sorted(vm.metadata.items())
    return context


class VMDetailView(LoginRequiredMixin, TemplateView):
    template_name = "vms/vm_detail.html"

    def get_context_data(self, **kwargs):
        return detail_context(self.request, vm_or_404(self.request, self.kwargs["vm_id"]))


# -- lifecycle actions ----------------------------------------------------------------------------

@dataclass
class Outcome:
    status: int
    level: str  # success | error
    message: str


def perform(action: str, vm: VM, actor) -> Outcome:
    """Run one action through its service and say what happened, in words a user can read."""
    try:
        if action == "delete":
            services.vm_delete(vm_id=vm.pk, actor=actor)
        else:
            services.LIFECYCLE_COMMANDS[action](vm_id=vm.pk, actor=actor)
    except VM.DoesNotExist:
        return Outcome(404, "error", f"{vm.name} no longer exists.")
    except PermissionDenied as error:
        return Outcome(403, "error", str(error) or f"Your role does not allow you to {action} {vm.name}.")
    except InvalidTransition as error:
        return Outcome(409, "error", f"Cannot {action} {vm.name}: it is {error.current.value}.")
    except ProviderError as error:
        return Outcome(502, "error", f"{action.capitalize()} of {vm.name} failed: {error.message}")
    if action == "delete":
        return Outcome(200, "success", f"Deleted {vm.name}.")
    return Outcome(200, "success", f"{IN_PROGRESS[action]} {vm.name}.")


class VMActionView(LoginRequiredMixin, View):
    """POST /vms/<uuid>/<action>/: start, stop, restart, terminate or delete one VM."""

    http_method_names = ["post"]

    def post(self, request, vm_id, action):
        if action not in ACTIONS:
            raise Http404("No such action.")
        access = access_of(request)
        vm = vm_or_404(request, vm_id)
        destructive = action in ("terminate", "delete")
        if destructive and not wants_fragment(request) and request.POST.get("confirmed") != "yes" and access.can(vm, action):
            return render(request, "vms/vm_confirm.html", {"vm": vm, "action": action, "label": rendering.ACTION_LABELS[action],
                                                          "question": rendering.confirmation(action, vm), "next": safe_next(request, "")})
        outcome = perform(action, vm, request.user)
        if wants_fragment(request):
            return self.fragment(request, vm, action, outcome)
        if outcome.status == 200:
            messages.success(request, outcome.message)
            if action == "delete":
                return redirect(self.after_delete(request, vm))
            return redirect(safe_next(request, reverse("vm-detail", args=[vm.pk])))
        return render(request, "vms/vm_action_failed.html", {"vm": vm, "outcome": outcome,
                                                             "back": safe_next(request, reverse("vm-detail", args=[vm.pk]))},
                      status=outcome.status)

    def fragment(self, request, vm: VM, action: str, outcome: Outcome) -> HttpResponse:
        body = vm_change_fragments(vm_id=vm.pk, workspace_id=vm.workspace_id, access=access_of(request))
        response = fragment_response(body + messages_fragment(Flash(outcome.level, outcome.message)), outcome.status)
        detail_path = reverse("vm-detail", args=[vm.pk])
        if action == "delete" and outcome.status == 200 and (request.htmx.current_url_abs_path or "").startswith(detail_path):
            messages.success(request, outcome.message)
            response["HX-Redirect"] = self.after_delete(request, vm)
        return response

    @staticmethod
    def after_delete(request, vm: VM) -> str:
        if access_of(request).has_workspace_permission(vm.workspace_id, VIEW):
            return reverse("vm-list", args=[vm.workspace.slug])
        return reverse("home")


class VMBulkActionView(WorkspaceMixin, View):
    """POST /w/<ws>/vms/bulk/: one action on the selected VMs (any clouds); the answer lists each VM's outcome."""

    http_method_names = ["post"]
    permission = OPERATE_VMS

    def post(self, request, *args, **kwargs):
        access = access_of(request)
        form = BulkActionForm(request.POST)
        results = []
        if form.is_valid():
            action = form.cleaned_data["action"]
            vms = {vm.pk: vm for vm in selectors.vms_visible_to(access).filter(workspace_id=self.workspace.pk, pk__in=form.cleaned_data["vm_ids"])}
            if action == "terminate" and not wants_fragment(request) and request.POST.get("confirmed") != "yes":
                # htmx asks with hx-confirm; without JavaScript this page asks.
                return render(request, "vms/bulk_results.html", self.base_context() | {"section": "vms", "confirm_vms": list(vms.values())})
            for vm_id in form.cleaned_data["vm_ids"]:
                vm = vms.get(vm_id)
                if vm is None:
                    results.append((None, Outcome(404, "error", "A selected VM no longer exists.")))
                    continue
                results.append((vm, perform(action, vm, request.user)))
        context = {"form": form, "results": results, "action": form.cleaned_data.get("action", "") if form.is_valid() else "",
                   "succeeded": sum(1 for _, outcome in results if outcome.status == 200)}
        status = 200 if form.is_valid() else 400
        if wants_fragment(request):
            body = render_to_string("vms/vm_list.html#bulk-results", context, request=request)
            body += self.changed_rows(request, [vm.pk for vm, _ in results if vm is not None])
            return fragment_response(body, status)
        return render(request, "vms/bulk_results.html", self.base_context() | context | {"section": "vms"}, status=status)

    def changed_rows(self, request, vm_ids) -> str:
        access = access_of(request)
        fresh = {vm.pk: vm for vm in selectors.vms_visible_to(access).filter(pk__in=vm_ids)}
        rows = []
        for vm_id in vm_ids:
            if vm_id in fresh:
                rows.append(render_to_string("vms/vm_list.html#vm-row", {"row": vm_view(fresh[vm_id], access), "oob": True, "now": timezone.now()}))
            else:
                rows.append(render_to_string("vms/vm_list.html#vm-row-removed", {"vm_id": vm_id}))
        return "".join(rows) + rendering.summary_fragment(self.workspace.pk)


# -- create and edit ------------------------------------------------------------------------------

class VMCreateView(WorkspaceMixin, TemplateView):
    template_name = "vms/vm_create.html"
    permission = MANAGE_VMS
    section = "vms"

    def accounts(self):
        return list(CloudAccount.objects.filter(workspace=self.workspace).order_by("provider", "name"))

    def options_url(self) -> str:
        return reverse("vm-create-options", args=[self.workspace.slug])

    def get_context_data(self, form=None, **kwargs):
        accounts = self.accounts()
        if form is None:
            initial = {"account": str(accounts[0].pk)} if len(accounts) == 1 else {}
            form = VMCreateForm(accounts=accounts, initial=initial, options_url=self.options_url())
        return self.base_context() | {"form": form, "accounts": accounts}

    def post(self, request, *args, **kwargs):
        form = VMCreateForm(request.POST, accounts=self.accounts(), options_url=self.options_url())
        if form.is_valid():
            data = form.cleaned_data
            try:
                vm = services.vm_create(
                    actor=request.user, workspace=self.workspace, account=form.chosen_account, name=data["name"],
                    instance_type=data["instance_type"], region=data["region"], zone=data["zone"], image_id=data["image_id"],
                    metadata=data["metadata"], vm_id=data["vm_id"],
                )
            except ValidationError as error:
                add_service_errors(form, error)
            except ProviderError as error:
                vm = VM.objects.filter(pk=data["vm_id"]).first()
                if vm is None:
                    form.add_error(None, f"The cloud refused: {error.message}")
                else:
                    messages.error(request, f"{vm.name} could not be created: {error.message}")
                    return redirect("vm-detail", vm.pk)
            else:
                messages.success(request, f"Creating {vm.name} on {rendering.PROVIDER_LABELS.get(vm.provider, vm.provider)}.")
                return redirect("vm-detail", vm.pk)
        return self.render_to_response(self.get_context_data(form=form), status=400)


class VMCreateOptionsView(WorkspaceMixin, View):
    """GET the region/zone/type/image selects for the chosen account and region (HTMX swaps them in)."""

    permission = MANAGE_VMS

    def get(self, request, *args, **kwargs):
        accounts = list(CloudAccount.objects.filter(workspace=self.workspace).order_by("provider", "name"))
        initial = {name: request.GET.get(name, "") for name in ("account", "region", "zone", "instance_type", "image_id")}
        form = VMCreateForm(accounts=accounts, initial=initial, options_url=reverse("vm-create-options", args=[self.workspace.slug]))
        return render(request, "vms/vm_create.html#catalog-fields", {"form": form, "workspace": self.workspace})


class MetadataRowView(LoginRequiredMixin, View):
    """GET one more blank metadata row (HTMX appends it)."""

    def get(self, request):
        return render(request, "vms/vm_create.html#metadata-row", {"key": "", "value": "", "row_id": uuid.uuid4().hex[:8]})


class VMEditView(LoginRequiredMixin, TemplateView):
    template_name = "vms/vm_edit.html"

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        self.vm = vm_or_404(request, kwargs["vm_id"])
        if not access_of(request).can(self.vm, "update"):
            raise PermissionDenied(f"Your role does not allow you to edit {self.vm.name}.")
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, form=None, **kwargs):
        return workspace_context(self.request, self.vm.workspace) | {"section": "vms", "vm": self.vm, "form": form or VMEditForm(vm=self.vm)}

    def post(self, request, *args, **kwargs):
        form = VMEditForm(request.POST, vm=self.vm)
        if form.is_valid():
            try:
                vm = services.vm_update(vm_id=self.vm.pk, actor=request.user, name=form.cleaned_data["name"], metadata=form.cleaned_data["metadata"])
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                messages.success(request, f"Saved {vm.name}.")
                return redirect("vm-detail", vm.pk)
        return self.render_to_response(self.get_context_data(form=form), status=400)


# -- sharing one VM -------------------------------------------------------------------------------

class VMShareView(LoginRequiredMixin, View):
    http_method_names = ["post"]

    def post(self, request, vm_id):
        vm = vm_or_404(request, vm_id)
        form = ShareForm(request.POST)
        if form.is_valid():
            try:
                sharing.vm_share(vm_id=vm.pk, user=form.user, permission=form.cleaned_data["permission"], actor=request.user)
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                label = sharing.SHARE_PERMISSIONS[form.cleaned_data["permission"]].split(" ")[0].lower()
                messages.success(request, f"Shared {vm.name} with {form.user.get_username()} ({label}).")
                return redirect("vm-detail", vm.pk)
        elif not access_of(request).has_workspace_permission(vm.workspace_id, MANAGE_MEMBERS):
            raise PermissionDenied(f"Your role does not allow you to share {vm.name}.")
        return render(request, VMDetailView.template_name, detail_context(request, vm, share_form=form), status=400)


class VMUnshareView(LoginRequiredMixin, View):
    http_method_names = ["post"]

    def post(self, request, vm_id):
        vm = vm_or_404(request, vm_id)
        user = get_user_model().objects.filter(pk=request.POST.get("user") if (request.POST.get("user") or "").isdigit() else None).first()
        if user is None:
            messages.error(request, "Choose a user to stop sharing with.")
        else:
            try:
                sharing.vm_unshare(vm_id=vm.pk, user=user, actor=request.user)
            except ValidationError as error:
                messages.error(request, " ".join(error.messages))
            else:
                messages.success(request, f"{vm.name} is no longer shared with {user.get_username()}.")
        return redirect(safe_next(request, reverse("vm-detail", args=[vm.pk])))
