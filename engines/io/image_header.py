"""The size an image file says it has, read from its header before anything is decoded.

A few kilobytes of PNG can declare 60000x60000 pixels: decoding first and asking afterwards costs gigabytes
(or an OpenCV error from deep inside the decoder). The header is a few bytes at a known place for the formats
the tools read, so the size can be judged before a byte of pixels is allocated.
"""
from __future__ import annotations

import struct

# JPEG start-of-frame markers (baseline, progressive, lossless, ...): the frame size follows them
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _png(data: bytes) -> tuple[int, int] | None:
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR" and len(data) >= 24:
        return struct.unpack(">II", data[16:24])
    return None


def _jpeg(data: bytes) -> tuple[int, int] | None:
    if data[:2] != b"\xff\xd8":
        return None
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2:i + 4])
        if marker in _SOF and i + 9 <= len(data):
            h, w = struct.unpack(">HH", data[i + 5:i + 9])
            return w, h
        i += 2 + length
    return None


def _bmp(data: bytes) -> tuple[int, int] | None:
    if data[:2] == b"BM" and len(data) >= 26:
        w, h = struct.unpack("<ii", data[18:26])
        return abs(w), abs(h)  # a negative height means top-down rows
    return None


def _webp(data: bytes) -> tuple[int, int] | None:
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP" or len(data) < 30:
        return None
    kind = data[12:16]
    if kind == b"VP8X":
        return 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little")
    if kind == b"VP8 ":
        w, h = struct.unpack("<HH", data[26:30])
        return w & 0x3FFF, h & 0x3FFF
    if kind == b"VP8L":
        bits = int.from_bytes(data[21:25], "little")
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    return None


def _tiff(data: bytes) -> tuple[int, int] | None:
    order = {b"II": "<", b"MM": ">"}.get(data[:2])
    if order is None or len(data) < 8 or struct.unpack(order + "H", data[2:4])[0] != 42:
        return None
    (ifd,) = struct.unpack(order + "I", data[4:8])
    if ifd + 2 > len(data):
        return None
    (entries,) = struct.unpack(order + "H", data[ifd:ifd + 2])
    size: dict[int, int] = {}
    for k in range(entries):
        at = ifd + 2 + 12 * k
        if at + 12 > len(data):
            break
        tag, kind = struct.unpack(order + "HH", data[at:at + 4])
        if tag in (256, 257):  # ImageWidth, ImageLength: SHORT or LONG
            fmt = "H" if kind == 3 else "I"
            (size[tag],) = struct.unpack(order + fmt, data[at + 8:at + 8 + struct.calcsize(fmt)])
    return (size[256], size[257]) if len(size) == 2 else None


def declared_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) the file declares, or None for a format or header not recognised here (OpenCV then
    decodes it under its own limit)."""
    try:
        for read in (_png, _jpeg, _bmp, _webp, _tiff):
            size = read(data)
            if size is not None:
                return size
    except struct.error:  # a header cut short
        return None
    return None


def is_jpeg(data: bytes) -> bool:
    """JPEG decoders can scale by 1/2, 1/4 or 1/8 while decoding, so a large JPEG never needs its full size
    in memory."""
    return data[:2] == b"\xff\xd8"
