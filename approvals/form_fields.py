"""Form fields that turn browser input into request params: tags as `name=value` lines, JSON
text, date-times read as UTC, and a .byok upload as its text (size-limited)."""

from __future__ import annotations

import re

from django import forms
from django.core.exceptions import ValidationError
from django.utils.html import format_html, format_html_join

from approvals.operations.key_import import MAX_BYOK_BYTES
from core.uploads import TextUploadField

LOCAL_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?")


class TagsField(forms.CharField):
    """`name=value` lines → `{"name": "value"}`."""

    widget = forms.Textarea(attrs={"rows": 3})

    def to_python(self, value):
        tags = {}
        for number, line in enumerate((super().to_python(value) or "").splitlines(), start=1):
            if not line.strip():
                continue
            name, sep, text = line.partition("=")
            if not sep:
                raise ValidationError(f"Line {number}: write each tag as name=value.")
            tags[name.strip()] = text.strip()
        return tags or None

    def has_changed(self, initial, data):
        """Compared as tags, so a prefilled value sent back as it was is no change."""
        try:
            return self.to_python(initial) != self.to_python(data)
        except ValidationError:
            return True


class LinesField(forms.CharField):
    """One value per line (blank lines skipped) → a list; nothing typed → None."""

    widget = forms.Textarea(attrs={"rows": 5, "spellcheck": "false"})

    def to_python(self, value):
        lines = [line.strip() for line in (super().to_python(value) or "").splitlines()]
        return [line for line in lines if line] or None

    def prepare_value(self, value):
        return "\n".join(value) if isinstance(value, list) else value


class JsonTextField(forms.JSONField):
    """JSON typed into a textarea; nothing typed shows as nothing (not the text `null`)."""

    widget = forms.Textarea(attrs={"rows": 5, "spellcheck": "false"})

    def prepare_value(self, value):
        return "" if value is None else super().prepare_value(value)


class UtcDateTimeField(forms.CharField):
    """A browser's `datetime-local` value, read as UTC; other text goes to the service as is."""

    widget = forms.DateTimeInput(attrs={"type": "datetime-local"})

    def to_python(self, value):
        text = super().to_python(value)
        if LOCAL_DATETIME.fullmatch(text):
            text = f"{text}:00+00:00" if len(text) == 16 else f"{text}+00:00"
        return text or None

    def has_changed(self, initial, data):
        """Compared as read (UTC), so a prefilled value sent back as it was is no change."""
        return self.to_python(initial) != self.to_python(data)


class ByokFileField(TextUploadField):
    """The .byok transfer file's JSON text (at most 64 KiB)."""

    def __init__(self, **kwargs) -> None:
        hint = "Choose the .byok file your HSM tool wrote."
        super().__init__(max_bytes=MAX_BYOK_BYTES, kind="a BYOK file", hint=hint, **kwargs)


class DatalistInput(forms.TextInput):
    """A text input that suggests `options` (value, label) from a <datalist>: pick one, or
    type any value (the operation's validation decides)."""

    options: list[tuple[str, str]]

    def __init__(self, attrs=None):
        super().__init__({"autocomplete": "off", "spellcheck": "false", **(attrs or {})})
        self.options = []

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        list_id = f"{context['widget']['attrs'].get('id', name)}-options"
        context["widget"]["attrs"]["list"] = list_id
        context["list_id"] = list_id
        return context

    def render(self, name, value, attrs=None, renderer=None):
        context = self.get_context(name, value, attrs)
        options = format_html_join(
            "", '<option value="{}">{}</option>', ((v, label) for v, label in self.options)
        )
        datalist = format_html('<datalist id="{}">{}</datalist>', context["list_id"], options)
        return format_html("{}{}", self._render(self.template_name, context, renderer), datalist)


class KeyScopePicker(DatalistInput):
    """Suggests `/keys/<name>` for each live key of the requester's teams."""


class PrincipalPicker(DatalistInput):
    """Suggests the principals of the requester's teams' directories, by object id."""
