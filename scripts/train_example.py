#!/usr/bin/env python3
"""How training code reads a pinned dataset version (``NAME@vN``) with DVC alone.

No Labeler import: all this needs is ``pip install dvc`` (plus the DVC remote's extra,
e.g. ``dvc[s3]``) and read access to the workspace's git repository and its DVC remote::

    python scripts/train_example.py --repo https://git.example.org/lab/cells.git \\
        --dataset parts --rev parts@v3 [--out DIR]

``--repo`` is a git URL or a local path of the Labeler workspace. The labels come from
``datasets/NAME/labels/coco.json`` as of the tag, every image from the same revision, and
each image's sha256 is checked against the version's ``manifest.json``: the same bytes,
years later. ``--out DIR`` also writes the images and coco.json there.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections import Counter
from pathlib import Path

import dvc.api


def load_version(repo: str, dataset: str, rev: str, out: Path | None = None) -> dict:
    """Read COCO labels and every image of ``dataset`` at ``rev``; return a small summary."""
    prefix = f"datasets/{dataset}"
    with dvc.api.open(f"{prefix}/labels/coco.json", repo=repo, rev=rev, encoding="utf-8") as fh:
        coco = json.load(fh)
    # One filesystem for the rest: dvc.api.open on a git URL clones the repository per call.
    fs = dvc.api.DVCFileSystem(repo, rev=rev)
    with fs.open(f"{prefix}/labels/manifest.json", mode="r", encoding="utf-8") as fh:
        expected = json.load(fh)["sha256"]
    for image in coco["images"]:
        rel = f"images/{image['file_name']}"
        with fs.open(f"{prefix}/{rel}", mode="rb") as fh:
            data = fh.read()  # a real loader would decode it here (cv2.imdecode, PIL, ...)
        if hashlib.sha256(data).hexdigest() != expected[rel]:
            raise SystemExit(f"{rel} at {rev} does not match its manifest checksum")
        if out is not None:
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            (out / rel).write_bytes(data)
    if out is not None:
        (out / "coco.json").write_text(json.dumps(coco), encoding="utf-8")
    names = {c["id"]: c["name"] for c in coco["categories"]}
    per_label = Counter(names[a["category_id"]] for a in coco["annotations"])
    return {"rev": rev, "images": len(coco["images"]), "boxes": dict(sorted(per_label.items()))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repo", required=True, help="git URL or path of the workspace")
    parser.add_argument("--dataset", required=True, help="dataset name, e.g. parts")
    parser.add_argument("--rev", required=True, help="version tag, e.g. parts@v3")
    parser.add_argument("--out", type=Path, default=None, help="also write the files here")
    args = parser.parse_args()
    print(json.dumps(load_version(args.repo, args.dataset, args.rev, args.out), indent=1))


if __name__ == "__main__":
    main()
