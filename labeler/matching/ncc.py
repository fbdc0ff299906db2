"""Normalised cross-correlation (NCC) maps, computed the fast way.

``cv2.matchTemplate(..., TM_CCOEFF_NORMED)`` spends most of its time in a
serial per-window normalisation, and its multi-channel path is about 20x
slower than three single-channel calls. So the correlation here is
``TM_CCORR`` of each plane with a zero-mean, unit-norm template, summed over
planes, times a cached ``1 / window norm`` map built from integral images.
The result equals multi-channel ``TM_CCOEFF_NORMED`` (per-channel means,
one joint norm) but costs a fraction of it.

Arrays are ``(rows, cols[, planes])``; a map value at ``[r, c]`` is the score
of the window whose top-left corner is at x = c, y = r.
"""

from __future__ import annotations

import cv2
import numpy as np

from labeler.matching.preprocess import VAR_FLOOR


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
    """One image at one resolution, zero-padded, with what NCC against it needs.

    Parameters
    ----------
    planes : numpy.ndarray, shape (H, W, C), float32
        Values on an 8-bit scale (see :func:`labeler.matching.preprocess.to_float`).
    factor : float
        How many original pixels one pixel of this level spans (1 = full size).
    pad : (int, int)
        Rows and columns of padding on each side: how far a template may hang
        off the image edge (objects cut by the border are still objects).
    """

    def __init__(self, planes: np.ndarray, factor: float, pad: tuple[int, int] = (0, 0)) -> None:
        self.factor = float(factor)
        self.size = planes.shape[:2]
        self.pad = (int(pad[0]), int(pad[1]))
        # Centring on the global mean does not change NCC but keeps the float32
        # correlation sums and the float64 integral differences small; padding
        # with 0 then means "no signal" and the masked NCC ignores it anyway.
        centred = planes - planes.mean(axis=(0, 1), keepdims=True)
        py, px = self.pad
        centred = np.pad(centred, ((py, py), (px, px), (0, 0)))
        self.channels = centred.shape[2]
        self.planes = [np.ascontiguousarray(centred[:, :, c]) for c in range(self.channels)]
        s, sq = cv2.integral2(
            centred if self.channels > 1 else self.planes[0], sdepth=cv2.CV_64F, sqdepth=cv2.CV_64F
        )
        self._s = s.reshape(s.shape[0], s.shape[1], self.channels)
        self._sq = sq.reshape(s.shape[0], s.shape[1], self.channels).sum(axis=2)

    def ncc(
        self,
        template: np.ndarray,
        overhang: tuple[int, int] = (0, 0),
        integrals: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> np.ndarray:
        """NCC map of a :func:`unit_template`, over the visible part of each window.

        Parameters
        ----------
        template : numpy.ndarray, shape (h, w, C), float32
        overhang : (int, int)
            Rows/columns the window may extend past each image edge, at most
            ``pad``. Partial windows are scored on their in-image pixels only
            (masked NCC), so a cell cut by the border still scores high.

        Returns
        -------
        numpy.ndarray, shape (H - h + 1 + 2 * oy, W - w + 1 + 2 * ox), float32
            Values in [-1, 1]; ``[r, c]`` is the window whose top-left corner
            is at image row ``r - oy``, column ``c - ox``. 0 for flat windows.
        integrals : optional
            ``template_integrals(template)``, cached by the caller.
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
            acc = r if acc is None else acc + r
        ny, nx = acc.shape

        def win(a: np.ndarray) -> np.ndarray:
            return (
                a[y0 + h : y0 + h + ny, x0 + w : x0 + w + nx]
                - a[y0 : y0 + ny, x0 + w : x0 + w + nx]
                - a[y0 + h : y0 + h + ny, x0 : x0 + nx]
                + a[y0 : y0 + ny, x0 : x0 + nx]
            )

        s_img = win(self._s)  # (ny, nx, C) sums over the in-image pixels
        sq_img = win(self._sq)
        n = float(h * w)
        var_img = sq_img - _sumsq(s_img) / n
        out = np.zeros((ny, nx), dtype=np.float32)
        ok = var_img > VAR_FLOOR * n * self.channels
        out[ok] = acc[ok] / np.sqrt(var_img[ok])
        if not (oy or ox):
            return np.clip(out, -1.0, 1.0, out=out)
        # Windows hanging off an edge (a band oy rows / ox columns wide) need
        # the masked formula; the interior, the bulk, keeps the plain one.
        ints = integrals if integrals is not None else template_integrals(template)
        inner_rows = np.arange(oy, ny - oy)
        for rows, cols in (
            (np.arange(0, min(oy, ny)), np.arange(nx)),
            (np.arange(max(ny - oy, oy), ny), np.arange(nx)),
            (inner_rows, np.arange(0, min(ox, nx))),
            (inner_rows, np.arange(max(nx - ox, ox), nx)),
        ):
            if rows.size and cols.size:
                block = np.ix_(rows, cols)
                y, x = rows - oy, cols - ox
                out[block] = _masked_scores(
                    ints, acc[block], s_img[block], sq_img[block], y, x, self.size, self.channels
                )
        return np.clip(out, -1.0, 1.0, out=out)


def _sumsq(a: np.ndarray) -> np.ndarray:
    """Sum of squares over the last axis, ``(..., C) -> (...)``."""
    out = a[..., 0] * a[..., 0]
    for c in range(1, a.shape[-1]):
        out += a[..., c] * a[..., c]
    return out


def template_integrals(template: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What masked NCC needs of a ``(h, w, C)`` template: its planes as
    ``(C, h, w)`` float64 and its sum of squares over planes ``(h, w)``."""
    t64 = template.astype(np.float64)
    return np.ascontiguousarray(t64.transpose(2, 0, 1)), (t64 * t64).sum(axis=2)


def _masked_scores(ints, acc, s_img, sq_img, y, x, size, channels):
    """NCC restricted to the in-image part of windows at rows ``y``, columns ``x``.

    The visible part of a window is a sub-rectangle of the template whose row
    range depends on the row only and column range on the column only, so the
    template sums over it are ``rows_visible @ T @ cols_visible.T``: two small
    matrix products per plane. Shapes: ``acc``/``sq_img`` (len(y), len(x)),
    ``s_img`` (len(y), len(x), C).
    """
    planes, sq_t = ints
    _, h, w = planes.shape
    height, width = size
    r, c = np.arange(h), np.arange(w)
    rows_vis = ((r >= -y[:, None]) & (r < height - y[:, None])).astype(np.float64)
    cols_vis = ((c >= -x[:, None]) & (c < width - x[:, None])).astype(np.float64)
    n = np.maximum(np.outer(rows_vis.sum(1), cols_vis.sum(1)), 1.0)
    s_t = rows_vis @ planes @ cols_vis.T  # (C, ny, nx)
    num = acc.astype(np.float64)
    var_t = rows_vis @ sq_t @ cols_vis.T
    var_img = sq_img.copy()
    for k in range(planes.shape[0]):
        num -= s_img[..., k] * s_t[k] / n
        var_t -= s_t[k] * s_t[k] / n
        var_img -= s_img[..., k] * s_img[..., k] / n
    ok = (var_img > VAR_FLOOR * n * channels) & (var_t > 1e-3)
    out = np.zeros(num.shape, dtype=np.float32)
    out[ok] = num[ok] / np.sqrt(var_img[ok] * var_t[ok])
    return out


def local_peaks(score: np.ndarray, threshold: float) -> np.ndarray:
    """Flat indices of 3x3 local maxima of ``score`` that are ``>= threshold``.

    Parameters
    ----------
    score : numpy.ndarray, shape (R, C), float32

    Returns
    -------
    numpy.ndarray, shape (K,), int64
        Indices into ``score.ravel()``; plateaus give several indices (NMS
        later keeps one).
    """
    dil = cv2.dilate(score, np.ones((3, 3), np.uint8))
    mask = (score >= dil) & (score >= threshold)
    return np.flatnonzero(mask)
