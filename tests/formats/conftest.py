"""Fixtures of the formats tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def ls_convert(tmp_path):
    """``ls_convert(records, fmt) -> Path``: our Label Studio export of ``records`` run
    through label-studio-sdk's own ``Converter`` (``coco``, ``yolo`` or ``voc``); returns
    the converter's output folder."""
    from label_studio_sdk.converter import Converter

    from labeler.formats import labelstudio

    def convert(records, fmt):
        src = tmp_path / "ls-export"
        labelstudio.export(records, src)
        out = tmp_path / f"ls-{fmt}"
        conv = Converter(config=str(src / labelstudio.CONFIG_FILE), project_dir=str(tmp_path),
                         download_resources=False)  # fmt: skip
        getattr(conv, f"convert_to_{fmt}")(str(src / labelstudio.TASKS_FILE), str(out),
                                           is_dir=False)  # fmt: skip
        return out

    return convert
