"""A form field for an uploaded text file (a BYOK file, a restore blob): its UTF-8 text, at
most `max_bytes`, or a field error that says what the file should have been."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError


class TextUploadField(forms.FileField):
    """The uploaded file's text. `kind` names it in errors ("a BYOK file"), `hint` says which
    file to choose."""

    def __init__(self, *, max_bytes: int, kind: str, hint: str = "", **kwargs) -> None:
        super().__init__(**kwargs)
        self.max_bytes, self.kind, self.hint = max_bytes, kind, hint

    def clean(self, data, initial=None):
        upload = super().clean(data, initial)
        if not upload:
            return None
        if upload.size > self.max_bytes:
            raise ValidationError(
                f"The file is {upload.size // 1024} KiB; {self.kind} is at most "
                f"{self.max_bytes // 1024} KiB. {self.hint}".rstrip()
            )
        try:
            return upload.read().decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationError(
                f"{self.kind[0].upper()}{self.kind[1:]} is JSON text; this file is not."
            ) from None
