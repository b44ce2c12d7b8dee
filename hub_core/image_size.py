"""Width and height of an encoded image, read from its header without decoding it.

Covers every format this OpenCV build decodes: JPEG, PNG, WebP, AVIF, BMP, TIFF, JPEG 2000, GIF,
Radiance HDR, Sun raster, PBM/PGM/PPM/PAM and PFM. The whole file is walked where the size can sit
anywhere (JPEG markers, RIFF and ISO-BMFF boxes), and where a format can state a size twice (a WebP
canvas and its bitstream, a JP2 header and its codestream) the larger one counts. An unknown format or
a header that cannot be read gives None: the caller refuses to decode what it cannot size.
"""
import re
import struct

_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_JPEG_NO_LENGTH = {0x01, *range(0xD0, 0xD8)}  # TEM, RST0-7


def _jpeg(data):
    i, sizes = 2, []
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in _JPEG_NO_LENGTH:
            i += 2
            continue
        if marker in (0xDA, 0xD9):  # start of scan / end of image: the frame header came before
            break
        length = struct.unpack_from(">H", data, i + 2)[0]
        if marker in _JPEG_SOF and i + 9 <= len(data):
            h, w = struct.unpack_from(">HH", data, i + 5)
            sizes.append((w, h))
        i += 2 + length
    return max(sizes, key=lambda s: s[0] * s[1]) if sizes else None


def _png(data):
    return struct.unpack_from(">II", data, 16) if len(data) >= 24 and data[12:16] == b"IHDR" else None


def _webp(data):
    sizes, i = [], 12
    while i + 8 <= len(data):
        tag, length = data[i:i + 4], struct.unpack_from("<I", data, i + 4)[0]
        body = i + 8
        if tag == b"VP8X" and body + 10 <= len(data):
            w = int.from_bytes(data[body + 4:body + 7], "little") + 1
            h = int.from_bytes(data[body + 7:body + 10], "little") + 1
            sizes.append((w, h))
        elif tag == b"VP8 " and body + 10 <= len(data):
            w, h = struct.unpack_from("<HH", data, body + 6)
            sizes.append((w & 0x3FFF, h & 0x3FFF))
        elif tag == b"VP8L" and body + 5 <= len(data):
            bits = int.from_bytes(data[body + 1:body + 5], "little")
            sizes.append(((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1))
        elif tag == b"ANMF" and body + 12 <= len(data):
            w = int.from_bytes(data[body + 6:body + 9], "little") + 1
            h = int.from_bytes(data[body + 9:body + 12], "little") + 1
            sizes.append((w, h))
            i = body + 16  # frame chunks nest their image chunks after a 16-byte header
            continue
        i = body + length + (length & 1)
    return max(sizes, key=lambda s: s[0] * s[1]) if sizes else None


def _bmp(data):
    if len(data) < 26:
        return None
    header = struct.unpack_from("<I", data, 14)[0]
    if header == 12:
        return struct.unpack_from("<HH", data, 18)
    w, h = struct.unpack_from("<ii", data, 18)
    return abs(w), abs(h)


_TIFF_TYPES = {3: ("H", 2), 4: ("I", 4), 16: ("Q", 8)}  # SHORT, LONG, LONG8


def _tiff(data):
    order = "<" if data[:2] == b"II" else ">"
    big = struct.unpack_from(order + "H", data, 2)[0] == 43
    count_fmt, entry, offset = ("Q", 20, struct.unpack_from(order + "Q", data, 8)[0]) if big \
        else ("H", 12, struct.unpack_from(order + "I", data, 4)[0])
    count_size = struct.calcsize(count_fmt)
    if offset + count_size > len(data):
        return None
    count = struct.unpack_from(order + count_fmt, data, offset)[0]
    found = {}
    for k in range(min(count, 4096)):
        at = offset + count_size + k * entry
        if at + entry > len(data):
            break
        tag, kind = struct.unpack_from(order + "HH", data, at)
        if tag in (256, 257) and kind in _TIFF_TYPES:
            fmt, _ = _TIFF_TYPES[kind]
            found[tag] = struct.unpack_from(order + fmt, data, at + (12 if big else 8))[0]
    return (found[256], found[257]) if 256 in found and 257 in found else None


def _boxes(data, start, end):
    """(type, body start, body end) of ISO-BMFF / JP2 boxes between start and end."""
    i = start
    while i + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, i)
        head = 8
        if size == 1 and i + 16 <= end:
            size, head = struct.unpack_from(">Q", data, i + 8)[0], 16
        elif size == 0:
            size = end - i
        if size < head:
            return
        yield kind, i + head, min(i + size, end)
        i += size


def _jp2_codestream(data, at=0):
    """JPEG 2000 codestream SIZ marker: image size without the offsets."""
    if data[at:at + 4] != b"\xff\x4f\xff\x51" or at + 24 > len(data):
        return None
    xsiz, ysiz, xo, yo = struct.unpack_from(">IIII", data, at + 8)
    return xsiz - xo, ysiz - yo


def _jp2(data):
    sizes = []
    for kind, body, end in _boxes(data, 0, len(data)):
        if kind == b"jp2h":
            for sub, sbody, _ in _boxes(data, body, end):
                if sub == b"ihdr" and sbody + 8 <= len(data):
                    h, w = struct.unpack_from(">II", data, sbody)
                    sizes.append((w, h))
        elif kind == b"jp2c":
            size = _jp2_codestream(data, body)
            if size:
                sizes.append(size)
    return max(sizes, key=lambda s: s[0] * s[1]) if sizes else None


def _avif(data):
    """The largest 'ispe' (image spatial extents) property anywhere in the file."""
    sizes = [struct.unpack_from(">II", data, m.start() + 8) for m in re.finditer(b"ispe", data)
             if m.start() + 16 <= len(data)]
    return max(sizes, key=lambda s: s[0] * s[1]) if sizes else None


def _gif(data):
    return struct.unpack_from("<HH", data, 6) if len(data) >= 10 else None


_NUMBER = re.compile(rb"(?:\s|#[^\n]*\n)+(\d+)")


def _pnm(data):
    """P1-P6 and PF/Pf: magic, then width and height as text (comments allowed in P1-P6)."""
    numbers, at = [], 2
    for _ in range(2):
        m = _NUMBER.match(data, at)
        if not m:
            return None
        numbers.append(int(m.group(1)))
        at = m.end()
    return tuple(numbers)


def _pam(data):
    head = data[:4096]
    w, h = re.search(rb"\nWIDTH\s+(\d+)", head), re.search(rb"\nHEIGHT\s+(\d+)", head)
    return (int(w.group(1)), int(h.group(1))) if w and h else None


def _hdr(data):
    m = re.search(rb"\n\n([-+])Y (\d+) ([-+])X (\d+)", data[:65536])
    return (int(m.group(4)), int(m.group(2))) if m else None


def _sun(data):
    return struct.unpack_from(">II", data, 4) if len(data) >= 12 else None


def _readers(data):
    head = bytes(data[:16])
    if head[:3] == b"\xff\xd8\xff":
        return _jpeg
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return _png
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return _webp
    if head[4:8] == b"ftyp":
        return _avif
    if head[:2] == b"BM":
        return _bmp
    if head[:4] in (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+"):
        return _tiff
    if head[:4] == b"\xff\x4f\xff\x51":
        return _jp2_codestream
    if head[4:8] == b"jP  ":
        return _jp2
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return _gif
    if head[:2] == b"P7":
        return _pam
    if head[:1] == b"P" and head[1:2] in b"123456Ff" and head[1:2]:
        return _pnm
    if head[:2] == b"#?":
        return _hdr
    if head[:4] == b"\x59\xa6\x6a\x95":
        return _sun
    return None


def image_size(data):
    """(width, height) from the header of encoded image bytes, or None (unknown format, unreadable)."""
    data = bytes(data) if not isinstance(data, bytes) else data
    reader = _readers(data)
    if reader is None:
        return None
    try:
        size = reader(data)
    except (struct.error, ValueError, IndexError):
        return None
    if not size or min(size) < 1:
        return None
    return int(size[0]), int(size[1])
