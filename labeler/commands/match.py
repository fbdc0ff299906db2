"""``labeler match``: propose boxes in images from a few exemplar boxes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click

from labeler.formats.labelstudio_result import ls_prediction_task
from labeler.imageio import ImageReadError, read_image

DEFAULT_LABEL = "object"
_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_SPEC = re.compile(rf"^(?P<image>.+?):(?P<box>{_NUM},{_NUM},{_NUM},{_NUM})(?::(?P<label>.+))?$")


def parse_exemplar_spec(spec: str) -> tuple[Path, tuple[float, float, float, float], str]:
    """``IMAGE:x,y,w,h[:label]`` -> (path, box, label); raises ``click.BadParameter``."""
    m = _SPEC.match(spec.strip())
    if not m:
        raise click.BadParameter(
            f"{spec!r} is not IMAGE:x,y,w,h[:label] (pixels, top-left origin)",
            param_hint="--exemplar",
        )
    box = tuple(float(v) for v in m["box"].split(","))
    label = (m["label"] or DEFAULT_LABEL).strip() or DEFAULT_LABEL
    return Path(m["image"]), box, label  # type: ignore[return-value]


@click.command("match")
@click.argument("targets", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--exemplar",
    "-e",
    "exemplars",
    multiple=True,
    required=True,
    metavar="IMAGE:x,y,w,h[:label]",
    help="An example box (pixels, top-left origin); repeat for more. Label defaults to "
    f"'{DEFAULT_LABEL}'.",
)
@click.option(
    "--min-score",
    type=click.FloatRange(0.0, 1.0),
    default=0.5,
    show_default=True,
    help="Drop proposals scoring below this (0-1).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "labelstudio"]),
    default="json",
    show_default=True,
    help="json: pixel boxes; labelstudio: a list of importable Label Studio tasks.",
)
@click.option(
    "--image-prefix",
    default="",
    help="labelstudio: prepended to each target path in data.image (e.g. /data/local-files/?d=).",
)
def match(
    targets: tuple[Path, ...],
    exemplars: tuple[str, ...],
    min_score: float,
    fmt: str,
    image_prefix: str,
) -> None:
    """Propose boxes like the exemplars in each TARGET image.

    Prints one JSON document on stdout. Exemplar boxes drawn on a target are
    not proposed again there. Unreadable targets get a one-line error on
    stderr, the others are still processed, and the exit status is 1.
    """
    from labeler.matching import MATCHER_VERSION, Exemplar, Matcher

    images: dict[Path, object] = {}
    exs, ex_boxes = [], []
    for spec in exemplars:
        path, box, label = parse_exemplar_spec(spec)
        try:
            if path not in images:
                images[path] = read_image(path)
            exs.append(Exemplar(images[path], box, label))
        except ValueError as exc:  # ImageReadError included
            raise click.BadParameter(f"{spec}: {exc}", param_hint="--exemplar") from None
        ex_boxes.append((path.resolve(), box))
    try:
        matcher = Matcher(exs, min_score=min_score)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None

    out, failed = [], 0
    for target in targets:
        try:
            img = read_image(target)
            exclude = [b for p, b in ex_boxes if p == target.resolve()]
            props = matcher.match(img, exclude=exclude)
        except (ImageReadError, ValueError) as exc:
            msg = str(exc) if isinstance(exc, ImageReadError) else f"{target}: {exc}"
            click.echo(f"error: {msg}", err=True)
            failed += 1
            continue
        height, width = img.shape[:2]
        if fmt == "labelstudio":
            out.append(ls_prediction_task(f"{image_prefix}{target}", width, height, props))
        else:
            out.append(
                {
                    "image": str(target),
                    "width": width,
                    "height": height,
                    "model_version": MATCHER_VERSION,
                    "params": matcher.params,
                    "proposals": [
                        {"box": list(p.box), "label": p.label, "score": p.score} for p in props
                    ],
                }
            )
    click.echo(json.dumps(out, indent=1))
    if failed:
        raise SystemExit(1)
