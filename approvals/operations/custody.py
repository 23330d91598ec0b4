"""The security-domain custody operations (issue 18): changes to the custody register, applied
by the worker to the database alone (no HSM call), and the download ceremony that activates a
new HSM through the gateway. All of them are asked for by the CUSTODY_TEAM's members and hold
one request "key", so register changes happen one after the other."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import ClassVar

from django.conf import settings
from django.utils import timezone
from rest_framework import serializers

from accounts.models import Team, User
from approvals.models import Operation
from approvals.operations.base import OperationSpec, Outcome, Problems, request_ids
from approvals.operations.fields import (
    PatternField,
    StrictCharField,
    StrictChoiceField,
    StrictSerializer,
)
from approvals.operations.plan import ExecutionContext, HsmCall, run_plan
from audit.context import AuditContext
from core.errors import Invalid
from custody import rules, services
from custody.certificates import read_certificate
from custody.models import PERSON_MAX_LENGTH, SITE_MAX_LENGTH, TokenType
from custody.selectors import active_holder, active_holders, register_of
from keys.gateway import get_ceremony_gateway

# What a custody request's `key_name` reads: not a valid key name, so no key can share it.
REGISTER_KEY_NAME = "(security domain)"
THUMBPRINT_PATTERN = r"\A[A-Za-z0-9_-]{43}\Z"
MAX_WITNESSES = 10


class ThumbprintField(PatternField):
    pattern = THUMBPRINT_PATTERN
    message = "A certificate's SHA-256 thumbprint as the register shows it (43 base64url chars)."


class PemField(StrictCharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("label", "Certificate (PEM)")
        kwargs.setdefault("help_text", "The holder's certificate: -----BEGIN CERTIFICATE----- …")
        super().__init__(max_length=20_000, **kwargs)


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer only (no "3", no true)."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class AddHolderParams(StrictSerializer):
    person = StrictCharField(max_length=PERSON_MAX_LENGTH, label="Person")
    user = StrictCharField(
        required=False, max_length=150, label="Portal user", help_text="Their username, if any."
    )
    token_type = StrictChoiceField(TokenType.values, label="Token type")
    site = StrictCharField(max_length=SITE_MAX_LENGTH, label="Site")
    certificate_pem = PemField()


class HolderParams(StrictSerializer):
    thumbprint = ThumbprintField(label="Certificate thumbprint")


class ReplaceCertificateParams(StrictSerializer):
    thumbprint = ThumbprintField(label="Current certificate thumbprint")
    certificate_pem = PemField(label="New certificate (PEM)")


class QuorumParams(StrictSerializer):
    quorum = StrictIntegerField(label="Quorum (M)", min_value=1, max_value=10)


class WitnessesField(serializers.ListField):
    """The people who witness a ceremony, by name."""

    def __init__(self, **kwargs):
        super().__init__(
            child=StrictCharField(max_length=PERSON_MAX_LENGTH),
            max_length=MAX_WITNESSES,
            required=False,
            label="Witnesses",
            **kwargs,
        )


class DownloadParams(StrictSerializer):
    witnesses = WitnessesField()


def custody_team_only(problems: Problems, team: Team) -> None:
    if team.slug != settings.CUSTODY_TEAM:
        problems.add(
            "team",
            f"Custody changes are asked for by team {settings.CUSTODY_TEAM}, not {team.slug}.",
        )


def raise_problems(problems: Problems) -> None:
    """Problems keyed `params.team` are the team's, not a param's: name them as such."""
    if "params.team" in problems:
        problems["team"] = problems.pop("params.team")
    if problems:
        raise Invalid(dict(problems), "The request parameters are not valid.")


def _certificate(problems: Problems, pem: str | None, field: str):
    if not pem:
        return None
    try:
        return read_certificate(pem, field=f"params.{field}", now=timezone.now())
    except Invalid as invalid:
        for messages in invalid.errors.values():
            for message in messages:
                problems.add(field, message)
        return None


def _holder(problems: Problems, thumbprint: str | None):
    if not thumbprint:
        return None
    holder = active_holder(thumbprint)
    if holder is None:
        problems.add("thumbprint", f"No holder in the register has certificate {thumbprint}.")
    return holder


class RegisterChange(OperationSpec):
    """A change to the register: no HSM call; the worker applies it to the database in the
    transaction that marks the request succeeded (`apply`, a custody service, audits it)."""

    high_risk = True
    apply: ClassVar = None

    def key_name(self, params: dict) -> str:
        return REGISTER_KEY_NAME

    def plan(self, params: dict, *, request_id) -> list[HsmCall]:
        return []

    def preview(self, params: dict, *, request_id=None) -> str:
        return f"No HSM call: the custody register records {self.describe(params)}."

    def describe(self, params: dict) -> str:
        raise NotImplementedError

    def execute(self, ctx: ExecutionContext) -> Outcome:
        change, apply = ctx.change, type(self).apply
        audit = AuditContext.worker(task_id="")
        return Outcome(
            result={"register": self.describe(change.params)},
            hsm_request_ids=[],
            record_inventory=lambda now: apply(
                params=change.params, request_id=change.pk, now=now, ctx=audit
            ),
        )


class CustodyAddHolder(RegisterChange):
    operation = Operation.CUSTODY_ADD_HOLDER
    params = AddHolderParams
    apply = staticmethod(services.add_holder)

    def validate(self, params: dict, *, team: Team) -> dict:
        problems = Problems()
        custody_team_only(problems, team)
        facts = _certificate(problems, params.get("certificate_pem"), "certificate_pem")
        username = params.get("user")
        if username and not User.objects.filter(username=username, is_active=True).exists():
            problems.add("user", f"No active portal user {username}.")
        register = register_of()
        holders = active_holders(register)
        if facts and holders.filter(thumbprint=facts.thumbprint).exists():
            problems.add("certificate_pem", "This certificate is already a holder's.")
        problem = rules.holder_count_problem(holders.count() + 1)
        if problem:
            problems.add("person", problem)
        raise_problems(problems)
        if facts is None:  # the shape was wrong: check() reports it
            return params
        return {
            "person": params["person"],
            "user": username or None,
            "token_type": params["token_type"],
            "site": params["site"],
            "certificate_pem": facts.pem,
            "thumbprint": facts.thumbprint,
            "certificate_expires_at": facts.expires_at.isoformat(),
        }

    def describe(self, params: dict) -> str:
        return (
            f"holder {params['person']} at {params['site']} ({params['token_type']}), "
            f"certificate {params['thumbprint']} valid until {params['certificate_expires_at']}"
        )


class CustodyRemoveHolder(RegisterChange):
    operation = Operation.CUSTODY_REMOVE_HOLDER
    params = HolderParams
    apply = staticmethod(services.remove_holder)

    def validate(self, params: dict, *, team: Team) -> dict:
        problems = Problems()
        custody_team_only(problems, team)
        holder = _holder(problems, params.get("thumbprint"))
        register = register_of()
        if holder is not None:
            problem = rules.quorum_problem(register.quorum, active_holders(register).count() - 1)
            if problem:
                problems.add("thumbprint", f"Removing {holder.person} is refused: {problem}")
        raise_problems(problems)
        if holder is None:
            return params
        return {"thumbprint": holder.thumbprint, "person": holder.person}

    def describe(self, params: dict) -> str:
        return f"holder {params['person']} (certificate {params['thumbprint']}) removed"


class CustodyReplaceCertificate(RegisterChange):
    operation = Operation.CUSTODY_REPLACE_CERTIFICATE
    params = ReplaceCertificateParams
    apply = staticmethod(services.replace_certificate)

    def validate(self, params: dict, *, team: Team) -> dict:
        problems = Problems()
        custody_team_only(problems, team)
        holder = _holder(problems, params.get("thumbprint"))
        facts = _certificate(problems, params.get("certificate_pem"), "certificate_pem")
        if facts and active_holder(facts.thumbprint) is not None:
            problems.add("certificate_pem", "This certificate is already a holder's.")
        raise_problems(problems)
        if holder is None or facts is None:
            return params
        return {
            "thumbprint": holder.thumbprint,
            "person": holder.person,
            "certificate_pem": facts.pem,
            "new_thumbprint": facts.thumbprint,
            "certificate_expires_at": facts.expires_at.isoformat(),
        }

    def describe(self, params: dict) -> str:
        return (
            f"a new certificate {params['new_thumbprint']} for {params['person']} (was "
            f"{params['thumbprint']}), valid until {params['certificate_expires_at']}"
        )


class CustodySetQuorum(RegisterChange):
    operation = Operation.CUSTODY_SET_QUORUM
    params = QuorumParams
    apply = staticmethod(services.set_quorum)

    def validate(self, params: dict, *, team: Team) -> dict:
        problems = Problems()
        custody_team_only(problems, team)
        quorum = params.get("quorum")
        problem = quorum and rules.quorum_problem(quorum, active_holders(register_of()).count())
        if problem:
            problems.add("quorum", problem)
        raise_problems(problems)
        return {"quorum": quorum}

    def describe(self, params: dict) -> str:
        return f"a quorum of {params['quorum']}"


class SecurityDomainDownload(OperationSpec):
    """Activate a new HSM: download its security domain wrapped to the register's holders,
    with the register's quorum; the file goes to CUSTODY_SECURITY_DOMAIN_DIR for the
    holders' process, and the register keeps only its SHA-256."""

    operation = Operation.HSM_SECURITY_DOMAIN_DOWNLOAD
    params = DownloadParams
    high_risk = True

    def key_name(self, params: dict) -> str:
        return REGISTER_KEY_NAME

    def validate(self, params: dict, *, team: Team) -> dict:
        problems = Problems()
        custody_team_only(problems, team)
        register = register_of()
        holders = list(active_holders(register))
        for problem in rules.activation_problems(register, holders, now=timezone.now()):
            problems.add("certificates", problem)
        folder = settings.CUSTODY_SECURITY_DOMAIN_DIR
        if not folder or not Path(folder).is_dir():
            problems.add(
                "certificates",
                "Set CUSTODY_SECURITY_DOMAIN_DIR to an existing directory: the security domain "
                "file is written there for the holders, never kept by Keywarden.",
            )
        raise_problems(problems)
        return {
            "witnesses": list(params.get("witnesses") or []),
            "quorum": register.quorum,
            "certificates": [
                {"person": h.person, "thumbprint": h.thumbprint, "pem": h.certificate_pem}
                for h in holders
            ],
        }

    def plan(self, params: dict, *, request_id) -> list[HsmCall]:
        ders = [_der(certificate["pem"]) for certificate in params["certificates"]]
        return [HsmCall("download_security_domain", certificates=ders, quorum=params["quorum"])]

    def execute(self, ctx: ExecutionContext) -> Outcome:
        # The ceremony acts as the HSM's administrator, not as Keywarden's own role.
        ceremony = ctx.acting_as(get_ceremony_gateway())
        calls = self.plan(ctx.change.params, request_id=ctx.change.pk)
        return self.outcome(ctx, run_plan(calls, ceremony))

    def outcome(self, ctx, results) -> Outcome:
        change, file = ctx.change, results[0]
        name = f"security-domain-{change.pk}.json"
        _write_private(Path(settings.CUSTODY_SECURITY_DOMAIN_DIR) / name, file.value)
        audit = AuditContext.worker(task_id="")
        return Outcome(
            result={
                "file_sha256": file.sha256,
                "file_name": name,
                "quorum": change.params["quorum"],
            },
            hsm_request_ids=request_ids(file.request_id),
            record_inventory=lambda now: services.record_activation(
                request_id=change.pk,
                file_sha256=file.sha256,
                file_name=name,
                witnesses=change.params["witnesses"],
                now=now,
                ctx=audit,
            ),
        )


def _der(pem: str) -> bytes:
    body = "".join(line for line in pem.strip().splitlines() if "-----" not in line)
    return base64.b64decode(body)


def _write_private(path: Path, text: str) -> None:
    """Write the file readable by its owner only; a repeat replaces it whole."""
    partial = path.with_suffix(".part")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    partial.replace(path)
