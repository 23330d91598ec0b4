"""What an audit event is about: a model instance or an explicit `Target(type, id, name)`."""

from __future__ import annotations

from typing import Any, NamedTuple

TARGET_NAME_MAX_LENGTH = 255


class Target(NamedTuple):
    """The subject of an event; `type` reads `app_label.model_name`, e.g. `keys.managedkey`."""

    type: str
    id: str
    name: str

    @classmethod
    def of(cls, subject: Any) -> Target:
        """A Target for a saved model instance, or `subject` itself when it already is one.

        Raises ValueError for an unsaved instance (it has no id to point at)."""
        if isinstance(subject, Target):
            return subject
        meta = subject._meta
        if subject.pk is None:
            raise ValueError(f"cannot audit an unsaved {meta.label}: it has no primary key")
        return cls(
            type=f"{meta.app_label}.{meta.model_name}",
            id=str(subject.pk),
            name=str(subject)[:TARGET_NAME_MAX_LENGTH],
        )
