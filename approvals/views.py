"""HTML pages of the approvals app: requests (list, new → preview → confirm, detail with live
status, decisions), the custodian's approval queue and the admin's approval policies.

Thin like the API (STYLE §3): parse the form, call one service or selector, render. Services
decide; `core.web.domain_errors` turns NotFound into 404 and NotAllowed into 403.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.contrib import messages
from django.http import Http404, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.roles import ADOPTING_ROLES, DECIDING_ROLES, SUBMITTING_ROLES
from approvals import services
from approvals.filters import ChangeRequestFilter
from approvals.forms import DecisionForm, PolicyForm
from approvals.models import OPEN_STATES, Operation
from approvals.operations import SPECS, changed_since_submission, changes_of, spec_for
from approvals.operations.bulk import progress
from approvals.permissions import allowed_actions, can_edit_policy, can_request, ensure_allowed
from approvals.request_forms import REQUEST_FORMS, initial_from_current
from approvals.selectors import (
    approval_queue_for,
    decider_teams,
    quorum_warning,
    request_detail_for,
    requests_visible_to,
    teams_submitting,
)
from audit.context import AuditContext
from audit.selectors import events_visible_to, oldest_first
from core.errors import Conflict, Invalid
from core.paging import KeysFirstPaginator
from core.web import (
    conflict_page,
    domain_errors,
    is_filtered,
    paginate,
    permitted_by,
    query_without,
    role_required,
    tidy_filter_form,
)
from keys.selectors import keys_named, keys_visible_to

DRAFTS_KEY = "request_drafts"
MAX_DRAFTS = 5


# --- lists ----------------------------------------------------------------------------------------
@role_required()
def request_list(request):
    """Requests the user may see, filtered like the API (`ChangeRequestFilter`), newest first."""
    filterset = ChangeRequestFilter(
        request.GET, queryset=requests_visible_to(request.user), request=request
    )
    context = {
        "filter_form": tidy_filter_form(filterset.form),
        "is_filtered": is_filtered(filterset.form),
        "page": paginate(request, filterset.qs, paginator_class=KeysFirstPaginator),
        "query": query_without(request),
    }
    return render(request, "approvals/request_list.html", context)


@role_required(*DECIDING_ROLES)
def approval_queue(request):
    """Pending requests this custodian may still decide, oldest first."""
    queue = approval_queue_for(request.user, now=timezone.now()).prefetch_related("approvals")
    page = paginate(request, queue, paginator_class=KeysFirstPaginator)
    deciders = decider_teams()
    for change in page:  # the page's rows only, with one query for the custodians
        change.quorum_warning = quorum_warning(change, deciders=deciders)
    return render(request, "approvals/approval_queue.html", {"page": page})


# --- new request: form → preview → confirm -----------------------------------------------------
@role_required(*SUBMITTING_ROLES)
def request_choose(request):
    operations = [(op, spec_for(op).high_risk) for op in REQUEST_FORMS]
    return render(request, "approvals/request_choose.html", {"operations": operations})


def _form_class(operation: str):
    form_class = REQUEST_FORMS.get(operation)
    if form_class is None:
        raise Http404("No such operation.")
    return form_class


def _initial(form_class, values) -> dict:
    """Pre-fill from a query string or a kept draft: only the form's own fields."""
    fields = form_class.base_fields
    return {
        name: values.getlist(name) if name == "key_ops" else values.get(name)
        for name in values
        if name in fields and name != "byok"
    }


def _current_initial(request, form_class, name) -> dict:
    """The form's inputs for the key's current values, when the user may see that key."""
    if not name or not keys_named([name], keys_visible_to(request.user)).exists():
        return {}
    return initial_from_current(form_class, SPECS[form_class.operation].current({"name": name}))


def _form_page(request, form, *, status=200, problems=()):
    context = {"form": form, "operation": form.operation, "problems": problems}
    return render(request, "approvals/request_form.html", context, status=status)


@role_required(*SUBMITTING_ROLES, *ADOPTING_ROLES)
@domain_errors
def request_new(request, operation):
    """GET: the operation's form (pre-filled from the query string or a kept draft).
    POST: every submission check (`draft_request`, nothing written) → preview, else 400."""
    ensure_allowed(can_request(request.user, operation))
    form_class = _form_class(operation)
    teams = list(teams_submitting(request.user, operation))
    if request.method != "POST":
        kept = request.session.get(DRAFTS_KEY, {}).get(request.GET.get("draft", ""))
        is_kept = kept is not None and kept["operation"] == operation
        values = _query_dict(kept["form_data"]) if is_kept else request.GET
        current = _current_initial(request, form_class, values.get("name"))
        initial = {**current, **_initial(form_class, values)}
        return _form_page(request, form_class(initial=initial, teams=teams))
    current = _current_initial(request, form_class, request.POST.get("name"))
    form = form_class(request.POST, request.FILES, initial=current, teams=teams)
    form.is_valid()  # shape only; the service's checks below report the rest
    data = form.cleaned_data
    try:
        draft = services.draft_request(
            requester=request.user,
            operation=operation,
            team=data.get("team", ""),
            justification=data.get("justification", ""),
            params=form.params(),
        )
    except Invalid as invalid:
        form.add_service_errors(invalid.errors)
    if form.errors:
        return _form_page(request, form, status=400)
    token = _keep_draft(request, operation, form, draft)
    key_name = draft.spec.key_name(draft.params)
    context = {"draft": draft, "operation": operation, "token": token, "key_name": key_name}
    return render(request, "approvals/request_preview.html", context)


@role_required(*SUBMITTING_ROLES, *ADOPTING_ROLES)
@require_POST
@domain_errors
def request_confirm(request, operation):
    """Submit exactly the previewed input (kept server-side) through `submit_request`."""
    ensure_allowed(can_request(request.user, operation))
    form_class = _form_class(operation)
    drafts = request.session.get(DRAFTS_KEY, {})
    kept = drafts.get(request.POST.get("draft", ""))
    if kept is None or kept["operation"] != operation:
        messages.error(request, "That preview is no longer available; please check the form again.")
        return redirect("approvals:request-new", operation=operation)
    try:
        change = services.submit_request(
            requester=request.user,
            operation=operation,
            team=kept["team"],
            justification=kept["justification"],
            params=kept["params"],
            ctx=AuditContext.from_request(request),
        )
    except Invalid as invalid:  # the inventory changed since the preview
        initial = _initial(form_class, _query_dict(kept["form_data"]))
        form = form_class(initial=initial, teams=teams_submitting(request.user, operation))
        problems = [text for texts in invalid.errors.values() for text in texts]
        return _form_page(request, form, status=400, problems=problems)
    except Conflict as error:
        return conflict_page(
            request, error, back=reverse("approvals:request-new", args=[operation])
        )
    drafts.pop(request.POST["draft"], None)
    request.session[DRAFTS_KEY] = drafts
    messages.success(request, "Request submitted: custodians have been asked to approve it.")
    return redirect("approvals:request-detail", pk=change.pk)


def _keep_draft(request, operation, form, draft) -> str:
    """Keep the raw input server-side until confirmed (the newest few per session)."""
    drafts = dict(list(request.session.get(DRAFTS_KEY, {}).items())[-(MAX_DRAFTS - 1) :])
    token = secrets.token_urlsafe(16)
    form_data = {k: v for k, v in request.POST.lists() if k != "csrfmiddlewaretoken"}
    drafts[token] = {
        "operation": operation,
        "team": draft.team.slug,
        "justification": form.cleaned_data["justification"],
        "params": form.params(),
        "form_data": form_data,
    }
    request.session[DRAFTS_KEY] = drafts
    return token


def _query_dict(form_data: dict) -> QueryDict:
    values = QueryDict(mutable=True)
    for name, items in form_data.items():
        values.setlist(name, items)
    return values


# --- one request ---------------------------------------------------------------------------------
def _detail_context(request, pk, *, with_changes=True, **extra) -> dict:
    user, change = request.user, request_detail_for(request.user, pk)
    attempts = list(change.executions.all())
    if with_changes:  # the polled live part shows none: it reads no key for them
        extra = {
            "changes": changes_of(change),
            "changed_since": changed_since_submission(change),
            **extra,
        }
    return {
        "change": change,
        "bulk": progress(change, attempts[-1].checkpoint if attempts else {}),
        "preview": spec_for(change.operation).preview(change.params, request_id=change.pk),
        "high_risk": spec_for(change.operation).high_risk,
        "warnings": spec_for(change.operation).warnings(change.params),
        "timeline": _timeline(user, change),
        "is_live": change.state in OPEN_STATES,
        # What to offer: the services' own predicates, asked again when it is posted.
        "allowed_actions": allowed_actions(user, change, now=timezone.now()),
        "quorum_warning": quorum_warning(change),
        "decision_form": DecisionForm(),
        **extra,
    }


def _timeline(user, change):
    return oldest_first(
        events_visible_to(user).filter(
            target_type="approvals.changerequest", target_id=str(change.pk)
        )
    )


@role_required()
@domain_errors
def request_detail(request, pk):
    """Payload, preview, approvals, timeline, attempts; live while the request is open."""
    return render(request, "approvals/request_detail.html", _detail_context(request, pk))


@role_required()
@domain_errors
def request_live(request, pk):
    """The live part of the detail page, polled every 2 s by static/js/live-status.js."""
    context = _detail_context(request, pk, with_changes=False)
    return render(request, "approvals/_request_live.html", context)


def _act(request, pk, service, done: str, *, status_on_invalid=400, **arguments):
    """Call one decision service on a visible request; errors render on the detail page."""
    change = request_detail_for(request.user, pk)  # not visible → 404 before anything else
    try:
        service(request_id=change.pk, ctx=AuditContext.from_request(request), **arguments)
    except Invalid as invalid:
        form = DecisionForm(request.POST)
        form.is_valid()
        for message in invalid.errors.get("comment", []):
            form.add_error("comment", message)
        context = _detail_context(request, pk, decision_form=form)
        return render(request, "approvals/request_detail.html", context, status=status_on_invalid)
    except Conflict as error:
        context = _detail_context(request, pk, action_error=error.message)
        return render(request, "approvals/request_detail.html", context, status=409)
    messages.success(request, done)
    return redirect("approvals:request-detail", pk=change.pk)


def _comment(request) -> str:
    form = DecisionForm(request.POST)
    return form.cleaned_data["comment"] if form.is_valid() else request.POST.get("comment", "")


@role_required()
@require_POST
@domain_errors
def request_approve(request, pk):
    return _act(
        request,
        pk,
        services.approve_request,
        "Approved.",
        custodian=request.user,
        comment=_comment(request),
    )


@role_required()
@require_POST
@domain_errors
def request_reject(request, pk):
    return _act(
        request,
        pk,
        services.reject_request,
        "Rejected.",
        custodian=request.user,
        comment=_comment(request),
    )


@role_required()
@require_POST
@domain_errors
def request_cancel(request, pk):
    return _act(request, pk, services.cancel_request, "Cancelled.", requester=request.user)


@role_required()
@require_POST
@domain_errors
def request_retry(request, pk):
    return _act(
        request, pk, services.retry_request, "Sent back to the workers.", custodian=request.user
    )


# --- approval policies (admins) ------------------------------------------------------------------
@permitted_by(can_edit_policy)
def policy_list(request):
    return render(request, "approvals/policy_list.html", {"policies": services.all_policies()})


@permitted_by(can_edit_policy)
@domain_errors
def policy_edit(request, operation):
    """Edit one operation's approvals, maximum wait and approver independence through
    `update_policy`."""
    if operation not in Operation.values:
        raise Http404("No such operation.")
    policy = services.policy_for(operation)
    if request.method != "POST":
        hours = int(policy.max_wait.total_seconds() // 3600)
        initial = {
            "approvals_required": policy.approvals_required,
            "max_wait_hours": hours,
            "require_independent_approvers": policy.require_independent_approvers,
        }
        return _policy_page(request, policy, PolicyForm(initial=initial))
    form = PolicyForm(request.POST)
    if form.is_valid():
        try:
            services.update_policy(
                operation=operation,
                admin=request.user,
                ctx=AuditContext.from_request(request),
                approvals_required=form.cleaned_data["approvals_required"],
                max_wait=timedelta(hours=form.cleaned_data["max_wait_hours"]),
                require_independent_approvers=form.cleaned_data["require_independent_approvers"],
            )
        except Invalid as invalid:
            form.add_service_errors(invalid.errors)
    if form.errors:
        return _policy_page(request, policy, form, status=400)
    messages.success(request, f"Policy for {Operation(operation).label} saved.")
    return redirect("approvals:policy-list")


def _policy_page(request, policy, form, status=200):
    custodians = len(decider_teams())
    context = {
        "policy": policy,
        "form": form,
        "custodians": custodians,
        "quorum_problem": services.unreachable_quorum(policy.approvals_required, custodians),
    }
    return render(request, "approvals/policy_edit.html", context, status=status)
