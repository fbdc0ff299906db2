"""Normalised correlation maps, computed the fast way.

``cv2.matchTemplate(..., TM_CCOEFF_NORMED)`` spends most of its time in a
serial per-window normalisation, and its multi-channel path is about 20x
slower than one call per plane. So the score here is ``TM_CCORR`` of each
plane with a zero-mean, unit-norm template, summed over planes, times a
``1 / window norm`` map from one integral image of the summed squares:

    score(x, y) = <T, W(x, y)> / (|T| |W(x, y)|)

the cosine between the template and the window (T zero-mean per plane).
The planes are gradient fields (:func:`labeler.matching.preprocess.features`),
which have no DC level to remove, so this is NCC without the per-window
mean term, in [-1, 1], and comparable across templates and scales.

Arrays are ``(rows, cols)``; a map value at ``[r, c]`` is the score of the
window whose top-left corner is at column c, row r (shifted by the overhang
when windows may hang off the image).
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

from labeler.matching.preprocess import VAR_FLOOR

MAX_CACHED_SIZES = 32  # level sizes whose overhang norms a ``band_norms`` cache keeps


def unit_template(planes: np.ndarray) -> np.ndarray:
    """Zero-mean (per plane), unit-norm (over all planes) copy of a template.

    Parameters
    ----------
    planes : numpy.ndarray, shape (h, w, C), float32

    Returns
    -------
    numpy.ndarray, shape (h, w, C), float32, C-contiguous per plane.
        All zeros if the template is flat.
    """
    t = planes.astype(np.float64)
    t = t - t.mean(axis=(0, 1), keepdims=True)
    norm = float(np.sqrt((t * t).sum()))
    if norm == 0.0:
        return np.zeros_like(planes, dtype=np.float32)
    return (t / norm).astype(np.float32)


class Level:
    """One image at one resolution, zero-padded, ready for :meth:`ncc`.

    Parameters
    ----------
    planes : numpy.ndarray, shape (H, W, C), float32
        Feature planes (:func:`labeler.matching.preprocess.features`).
    factor : float
        How many original pixels one pixel of this level spans (1 = full size).
    pad : (int, int)
        Rows and columns of zeros on each side: how far a template may hang
        off the image edge (objects cut by the border are still objects).
    """

    def __init__(self, planes: np.ndarray, factor: float, pad: tuple[int, int] = (0, 0)) -> None:
        self.factor = float(factor)
        self.size = planes.shape[:2]
        self.pad = py, px = (int(pad[0]), int(pad[1]))
        self.channels = planes.shape[2]
        self.planes = [
            cv2.copyMakeBorder(
                np.ascontiguousarray(planes[:, :, c]), py, py, px, px, cv2.BORDER_CONSTANT, value=0
            )
            for c in range(self.channels)
        ]
        energy = self.planes[0] * self.planes[0]
        for p in self.planes[1:]:
            energy += p * p
        # Zero padding contributes nothing, so window sums are over in-image pixels.
        self._plane_energy = energy

    @functools.cached_property
    def _energy(self) -> np.ndarray:
        """Integral image of the energy, ``(H + 1, W + 1)`` float64 (refinement's sums)."""
        return cv2.integral(self._plane_energy, sdepth=cv2.CV_64F)

    def ncc(
        self,
        template: np.ndarray,
        overhang: tuple[int, int] = (0, 0),
        integrals: np.ndarray | None = None,
        *,
        band_norms: dict | None = None,
    ) -> np.ndarray:
        """Score map of a :func:`unit_template` over this level.

        Parameters
        ----------
        template : numpy.ndarray, shape (h, w, C), float32
        overhang : (int, int)
            Rows/columns a window may extend past each image edge (at most
            ``pad``). Such windows are scored on their in-image part only,
            so an object cut by the border still scores high.
        integrals : numpy.ndarray, optional
            ``template_integrals(template)``, cached by the caller.
        band_norms : dict, optional
            The caller's cache for this one template: the visible-part norms of the
            overhang bands depend only on the template and the level's size, so images of
            one size share them (computing them took a tenth of the matching time).

        Returns
        -------
        numpy.ndarray, shape (H - h + 1 + 2 * oy, W - w + 1 + 2 * ox), float32
            Values in [-1, 1]; ``[r, c]`` is the window whose top-left corner
            is at image row ``r - oy``, column ``c - ox``. 0 for flat windows.
        """
        h, w, _ = template.shape
        oy, ox = overhang
        height, width = self.size
        y0, x0 = self.pad[0] - oy, self.pad[1] - ox
        ys, xs = slice(y0, y0 + height + 2 * oy), slice(x0, x0 + width + 2 * ox)
        acc = None
        for c, plane in enumerate(self.planes):
            t = np.ascontiguousarray(template[:, :, c])
            r = cv2.matchTemplate(plane[ys, xs], t, cv2.TM_CCORR)
            acc = r if acc is None else cv2.add(acc, r)
        ny, nx = acc.shape
        # Every window's energy by a running box sum (double accumulators): a tenth of the
        # time of differencing a float64 integral image on a large level.
        src = self._plane_energy[y0 : y0 + ny + h - 1, x0 : x0 + nx + w - 1]
        energy = cv2.boxFilter(
            src, cv2.CV_32F, (w, h), anchor=(0, 0), normalize=False, borderType=cv2.BORDER_CONSTANT
        )[:ny, :nx]
        floor = np.float32(VAR_FLOOR * h * w * self.channels)
        flat = energy <= floor
        energy[flat] = 1.0
        # In place: on a large level each temporary map costs as much as the arithmetic.
        out = np.divide(acc, np.sqrt(energy, out=energy), out=acc)
        out[flat] = 0.0
        if oy or ox:
            # Windows hanging off an edge (a band oy rows / ox columns wide):
            # divide by the norm of the template's visible part too.
            key = (self.size, (oy, ox), (ny, nx))
            bands = None if band_norms is None else band_norms.get(key)
            if bands is None:
                t_sq = integrals if integrals is not None else template_integrals(template)
                bands = _band_norms(t_sq, (oy, ox), (ny, nx), self.size)
                if band_norms is not None:
                    if len(band_norms) >= MAX_CACHED_SIZES:  # many image sizes: start afresh
                        band_norms.clear()
                    band_norms[key] = bands
            for (rs, cs), norm in bands:
                out[rs, cs] /= norm
        return np.clip(out, -1.0, 1.0, out=out)


def template_integrals(template: np.ndarray) -> np.ndarray:
    """Sum of squares over planes of a ``(h, w, C)`` template, ``(h, w)`` float64:
    what :meth:`Level.ncc` needs for windows that hang off the image."""
    t64 = template.astype(np.float64)
    return (t64 * t64).sum(axis=2)


def _band_norms(
    t_sq: np.ndarray, overhang: tuple[int, int], shape: tuple[int, int], size
) -> list[tuple[tuple[slice, slice], np.ndarray]]:
    """The four overhang bands of a score map of ``shape`` = (ny, nx) (rows, then the
    columns between them) as ``((row slice, column slice), norm)``, ``norm`` the
    :func:`_visible_norm` of the band's windows ``(rows, cols)`` float32; empty bands left out."""
    (oy, ox), (ny, nx) = overhang, shape
    inner = (oy, max(ny - oy, oy))
    bands = []
    for (r0, r1), (c0, c1) in (
        ((0, min(oy, ny)), (0, nx)),
        ((max(ny - oy, oy), ny), (0, nx)),
        (inner, (0, min(ox, nx))),
        (inner, (max(nx - ox, ox), nx)),
    ):
        if r1 > r0 and c1 > c0:
            rows, cols = np.arange(r0, r1), np.arange(c0, c1)
            norm = _visible_norm(t_sq, rows - oy, cols - ox, size)
            bands.append(((slice(r0, r1), slice(c0, c1)), norm))
    return bands


def _visible_norm(t_sq: np.ndarray, y: np.ndarray, x: np.ndarray, size) -> np.ndarray:
    """Norm of the part of a unit template inside the image, for windows at rows
    ``y`` and columns ``x`` (top-left corners, may be negative), ``(len(y), len(x))``.

    The visible part is a sub-rectangle whose row range depends on the row
    only and column range on the column only, so its energy is
    ``rows_visible @ t_sq @ cols_visible.T``.
    """
    h, w = t_sq.shape
    height, width = size
    r, c = np.arange(h), np.arange(w)
    rows_vis = ((r >= -y[:, None]) & (r < height - y[:, None])).astype(np.float64)
    cols_vis = ((c >= -x[:, None]) & (c < width - x[:, None])).astype(np.float64)
    vis = rows_vis @ t_sq @ cols_vis.T
    # A window seeing < 5% of the template energy is not evidence of anything.
    return np.sqrt(np.maximum(vis, 0.05)).astype(np.float32)


def local_peaks(
    score: np.ndarray, threshold: float, radius: tuple[int, int] = (1, 1)
) -> np.ndarray:
    """Flat indices of local maxima of ``score`` that are ``>= threshold``.

    Parameters
    ----------
    score : numpy.ndarray, shape (R, C), float32
    threshold : float
    radius : (int, int)
        Half-size (rows, cols) of the neighbourhood a peak must dominate;
        at least 1, i.e. 3x3.

    Returns
    -------
    numpy.ndarray, shape (K,), int64
        Indices into ``score.ravel()``; plateaus give several indices (NMS
        later keeps one).
    """
    ry, rx = max(1, int(radius[0])), max(1, int(radius[1]))
    dil = cv2.dilate(score, np.ones((2 * ry + 1, 2 * rx + 1), np.uint8))
    mask = (score >= dil) & (score >= threshold)
    return np.flatnonzero(mask)


def subpixel(score: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Parabola-fit offsets (dx, dy) in [-0.5, 0.5] for peaks at flat ``idx``."""
    r, c = np.divmod(idx, score.shape[1])
    ny, nx = score.shape
    centre = score[r, c]

    def offset(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        den = lo - 2.0 * centre + hi
        off = np.divide(0.5 * (lo - hi), den, out=np.zeros_like(den), where=den < -1e-6)
        return np.clip(off, -0.5, 0.5)

    left, right = score[r, np.maximum(c - 1, 0)], score[r, np.minimum(c + 1, nx - 1)]
    up, down = score[np.maximum(r - 1, 0), c], score[np.minimum(r + 1, ny - 1), c]
    return offset(left, right), offset(up, down)


def window_sums(
    integral: np.ndarray, *, y0: int, x0: int, h: int, w: int, ny: int, nx: int
) -> np.ndarray:
    """Sums over every ``h`` x ``w`` window (rows x cols) whose top-left corner lies in the
    ``ny`` x ``nx`` grid starting at row ``y0``, column ``x0``, from an integral image of
    shape ``(H + 1, W + 1)`` (as :func:`cv2.integral` returns). Shape ``(ny, nx)``."""
    e = integral
    # In place, in the same order as ``a - b - c + d``: one full-size array, not three.
    out = np.subtract(
        e[y0 + h : y0 + h + ny, x0 + w : x0 + w + nx], e[y0 : y0 + ny, x0 + w : x0 + w + nx]
    )
    out -= e[y0 + h : y0 + h + ny, x0 : x0 + nx]
    out += e[y0 : y0 + ny, x0 : x0 + nx]
    return out
