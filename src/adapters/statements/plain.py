"""The plain CSV subset of a statement file, handed whole to a store that converts it itself.

Invariants
- Only a file named by path qualifies (a store reads it again after its header); a stream does not.
- The header is read exactly as `Table` reads it (same checks, same column names), and must itself
  be plain: one UTF-8 line, `\\n`-terminated, with no quote, carriage return or NUL. Otherwise there
  is no plain form, and the parser reads the file (and reports what is wrong with it).
- `data_chunks` streams the data lines in reads of `CHUNK` bytes and raises `NotPlainCsv` on the first
  read that leaves the subset: a carriage return, a NUL, bytes that are not UTF-8, a read holding
  no line end (a line that long may hold a field past `csv.field_size_limit()`), a last line
  without its terminator, or a line with a quote that is not RFC 4180 to the letter.
- Quotes are where CSV readers part ways (PostgreSQL's COPY opens a quoted section at any quote,
  Python's reader only at the start of a field; an empty quoted field is '' to one and NULL to the
  other when unquoted). A line holding a quote is plain only when every field is either unquoted
  without any quote, or quoted whole, non-empty, with inner quotes doubled and no line end inside:
  there the two readers agree. Lines without a quote cost nothing more. Memory stays flat: one
  read at a time.
- `data_halves` cuts the data at the first line end past its middle, so that a store may load the
  two parts at once: each part is checked as the whole is (it starts at a line start and ends at a
  line end, the decoder starts afresh), and the parts together are the whole, byte for byte.
"""

from __future__ import annotations

import codecs
import csv
import os
import re
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Final

from adapters.statements.errors import StatementError
from adapters.statements.reading import Source, Table
from payments_core.ports.statements import NotPlainCsv

Chunks = Callable[[], Iterator[bytes]]

CHUNK: Final = 1 << 16
# Below this, loading a statement in two parts costs more than it saves.
HALVES_FROM: Final = 4 << 20
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


def data_chunks(path: Path, start: int | None = None, stop: int | None = None) -> Iterator[bytes]:
    """The bytes after the header line (or from `start` to `stop`, where `data_halves` cut them),
    checked plain as they stream (see the module's invariants)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    last, partial = b"\n", b""
    with path.open("rb") as binary:
        if start is None:
            binary.readline(CHUNK)
        else:
            binary.seek(start)
        left = -1 if stop is None else stop - binary.tell()
        while chunk := binary.read(CHUNK if left < 0 else min(CHUNK, left)):
            left -= len(chunk)
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


def data_halves(path: Path, smallest: int | None = None) -> tuple[Chunks, Chunks] | None:
    """The data lines in two parts cut at the first line end past their middle, each streamed and
    checked as `data_chunks` streams the whole; None below `smallest` bytes, or without a line end
    within a read past the middle (the whole, read in one part, then says what is wrong)."""
    smallest = HALVES_FROM if smallest is None else smallest
    try:
        with path.open("rb") as binary:
            start = len(binary.readline(CHUNK))
            end = binary.seek(0, os.SEEK_END)
            if end - start < max(smallest, 2):
                return None
            binary.seek(start + (end - start) // 2)
            tail = binary.readline(CHUNK)
            middle = binary.tell()
    except OSError:
        return None
    if not tail.endswith(b"\n") or middle >= end:
        return None
    return partial(data_chunks, path, start, middle), partial(data_chunks, path, middle, end)


def _check_quotes(lines: bytes) -> None:
    """Every complete line in `lines` that holds a quote quotes as both readers agree (above)."""
    for line in lines.split(b"\n"):
        if b'"' in line and _QUOTED_LINE.fullmatch(line) is None:
            raise NotPlainCsv("a line quotes a field in a way CSV readers disagree on")
