"""Serializer fields for operation params: strict types (no "2048" for 2048, no "yes" for
true), full-match identifiers (`\\A…\\Z`, so "pay-orders\\n" is refused) and the normalized
forms the HSM calls use. Shape only: rules needing the database or a team live in the
operations' `validate`."""

from __future__ import annotations

from datetime import timezone as dt_timezone
from typing import Any

from django.core.validators import RegexValidator
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import SkipField, empty

from approvals.operations.plan import REQUEST_TAG
from core.durations import (
    DURATION_MESSAGE,
    DURATION_PATTERN,
    MAX_DURATION_DAYS,
    TOO_LONG_MESSAGE,
    approximate,  # noqa: F401 (the operations import it from here)
    approximate_days,
)
from core.identifiers import full_match
from keys.models import KEY_NAME_MAX_LENGTH, ROTATION_CLASS_MAX_LENGTH, ROTATION_CLASS_TAG
from keys.models import KEY_NAME_PATTERN as KEY_NAME

KEY_NAME_PATTERN = rf"\A{KEY_NAME}\Z"
GUID_PATTERN = r"\A[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z"
KEY_TYPES = ("RSA-HSM", "EC-HSM", "oct-HSM")
RSA_SIZES, AES_SIZES = (2048, 3072, 4096), (128, 192, 256)
CURVES = ("P-256", "P-256K", "P-384", "P-521")
OPS_FOR_KTY = {
    "RSA-HSM": ("encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey", "import"),
    "EC-HSM": ("sign", "verify"),
    "oct-HSM": ("encrypt", "decrypt", "wrapKey", "unwrapKey"),
}
ALL_KEY_OPS = tuple(dict.fromkeys(op for ops in OPS_FOR_KTY.values() for op in ops))
MAX_TAGS, MAX_TAG_NAME, MAX_TAG_VALUE = 15, 512, 256


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not declare, naming the ones it allows."""

    def to_internal_value(self, data):
        allowed = tuple(self.fields)
        unknown = {
            name: [f"Unknown field. Allowed: {', '.join(allowed)}."]
            for name in sorted(set(data) - set(allowed) if isinstance(data, dict) else ())
        }
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            raise serializers.ValidationError({**exc.detail, **unknown}) from None
        if unknown:
            raise serializers.ValidationError(unknown)
        return value


class StrictCharField(serializers.CharField):
    """Text only, as sent: numbers and booleans are refused, not turned into text, and
    surrounding whitespace is refused with the text, not trimmed."""

    def __init__(self, **kwargs):
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class PatternField(StrictCharField):
    """Text that must match `pattern` as a whole; the first failing check is the message."""

    pattern: str = ""
    message: str = ""

    def __init__(self, **kwargs):
        kwargs.setdefault("validators", [RegexValidator(self.pattern, self.message)])
        kwargs.setdefault("error_messages", {"invalid": self.message, "blank": self.message})
        max_length = kwargs.pop("max_length", None)
        super().__init__(**kwargs)
        self.max_length = max_length  # for forms; the pattern already bounds the length

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not full_match(self.pattern, value):  # before subclasses read the value
            self.fail("invalid")
        return value


class KeyNameField(PatternField):
    pattern = KEY_NAME_PATTERN
    message = f"Key names are 1-{KEY_NAME_MAX_LENGTH} letters, digits or dashes."

    def __init__(self, **kwargs):
        kwargs.setdefault("label", "Key name")
        kwargs.setdefault("help_text", "Starts with your team's key prefix.")
        super().__init__(max_length=KEY_NAME_MAX_LENGTH, **kwargs)


@extend_schema_field(OpenApiTypes.UUID)
class GuidField(PatternField):
    """An object id; normalized to lower case."""

    pattern, message = GUID_PATTERN, "Must be an object id (GUID)."

    def to_internal_value(self, data):
        return super().to_internal_value(data).lower()


class DurationField(PatternField):
    """An ISO-8601 duration kept as written (`P90D`), at least `minimum_days` long."""

    pattern = DURATION_PATTERN
    message = DURATION_MESSAGE

    def __init__(self, *, minimum_days: int, **kwargs):
        self.minimum_days = minimum_days
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        days = approximate_days(value)
        if days > MAX_DURATION_DAYS:
            raise serializers.ValidationError(TOO_LONG_MESSAGE)
        if days < self.minimum_days:
            raise serializers.ValidationError(f"Must be at least {self.minimum_days} days.")
        return value


class RotationClassField(PatternField):
    """A rotation class's slug (which classes exist is checked in the operation's `validate`)."""

    pattern = rf"\A[-a-zA-Z0-9_]{{1,{ROTATION_CLASS_MAX_LENGTH}}}\Z"
    message = f"A rotation class is 1-{ROTATION_CLASS_MAX_LENGTH} letters, digits, - or _."

    def __init__(self, **kwargs):
        kwargs.setdefault("label", "Rotation class")
        kwargs.setdefault(
            "help_text",
            "The rotation standard the key is held to (e.g. standard, active); "
            "empty: your team's default.",
        )
        super().__init__(max_length=ROTATION_CLASS_MAX_LENGTH, **kwargs)


class StrictChoiceField(serializers.ChoiceField):
    """One of `choices`, compared as given (2048, not "2048")."""

    def __init__(self, choices, **kwargs):
        kwargs.setdefault(
            "error_messages",
            {"invalid_choice": f"Must be one of: {', '.join(map(str, choices))}."},
        )
        super().__init__(choices, **kwargs)

    def to_internal_value(self, data):
        # Same type as well as equal: 2048.0 == 2048 and True == 1 in Python, not here.
        if not any(type(data) is type(choice) and data == choice for choice in self.choices):
            self.fail("invalid_choice", input=data)
        return data


class StrictBooleanField(serializers.BooleanField):
    """true or false, nothing that merely looks like one."""

    default_error_messages = {"invalid": "Must be true or false."}

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class KeyOpsField(serializers.ListField):
    """Distinct key operations, sorted; which ones a key type allows is checked where the
    key type is known."""

    default_error_messages = {
        "not_a_list": "Must be a list of operation names.",
        "unknown": "Unknown key operations: {ops}. Known: {known}.",
        "repeated": "Operations must not repeat.",
        "import": "A key-exchange key has exactly the import operation.",
    }

    def __init__(self, **kwargs):
        kwargs.setdefault("label", "Key operations")
        super().__init__(child=serializers.ChoiceField(choices=ALL_KEY_OPS), **kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, list) or not all(isinstance(op, str) for op in data):
            self.fail("not_a_list")
        if not data:
            self.fail("empty")
        unknown = [op for op in data if op not in ALL_KEY_OPS]
        if unknown:
            self.fail("unknown", ops=", ".join(unknown), known=", ".join(ALL_KEY_OPS))
        if len(set(data)) != len(data):
            self.fail("repeated")
        if "import" in data and data != ["import"]:
            self.fail("import")
        return sorted(set(data))


def ops_problem(kty: str, ops: list[str]) -> str | None:
    """Why `ops` do not suit a `kty` key, or None."""
    allowed = OPS_FOR_KTY.get(kty, ())
    wrong = [op for op in ops if op not in allowed]
    if wrong:
        return f"{', '.join(wrong)} not allowed for {kty}; allowed: {', '.join(allowed)}."
    return None


@extend_schema_field(OpenApiTypes.DATETIME)
class TimestampField(StrictCharField):
    """An ISO-8601 date-time with a time zone, normalized to UTC whole seconds (text)."""

    def __init__(self, *, future: bool = False, **kwargs):
        self.future = future
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        try:  # a well-formed but impossible date (2027-02-30) raises ValueError
            parsed = parse_datetime(data) if isinstance(data, str) else None
        except ValueError:
            raise serializers.ValidationError("Not a real date (e.g. February 30th).") from None
        if parsed is None or parsed.tzinfo is None:
            raise serializers.ValidationError("Must be an ISO-8601 date-time with a time zone.")
        try:
            utc = parsed.astimezone(dt_timezone.utc)
        except OverflowError:
            raise serializers.ValidationError("Must be a date-time before year 10000.") from None
        if self.future and utc <= timezone.now():
            raise serializers.ValidationError("Must be in the future.")
        return utc.replace(microsecond=0).isoformat()


class TagsField(serializers.DictField):
    """Text tags, sorted by name; the request tag is Keywarden's own."""

    def __init__(self, **kwargs):
        kwargs.setdefault("label", "Tags")
        kwargs.setdefault(
            "help_text",
            f"At most {MAX_TAGS}; names 1-{MAX_TAG_NAME} characters, values at most "
            f"{MAX_TAG_VALUE}; {REQUEST_TAG} and {ROTATION_CLASS_TAG} are reserved.",
        )
        super().__init__(child=serializers.CharField(), **kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in data.items()
        ):
            raise serializers.ValidationError("Must be an object of text values.")
        problems = []
        if len(data) > MAX_TAGS:
            problems.append(f"At most {MAX_TAGS} tags.")
        if any(not k or len(k) > MAX_TAG_NAME or len(v) > MAX_TAG_VALUE for k, v in data.items()):
            problems.append(
                f"Tag names are 1-{MAX_TAG_NAME} characters, values at most {MAX_TAG_VALUE}."
            )
        if REQUEST_TAG in data:
            problems.append(f"The tag {REQUEST_TAG} is reserved for Keywarden.")
        if ROTATION_CLASS_TAG in data:
            problems.append(f"The tag {ROTATION_CLASS_TAG} is set through rotation_class.")
        if problems:
            raise serializers.ValidationError(problems)
        return dict(sorted(data.items()))


@extend_schema_field(OpenApiTypes.OBJECT)
class JsonObjectField(serializers.Field):
    """Any JSON object; what it must contain is checked where it matters."""

    default_error_messages = {"invalid": "Must be a JSON object."}

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            self.fail("invalid")
        return data

    def to_representation(self, value):
        return value


def nested_errors(errors: dict[str, list[str]]) -> dict[str, list[str]]:
    """`{subpath: messages}` ("" for the value itself) as a ValidationError detail."""
    return {(key or "non_field_errors"): messages for key, messages in errors.items()}


def flatten(errors: Any, path: str) -> dict[str, list[str]]:
    """DRF's nested errors as `{"params.a.0.b": [messages]}`; `non_field_errors` stays on
    its parent's path."""
    if isinstance(errors, dict):
        flat: dict[str, list[str]] = {}
        for key, value in errors.items():
            where = path if key == "non_field_errors" else f"{path}.{key}"
            for name, messages in flatten(value, where).items():
                flat.setdefault(name, []).extend(messages)
        return flat
    if isinstance(errors, list) and any(isinstance(item, dict | list) for item in errors):
        flat = {}
        for index, item in enumerate(errors):
            flat.update(flatten(item, f"{path}.{index}") if item else {})
        return flat
    messages = errors if isinstance(errors, list) else [errors]
    return {path: [str(message) for message in messages]}


def read_shape(serializer_class, raw: Any) -> tuple[dict, dict[str, list[str]]]:
    """`(values, errors)`: every value when the shape is right. Otherwise the errors (keyed
    `params.<field>`), with the cross-field rules run on the fields that passed, and those
    fields' values, so the database rules can still report on them in the same answer."""
    if not isinstance(raw, dict):
        return {}, {"params": ["Must be an object."]}
    serializer = serializer_class(data=raw)
    if serializer.is_valid():
        return dict(serializer.validated_data), {}
    errors = flatten(serializer.errors, "params")
    values = _passed_fields(serializer, raw)
    if not _validate_ran(serializer, raw):  # a field failed: the rules between fields still apply
        serializer.context["incomplete"] = True
        try:
            serializer.validate(dict(values))
        except serializers.ValidationError as exc:
            failed = {key.split(".")[1] for key in errors if key.count(".")}
            for key, messages in flatten(exc.detail, "params").items():
                if key.split(".")[1] not in failed:
                    errors.setdefault(key, []).extend(messages)
    return values, errors


def _validate_ran(serializer, raw: dict) -> bool:
    """Whether DRF got as far as `validate()` (it does only when every field passed)."""
    try:
        serializer.to_internal_value(raw)
    except serializers.ValidationError:
        return False
    return True


def _passed_fields(serializer, raw: dict) -> dict:
    values = {}
    for name, field in serializer.fields.items():
        if name in serializer.errors:
            continue
        if name not in raw:
            if field.default is not empty:
                values[field.source] = field.get_default()
            continue
        try:
            values[field.source] = field.run_validation(field.get_value(raw))
        except (serializers.ValidationError, SkipField):
            continue
    return values
