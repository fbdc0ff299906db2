"""Push a dataset to a Label Studio server through label-studio-sdk 2.x.

The project (found by exact title, else created) gets our labeling config;
each image becomes one task built by
:func:`labeler.formats.labelstudio.task_for` (annotation from accepted boxes,
predictions from undecided proposals). Tasks carry ``data.labeler_path``:
pushing again imports the new tasks first and then deletes the project's
earlier tasks with the same ``labeler_path``, so a failed push leaves the old
tasks in place and a repeated push never duplicates. Work done *in* Label
Studio on replaced tasks is deleted with them: import it first
(``labeler import labelstudio EXPORT.json``). See ``docs/labelstudio.md``.

Images are reached by URL: ``image_url_prefix`` + ``<image id>/file`` (e.g.
``http://HOST:PORT/api/v1/images/`` served by ``labeler serve``), or by
default Label Studio's local-files storage
(``/data/local-files/?d=datasets/NAME/images/<path>``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labeler.formats.labelstudio import default_prefix, label_config, task_for
from labeler.formats.records import DatasetRecord

BATCH = 500  # tasks per import request (Label Studio caps one request at 200 MB)


class PushError(RuntimeError):
    """Label Studio refused or could not be reached; the message says which step."""


@dataclass(frozen=True)
class PushResult:
    project_id: int
    title: str
    created: int
    deleted: int


def local_files_prefix(images_dir: Path, document_root: Path) -> str:
    """``/data/local-files/?d=<images_dir relative to Label Studio's document root>/``."""
    try:
        rel = Path(images_dir).resolve().relative_to(Path(document_root).resolve())
    except ValueError:
        raise PushError(
            f"{images_dir} is not under Label Studio's LOCAL_FILES_DOCUMENT_ROOT {document_root}"
        ) from None
    return f"/data/local-files/?d={rel.as_posix()}/"


def build_tasks(
    records: DatasetRecord, *, image_url_prefix: str | None = None, local_prefix: str | None = None
) -> list[dict]:
    """The tasks to push: ``image_url_prefix + "<id>/file"``, else local-files URLs."""
    tasks = []
    for image in records.images:
        if image_url_prefix is None:
            task = task_for(image, image_prefix=local_prefix or default_prefix(records.name))
        else:
            task = task_for(image, image_prefix="")
            task["data"]["image"] = f"{image_url_prefix}{image.image_id}/file"
        tasks.append(task)
    return tasks


def _step(what: str, call, *args: Any, **kwargs: Any) -> Any:
    try:
        return call(*args, **kwargs)
    except Exception as exc:  # the SDK raises ApiError, httpx errors, pydantic errors...
        detail = getattr(exc, "body", None) or exc
        raise PushError(f"Label Studio: {what} failed: {detail}") from exc


def find_or_create_project(ls, title: str, config: str, description: str) -> int:
    for project in _step("listing projects", lambda: list(ls.projects.list(title=title))):
        if project.title == title:
            _step(f"updating project {title!r}", ls.projects.update, project.id,
                  label_config=config)  # fmt: skip
            return project.id
    created = _step(
        f"creating project {title!r}",
        ls.projects.create,
        title=title,
        label_config=config,
        description=description,
    )
    return created.id


def existing_tasks(ls, project_id: int) -> dict[str, list[int]]:
    """``labeler_path`` -> task ids already in the project (tasks from elsewhere are left alone)."""
    out: dict[str, list[int]] = {}
    pager = _step("listing tasks", ls.tasks.list, project=project_id, fields="task_only")
    for task in _step("listing tasks", list, pager):
        path = (task.data or {}).get("labeler_path")
        if path is not None:
            out.setdefault(path, []).append(task.id)
    return out


def connect(url: str, token: str, *, timeout: float = 120.0):
    """A ``LabelStudio`` client and the ``httpx.Client`` under it (close it when done)."""
    import httpx
    from label_studio_sdk import LabelStudio

    http = httpx.Client(timeout=timeout, follow_redirects=True)
    return LabelStudio(base_url=url.rstrip("/"), api_key=token, httpx_client=http), http


def ensure_local_storage(ls, project_id: int, images_dir: Path) -> None:
    """A local-files storage on ``images_dir``: Label Studio serves only files under one.

    It is never synced (our tasks are imported directly), it only grants access.
    """
    path = str(Path(images_dir).resolve())
    storages = _step("listing local storages", ls.import_storage.local.list, project=project_id)
    if not any(st.path and Path(st.path) == Path(path) for st in storages):
        try:
            _step(f"adding local storage {path}", ls.import_storage.local.create,
                  project=project_id, path=path, title="Labeler images",
                  use_blob_urls=True)  # fmt: skip
        except PushError as exc:
            raise PushError(
                f"{exc} (Label Studio must run where {path} exists, with"
                " LOCAL_FILES_SERVING_ENABLED=true and LOCAL_FILES_DOCUMENT_ROOT above it;"
                " otherwise serve the images with `labeler serve` and --image-url-prefix)"
            ) from exc


def push(
    records: DatasetRecord,
    *,
    url: str,
    token: str,
    title: str,
    image_url_prefix: str | None = None,
    images_dir: Path | None = None,
    document_root: Path | None = None,
) -> PushResult:
    """Create or update project ``title`` on ``url`` with ``records``' tasks; see module doc.

    Parameters
    ----------
    image_url_prefix : str, optional
        Images at ``image_url_prefix + "<image id>/file"`` (e.g. ``labeler serve``).
    images_dir, document_root : Path, optional
        Otherwise, through Label Studio's local files: the dataset's ``images/`` folder and
        the server's ``LOCAL_FILES_DOCUMENT_ROOT`` (the same machine or mounts); a
        local-files storage on ``images_dir`` is added to the project.
    """
    local_prefix = None
    if image_url_prefix is None and images_dir is not None:
        local_prefix = local_files_prefix(images_dir, document_root or Path(images_dir).parents[2])
    ls, http = connect(url, token)
    with http:
        config = label_config(records.labels, dict(records.colours))
        description = f"Labeler dataset {records.name} (pushed by labeler push-labelstudio)"
        project_id = find_or_create_project(ls, title, config, description)
        if local_prefix is not None:
            ensure_local_storage(ls, project_id, images_dir)
        old = existing_tasks(ls, project_id)
        tasks = build_tasks(records, image_url_prefix=image_url_prefix, local_prefix=local_prefix)
        for start in range(0, len(tasks), BATCH):
            batch = tasks[start : start + BATCH]
            _step("importing tasks", ls.projects.import_tasks, project_id, request=batch)
        stale = [tid for t in tasks for tid in old.get(t["data"]["labeler_path"], [])]
        for start in range(0, len(stale), BATCH):
            _step(
                "deleting replaced tasks",
                ls.actions.create,
                id="delete_tasks",
                project=project_id,
                selected_items={"all": False, "included": stale[start : start + BATCH]},
            )
    return PushResult(project_id, title, len(tasks), len(stale))


__all__ = ["PushError", "PushResult", "build_tasks", "connect", "push"]
