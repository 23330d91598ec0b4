"""What every operation shares: field-error collection, common param rules, the execution API.

Validation reads only the database (inventory mirror, open requests), never the HSM, so a
refused submission costs the HSM nothing. Errors are keyed `params.<field>`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from typing import Any, ClassVar

import isodate
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.models import Team
from core.errors import Invalid
from keys.gateway import HsmGateway
from keys.models import KeyState, ManagedKey

KEY_NAME_RE = re.compile(r"^[0-9a-zA-Z-]{1,127}$")
GUID_RE = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
DURATION_RE = re.compile(r"^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+S)?)?$")
KEY_TYPES = ("RSA-HSM", "EC-HSM", "oct-HSM")
RSA_SIZES, AES_SIZES = (2048, 3072, 4096), (128, 192, 256)
CURVES = ("P-256", "P-256K", "P-384", "P-521")
OPS_FOR_KTY = {
    "RSA-HSM": ("encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey", "import"),
    "EC-HSM": ("sign", "verify"),
    "oct-HSM": ("encrypt", "decrypt", "wrapKey", "unwrapKey"),
}
MAX_TAGS, MAX_TAG_NAME, MAX_TAG_VALUE = 15, 512, 256
REQUEST_TAG = "keywarden-request"  # set on keys Keywarden creates: finds its own work on retry


class FieldErrors:
    """Collects every problem before refusing, so the user fixes all fields in one go."""

    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}

    def add(self, name: str, message: str) -> None:
        self.errors.setdefault(f"params.{name}", []).append(message)

    def has(self, name: str) -> bool:
        return f"params.{name}" in self.errors

    def raise_if_any(self) -> None:
        if self.errors:
            raise Invalid(self.errors, "The request parameters are not valid.")


@dataclass
class Checked:
    """Reads and checks raw params, recording errors; values come back normalized."""

    raw: dict
    errors: FieldErrors = field(default_factory=FieldErrors)

    def unknown(self, allowed: tuple[str, ...]) -> None:
        for name in sorted(set(self.raw) - set(allowed)):
            self.errors.add(name, f"Unknown field. Allowed: {', '.join(allowed)}.")

    def required(self, name: str) -> Any:
        value = self.raw.get(name)
        if value is None or value == "" or value == []:
            self.errors.add(name, "This field is required.")
            return None
        return value

    def choice(self, name: str, choices, *, required: bool = True) -> Any:
        value = self.required(name) if required else self.raw.get(name)
        if value is not None and value not in choices:
            self.errors.add(name, f"Must be one of: {', '.join(map(str, choices))}.")
            return None
        return value

    def boolean(self, name: str, default: bool | None = None) -> bool | None:
        value = self.raw.get(name, default)
        if value is not None and not isinstance(value, bool):
            self.errors.add(name, "Must be true or false.")
            return default
        return value

    def key_name(self, team: Team, name: str = "name") -> str | None:
        value = self.required(name)
        if value is None:
            return None
        if not isinstance(value, str) or not KEY_NAME_RE.match(value):
            self.errors.add(name, "Key names are 1-127 letters, digits or dashes.")
            return None
        if not value.startswith(team.key_prefix):
            self.errors.add(name, f"Team {team.slug} may only use keys named {team.key_prefix}*.")
            return None
        return value

    def guid(self, name: str) -> str | None:
        value = self.required(name)
        if value is not None and (not isinstance(value, str) or not GUID_RE.match(value)):
            self.errors.add(name, "Must be an object id (GUID).")
            return None
        return value.lower() if value else None

    def key_ops(self, kty: str | None, name: str = "key_ops", *, required: bool = True):
        value = self.required(name) if required else self.raw.get(name)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(op, str) for op in value):
            self.errors.add(name, "Must be a list of operation names.")
            return None
        if len(set(value)) != len(value):
            self.errors.add(name, "Operations must not repeat.")
        allowed = OPS_FOR_KTY.get(kty or "", ())
        wrong = [op for op in value if op not in allowed]
        if kty and wrong:
            self.errors.add(
                name, f"{', '.join(wrong)} not allowed for {kty}; allowed: {', '.join(allowed)}."
            )
        if "import" in value and value != ["import"]:
            self.errors.add(name, "A key-exchange key has exactly the import operation.")
        return sorted(set(value))

    def timestamp(self, name: str, *, future: bool = False) -> str | None:
        value = self.raw.get(name)
        if value is None:
            return None
        parsed = parse_datetime(value) if isinstance(value, str) else None
        if parsed is None or parsed.tzinfo is None:
            self.errors.add(name, "Must be an ISO-8601 date-time with a time zone.")
            return None
        if future and parsed <= timezone.now():
            self.errors.add(name, "Must be in the future.")
        return parsed.astimezone(dt_timezone.utc).replace(microsecond=0).isoformat()

    def tags(self, name: str = "tags") -> dict | None:
        value = self.raw.get(name)
        if value is None:
            return None
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            self.errors.add(name, "Must be an object of text values.")
            return None
        if len(value) > MAX_TAGS:
            self.errors.add(name, f"At most {MAX_TAGS} tags.")
        if any(not k or len(k) > MAX_TAG_NAME or len(v) > MAX_TAG_VALUE for k, v in value.items()):
            self.errors.add(
                name, f"Tag names are 1-{MAX_TAG_NAME} characters, values at most {MAX_TAG_VALUE}."
            )
        if REQUEST_TAG in value:
            self.errors.add(name, f"The tag {REQUEST_TAG} is reserved for Keywarden.")
        return dict(sorted(value.items()))

    def duration(self, name: str, value: Any, *, minimum_days: int) -> timedelta | None:
        if not isinstance(value, str) or not DURATION_RE.match(value):
            self.errors.add(name, "Must be an ISO-8601 duration such as P90D, P3M or P1Y.")
            return None
        length = approximate(value)
        if length < timedelta(days=minimum_days):
            self.errors.add(name, f"Must be at least {minimum_days} days.")
        return length


def approximate(duration: str) -> timedelta:
    """A duration as a timedelta, counting a month as 30 days and a year as 365."""
    parsed = isodate.parse_duration(duration)
    if isinstance(parsed, isodate.Duration):
        return parsed.tdelta + timedelta(days=int(parsed.years) * 365 + int(parsed.months) * 30)
    return parsed


def live_key(checked: Checked, name: str | None, *, field_name: str = "name") -> ManagedKey | None:
    """The inventory row of a live key, or an error on `field_name`."""
    if name is None:
        return None
    key = ManagedKey.objects.filter(name=name).first()
    if key is None or key.state == KeyState.PURGED:
        checked.errors.add(field_name, f"No key named {name} in the HSM inventory.")
        return None
    if key.state != KeyState.ACTIVE:
        checked.errors.add(field_name, f"Key {name} is {key.state}; recover it first.")
        return None
    return key


@dataclass
class Outcome:
    """What an execution did: a JSON result, HSM request ids, and the inventory write to run
    in the same transaction that marks the request succeeded."""

    result: dict
    hsm_request_ids: list[str]
    record_inventory: Callable[[datetime], object] = lambda now: None


@dataclass
class ExecutionContext:
    """Handed to an operation's `execute`: the request, the HSM, and checkpoint storage."""

    change: Any
    gateway: HsmGateway
    checkpoint: dict
    save_checkpoint: Callable[[dict], None]


class OperationSpec:
    """One operation of PRODUCT.md §5. Subclasses define `fields`, `validate`, `execute`."""

    operation: ClassVar[str]
    fields: ClassVar[tuple[str, ...]]
    high_risk: ClassVar[bool] = False

    def validate(self, params: dict, *, team: Team) -> dict:
        raise NotImplementedError

    def key_name(self, params: dict) -> str:
        return params["name"]

    def preview(self, params: dict) -> str:
        """The HSM call exactly as the worker will make it."""
        raise NotImplementedError

    def execute(self, ctx: ExecutionContext) -> Outcome:
        raise NotImplementedError

    def check(self, params: Any) -> Checked:
        if not isinstance(params, dict):
            checked = Checked({})
            checked.errors.errors["params"] = ["Must be an object."]
            checked.errors.raise_if_any()
        checked = Checked(params)
        checked.unknown(self.fields)
        return checked


def call(name: str, *args, **kwargs) -> str:
    """`gateway.rotate_key('pay-x')`-style text for previews; None arguments are left out."""
    parts = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items() if v is not None]
    return f"{name}({', '.join(parts)})"


class NamedKeyOperation(OperationSpec):
    """An operation whose only parameter is a key of the team, which must be in
    `required_state` (live unless said otherwise)."""

    fields = ("name",)
    required_state: ClassVar[str] = KeyState.ACTIVE
    state_hint: ClassVar[str] = "Only a live key"

    def validate(self, params: dict, *, team: Team) -> dict:
        checked = self.check(params)
        name = checked.key_name(team)
        key = ManagedKey.objects.filter(name=name).first() if name else None
        if name and (key is None or key.state != self.required_state):
            found = "no such key" if key is None else f"it is {key.state}"
            checked.errors.add("name", f"{self.state_hint} ({name}: {found}).")
        checked.errors.raise_if_any()
        return {"name": name}
