"""Who acts, from where: built once at the edge (view, task, job) and handed to services."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.client_ip import client_ip

if TYPE_CHECKING:
    from accounts.models import User

USER_AGENT_MAX_LENGTH = 512


@dataclass(frozen=True)
class AuditContext:
    """The actor of an event (a user, a named system component, or nobody) and its origin.

    `AuditContext()` is an anonymous actor with no origin (e.g. a failed sign-in without a request).
    `task_id` is the Celery task id for workers and the job name for scheduled jobs.
    """

    actor: User | None = None
    system_label: str | None = None
    ip: str = ""
    user_agent: str = ""
    request_id: str = ""
    task_id: str = ""

    def __post_init__(self) -> None:
        if self.actor is not None and not self.actor.is_authenticated:
            raise ValueError("an audit actor is a signed-in user; use AuditContext() for anonymous")
        if self.actor is not None and self.system_label is not None:
            raise ValueError("an audit context has a user actor or a system label, not both")
        if self.system_label is not None and not self.system_label.strip():
            raise ValueError("a system actor needs a non-empty label")

    @property
    def actor_type(self) -> str:
        """`user`, `system` or `anonymous`."""
        if self.actor is not None:
            return "user"
        return "system" if self.system_label is not None else "anonymous"

    @property
    def actor_label(self) -> str:
        """Username, system label, or `anonymous`: a snapshot that survives renames."""
        if self.actor is not None:
            return self.actor.get_username()
        return self.system_label if self.system_label is not None else "anonymous"

    def record(
        self,
        action: str,
        *,
        target: Any,
        team: Any = None,
        before: Any = None,
        after: Any = None,
    ) -> object:
        """`audit.services.record_event` with this context (`core.events.EventRecorder`)."""
        from audit.services import record_event  # services import this module

        return record_event(self, action, target=target, team=team, before=before, after=after)

    @classmethod
    def from_request(cls, request: Any, *, actor: User | None = None) -> AuditContext:
        """From a Django or DRF request: its signed-in user (or `actor`), client IP, user agent
        and X-Request-ID. The IP is `core.client_ip`: REMOTE_ADDR unless that is a trusted proxy."""
        if actor is None:
            user = getattr(request, "user", None)
            actor = user if user is not None and user.is_authenticated else None
        meta = request.META
        return cls(
            actor=actor,
            ip=client_ip(request),
            user_agent=meta.get("HTTP_USER_AGENT", "")[:USER_AGENT_MAX_LENGTH],
            request_id=getattr(request, "request_id", ""),
        )

    @classmethod
    def worker(cls, *, task_id: str) -> AuditContext:
        """A Celery worker executing the task `task_id`."""
        return cls(system_label="worker", task_id=task_id or "")

    @classmethod
    def scheduler(cls, *, job: str) -> AuditContext:
        """A periodic job run by the scheduler (beat), e.g. `approvals.expire_pending_requests`."""
        return cls(system_label="scheduler", task_id=job)

    @classmethod
    def system(cls, label: str) -> AuditContext:
        """Another non-human actor, e.g. `system` for a management command or a migration."""
        return cls(system_label=label)
