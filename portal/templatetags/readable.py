"""Stored JSON structures (rotation policies, request params and results) as readable fields:
nested definition lists with human labels, durations in words, and links where a value names a
key, one of its versions or a role assignment. Pages render them through
templates/portal/_readable.html, which keeps the raw JSON beside them."""

from __future__ import annotations

import re
from dataclasses import dataclass

from django import template
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from approvals.operations import spec_for
from core.durations import DURATION_PATTERN
from keys.selectors import keys_named
from keys.services.teams import key_name_of_scope

register = template.Library()

# Labels of the fields that operations record in results and policies; an operation's params
# serializer adds its own explicit labels (the request form's words) on top.
LABELS = {
    "name": "Key",
    "key": "Key",
    "targets": "Keys",
    "kty": "Key type",
    "key_ops": "Operations",
    "kid": "Key identifier (kid)",
    "version": "Version",
    "previous_version": "Previous version",
    "recovery_id": "Recovery id",
    "scheduled_purge_on": "Purge scheduled on",
    "purged": "Purged",
    "lifetime_actions": "Lifetime actions",
    "action": "Action",
    "time_after_create": "After creation",
    "time_before_expiry": "Before expiry",
    "expiry_time": "New versions expire after",
    "rotation_policy": "Rotation policy",
    "schedule": "Rotation schedule",
    "cadence": "Rotate every",
    "bytes": "Size (bytes)",
    "sha256": "SHA-256",
    "assignment": "Role assignment",
    "scope": "Scope",
    "role": "Role",
    "principal_id": "Principal object id",
    "principal_type": "Principal type",
    "role_definition_id": "Role definition",
    "revoked": "Revoked",
    "succeeded": "Succeeded",
    "failed": "Failed",
    "hsm_request_id": "HSM request id",
}
KEY_FIELDS = {"name", "key", "targets", "succeeded"}
FIRST_FIELDS = ("name", "key", "targets", "assignment")
VERSION_FIELDS = {"version", "previous_version"}
DURATION_FIELDS = {
    "time_after_create",
    "time_before_expiry",
    "expiry_time",
    "cadence",
    "retire_previous_after",
}
CODE_FIELDS = {
    "kid",
    "recovery_id",
    "sha256",
    "principal_id",
    "role_definition_id",
    "hsm_request_id",
    "byok",
}
# Mappings whose keys are data, not field names: user tags, and failures by key name.
VERBATIM_MAPPINGS = {"tags"}
BY_KEY_MAPPINGS = {"failed"}
DATE_UNITS = {"Y": "year", "M": "month", "W": "week", "D": "day"}
TIME_UNITS = {"H": "hour", "M": "minute", "S": "second"}


def duration_words(text: str) -> str | None:
    """`P1Y6M` → `1 year 6 months`, `PT12H` → `12 hours`; None for anything else."""
    if not re.match(DURATION_PATTERN, text):
        return None
    date, _, time = text[1:].partition("T")
    words = [
        f"{count} {units[unit]}{'' if count == '1' else 's'}"
        for part, units in ((date, DATE_UNITS), (time, TIME_UNITS))
        for count, unit in re.findall(r"([0-9]+)([A-Z])", part)
    ]
    return " ".join(words)


def operation_labels(operation: str) -> dict[str, str]:
    """Field name → label, in the order fields are shown: the operation's params serializer
    first (its explicit labels, nested ones too), then LABELS. (PostgreSQL's jsonb keeps no key
    order, so the order comes from here.)"""
    labels: dict[str, str] = {}
    spec = spec_for(operation)

    def walk(serializer) -> None:
        for name, field in serializer.fields.items():
            explicit = field.label and field.label != name.replace("_", " ").capitalize()
            labels.setdefault(name, field.label if explicit else LABELS.get(name, field.label))
            inner = getattr(field, "child", field)
            if hasattr(inner, "fields"):
                walk(inner)

    if spec is not None:
        walk(spec.params())
    return {**labels, **{name: label for name, label in LABELS.items() if name not in labels}}


@dataclass(frozen=True)
class Rendering:
    """What one structure is rendered with: labels in display order, and the inventory's
    names of the keys it mentions (lower case → as stored; only those get links)."""

    labels: dict[str, str]
    keys: dict[str, str]


def _key_names(value, field: str = "") -> set[str]:
    """Every key name the structure mentions: key fields, key scopes, failures by key."""
    if isinstance(value, dict):
        own = set(map(str, value)) if field in BY_KEY_MAPPINGS else set()
        return own.union(*(_key_names(inner, str(name)) for name, inner in value.items()))
    if isinstance(value, list):
        return set().union(*(_key_names(item, field) for item in value))
    if isinstance(value, str) and field in KEY_FIELDS:
        return {value}
    if isinstance(value, str) and field == "scope" and key_name_of_scope(value):
        return {key_name_of_scope(value)}
    return set()


def _key_link(name: str, r: Rendering) -> SafeString:
    """A link to the key's page, or the bare name while no such key is in the inventory (a
    key a pending request would create)."""
    stored = r.keys.get(name.lower())
    if stored is None:
        return format_html("<code>{}</code>", name)
    return format_html('<a href="{}">{}</a>', reverse("keys:detail", args=[stored]), name)


def _text(field: str, text: str, key: str | None, r: Rendering) -> SafeString:
    if field in KEY_FIELDS:
        return _key_link(text, r)
    if field == "scope" and key_name_of_scope(text):
        return format_html("{} <code>{}</code>", _key_link(key_name_of_scope(text), r), text)
    anchor = {**dict.fromkeys(VERSION_FIELDS, "versions"), "assignment": "assignments"}
    if field in anchor and key and key.lower() in r.keys:
        url = reverse("keys:detail", args=[r.keys[key.lower()]]) + f"#{anchor[field]}"
        return format_html('<a href="{}"><code>{}</code></a>', url, text)
    words = duration_words(text) if field in DURATION_FIELDS else None
    if words:
        return format_html("{} <code>{}</code>", words, text)
    if field in CODE_FIELDS | VERSION_FIELDS | {"assignment"}:
        return format_html("<code>{}</code>", text)
    return format_html("{}", text)


def _value(field: str, value, key: str | None, r: Rendering) -> SafeString:
    if value is None or value in ("", [], {}):
        return SafeString("—")
    if isinstance(value, bool):
        return format_html("{}", "yes" if value else "no")
    if isinstance(value, int | float):  # a count (bulk `targets`), a size: never a name
        return format_html("{}", value)
    if isinstance(value, dict):
        return _fields(value, key, r, mapping=field)
    if isinstance(value, list) and all(isinstance(item, dict) for item in value):
        items = ((_fields(item, key, r),) for item in value)
        return format_html(
            '<ol class="readable-items">{}</ol>', format_html_join("", "<li>{}</li>", items)
        )
    if isinstance(value, list):
        return format_html_join(", ", "{}", ((_text(field, str(item), key, r),) for item in value))
    return _text(field, str(value), key, r)


def _fields(data: dict, key: str | None, r: Rendering, *, mapping: str = "") -> SafeString:
    """One <dl>: each field's label and value; `key` is the key the values belong to."""
    key = next((data[f] for f in ("key", "name") if isinstance(data.get(f), str)), key)
    if isinstance(data.get("scope"), str):
        key = key_name_of_scope(data["scope"]) or key
    rows, rank = [], {name: index for index, name in enumerate(r.labels)}
    place = {name: -1 for name in FIRST_FIELDS}  # what the structure is about comes first
    ordered = sorted(
        data.items(), key=lambda item: place.get(item[0], rank.get(item[0], len(rank)))
    )
    data_keyed = mapping in BY_KEY_MAPPINGS | VERBATIM_MAPPINGS
    for field, value in data.items() if data_keyed else ordered:
        if mapping in BY_KEY_MAPPINGS:
            term, inner_key = _key_link(str(field), r), str(field)
        elif mapping in VERBATIM_MAPPINGS:
            term, inner_key = format_html("{}", field), key
        else:
            label = r.labels.get(field) or str(field).replace("_", " ").capitalize()
            term, inner_key = format_html("{}", label), key
        rows.append((term, _value(str(field), value, inner_key, r)))
    return format_html(
        '<dl class="properties">{}</dl>', format_html_join("", "<dt>{}</dt><dd>{}</dd>", rows)
    )


@register.filter
def readable(value, operation: str = "") -> SafeString:
    """`{{ change.result|readable:change.operation }}`: the structure as labelled fields (one
    query: which of the keys it names exist)."""
    names = _key_names(value)
    stored = keys_named(names).values_list("name", flat=True) if names else []
    r = Rendering(operation_labels(operation), {name.lower(): name for name in stored})
    if isinstance(value, dict):
        return _fields(value, None, r)
    return _value("", value, None, r)
