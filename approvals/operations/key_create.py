"""key.create: a new RSA-HSM, EC-HSM or oct-HSM key, optionally with a rotation policy."""

from __future__ import annotations

from dataclasses import replace

from django.utils.dateparse import parse_datetime
from rest_framework import serializers

from accounts.models import Team
from approvals.models import Operation
from approvals.operations.base import (
    OperationSpec,
    Outcome,
    Problems,
    request_ids,
    team_may_use,
)
from approvals.operations.fields import (
    AES_SIZES,
    CURVES,
    KEY_TYPES,
    OPS_FOR_KTY,
    RSA_SIZES,
    JsonObjectField,
    KeyNameField,
    KeyOpsField,
    RotationClassField,
    StrictBooleanField,
    StrictChoiceField,
    StrictSerializer,
    TagsField,
    TimestampField,
    nested_errors,
    ops_problem,
)
from approvals.operations.plan import REQUEST_TAG, HsmCall, KeyMadeByRequest
from approvals.operations.policies import (
    RotationPolicySerializer,
    lifetime_actions,
    release_policy_errors,
)
from keys.models import KEK_KEY_OPS, KEK_KTY, KEK_SIZES, ROTATION_CLASS_TAG, KeyState
from keys.release_policy import (
    baseline_warnings,
    unapproved_authorities,
    unapproved_authority_message,
)
from keys.selectors import keys_named, rotation_classes
from keys.services.inventory import record_key_applied

KEY_OPS_HELP = "; ".join(f"{kty}: {', '.join(ops)}" for kty, ops in OPS_FOR_KTY.items())


def when(text: str | None):
    return parse_datetime(text) if text else None


def present(**kwargs) -> dict:
    """Keyword arguments that are set (the gateway's defaults stand for the others)."""
    return {name: value for name, value in kwargs.items() if value is not None}


def key_tags(params: dict, request_id) -> dict:
    """The user's tags, the request's, and the rotation class when one was asked for."""
    rotation_class = params.get("rotation_class")
    chosen = {ROTATION_CLASS_TAG: rotation_class} if rotation_class else {}
    return {**params.get("tags", {}), **chosen, REQUEST_TAG: str(request_id)}


def rotation_class_exists(problems: Problems, rotation_class: str | None) -> None:
    known = rotation_classes()
    if rotation_class and rotation_class not in known:
        problems.add(
            "rotation_class",
            f"No rotation class {rotation_class!r}. Known: {', '.join(sorted(known))}.",
        )


def name_is_free(problems: Problems, name: str | None) -> None:
    """No live or recoverable key has `name` in any case (the HSM would add a version to it)."""
    taken = keys_named([name]).exclude(state=KeyState.PURGED).first() if name else None
    if taken:
        detail = "exists" if taken.state == KeyState.ACTIVE else "is deleted but recoverable"
        same = "" if taken.name == name else " (key names are case-insensitive)"
        problems.add("name", f"A key named {taken.name} {detail}{same}.")


def size_problems(kty: str, size: int | None, curve: str | None) -> dict[str, str]:
    if kty == "EC-HSM":
        problems = {} if curve else {"curve": "This field is required."}
        return {**problems, "size": "EC keys take a curve, not a size."} if size else problems
    sizes = RSA_SIZES if kty == "RSA-HSM" else AES_SIZES
    problems = {"curve": f"{kty} keys take a size, not a curve."} if curve else {}
    if size is None:
        return {**problems, "size": "This field is required."}
    if size not in sizes:
        return {**problems, "size": f"Must be one of: {', '.join(map(str, sizes))}."}
    return problems


def kek_problems(attrs: dict) -> dict[str, str]:
    """What keeps a request marked `is_kek` from being a key-exchange key (RSA-HSM 3072 or
    4096 with exactly the import operation, not exportable), or an import-only key unmarked."""
    kty, size, ops = attrs.get("kty"), attrs.get("size"), attrs.get("key_ops")
    if not attrs.get("is_kek"):
        if ops == KEK_KEY_OPS:
            return {
                "is_kek": "A key whose only operation is import is a key-exchange key: "
                "mark it as one."
            }
        return {}
    sizes = " or ".join(map(str, KEK_SIZES))
    problems = {}
    if kty is not None and kty != KEK_KTY:
        problems["kty"] = f"A key-exchange key is {KEK_KTY} ({sizes} bits)."
    elif kty == KEK_KTY and size is not None and size not in KEK_SIZES:
        problems["size"] = f"A key-exchange key is {sizes} bits."
    if ops is not None and ops != KEK_KEY_OPS:
        problems["key_ops"] = "A key-exchange key has exactly the import operation."
    if attrs.get("exportable"):
        problems["exportable"] = "A key-exchange key is never exportable."
    return problems


class KeyCreateParams(StrictSerializer):
    """A new key: its type with a size or curve, operations, dates, tags, optionally
    exportable under a release policy and rotated by a policy."""

    name = KeyNameField()
    kty = StrictChoiceField(KEY_TYPES, label="Key type")
    size = StrictChoiceField(
        (*RSA_SIZES, *AES_SIZES),
        required=False,
        label="Key size (bits)",
        help_text="RSA-HSM: 2048, 3072 or 4096; oct-HSM (AES): 128, 192 or 256.",
    )
    curve = StrictChoiceField(CURVES, required=False, label="Curve", help_text="EC-HSM only.")
    key_ops = KeyOpsField(help_text=f"Allowed per key type — {KEY_OPS_HELP}.")
    exportable = StrictBooleanField(
        required=False, default=False, label="Exportable (secure key release)"
    )
    release_policy = JsonObjectField(
        required=False,
        label="Release policy (JSON)",
        help_text='Exportable keys only: {"version": "1.0.0", "anyOf": [{"authority": '
        '"https://…", "allOf": [{"claim": "…", "equals": …}]}]}.',
    )
    not_before = TimestampField(required=False, label="Not before", help_text="UTC.")
    expires_on = TimestampField(future=True, required=False, label="Expires on", help_text="UTC.")
    tags = TagsField(required=False)
    rotation_policy = RotationPolicySerializer(
        required=False, label="Rotation policy", help_text="Automatic rotation of the new key."
    )
    rotation_class = RotationClassField(required=False)
    is_kek = StrictBooleanField(
        required=False,
        default=False,
        label="Key-exchange key (BYOK)",
        help_text=f"For importing keys wrapped on-premises: {KEK_KTY} "
        f"{' or '.join(map(str, KEK_SIZES))} with only the import operation.",
    )

    def validate(self, attrs):
        """Rules between fields; also run on the fields that passed when others did not."""
        kty, ops = attrs.get("kty"), attrs.get("key_ops")
        errors: dict = (
            dict(size_problems(kty, attrs.get("size"), attrs.get("curve"))) if kty else {}
        )
        wrong_ops = ops_problem(kty, ops) if kty and ops else None
        if wrong_ops:
            errors["key_ops"] = wrong_ops
        for name, problem in kek_problems(attrs).items():
            errors.setdefault(name, problem)
        exportable, policy = attrs.get("exportable"), attrs.get("release_policy")
        if exportable:
            policy_errors = (
                release_policy_errors(policy) if policy else {"": ["This field is required."]}
            )
            if policy_errors:
                errors["release_policy"] = nested_errors(policy_errors)
        elif exportable is False and policy is not None:
            errors["release_policy"] = "Only exportable keys have a release policy."
        not_before, expires_on = when(attrs.get("not_before")), when(attrs.get("expires_on"))
        if not_before and expires_on and expires_on <= not_before:
            errors["expires_on"] = "Must be after not_before."
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class KeyCreate(OperationSpec):
    operation = Operation.KEY_CREATE
    params = KeyCreateParams

    def validate(self, params: dict, *, team: Team) -> dict:
        problems = Problems()
        if team_may_use(problems, team, params.get("name")):
            name_is_free(problems, params["name"])
        rotation_class_exists(problems, params.get("rotation_class"))
        for where, authority in unapproved_authorities(params.get("release_policy")):
            problems.add(f"release_policy.{where}", unapproved_authority_message(authority))
        problems.raise_if_any()
        return params

    def warnings(self, params: dict) -> list[str]:
        return [
            f"Release policy {warning}"
            for warning in baseline_warnings(params.get("release_policy"))
        ]

    def plan(self, params: dict, *, request_id) -> list[HsmCall]:
        name = params["name"]
        calls = [
            HsmCall(
                "create_key",
                name,
                already_done=KeyMadeByRequest(name, request_id),
                **present(
                    kty=params["kty"],
                    size=params.get("size"),
                    curve=params.get("curve"),
                    key_ops=params["key_ops"],
                    exportable=params.get("exportable", False),
                    release_policy=params.get("release_policy"),
                    not_before=when(params.get("not_before")),
                    expires_on=when(params.get("expires_on")),
                    tags=key_tags(params, request_id),
                ),
            )
        ]
        policy = params.get("rotation_policy")
        if policy:
            calls.append(
                HsmCall(
                    "set_rotation_policy",
                    name,
                    lifetime_actions=lifetime_actions(policy),
                    expires_in=policy.get("expiry_time"),
                )
            )
        return calls

    def outcome(self, ctx, results) -> Outcome:
        key = replace(results[0], key_size=results[0].key_size or ctx.change.params.get("size"))
        policy = results[1].as_dict() if len(results) > 1 else None
        return Outcome(
            result={"key": key.name, "version": key.version, "kid": key.kid},
            hsm_request_ids=request_ids(key.request_id),
            record_inventory=lambda now: record_key_applied(
                key=key, now=now, rotation_policy=policy
            ),
        )
