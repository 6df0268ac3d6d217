"""The attribute protocol of lib/mail/attr.h, for tests that talk to
Postern services directly.

  attribute := type:1 namelen:1 name value
  'I' int64 big-endian; 'S'/'D' len:4 big-endian + bytes; 'E' end (namelen 0)
"""

import struct


def encode(attrs):
    """attrs: list of (name, value); int → 'I', str → 'S', bytes → 'D'."""
    out = bytearray()
    for name, value in attrs:
        n = name.encode()
        if isinstance(value, bool) or isinstance(value, int):
            out += b"I" + bytes([len(n)]) + n + struct.pack(">q", int(value))
        elif isinstance(value, str):
            v = value.encode()
            out += b"S" + bytes([len(n)]) + n + struct.pack(">I", len(v)) + v
        else:
            v = bytes(value)
            out += b"D" + bytes([len(n)]) + n + struct.pack(">I", len(v)) + v
    out += b"E\x00"
    return bytes(out)


def _read_exact(f, n):
    data = f.read(n)
    if data is None or len(data) != n:
        raise EOFError("connection closed inside an attribute message")
    return data


def decode(f):
    """Read one message from a binary file object; returns a dict name → value
    (int, str for 'S', bytes for 'D')."""
    result = {}
    while True:
        t = _read_exact(f, 1)
        nlen = _read_exact(f, 1)[0]
        if t == b"E":
            return result
        name = _read_exact(f, nlen).decode()
        if t == b"I":
            result[name] = struct.unpack(">q", _read_exact(f, 8))[0]
        elif t in (b"S", b"D"):
            ln = struct.unpack(">I", _read_exact(f, 4))[0]
            v = _read_exact(f, ln)
            result[name] = v.decode(errors="replace") if t == b"S" else v
        else:
            raise ValueError(f"bad attribute type {t!r}")


def send(f, attrs):
    f.write(encode(attrs))
    f.flush()
