"""Pascal VOC XML, one file per image.

Export writes ``Annotations/<path relative to images/ without extension>.xml``
with ``folder``, ``filename``, ``size`` (``depth`` 3: channels are not stored),
one ``object`` per accepted box, and a ``labeler_state`` element that other
readers ignore. ``bndbox`` holds ``xmin = x``, ``xmax = x + w`` (continuous,
0-based, as LabelImg and Label Studio write them), as integers when the box is
on whole pixels and with decimals otherwise, so a round trip loses nothing.

Every image gets an XML file; a confirmed-empty image gets one with no
``object``. Differences from Label Studio's converter, each deliberate: it
writes no file at all for an empty image; it truncates ``x``, ``y``, ``w``
and ``h`` to integers separately (so its ``xmax`` can be up to 2 px short);
it names files by file name only, so same-named images in different folders
collide.

Parse reads every ``*.xml`` under the given folder (or its ``Annotations/``).
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path, PurePosixPath
from typing import Any

from labeler.formats._files import write_files
from labeler.formats.records import BoxRecord, DatasetRecord, FormatError, ImageRecord, number

ANNOTATIONS_DIR = "Annotations"


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:.6f}".rstrip("0")


def _sub(parent: ET.Element, tag: str, text: object) -> ET.Element:
    el = ET.SubElement(parent, tag)
    el.text = str(text)
    return el


def to_xml(image: ImageRecord) -> str:
    path = PurePosixPath(image.path)
    root = ET.Element("annotation")
    _sub(root, "folder", path.parent.as_posix() if path.parent.parts else "images")
    _sub(root, "filename", path.name)
    _sub(root, "path", image.path)
    size = ET.SubElement(root, "size")
    for tag, value in (("width", image.width), ("height", image.height), ("depth", 3)):
        _sub(size, tag, value)
    _sub(root, "segmented", 0)
    _sub(root, "labeler_state", image.state or "")
    for b in image.accepted:
        obj = ET.SubElement(root, "object")
        for tag, value in (("name", b.label), ("pose", "Unspecified")):
            _sub(obj, tag, value)
        _sub(obj, "truncated", 0)
        _sub(obj, "difficult", 0)
        bnd = ET.SubElement(obj, "bndbox")
        for tag, value in (("xmin", b.x), ("ymin", b.y), ("xmax", b.x + b.w), ("ymax", b.y + b.h)):
            _sub(bnd, tag, _fmt(value))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def render(records: DatasetRecord) -> dict[str, str]:
    files: dict[str, str] = {}
    for image in records.images:
        rel = f"{ANNOTATIONS_DIR}/{PurePosixPath(image.path).with_suffix('')}.xml"
        if rel in files:
            raise ValueError(f"{image.path}: another image in its folder has the same stem ({rel})")
        files[rel] = to_xml(image)
    return files


def export(records: DatasetRecord, out_dir: str | os.PathLike, **opts: Any) -> list[Path]:
    """Write ``Annotations/*.xml`` into ``out_dir``."""
    return write_files(out_dir, render(records))


def _text(el: ET.Element, tag: str, file: Path, where: str) -> str:
    found = el.find(tag)
    if found is None or found.text is None or not found.text.strip():
        raise FormatError(file, f"{where}{tag}", "missing")
    return found.text.strip()


def parse_file(file: Path, rel_dir: str) -> ImageRecord:
    try:
        root = ET.parse(file).getroot()
    except ET.ParseError as exc:
        raise FormatError(file, "", f"not valid XML: {exc}") from None
    if root.tag != "annotation":
        raise FormatError(file, root.tag, "expected an <annotation> document")
    name = _text(root, "filename", file, "")
    rel = f"{rel_dir}/{name}" if rel_dir else name
    width = height = 0
    if root.find("size") is not None:
        width = int(number(_text(root, "size/width", file, ""), file, "size/width"))
        height = int(number(_text(root, "size/height", file, ""), file, "size/height"))
    boxes = []
    for i, obj in enumerate(root.iter("object")):
        where = f"object[{i}]/"
        label = _text(obj, "name", file, where)
        xmin, ymin, xmax, ymax = (
            number(_text(obj, f"bndbox/{k}", file, where), file, f"{where}bndbox/{k}")
            for k in ("xmin", "ymin", "xmax", "ymax")
        )
        boxes.append(BoxRecord(label, xmin, ymin, xmax - xmin, ymax - ymin))
    state_el = root.find("labeler_state")
    state = state_el.text.strip() if state_el is not None and state_el.text else None
    return ImageRecord(rel, width, height, state, tuple(boxes))


def parse(path: str | os.PathLike) -> DatasetRecord:
    """Read every ``*.xml`` under ``path`` (or under ``path/Annotations``)."""
    root = Path(path)
    if (root / ANNOTATIONS_DIR).is_dir():
        root = root / ANNOTATIONS_DIR
    if root.is_file():
        files, base = [root], root.parent
    elif root.is_dir():
        files, base = sorted(root.rglob("*.xml")), root
    else:
        raise FormatError(root, "", "no such file or folder")
    rel_dirs = [f.parent.relative_to(base).as_posix() for f in files]
    images = [parse_file(f, "" if d == "." else d) for f, d in zip(files, rel_dirs, strict=True)]
    labels = dict.fromkeys(b.label for img in images for b in img.boxes)
    return DatasetRecord(root.name, tuple(labels), tuple(images))
