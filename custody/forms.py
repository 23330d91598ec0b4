"""The recovery rehearsal form: the holders' restore blob and the security domain file
(uploads, size-limited), the shares the blob used, and the signature made before the drill."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from core.errors import Invalid
from core.uploads import TextUploadField
from custody.drills import proof_from
from custody.models import MAX_HOLDERS

# A restore blob or security domain file of up to 10 shares is a few tens of KiB.
MAX_UPLOAD_BYTES = 256 * 1024


class RehearsalForm(forms.Form):
    restore_blob = TextUploadField(
        max_bytes=MAX_UPLOAD_BYTES,
        kind="a restore blob",
        hint="Choose the restore blob the holders made for the scratch HSM's transfer key.",
        label="Restore blob",
    )
    security_domain = TextUploadField(
        max_bytes=MAX_UPLOAD_BYTES,
        kind="a security domain file",
        hint="Choose the file the download ceremony wrote.",
        label="Security domain file",
    )
    shares_used = forms.IntegerField(
        min_value=1, max_value=MAX_HOLDERS, label="Shares the blob was made with"
    )
    proof_key = forms.CharField(max_length=127, label="Proof key (signed before the drill)")
    proof_version = forms.CharField(max_length=64, label="Its version")
    algorithm = forms.ChoiceField(
        choices=[(name, name) for name in ("RS256", "PS256", "ES256", "ES384")], initial="RS256"
    )
    digest = forms.CharField(max_length=256, label="Signed digest (hex)")
    signature = forms.CharField(max_length=2048, label="Signature (base64)")

    def clean(self):
        data = super().clean()
        fields = ("proof_key", "proof_version", "algorithm", "digest", "signature")
        if all(name in data for name in fields):
            try:
                data["proof"] = proof_from(*(data[name] for name in fields))
            except Invalid as error:
                raise ValidationError(error.message) from None
        return data
