"""Turn whatever a user passes into BGR uint8 HxWx3 images, or an ImageError naming it."""
import base64
import binascii
import os
from pathlib import Path

import cv2
import numpy as np

from .errors import HubError
from .image_size import image_size

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".jp2", ".pgm", ".ppm", ".pbm"}


def max_pixels():
    return int(os.environ.get("HUB_MAX_IMAGE_PIXELS", 100_000_000))


class ImageError(HubError, ValueError):
    """A bad input image. The message starts with the input's name."""


class ImageTooLarge(ImageError):
    """An image over HUB_MAX_IMAGE_PIXELS (refused from its header where possible)."""


def to_bgr(array, name="image"):
    """Normalise an array to contiguous BGR uint8 (grey, BGRA, 16-bit and float are converted)."""
    if not isinstance(array, np.ndarray):
        raise ImageError(f"{name}: expected a numpy array, a path or bytes, got {type(array).__name__}")
    if array.size == 0 or array.ndim not in (2, 3) or min(array.shape[:2]) < 1:
        raise ImageError(f"{name}: empty or malformed image array of shape {array.shape}")
    if array.shape[0] * array.shape[1] > max_pixels():
        raise _too_large(name, array.shape[1], array.shape[0], max_pixels())
    if array.dtype == np.uint16:
        array = (array >> 8).astype(np.uint8)
    elif array.dtype == np.bool_:
        array = array.astype(np.uint8) * 255
    elif np.issubdtype(array.dtype, np.floating):
        scale = 255.0 if float(np.nanmax(array)) <= 1.0 else 1.0
        array = np.clip(np.nan_to_num(array) * scale, 0, 255).astype(np.uint8)
    elif array.dtype != np.uint8:
        raise ImageError(f"{name}: unsupported pixel type {array.dtype}")
    channels = 1 if array.ndim == 2 else array.shape[2]
    if channels == 1:
        array = cv2.cvtColor(array.reshape(array.shape[:2]), cv2.COLOR_GRAY2BGR)
    elif channels == 4:
        array = cv2.cvtColor(array, cv2.COLOR_BGRA2BGR)
    elif channels != 3:
        raise ImageError(f"{name}: {channels}-channel images are not supported")
    return np.ascontiguousarray(array)


def _too_large(name, width, height, limit, what="HUB_MAX_IMAGE_PIXELS"):
    return ImageTooLarge(f"{name}: image of {width}x{height} pixels is over the limit of {limit} pixels ({what})")


def encoded_size(data, name="image"):
    """(width, height) of encoded image bytes, read from the header; ImageError if it cannot be read."""
    if len(data) == 0:
        raise ImageError(f"{name}: empty file (0 bytes)")
    size = image_size(data)
    if size is None:
        raise ImageError(f"{name}: not a decodable image ({len(data)} bytes; unknown format or unreadable header)")
    return size


def check_pixels(size, name="image"):
    """ImageTooLarge if an image of size (width, height) is over HUB_MAX_IMAGE_PIXELS."""
    if size[0] * size[1] > max_pixels():
        raise _too_large(name, size[0], size[1], max_pixels())


def decode(data, name="image", size=None):
    """Decode encoded image bytes (JPEG, PNG, ...) to BGR uint8. The size is read from the header first
    (or given, as read by encoded_size) and an image over HUB_MAX_IMAGE_PIXELS is refused before OpenCV
    allocates it."""
    check_pixels(size or encoded_size(data, name), name)
    array = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if array is None:
        raise ImageError(f"{name}: not a decodable image ({len(data)} bytes)")
    return to_bgr(array, name)


def read(path, name=None):
    name = name or str(path)
    path = Path(path)
    if not path.exists():
        raise ImageError(f"{name}: file not found")
    if path.is_dir():
        raise ImageError(f"{name}: is a folder, not an image")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ImageError(f"{name}: cannot read ({e.strerror})") from None
    return decode(data, name)


def base64_bytes(text, name="image"):
    """The bytes of a base64 string (a data: URL prefix is accepted); ImageError if it is not base64."""
    if not isinstance(text, str):
        raise ImageError(f"{name}: expected a base64 string, got {type(text).__name__}")
    if text.startswith("data:") and "," in text:
        text = text.split(",", 1)[1]
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ImageError(f"{name}: corrupt base64") from None
    return data


def from_base64(text, name="image"):
    return decode(base64_bytes(text, name), name)


def load(item, name):
    """An image from an array, a path (str / Path) or encoded bytes."""
    if isinstance(item, np.ndarray):
        return to_bgr(item, name)
    if isinstance(item, (str, os.PathLike)):
        return read(item, name)
    if isinstance(item, (bytes, bytearray, memoryview)):
        return decode(item, name)
    raise ImageError(f"{name}: expected a numpy array, a path or bytes, got {type(item).__name__}")


def to_base64_jpg(image, quality=90):
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return base64.b64encode(buf.tobytes()).decode("ascii")


def list_images(folder):
    """Image files of a folder, sorted by name; other files are returned separately."""
    files = sorted(p for p in Path(folder).iterdir() if p.is_file())
    images = [p for p in files if p.suffix.lower() in IMAGE_EXTENSIONS]
    others = [p for p in files if p.suffix.lower() not in IMAGE_EXTENSIONS]
    return images, others
