"""HSM calls as data: an operation's `plan` lists them, the preview renders them and
`run_plan`, the one executor, makes them — so what custodians approve is what runs.

Each call says how a repeated attempt tells that it already happened (`already_done`), since
a redelivered task re-enters through the claim and must never repeat work that landed."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from django.conf import settings

from keys.gateway import HsmConflict, HsmError, HsmGateway, HsmNotFound

REQUEST_TAG = "keywarden-request"  # set on keys Keywarden creates: finds its own work on retry


class _PendingRequestId:
    """Stands for the request id in a preview drawn before the request exists."""

    def __repr__(self) -> str:
        return "<this request's id>"


PENDING_REQUEST_ID = _PendingRequestId()


@dataclass
class ExecutionContext:
    """What a run needs: the request, the HSM, the attempt's checkpoint storage, and the
    heartbeat that keeps the attempt's lease (already installed on `gateway`)."""

    change: Any
    gateway: HsmGateway
    checkpoint: dict
    save_checkpoint: Callable[[dict], None]
    heartbeat: Callable[[], None] = lambda: None
    # A first attempt's opening read, made while the attempt was claimed: (method, args) → its
    # future (approvals.services.execute).
    early: dict[tuple[str, tuple], Future] = field(default_factory=dict)

    def acting_as(self, gateway: HsmGateway) -> ExecutionContext:
        """This run through another identity's gateway (the HSM administrator's, for a
        ceremony or a full backup), still beating the lease."""
        beating = gateway.with_heartbeat(self.heartbeat, every=settings.HEARTBEAT_SECONDS)
        return replace(self, gateway=beating)

    def read(self, method: str, args: tuple) -> Any:
        """`gateway.<method>(*args)`, answered once by the same read made early when there is
        one; if that one try failed, the call is made now (with the attempt's retries)."""
        early = self.early.pop((method, args), None)
        if early is not None:
            try:
                return early.result()
            except HsmError:
                pass  # made again below, where retries and the heartbeat apply
        return getattr(self.gateway, method)(*args)

    def remember(self, values: dict) -> None:
        """Store `values` in the checkpoint before an HSM call that a repeat must detect."""
        self.checkpoint.update(values)
        self.save_checkpoint(values)


# The gateway methods `AlreadyDone.look` may name: reads only. A dispatch message that names
# its request's opening read (approvals.dispatch) is read early only when it names one of these.
LOOKS = frozenset({"find_key", "get_key"})


class AlreadyDone:
    """How a call tells that an earlier attempt made it. `before` returns the call's result
    when it is done (None: make the call); `after_error` turns an HSM error into a result
    when the error means the work is done (None: the error stands)."""

    def before(self, ctx: ExecutionContext) -> Any | None:
        return None

    def look(self) -> tuple[str, tuple] | None:
        """The read-only gateway call (method, args) that `before` starts with on a first
        attempt, read through `ctx.read` so the worker may make it early; None: none. Its
        method is one of LOOKS."""
        return None

    def after_error(self, ctx: ExecutionContext, error: HsmError) -> Any | None:
        return None


@dataclass(frozen=True)
class KeyMadeByRequest(AlreadyDone):
    """Create/import: the key exists with our request tag → done; someone else's → conflict."""

    name: str
    request_id: Any

    def look(self):
        return "find_key", (self.name,)

    def before(self, ctx):
        existing = ctx.read(*self.look())
        if existing is None:
            return None
        if existing.tags.get(REQUEST_TAG) == str(self.request_id):
            return existing
        raise HsmConflict(
            f"A key named {self.name} already exists in the HSM; it was not made by this request.",
            code="Conflict",
            status=409,
        )


@dataclass(frozen=True)
class NewVersionSince(AlreadyDone):
    """Rotate is not idempotent: remember the version first; a repeat that finds another
    current version knows the rotation happened."""

    name: str

    def look(self):
        return "get_key", (self.name,)

    def before(self, ctx):
        before = ctx.checkpoint.get("version_before")
        if before is None:
            ctx.remember({"version_before": ctx.read(*self.look()).version})
            return None
        current = ctx.gateway.get_key(self.name)
        return current if current.version != before else None


@dataclass(frozen=True)
class KeyGone(AlreadyDone):
    """Delete: no live key means an earlier attempt deleted it (its deleted entry is the
    result; neither live nor deleted fails with HsmNotFound)."""

    name: str

    def look(self):
        return "find_key", (self.name,)

    def before(self, ctx):
        return ctx.gateway.get_deleted_key(self.name) if ctx.read(*self.look()) is None else None


@dataclass(frozen=True)
class KeyLive(AlreadyDone):
    """Recover: a live key means an earlier attempt recovered it."""

    name: str

    def look(self):
        return "find_key", (self.name,)

    def before(self, ctx):
        return ctx.read(*self.look())


@dataclass(frozen=True)
class PurgedBefore(AlreadyDone):
    """Purge: not found and not live again → an earlier attempt purged it."""

    name: str

    def after_error(self, ctx, error):
        if isinstance(error, HsmNotFound) and ctx.gateway.find_key(self.name) is None:
            return ""  # no request id: this attempt made no call that landed
        return None  # live again (recovered elsewhere): purging it would be wrong


@dataclass(frozen=True)
class AssignmentNamed(AlreadyDone):
    """Role assignment under a name derived from the request: a conflict that is our own
    assignment means an earlier attempt made it."""

    name: str

    def after_error(self, ctx, error):
        if not isinstance(error, HsmConflict):
            return None
        found = ctx.gateway.list_role_assignments(settings.HSM_ROLE_SCOPE)
        return next((a for a in found if a.name == self.name), None)


@dataclass(frozen=True, init=False)
class HsmCall:
    """One gateway method with its exact arguments, e.g.
    `HsmCall("rotate_key", "pay-x", already_done=NewVersionSince("pay-x"))`."""

    method: str
    args: tuple
    kwargs: dict = field(hash=False)
    already_done: AlreadyDone | None = field(compare=False)

    def __init__(self, method: str, *args, already_done: AlreadyDone | None = None, **kwargs):
        object.__setattr__(self, "method", method)
        object.__setattr__(self, "args", args)
        object.__setattr__(self, "kwargs", kwargs)
        object.__setattr__(self, "already_done", already_done)

    def render(self) -> str:
        """`rotate_key('pay-x')`: the call as the executor makes it."""
        return render_call(self.method, self.args, self.kwargs)


def render_call(method: str, args: tuple, kwargs: dict) -> str:
    parts = [show(a) for a in args] + [f"{k}={show(v)}" for k, v in kwargs.items()]
    return f"{method}({', '.join(parts)})"


def show(value: Any) -> str:
    """A value as a preview shows it: Python literals; dates, blobs and dataclasses legibly."""
    if isinstance(value, datetime):
        return f"datetime({value.isoformat()!r})"
    if isinstance(value, bytes):
        return f"<{len(value)} bytes, sha256 {hashlib.sha256(value).hexdigest()[:16]}…>"
    if isinstance(value, list | tuple):
        inner = ", ".join(show(v) for v in value)
        return f"[{inner}]" if isinstance(value, list) else f"({inner})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{show(k)}: {show(v)}" for k, v in value.items()) + "}"
    return repr(value)


def render_plan(calls: list[HsmCall]) -> str:
    return "; then ".join(call.render() for call in calls)


def run_plan(calls: list[HsmCall], ctx: ExecutionContext) -> list[Any]:
    """Make each call in order (skipping those an earlier attempt made); their results."""
    return [_run(call, ctx) for call in calls]


def _run(call: HsmCall, ctx: ExecutionContext) -> Any:
    done = call.already_done
    found = done.before(ctx) if done else None
    if found is not None:
        return found
    try:
        return getattr(ctx.gateway, call.method)(*call.args, **call.kwargs)
    except HsmError as error:
        found = done.after_error(ctx, error) if done else None
        if found is None:
            raise
        return found
