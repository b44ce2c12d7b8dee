"""Image sizes read from headers, so decompression bombs are refused before OpenCV allocates them."""
import struct
import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import DATA, REPO
from hub_core import images as imio
from hub_core.image_size import image_size

FORMATS = [".jpg", ".png", ".webp", ".avif", ".bmp", ".tif", ".jp2", ".gif", ".hdr", ".ras", ".ppm", ".pgm",
           ".pbm", ".pam", ".pfm"]


@pytest.mark.parametrize("ext", FORMATS)
def test_size_from_header_matches_opencv_for_every_format(ext):
    photo = cv2.resize(cv2.imread(str(DATA / "images" / "linzaer_13.jpg")), (53, 37))
    image = photo.astype(np.float32) / 255 if ext in (".hdr", ".pfm") else photo
    ok, encoded = cv2.imencode(ext, image[:, :, 0] if ext in (".pgm", ".pbm") else image)
    assert ok
    decoded = cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED)
    assert image_size(encoded.tobytes()) == (decoded.shape[1], decoded.shape[0]) == (53, 37)


def jpeg_bomb(width, height):
    """A small JPEG whose frame header, pushed past the first 64 KB by APP1 segments, announces width x height."""
    ok, encoded = cv2.imencode(".jpg", np.zeros((16, 16, 3), np.uint8))
    data = bytearray(encoded.tobytes())
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    padding = (b"\xff\xe1" + struct.pack(">H", 60002) + bytes(60000)) * 2
    return bytes(data[:2] + padding + data[2:])


def webp_bomb(width, height):
    """A lossless WebP header announcing width x height, with no image data behind it."""
    body = b"\x2f" + ((width - 1) | ((height - 1) << 14)).to_bytes(4, "little") + bytes(64)
    chunk = b"VP8L" + struct.pack("<I", len(body)) + body
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


BOMB_PROBE = """
import resource, sys
sys.path.insert(0, {tests!r})
from test_image_size import jpeg_bomb, webp_bomb
from hub_core import images as imio
data = {maker}(8000, 8000)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    imio.decode(data, "bomb")
    print("decoded")
except imio.ImageTooLarge as e:
    print("refused", e)
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
"""


@pytest.mark.parametrize("maker", ["jpeg_bomb", "webp_bomb"])
def test_bombs_are_refused_from_their_header_without_allocating(maker):
    """8000 x 8000 is 192 MB decoded; the process must refuse it with its memory peak unchanged."""
    probe = BOMB_PROBE.format(tests=str(REPO / "tests"), maker=maker)
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                          env={"HUB_MAX_IMAGE_PIXELS": "1000000", "PATH": "/usr/bin:/bin"}, cwd=REPO)
    status, grown_mb = proc.stdout.strip().splitlines()
    assert status.startswith("refused bomb: image of 8000x8000 pixels"), proc.stdout + proc.stderr
    assert int(grown_mb) < 20


def test_unknown_format_is_refused_naming_the_input():
    with pytest.raises(imio.ImageError, match="upload.bin.*not a decodable image"):
        imio.decode(b"\x00\x01binary data of no image format" * 10, "upload.bin")
