"""The plain CSV subset of a statement file, handed whole to a store that converts it itself.

Invariants
- Only a file named by path qualifies (a store reads it again after its header); a stream does not.
- The header is read exactly as `Table` reads it (same checks, same column names), and must itself
  be plain: one UTF-8 line, `\\n`-terminated, with no quote, carriage return or NUL. Otherwise there
  is no plain form, and the parser reads the file (and reports what is wrong with it).
- `chunks` streams the data lines in reads of `CHUNK` bytes and raises `NotPlainCsv` on the first
  read that leaves the subset: a carriage return, a NUL, bytes that are not UTF-8, a read holding
  no line end (a line that long may hold a field past `csv.field_size_limit()`), a last line
  without its terminator, or a line with a quote that is not RFC 4180 to the letter.
- Quotes are where CSV readers part ways (PostgreSQL's COPY opens a quoted section at any quote,
  Python's reader only at the start of a field; an empty quoted field is '' to one and NULL to the
  other when unquoted). A line holding a quote is plain only when every field is either unquoted
  without any quote, or quoted whole, non-empty, with inner quotes doubled and no line end inside:
  there the two readers agree. Lines without a quote cost nothing more. Memory stays flat: one
  read at a time.
"""

from __future__ import annotations

import codecs
import csv
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from adapters.statements.errors import StatementError
from adapters.statements.reading import Source, Table
from payments_core.ports.statements import NotPlainCsv

CHUNK: Final = 1 << 16
_NOT_PLAIN: Final = (b"\r", b"\x00")
_BOM: Final = b"\xef\xbb\xbf"
_FIELD: Final = rb'(?:[^",\n]*|"(?:[^"\n]|"")+")'
_QUOTED_LINE: Final = re.compile(_FIELD + rb"(?:," + _FIELD + rb")*")


def plain_path(source: Source) -> Path | None:
    """The file's path when the source is one (a stream cannot be read twice)."""
    return Path(source) if isinstance(source, str | os.PathLike) else None


def plain_header(path: Path, required: tuple[str, ...], optional: tuple[str, ...]) -> Table | None:
    """The file's header as `Table` reads it, when that line is plain; else None."""
    try:
        with path.open("rb") as binary:
            raw = binary.readline(CHUNK)
    except OSError:
        return None
    raw = raw.removeprefix(_BOM)
    if not raw.endswith(b"\n") or any(byte in raw for byte in (*_NOT_PLAIN, b'"')):
        return None
    try:
        return Table(iter([raw.decode()]), required, optional)
    except (UnicodeDecodeError, StatementError, csv.Error):
        return None


def data_chunks(path: Path) -> Iterator[bytes]:
    """The bytes after the header line, checked plain as they stream (see the module's invariants)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    last, partial = b"\n", b""
    with path.open("rb") as binary:
        binary.readline(CHUNK)
        while chunk := binary.read(CHUNK):
            if any(byte in chunk for byte in _NOT_PLAIN) or b"\n" not in chunk:
                raise NotPlainCsv("the data left the plain CSV subset")
            end = chunk.rindex(b"\n") + 1
            if b'"' in partial or b'"' in chunk:
                _check_quotes(partial + chunk[:end])
            partial = chunk[end:]
            if not chunk.isascii() or decoder.getstate()[0]:
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    raise NotPlainCsv("the data is not UTF-8") from None
            last = chunk
            yield chunk
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise NotPlainCsv("the data is not UTF-8") from None
    if not last.endswith(b"\n"):
        raise NotPlainCsv("the last line has no line terminator")


def _check_quotes(lines: bytes) -> None:
    """Every complete line in `lines` that holds a quote quotes as both readers agree (above)."""
    for line in lines.split(b"\n"):
        if b'"' in line and _QUOTED_LINE.fullmatch(line) is None:
            raise NotPlainCsv("a line quotes a field in a way CSV readers disagree on")
