"""labeler.imageio: decoding as displayed, clear errors, decompression-bomb refusal."""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image

from labeler.imageio import ImageReadError, image_size, read_image


def _scene(h=30, w=40) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("ext", [".png", ".bmp", ".tif", ".webp"])
def test_lossless_formats_round_trip_bgr(tmp_path, ext):
    img = _scene()
    path = tmp_path / f"a{ext}"
    params = [cv2.IMWRITE_WEBP_QUALITY, 101] if ext == ".webp" else []
    assert cv2.imwrite(str(path), img, params)
    got = read_image(path)
    assert got.dtype == np.uint8 and got.shape == (30, 40, 3)
    np.testing.assert_array_equal(got, img)
    assert image_size(path) == (40, 30)


def test_gray_png_stays_gray(tmp_path):
    img = _scene()[:, :, 0]
    cv2.imwrite(str(tmp_path / "g.png"), img)
    got = read_image(tmp_path / "g.png")
    assert got.shape == (30, 40)
    np.testing.assert_array_equal(got, img)


@pytest.mark.parametrize("ext", [".tif", ".png"])
@pytest.mark.parametrize("channels", [1, 3])
def test_16_bit_kept(tmp_path, ext, channels):
    rng = np.random.default_rng(1)
    shape = (20, 24) if channels == 1 else (20, 24, 3)
    img = rng.integers(0, 65535, shape, dtype=np.uint16)
    path = tmp_path / f"deep{ext}"
    assert cv2.imwrite(str(path), img)
    got = read_image(path)
    assert got.dtype == np.uint16
    np.testing.assert_array_equal(got, img)


def test_rgba_png_drops_alpha(tmp_path):
    img = cv2.cvtColor(_scene(), cv2.COLOR_BGR2BGRA)
    cv2.imwrite(str(tmp_path / "a.png"), img)
    got = read_image(tmp_path / "a.png")
    np.testing.assert_array_equal(got, img[:, :, :3])


def test_exif_orientation_6_is_applied(tmp_path):
    # Stored 40 wide x 20 tall with a red top-left corner; orientation 6 means
    # "rotate 90 degrees clockwise to display": 20 wide x 40 tall, red top-right.
    stored = np.zeros((20, 40, 3), np.uint8)
    stored[:, :] = (0, 200, 0)
    stored[:6, :6] = (255, 0, 0)  # RGB red
    im = Image.fromarray(stored)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "rot.jpg"
    im.save(path, quality=95, exif=exif)
    assert image_size(path) == (20, 40)
    got = read_image(path)
    assert got.shape == (40, 20, 3)
    b, g, r = got[2, -3].astype(int)  # top-right corner, BGR
    assert r > 200 and g < 60 and b < 60
    b, g, r = got[-3, 2].astype(int)
    assert g > 150 and r < 60


def test_truncated_jpeg(tmp_path):
    path = tmp_path / "cut.jpg"
    cv2.imwrite(str(path), _scene(200, 200))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError, match=r"cut\.jpg.*truncated"):
        read_image(path)


def test_truncated_png(tmp_path):
    path = tmp_path / "cut.png"
    cv2.imwrite(str(path), _scene(200, 200))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError, match=r"cut\.png"):
        read_image(path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(ImageReadError, match=r"empty\.jpg.*empty file"):
        read_image(path)
    with pytest.raises(ImageReadError, match="empty file"):
        image_size(path)


def test_text_named_png(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("this is not an image\n")
    with pytest.raises(ImageReadError, match=r"notes\.png.*not an image"):
        read_image(path)


def test_missing_file(tmp_path):
    with pytest.raises(ImageReadError, match="no such file"):
        read_image(tmp_path / "nope.png")


def test_error_is_a_value_error():
    assert issubclass(ImageReadError, ValueError)


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)  # a token, nowhere near the declared size
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_decompression_bomb_refused_before_decoding(tmp_path, monkeypatch):
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_header_only(100_000, 100_000))

    def no_decode(*args, **kwargs):
        raise AssertionError("decoder must not run")

    monkeypatch.setattr(cv2, "imdecode", no_decode)
    with pytest.raises(ImageReadError, match=r"bomb\.png.*refused.*10000000000 pixels"):
        read_image(path)
    with pytest.raises(ImageReadError, match=r"bomb\.png.*refused"):
        image_size(path)


def test_max_pixels_names_the_declared_size(tmp_path):
    path = tmp_path / "small.png"
    cv2.imwrite(str(path), _scene())
    with pytest.raises(ImageReadError, match=r"small\.png.*40x30 = 1200 pixels.*max_pixels=1000"):
        read_image(path, max_pixels=1000)
    assert read_image(path, max_pixels=1200).shape == (30, 40, 3)


def test_png_between_max_pixels_and_pillows_limit_is_refused_unloaded(tmp_path, monkeypatch):
    # 144 MP: over our 100 MP default, under Pillow's own bomb error (~179 MP), so only our
    # check stands between the header and a full decode (getexif() loads PNG pixels).
    from PIL import ImageFile

    path = tmp_path / "big.png"
    path.write_bytes(_png_header_only(12_000, 12_000))

    loads = []  # recorded, not raised: a broad except in the reader could swallow a raise
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: loads.append(self))
    with pytest.raises(ImageReadError, match=r"big\.png.*12000x12000 = 144000000 pixels"):
        image_size(path)
    assert loads == []
