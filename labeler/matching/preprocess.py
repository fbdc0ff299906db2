"""Image validation and conversion to the float planes the matcher correlates.

Input images are numpy arrays as :func:`labeler.imageio.read_image` returns
them: ``(H, W)`` gray, ``(H, W, 1)``, ``(H, W, 3)`` BGR or ``(H, W, 4)`` BGRA,
dtype uint8 or uint16. Index order is row (y) then column (x).
"""

from __future__ import annotations

import cv2
import numpy as np

# Windows whose per-pixel variance (8-bit grey levels squared, averaged over
# channels) is below this are "flat": their NCC would be noise divided by ~0.
VAR_FLOOR = 1.0


def check_image(image: object, what: str = "image") -> np.ndarray:
    """Validate an image array and return it unchanged.

    Parameters
    ----------
    image : numpy.ndarray, shape (H, W) or (H, W, C) with C in {1, 3, 4}
        uint8 or uint16.
    what : str
        Name used in error messages (e.g. ``"target"``, ``"exemplar 2 image"``).

    Raises
    ------
    ValueError
        For a non-array, a wrong dtype, a wrong shape or an empty image.
    """
    if not isinstance(image, np.ndarray):
        raise ValueError(f"{what} must be a numpy array, got {type(image).__name__}")
    if image.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"{what} must be uint8 or uint16, got dtype {image.dtype}")
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3, 4)):
        raise ValueError(
            f"{what} must have shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got {image.shape}"
        )
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"{what} is empty: shape {image.shape}")
    return image


def is_color(image: np.ndarray) -> bool:
    """True for 3- or 4-channel images."""
    return image.ndim == 3 and image.shape[2] >= 3


def value_range(image: np.ndarray) -> tuple[float, float]:
    """``(lo, hi)`` that :func:`to_float` maps to 0..255: 0..255 for uint8, min..max for uint16."""
    if image.dtype == np.uint8:
        return 0.0, 255.0
    return float(image.min()), float(image.max())


def to_float(
    image: np.ndarray, *, color: bool, value_range: tuple[float, float] | None = None
) -> np.ndarray:
    """Convert a checked image to float32 planes on an 8-bit scale.

    Parameters
    ----------
    image : numpy.ndarray, shape (H, W) or (H, W, C)
        uint8 or uint16, already validated by :func:`check_image`.
    color : bool
        True for 3 BGR planes (alpha dropped), False for one grey plane.
    value_range : (lo, hi), optional
        For uint16 input, the raw values mapped to 0 and 255; default the
        image's own min..max. Pass the whole image's range when converting a
        crop or a resized copy, so all pieces share one scale.

    Returns
    -------
    numpy.ndarray, shape (H, W, 3) or (H, W, 1), float32
        Values in about [0, 255]. uint16 images are stretched by their own
        min..max: NCC ignores gain and offset, so this keeps precision for 10-
        and 12-bit data stored in 16 bits and makes :data:`VAR_FLOOR` meaningful.
    """
    img = image
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 3 and img.shape[2] == 4:
        img = img[:, :, :3]
    out = img.astype(np.float32)
    if image.dtype == np.uint16:
        lo, hi = value_range if value_range is not None else (float(out.min()), float(out.max()))
        out = (out - lo) * (255.0 / (hi - lo)) if hi > lo else out - lo
    if color:
        if out.ndim == 2:
            out = np.repeat(out[:, :, None], 3, axis=2)
        return np.ascontiguousarray(out)
    if out.ndim == 3:
        out = cv2.cvtColor(out, cv2.COLOR_BGR2GRAY)
    return out[:, :, None]


def resize(img: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize ``(H, W, C)`` float planes to ``(height, width, C)``.

    Area averaging when shrinking (no aliasing), bilinear when enlarging.
    """
    h, w = img.shape[:2]
    interp = cv2.INTER_AREA if width <= w and height <= h else cv2.INTER_LINEAR
    out = cv2.resize(img, (int(width), int(height)), interpolation=interp)
    return out if out.ndim == 3 else out[:, :, None]


def window_variance(planes: np.ndarray) -> float:
    """Mean per-pixel, per-channel variance of ``(H, W, C)`` planes."""
    return float(planes.reshape(-1, planes.shape[2]).var(axis=0).mean())


def features(planes: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """The planes the matcher correlates: the gradient field of one colour projection.

    Parameters
    ----------
    planes : numpy.ndarray, shape (H, W, C), float32
        :func:`to_float` output (or a resized copy of it).
    axis : numpy.ndarray, shape (C,)
        Colour direction to project on (see :func:`labeler.matching.bank.colour_axis`).

    Returns
    -------
    numpy.ndarray, shape (H, W, 2), float32
        d/dx and d/dy (3x3 Sobel) of ``planes @ axis``.

    Notes
    -----
    Why gradients: objects that touch or overlap (cells in a smear) make
    intensity NCC peak between two objects as readily as on one; NCC of the
    signed gradient field peaks where the template's outline meets an
    outline, and ignores slow shading. On the blood-cell benchmark this
    lifted AP@0.5 from 0.43 to 0.61 (k=1, first 20 images) over colour NCC.
    """
    if planes.shape[2] == 1:
        gray = np.ascontiguousarray(planes[:, :, 0])
    else:
        gray = np.ascontiguousarray(planes @ axis.astype(np.float32))
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3, borderType=cv2.BORDER_REPLICATE)
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3, borderType=cv2.BORDER_REPLICATE)
    return np.dstack([gx, gy])
