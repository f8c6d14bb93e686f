"""CBOR (RFC 8949), the default codec of wflow artifacts, in pure Python.

Written to read and write exactly what the Rust SDK (ciborium + serde) and the JavaScript SDK do,
so an artifact put by a step in one language is read by a step in another:

=================  ===========================================================
Python             CBOR
=================  ===========================================================
``None``           null (simple 22); ``undefined`` (23) also reads as ``None``
``bool``           false / true
``int``            major 0 / 1 in the shortest head; beyond 64 bits, tags 2 / 3
``float``          major 7 in the shortest width that keeps the value exactly
                   (half, single or double), like ciborium
``str``            text string (major 3)
``bytes``          byte string (major 2); ``bytearray`` and ``memoryview`` too
``list``/``tuple`` array (major 4); read back as ``list``
``dict``           map (major 5), in insertion order; keys of any type above
=================  ===========================================================

Reading also accepts indefinite-length strings, arrays and maps, and skips unknown tags (their
content is returned). A Rust struct is a map from field names to values, a Rust ``Vec<u8>`` is an
array of integers (``serde_bytes`` makes it a byte string), an enum variant is ``{"Variant": value}``.
"""

import struct

__all__ = ["encode", "decode", "CborError"]


class CborError(ValueError):
    """A value cannot be encoded, or bytes are not valid CBOR."""


_U64 = 1 << 64


def _head(out, major, n):
    m = major << 5
    if n < 24:
        out.append(m | n)
    elif n < 0x100:
        out.append(m | 24)
        out.append(n)
    elif n < 0x10000:
        out.append(m | 25)
        out += n.to_bytes(2, "big")
    elif n < 0x100000000:
        out.append(m | 26)
        out += n.to_bytes(4, "big")
    else:
        out.append(m | 27)
        out += n.to_bytes(8, "big")


def _float(out, x):
    # The shortest of half, single and double that holds the value exactly (NaN as a half).
    if x != x:
        out += b"\xf9\x7e\x00"
        return
    try:
        half = struct.pack(">e", x)
        if struct.unpack(">e", half)[0] == x:
            out.append(0xF9)
            out += half
            return
    except OverflowError:
        pass
    try:
        single = struct.pack(">f", x)
        if struct.unpack(">f", single)[0] == x:
            out.append(0xFA)
            out += single
            return
    except OverflowError:
        pass
    out.append(0xFB)
    out += struct.pack(">d", x)


def _encode(out, v, depth):
    if depth > 512:
        raise CborError("value nested more than 512 levels deep")
    if v is None:
        out.append(0xF6)
    elif v is True:
        out.append(0xF5)
    elif v is False:
        out.append(0xF4)
    elif isinstance(v, int):
        if 0 <= v < _U64:
            _head(out, 0, v)
        elif -_U64 <= v < 0:
            _head(out, 1, -1 - v)
        else:
            # A bignum (tag 2 positive, tag 3 negative), as ciborium writes i128 / u128.
            tag, n = (2, v) if v >= 0 else (3, -1 - v)
            _head(out, 6, tag)
            data = n.to_bytes((n.bit_length() + 7) // 8, "big")
            _head(out, 2, len(data))
            out += data
    elif isinstance(v, float):
        _float(out, v)
    elif isinstance(v, str):
        data = v.encode("utf-8")
        _head(out, 3, len(data))
        out += data
    elif isinstance(v, (bytes, bytearray, memoryview)):
        data = bytes(v)
        _head(out, 2, len(data))
        out += data
    elif isinstance(v, (list, tuple)):
        _head(out, 4, len(v))
        for x in v:
            _encode(out, x, depth + 1)
    elif isinstance(v, dict):
        _head(out, 5, len(v))
        for k, x in v.items():
            _encode(out, k, depth + 1)
            _encode(out, x, depth + 1)
    else:
        raise CborError(
            f"cannot encode a value of type {type(v).__name__} as CBOR "
            "(use None, bool, int, float, str, bytes, list, tuple or dict)"
        )


def encode(value):
    """Encodes ``value`` as CBOR bytes; :class:`CborError` if a part has no CBOR form."""
    out = bytearray()
    _encode(out, value, 0)
    return bytes(out)


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data):
        self.data = data
        self.pos = 0

    def take(self, n):
        end = self.pos + n
        if end > len(self.data):
            raise CborError(f"truncated CBOR: needs {end - len(self.data)} more bytes at offset {self.pos}")
        chunk = self.data[self.pos:end]
        self.pos = end
        return chunk

    def argument(self, info):
        if info < 24:
            return info
        if info == 24:
            return self.take(1)[0]
        if info == 25:
            return int.from_bytes(self.take(2), "big")
        if info == 26:
            return int.from_bytes(self.take(4), "big")
        if info == 27:
            return int.from_bytes(self.take(8), "big")
        raise CborError(f"invalid CBOR head (additional info {info}) at offset {self.pos - 1}")

    def chunks(self, major):
        # The pieces of an indefinite-length byte or text string.
        parts = []
        while True:
            b = self.take(1)[0]
            if b == 0xFF:
                return parts
            if b >> 5 != major or (b & 31) == 31:
                raise CborError(f"invalid chunk in an indefinite-length string at offset {self.pos - 1}")
            parts.append(self.take(self.argument(b & 31)))

    def item(self, depth):
        if depth > 512:
            raise CborError("CBOR value nested more than 512 levels deep")
        b = self.take(1)[0]
        major, info = b >> 5, b & 31
        if major == 0:
            return self.argument(info)
        if major == 1:
            return -1 - self.argument(info)
        if major == 2:
            if info == 31:
                return b"".join(self.chunks(2))
            return bytes(self.take(self.argument(info)))
        if major == 3:
            raw = b"".join(self.chunks(3)) if info == 31 else self.take(self.argument(info))
            try:
                return bytes(raw).decode("utf-8")
            except UnicodeDecodeError as e:
                raise CborError(f"invalid UTF-8 in a CBOR text string: {e}") from None
        if major == 4:
            if info == 31:
                items = []
                while self.data[self.pos:self.pos + 1] != b"\xff":
                    items.append(self.item(depth + 1))
                self.take(1)
                return items
            return [self.item(depth + 1) for _ in range(self.argument(info))]
        if major == 5:
            out = {}
            if info == 31:
                while self.data[self.pos:self.pos + 1] != b"\xff":
                    k = self.item(depth + 1)
                    out[_key(k)] = self.item(depth + 1)
                self.take(1)
                return out
            for _ in range(self.argument(info)):
                k = self.item(depth + 1)
                out[_key(k)] = self.item(depth + 1)
            return out
        if major == 6:
            tag = self.argument(info)
            inner = self.item(depth + 1)
            if tag in (2, 3) and isinstance(inner, bytes):
                n = int.from_bytes(inner, "big")
                return n if tag == 2 else -1 - n
            return inner
        # major 7
        if info == 20:
            return False
        if info == 21:
            return True
        if info in (22, 23):
            return None
        if info == 25:
            return struct.unpack(">e", self.take(2))[0]
        if info == 26:
            return struct.unpack(">f", self.take(4))[0]
        if info == 27:
            return struct.unpack(">d", self.take(8))[0]
        if info < 24:
            return None  # an unassigned simple value
        if info == 24:
            self.take(1)
            return None
        raise CborError(f"unexpected CBOR break or reserved value at offset {self.pos - 1}")


def _key(k):
    # Map keys must be hashable: arrays become tuples, maps cannot be keys.
    if isinstance(k, list):
        return tuple(_key(x) for x in k)
    if isinstance(k, dict):
        raise CborError("a CBOR map used as a map key is not supported")
    return k


def decode(data):
    """Decodes one CBOR value from ``data`` (bytes-like); :class:`CborError` if invalid."""
    r = _Reader(memoryview(bytes(data)) if not isinstance(data, bytes) else data)
    value = r.item(0)
    if r.pos != len(r.data):
        raise CborError(f"{len(r.data) - r.pos} bytes after the CBOR value")
    return value
