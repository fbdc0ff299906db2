"""Appearance gate for candidate windows: the colours of their darkest and lightest parts.

The edge score (:mod:`labeler.matching.ncc`) ignores colour and brightness,
so the outline of a small dark blob (a platelet) also fits thousands of
pieces of paler objects' outlines (red-cell rims) and scores there as high
as on real blobs. What tells them apart is colour: the darkest part of a
platelet window is purple stain, of a red-cell piece a pink rim; the
lightest part of a platelet window is plasma, of a piece of a white cell's
nucleus the cell's cytoplasm. So each candidate (a local maximum of the edge
score, a few hundred per image) is re-scored on the colour planes of its
pyramid level, window by window, far cheaper than a dense colour correlation.

For the darkest and the lightest :data:`PART` of a window's pixels, the
mean colour's *chroma* (the colour minus its grey level, so a brighter or
darker image does not count) is compared with the template's, in units of
the template's RMS colour spread (a contrast unit, comparable across
labels). A window more saturated than the template in its dark part is
capped to the template's saturation first: stain taken more strongly is
still the same stain (the one white-cell exemplar of the demo is paler than
most white cells). Each distance goes through a Gaussian gate, 1 up to a
free distance and falling after it; the final score is
``edge score * dark gate * light gate``: never above the edge score, in
[0, 1], with the same constants for every label. Grey images have no
chroma: both gates are then 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

PART = 0.2
# (free distance, width) of the dark and light gates, chosen on the demo
# protocol and 60 benchmark images (see BENCHMARKS.md, "Matching").
DARK_GATE = (0.6, 0.2)
LIGHT_GATE = (0.2, 0.2)


@dataclass(frozen=True, eq=False)
class ColourTemplate:
    """Chroma ``(C,)`` of a template's darkest and lightest parts and the RMS
    colour deviation ``spread`` of its exemplar pixels (8-bit levels)."""

    dark: np.ndarray
    light: np.ndarray
    spread: float


def colour_template(crops: list[np.ndarray]) -> ColourTemplate:
    """From the level-sized colour crops ``(h, w, C)`` of one template group."""
    stack = np.stack([c.astype(np.float64) for c in crops])
    spread = float(np.sqrt(((stack - stack.mean(axis=(0, 1, 2))) ** 2).sum(axis=3).mean()))
    raw = stack.mean(axis=0).reshape(1, -1, stack.shape[3]).astype(np.float32)
    channels = [np.ascontiguousarray(raw[:, :, i]) for i in range(raw.shape[2])]
    dark, light = _parts(channels, _grey(channels))
    return ColourTemplate(dark[0], light[0], max(spread, 1.0))


def gate(dark: np.ndarray, light: np.ndarray) -> np.ndarray:
    """Score factor in [0, 1] from the dark and light chroma distances."""
    out = np.ones_like(dark)
    for dist, (free, width) in ((dark, DARK_GATE), (light, LIGHT_GATE)):
        excess = np.maximum(dist - free, 0.0) / width
        out *= np.exp(-0.5 * excess * excess)
    return out


class ColourLevel:
    """Colour planes of one pyramid level; windows may hang off it (their in-image pixels
    count).

    Parameters
    ----------
    planes : numpy.ndarray, shape (H, W, C), float32
    """

    def __init__(self, planes: np.ndarray, pad: tuple[int, int] = (0, 0)) -> None:
        self.shape = planes.shape[:2]
        # The channels and their grey sum stacked, ``(C + 1, H + 2 py, W + 2 px)``, with
        # ``pad`` (rows, columns) of edge pixels repeated on each side (how far windows hang
        # off): the windows of every plane are one strided view, copied at once for all
        # windows and planes (gathering by flat pixel indices spent most of its time building
        # the index arrays: 40 ms for 2,000 30 x 30 windows; one gather per plane, a quarter
        # more than this).
        # Unpadded: views of ``planes`` and the grey sum, padded straight into the stack
        # (stacking them first copied a level once more and kept that copy alive).
        channels = [planes[:, :, i] for i in range(planes.shape[2])]
        self._core = [*channels, _grey(channels)]
        self._pad = (-1, -1)
        self._padded(tuple(int(v) for v in pad))

    def _padded(self, need: tuple[int, int]) -> np.ndarray:
        """The planes with at least ``need`` (rows, columns) of padding (grown if a window
        hangs further off than the level was made for)."""
        if need[0] > self._pad[0] or need[1] > self._pad[1]:
            py, px = max(need[0], self._pad[0], 0), max(need[1], self._pad[1], 0)
            (h, w), core = self.shape, self._core
            stack = np.empty((len(core), h + 2 * py, w + 2 * px), core[0].dtype)
            for i, plane in enumerate(core):
                # Off-image pixels are +inf grey: they sort last and are never among the
                # darkest; the channels repeat the edge (np.pad's "edge", ten times slower).
                last = i == len(core) - 1
                border, value = (cv2.BORDER_CONSTANT, np.inf) if last else (cv2.BORDER_REPLICATE, 0)
                cv2.copyMakeBorder(plane, py, py, px, px, border, dst=stack[i], value=value)
            self._stack, self._pad = stack, (py, px)
        return self._stack

    def distances(
        self, tpl: ColourTemplate, size: tuple[int, int], rows: np.ndarray, cols: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Dark and light chroma distances ``(N,)`` of the ``size`` = (h, w)
        windows whose top-left corners are at level ``rows``/``cols`` (image
        coordinates, may be negative); only in-image pixels count."""
        h, w = size
        height, width = self.shape
        n = len(rows)
        if not n:
            return np.zeros(0), np.zeros(0)
        r, c = rows.astype(np.int64), cols.astype(np.int64)
        need = (
            max(0, -int(r.min()), int(r.max()) + h - height),
            max(0, -int(c.min()), int(c.max()) + w - width),
        )
        # Off-image pixels read the nearest edge pixel (the padding), with grey +inf.
        stack = self._padded(need)
        py, px = self._pad
        # (N, C + 1, h, w) in one gather, planes outermost in each window, so every plane's
        # window is a contiguous row: numpy's products sum strided rows in another order.
        view = sliding_window_view(stack, (h, w), axis=(1, 2)).transpose(1, 2, 0, 3, 4)
        gathered = view[r + py, c + px]
        windows = [gathered[:, i].reshape(n, h * w) for i in range(len(stack))]
        return _chroma_distances(tpl, *_parts(windows[:-1], windows[-1], off_image=need != (0, 0)))


def _chroma_distances(
    tpl: ColourTemplate, dark: np.ndarray, light: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Distances ``(N,)`` of the dark and light part chroma ``(N, C)`` from ``tpl``'s, in
    its spread; a dark part more saturated than the template's is capped to it first."""
    sat = np.sqrt((dark * dark).sum(axis=1, keepdims=True))
    cap = float(np.sqrt(tpl.dark @ tpl.dark))
    dark = dark * np.minimum(1.0, cap / np.maximum(sat, 1e-9))
    return (
        np.sqrt(((dark - tpl.dark) ** 2).sum(axis=1)) / tpl.spread,
        np.sqrt(((light - tpl.light) ** 2).sum(axis=1)) / tpl.spread,
    )


def _grey(channels: list[np.ndarray]) -> np.ndarray:
    """The sum of the colour ``channels`` (any one shape), in channel order."""
    grey = channels[0].copy()
    for ch in channels[1:]:
        grey += ch
    return grey


def _parts(
    channels: list[np.ndarray], grey: np.ndarray, *, off_image: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Chroma ``(N, C)`` of the mean colour of the darkest and of the lightest
    :data:`PART` of the in-image pixels of each window: ``channels`` are C arrays
    ``(N, P)`` of its P pixels, ``grey`` their sum, +inf at pixels off the image (there
    are some only if ``off_image``).

    The parts are cut at the k-th grey value, so ties there may add a pixel or two.
    """
    rows = np.arange(len(grey))
    valid = grey < np.inf if off_image else None
    count = np.full(len(grey), grey.shape[1]) if valid is None else valid.sum(axis=1)
    k = np.maximum((count * PART).astype(np.int64), 1)
    ranked = np.sort(grey, axis=1)  # (a partition measured slower)
    dark = grey <= ranked[rows, k - 1][:, None]  # never +inf: the k-th is in the image
    light = grey >= ranked[rows, np.maximum(count - k, 0)][:, None]
    if valid is not None:
        light &= valid
        if not count.all():  # a window wholly off the image: its k-th grey is +inf too
            dark &= valid
    out = []
    for sel in (dark, light):
        weights = sel.astype(np.float32)[:, None, :]  # summing by matrix products: fastest
        total = np.column_stack([(weights @ ch[:, :, None])[:, 0, 0] for ch in channels])
        colour = total.astype(np.float64) / np.maximum(weights.sum(axis=2), 1.0)
        out.append(colour - colour.mean(axis=1, keepdims=True))
    return out[0], out[1]


class WindowColours:
    """The chroma distances of correlation peaks, measured when asked for (selection asks
    best edge score first and stops once the candidates kept are settled).

    ``windows[t]`` is ``(ColourLevel, ColourTemplate, (h, w))`` of bank template ``t``;
    ``tidx``, ``rows``, ``cols`` ``(N,)`` are each peak's template and the level position
    of its window's top-left corner.
    """

    def __init__(self, windows: dict, tidx: np.ndarray, rows: np.ndarray, cols: np.ndarray):
        self.windows, self.tidx, self.rows, self.cols = windows, tidx, rows, cols

    def __call__(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Dark and light distances ``(K,)`` of the peaks ``idx`` ``(K,)``."""
        dark, light = np.empty(len(idx)), np.empty(len(idx))
        which = self.tidx[idx]
        for t in np.unique(which):
            at = np.flatnonzero(which == t)
            level, tpl, size = self.windows[int(t)]
            dark[at], light[at] = level.distances(tpl, size, self.rows[idx[at]], self.cols[idx[at]])
        return dark, light
