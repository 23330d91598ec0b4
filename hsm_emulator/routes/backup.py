"""Full-HSM backup/restore (LROs) and settings routes.

A "storage container" is emulated by ``DIR/backups/<folder>``; the container URL the caller names
is only echoed back in ``azureStorageBlobContainerUri``. Backups restore into the same data dir
(same master key, like an HSM restoring with its own security domain).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from hsm_emulator.codec import full_match
from hsm_emulator.errors import ApiError, bad_parameter
from hsm_emulator.jobs import JobFailed
from hsm_emulator.storage_files import write_atomic
from hsm_emulator.wire import Request, Response

_FOLDER = re.compile(r"[0-9A-Za-z][0-9A-Za-z._-]{0,200}")  # matched in full
SNAPSHOT_FILE = "hsm.sqlite3"


def _sas_parameters(value: Any, field: str) -> str:
    if not isinstance(value, dict) or not isinstance(value.get("storageResourceUri"), str):
        raise bad_parameter(f"'{field}.storageResourceUri' (a blob container URL) is required.")
    if not value.get("token") and value.get("useManagedIdentity") is not True:
        raise bad_parameter("Either a SAS 'token' or 'useManagedIdentity': true is required.")
    return value["storageResourceUri"].rstrip("/")


def _folder_path(app: Any, folder: Any) -> Path:
    if not full_match(_FOLDER, folder) or ".." in folder:
        raise bad_parameter(f"Invalid backup folder name: {folder}")
    return app.config.data_dir / "backups" / folder


def _accepted(request: Request, kind: str, document: dict[str, Any]) -> Response:
    location = f"{request.base_url}/{kind}/{document['jobId']}/pending"
    return Response(202, document, {"Azure-AsyncOperation": location, "Retry-After": "1"})


def _new_folder(app: Any) -> Path:
    root = app.config.data_dir / "backups"
    root.mkdir(exist_ok=True)
    while True:
        stamp = app.clock.now_datetime().strftime("%Y%m%d%H%M%S%f")[:16]
        path = root / f"mhsm-{app.config.hsm_name}-{stamp}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue


def start_backup(app: Any, request: Request, params: dict[str, str]) -> Response:
    """POST /backup: snapshot the whole HSM into a new backup folder (202 + status URL)."""
    container = _sas_parameters(request.json(), "body")

    def work() -> dict[str, Any]:
        folder = _new_folder(app)
        app.store.admin.snapshot(folder / SNAPSHOT_FILE)
        manifest = {"folder": folder.name, "container": container}
        write_atomic(folder / "manifest.json", json.dumps(manifest).encode())
        return {"azureStorageBlobContainerUri": f"{container}/{folder.name}"}

    document = app.jobs.start("backup", work, extra={"azureStorageBlobContainerUri": None})
    return _accepted(request, "backup", document)


def pre_backup(app: Any, request: Request, params: dict[str, str]) -> Response:
    """POST /prebackup: the checks of a backup only; completes immediately."""
    _sas_parameters(request.json(), "body")
    document = app.jobs.start("backup", dict, extra={"azureStorageBlobContainerUri": None})
    return _accepted(request, "backup", document)


def _snapshot_of(folder: Path) -> Path:
    snapshot = folder / SNAPSHOT_FILE
    if not snapshot.is_file():
        raise JobFailed("FolderNotFound", f"The backup folder {folder.name} was not found.")
    return snapshot


def start_restore(app: Any, request: Request, params: dict[str, str]) -> Response:
    """PUT /restore: replace keys, roles and settings with a backup's (202 + status URL)."""
    body = request.json()
    _sas_parameters(body.get("sasTokenParameters"), "sasTokenParameters")
    folder = _folder_path(app, body.get("folderToRestore"))

    def work() -> dict[str, Any]:
        app.store.admin.restore_all(_snapshot_of(folder))
        app.store.keys.forget_loaded()
        return {}

    return _accepted(request, "restore", app.jobs.start("restore", work, extra={}))


def pre_restore(app: Any, request: Request, params: dict[str, str]) -> Response:
    """PUT /prerestore: check that the backup folder exists."""
    body = request.json()
    _sas_parameters(body.get("sasTokenParameters"), "sasTokenParameters")
    folder = _folder_path(app, body.get("folderToRestore"))

    def work() -> dict[str, Any]:
        _snapshot_of(folder)
        return {}

    return _accepted(request, "restore", app.jobs.start("restore", work, extra={}))


def selective_restore(app: Any, request: Request, params: dict[str, str]) -> Response:
    """PUT /keys/{name}/restore: restore one key (all versions) from a full backup."""
    body = request.json()
    _sas_parameters(body.get("sasTokenParameters"), "sasTokenParameters")
    folder = _folder_path(app, body.get("folder"))
    name = params["name"]

    def work() -> dict[str, Any]:
        if not app.store.admin.restore_key(_snapshot_of(folder), name):
            raise JobFailed("KeyNotFound", f"Key {name} is not in backup {folder.name}.")
        app.store.keys.forget_loaded()
        return {}

    return _accepted(request, "restore", app.jobs.start("restore", work, extra={}))


def backup_status(app: Any, request: Request, params: dict[str, str]) -> Response:
    """GET /backup/{jobId}/pending (api-version optional)."""
    return Response(200, app.jobs.status(params["job"], "backup"))


def restore_status(app: Any, request: Request, params: dict[str, str]) -> Response:
    """GET /restore/{jobId}/pending (api-version optional)."""
    return Response(200, app.jobs.status(params["job"], "restore"))


def _setting(name: str, value: str) -> dict[str, str]:
    return {"name": name, "value": value, "type": "boolean"}


def list_settings(app: Any, request: Request, params: dict[str, str]) -> Response:
    """GET /settings."""
    settings = app.store.admin.settings()
    return Response(200, {"settings": [_setting(k, v) for k, v in sorted(settings.items())]})


def _known_setting(app: Any, name: str) -> str:
    settings = app.store.admin.settings()
    if name not in settings:
        raise ApiError(404, "SettingNotFound", f"The setting {name} does not exist.")
    return settings[name]


def get_setting(app: Any, request: Request, params: dict[str, str]) -> Response:
    """GET /settings/{name}."""
    return Response(200, _setting(params["setting"], _known_setting(app, params["setting"])))


def update_setting(app: Any, request: Request, params: dict[str, str]) -> Response:
    """PATCH /settings/{name}: boolean settings take "true" or "false"."""
    name = params["setting"]
    _known_setting(app, name)
    value = request.json().get("value")
    if value not in ("true", "false"):
        raise bad_parameter(f"The value of setting {name} must be 'true' or 'false'.")
    app.store.admin.put_setting(name, value)
    return Response(200, _setting(name, value))
