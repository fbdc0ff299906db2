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
    """One image at one resolution, with what NCC against it needs.

    Parameters
    ----------
    planes : numpy.ndarray, shape (H, W, C), float32
        Values on an 8-bit scale (see :func:`labeler.matching.preprocess.to_float`).
    factor : float
        How many original pixels one pixel of this level spans (1 = full size).
    """

    def __init__(self, planes: np.ndarray, factor: float) -> None:
        self.factor = float(factor)
        # Centring on the global mean does not change NCC but keeps the float32
        # correlation sums and the float64 integral differences small.
        centred = planes - planes.mean(axis=(0, 1), keepdims=True)
        self.shape = centred.shape
        self.planes = [np.ascontiguousarray(centred[:, :, c]) for c in range(centred.shape[2])]
        self._integrals: tuple[np.ndarray, np.ndarray] | None = None
        self._inv_norm: dict[tuple[int, int], np.ndarray] = {}

    def _sums(self) -> tuple[np.ndarray, np.ndarray]:
        if self._integrals is None:
            h, w, c = self.shape
            stacked = np.dstack(self.planes) if c > 1 else self.planes[0]
            s, sq = cv2.integral2(stacked, sdepth=cv2.CV_64F, sqdepth=cv2.CV_64F)
            s = s.reshape(h + 1, w + 1, c)
            sq = sq.reshape(h + 1, w + 1, c).sum(axis=2)
            self._integrals = (s, sq)
        return self._integrals

    def inv_norm(self, h: int, w: int) -> np.ndarray:
        """``1 / ||window - window mean||`` for every ``h`` x ``w`` window.

        Returns
        -------
        numpy.ndarray, shape (H - h + 1, W - w + 1), float32
            0 where the window is flat (variance under ``VAR_FLOOR``), so that
            flat windows score 0 instead of amplified noise.
        """
        key = (h, w)
        got = self._inv_norm.get(key)
        if got is not None:
            return got
        s, sq = self._sums()
        n = float(h * w)

        def win(a: np.ndarray) -> np.ndarray:
            return a[h:, w:] - a[:-h, w:] - a[h:, :-w] + a[:-h, :-w]

        ws = win(s)
        var = win(sq) - (ws * ws).sum(axis=-1) / n  # sum of squared deviations
        floor = VAR_FLOOR * n * self.shape[2]
        out = np.zeros(var.shape, dtype=np.float32)
        ok = var > floor
        out[ok] = 1.0 / np.sqrt(var[ok])
        self._inv_norm[key] = out
        return out

    def ncc(self, template: np.ndarray) -> np.ndarray:
        """NCC map of a :func:`unit_template` over this level.

        Parameters
        ----------
        template : numpy.ndarray, shape (h, w, C), float32, h <= H and w <= W

        Returns
        -------
        numpy.ndarray, shape (H - h + 1, W - w + 1), float32, values in [-1, 1].
        """
        h, w = template.shape[:2]
        acc = None
        for c, plane in enumerate(self.planes):
            r = cv2.matchTemplate(plane, np.ascontiguousarray(template[:, :, c]), cv2.TM_CCORR)
            acc = r if acc is None else acc + r
        out = acc * self.inv_norm(h, w)
        # Rounding can push a perfect match a hair past 1.
        return np.clip(out, -1.0, 1.0, out=out)


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
