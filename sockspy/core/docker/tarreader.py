"""The entries of a tar stream, read as Go's ``archive/tar`` reads them, as bytes arrive.

dockerd unpacks a build context with Go's tar reader (after tarsum has read it with the
same reader and written it again), so what a name, a type or a size means is what Go
1.19's ``Reader.Next`` makes of the 512-byte blocks:

* a header's name is its ``name`` field, after the ``prefix`` field and a slash for the
  USTAR and PAX formats (magic ``ustar\\0``; STAR's shorter prefix when the block ends in
  ``tar\\0``), and for a GNU header (magic ``ustar `` and version `` \\0``) whose access
  and change times do not parse as numbers (archives written by Go before 1.8);
* a PAX extended header (``x``) sets the next entry's ``path``, ``linkpath`` and ``size``
  (an empty value keeps the header's); a GNU long name or link (``L``, ``K``) then wins;
  a global header (``g``) is an entry of its own, which dockerd ignores;
* type ``\\0`` is a directory when its name ends in ``/``, else a regular file; links,
  directories, devices and fifos have no data whatever their size field says;
* the archive ends at two zero blocks, or where the stream ends between two entries.

Sparse files (GNU ``S`` headers, ``GNU.sparse.*`` records) are refused: their names and
sizes follow rules this reader does not model. So is anything Go would reject, except
that an archive Go rejects can only make the build fail, never read other files.

Sans-IO: `TarReader.feed` takes bytes, `entries` are appended as each header completes,
and the data of the entries `keep` asks for is collected (up to its cap).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

BLOCK = 512
ZERO_BLOCK = bytes(BLOCK)
MAX_SPECIAL = 1 << 20  # Go's maxSpecialFileSize: PAX and GNU long-name data
HEADER_ONLY = frozenset(b"123456")  # link, symlink, char, block, dir, fifo: no data
_DECIMAL = re.compile(rb"[+-]?[0-9]+")
_OCTAL = re.compile(rb"[0-7]+")


class TarError(ValueError):
    """The stream is not a tar archive this reader reads exactly as Go does."""


@dataclass(slots=True)
class Entry:
    name: bytes
    type: int  # the type flag byte; regular files are b"0"[0]
    linkname: bytes
    size: int
    data: bytearray | None = None  # collected when `keep` asked for it


def _string(field: bytes) -> bytes:
    """Go's parser.parseString: up to the first NUL."""
    end = field.find(b"\0")
    return field if end < 0 else field[:end]


def _numeric(field: bytes) -> int:
    """Go's parser.parseNumeric: base-256 when the first bit is set, else octal between
    spaces and NULs. Raises TarError where Go sets its parse error."""
    if field and field[0] & 0x80:
        negative = bool(field[0] & 0x40)
        value = 0
        for i, byte in enumerate(field):
            if negative:
                byte ^= 0xFF
            if i == 0:
                byte &= 0x7F
            if value >> 56:
                raise TarError("numeric field overflows")
            value = value << 8 | byte
        if value >> 63:
            raise TarError("numeric field overflows")
        return ~value if negative else value
    digits = _string(field.strip(b" \0"))
    if not digits:
        return 0
    if not _OCTAL.fullmatch(digits) or int(digits, 8) >> 64:
        raise TarError(f"numeric field {field!r} is not octal")
    return int(digits, 8)


def _checksum_ok(block: bytes) -> bool:
    try:
        value = _numeric(block[148:156])
    except TarError:
        return False
    unsigned = sum(block) - sum(block[148:156]) + 8 * 0x20  # the field counts as spaces
    if value == unsigned:
        return True
    rest = block[:148] + b" " * 8 + block[156:]
    return value == sum(b - 256 if b > 127 else b for b in rest)


def _name(block: bytes) -> bytes:
    """The entry name a header block gives, prefix included (see the module's docstring)."""
    name = _string(block[0:100])
    magic, version = block[257:263], block[263:265]
    prefix = b""
    if magic == b"ustar\0":
        star = block[508:512] == b"tar\0"
        prefix = _string(block[345:476] if star else block[345:500])
    elif magic == b"ustar " and version == b" \0":
        try:
            for times in (block[345:357], block[357:369]):
                if times[0] != 0:
                    _numeric(times)
        except TarError:  # pre-Go 1.8 writers put a USTAR prefix there
            candidate = _string(block[345:500])
            if candidate.isascii():
                prefix = candidate
    return prefix + b"/" + name if prefix else name


def _pax_records(data: bytes) -> dict[bytes, bytes]:
    """Go's parsePAX: ``"<length> <key>=<value>\\n"`` records, later keys winning."""
    records: dict[bytes, bytes] = {}
    while data:
        space = data.find(b" ")
        if space < 0 or not _DECIMAL.fullmatch(data[:space]):
            raise TarError("bad PAX record length")
        length = int(data[:space])
        if length < 5 or len(data) < length or space + 1 >= length - 1:
            raise TarError("bad PAX record length")
        record, newline, data = (
            data[space + 1 : length - 1],
            data[length - 1 : length],
            data[length:],
        )
        key, equals, value = record.partition(b"=")
        if newline != b"\n" or not equals or not key:
            raise TarError("bad PAX record")
        if b"\0" in (value if key in (b"path", b"linkpath", b"uname", b"gname") else key):
            raise TarError("NUL in a PAX record")
        if key.startswith(b"GNU.sparse."):
            raise TarError("sparse files are not read")
        records[key] = value
    return records


class TarReader:
    """Entries of one tar stream. `keep(name)` says whose data to collect (up to
    `keep_cap` bytes each: past it, TarError)."""

    def __init__(self, keep: Callable[[bytes], bool], keep_cap: int) -> None:
        self.entries: list[Entry] = []
        self.ended = False  # the end-of-archive blocks were read
        self._keep = keep
        self._keep_cap = keep_cap
        self._buffer = bytearray()
        self._zero_seen = False
        self._pax: dict[bytes, bytes] = {}
        self._long_name: bytes | None = None
        self._long_link: bytes | None = None
        self._special: tuple[int, int] | None = None  # (type, size) whose data is awaited
        self._data_left = 0  # bytes of the current entry's data (and padding) to take
        self._padding = 0
        self._collect: bytearray | None = None

    def feed(self, data: bytes) -> None:
        if self.ended:
            return  # dockerd never reads past the end blocks
        self._buffer += data
        while not self.ended:
            if self._special is not None:
                if not self._take_special():
                    return
            elif self._data_left or self._padding:
                if not self._take_data():
                    return
            elif len(self._buffer) >= BLOCK:
                block = bytes(self._buffer[:BLOCK])
                del self._buffer[:BLOCK]
                self._header(block)
            else:
                return

    def close(self) -> None:
        """The stream ended. Go's reader takes that as the archive's end between two
        headers and anywhere in an entry's padding (tryReadFull: the docker CLI ends a
        context right after the data of the Dockerfile it appends); inside a header or
        an entry's data it is an error."""
        busy = self._special is not None or self._data_left
        if not self.ended and (busy or (self._buffer and not self._padding)):
            raise TarError("the archive ends inside an entry")
        self.ended = True

    def _take_data(self) -> bool:
        take = min(len(self._buffer), self._data_left)
        if take and self._collect is not None:
            self._collect += self._buffer[:take]
        del self._buffer[:take]
        self._data_left -= take
        if self._data_left:
            return False
        pad = min(len(self._buffer), self._padding)
        del self._buffer[:pad]
        self._padding -= pad
        if self._padding:
            return False
        self._collect = None
        return True

    def _take_special(self) -> bool:
        assert self._special is not None
        kind, size = self._special
        if len(self._buffer) < size:
            return False
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        self._special, self._padding = None, -size % BLOCK
        if kind == ord("x"):
            self._pax = _pax_records(data)
        elif kind == ord("L"):
            self._long_name = _string(data)
        else:
            self._long_link = _string(data)
        return True

    def _header(self, block: bytes) -> None:
        if block == ZERO_BLOCK:
            if self._zero_seen:
                self.ended = True
            self._zero_seen = True
            return
        if self._zero_seen:
            raise TarError("a zero block followed by a header")
        if not _checksum_ok(block):
            raise TarError("bad header checksum")
        kind = block[156]
        size = _numeric(block[124:136])  # (Go also parses mode, ids and time: a bad one
        if size < 0:  # fails the build, and reads nothing)
            raise TarError("negative size")
        if kind in b"xLK":
            if size > MAX_SPECIAL:
                raise TarError("extended header over 1 MiB")
            self._special = (kind, size)
            return
        if kind == ord("g"):  # an entry of its own, which dockerd skips
            self._pax, self._long_name, self._long_link = {}, None, None
            self._skip(size)
            return
        if kind == ord("S"):
            raise TarError("sparse files are not read")
        self._entry(block, kind, size)

    def _entry(self, block: bytes, kind: int, size: int) -> None:
        name, linkname = _name(block), _string(block[157:257])
        pax, self._pax = self._pax, {}
        if pax.get(b"path"):
            name = pax[b"path"]
        if pax.get(b"linkpath"):
            linkname = pax[b"linkpath"]
        if pax.get(b"size"):
            if not _DECIMAL.fullmatch(pax[b"size"]) or int(pax[b"size"]) >> 63:
                raise TarError("bad PAX size")
            size = int(pax[b"size"])
        if self._long_name is not None and self._long_name:
            name = self._long_name
        if self._long_link is not None and self._long_link:
            linkname = self._long_link
        self._long_name = self._long_link = None
        if kind == 0:
            kind = ord("5") if name.endswith(b"/") else ord("0")
        if size < 0:
            raise TarError("negative size")
        entry = Entry(name, kind, linkname, size)
        self.entries.append(entry)
        data_size = 0 if kind in HEADER_ONLY else size
        if kind not in HEADER_ONLY and self._keep(name):
            if data_size > self._keep_cap:
                raise TarError(f"{name.decode(errors='replace')!r} is over {self._keep_cap} bytes")
            entry.data = bytearray()
        self._skip(data_size)
        self._collect = entry.data

    def _skip(self, size: int) -> None:
        self._data_left, self._padding = size, -size % BLOCK
        self._collect = None
