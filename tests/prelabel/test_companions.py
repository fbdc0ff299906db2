"""Find similar's companions: the image's own accepted boxes of other sizes beside the drawn one."""

from __future__ import annotations

import pytest

from labeler.prelabel.interactive import ExemplarSpec, image_companions
from labeler.store import Box, Dataset, Image
from labeler.store.queries import ensure_labels

DRAWN = (100.0, 100.0, 40.0, 40.0)


@pytest.fixture
def image(sessions):
    """An image holding accepted RBC boxes of several sizes (and one too small to match),
    a rejected one and a WBC one."""
    with sessions.begin() as s:
        ds = Dataset(name="cells")
        s.add(ds)
        lab = {lb.name: lb for lb in ensure_labels(s, ds, ["RBC", "WBC"])}
        img = Image(dataset=ds, path="datasets/cells/images/0.png", sha256="0" * 64,
                    width=640, height=480, format="png")  # fmt: skip
        sizes = [(41, 40), (20, 20), (90, 90), (40, 60), (21, 20), (2, 2)]
        for i, (w, h) in enumerate(sizes):  # near-copies of the drawn size and of 20x20
            s.add(Box(image=img, label=lab["RBC"], x=10 + 90 * i, y=300, w=w, h=h,
                      status="accepted"))  # fmt: skip
        s.add(Box(image=img, label=lab["RBC"], x=5, y=5, w=120, h=120, status="rejected"))
        s.add(Box(image=img, label=lab["WBC"], x=300, y=5, w=150, h=150, status="accepted"))
        s.flush()
        return img.id


@pytest.mark.parametrize(
    ("k", "sizes"),
    [
        (0, []),
        (1, [(20, 20)]),
        (2, [(20, 20), (90, 90)]),
        (3, [(20, 20), (41, 40), (90, 90)]),  # smallest, middle, largest by area
        (9, [(20, 20), (21, 20), (41, 40), (40, 60), (90, 90)]),  # all there are
    ],
)
def test_companions_spread_over_the_labels_sizes(sessions, image, k, sizes):
    with sessions() as s:
        img = s.get(Image, image)
        got = image_companions(s, img, [ExemplarSpec(img.id, DRAWN, "RBC")], k=k)
    assert [sp.box[2:] for sp in got] == sizes
    assert {sp.label for sp in got} <= {"RBC"} and all(sp.image_id == image for sp in got)
