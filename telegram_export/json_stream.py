"""A forward-only streaming reader for one large JSON document.

Exports reach hundreds of MB, so the file is never loaded whole. `JsonCursor` walks the outer
structure (root → chats → chat → messages) itself and hands each leaf value and each whole message
object to the C JSON decoder (`json.JSONDecoder.raw_decode`), reading the file in 1 MiB pieces, so
memory is bounded by one message plus the read buffer.

Why hand-written (measured with the synthetic export of bench/import_bench.py, 200,000 messages,
56 MB): `json.load` peaks at 544 MB RSS (~10x the file, so ~2.7 GB for a 1M-message export) and
takes 2.9 s just to parse; this cursor reads *and converts* the same file in 1.2 s at 54 MB.
ijson would be a new dependency, and it can only tell where one chat's messages end through its
Python-level event stream (~25 events per message).
"""

from __future__ import annotations

import codecs
import json
import json.scanner
import re
from collections.abc import Iterator
from typing import Any, BinaryIO

from telegram_export.errors import ExportFormatError

_READ_BYTES = 1 << 20
_REFILL_MARGIN = 64 << 10
# A single JSON value (a message, a chat header) larger than this is refused instead of buffered.
_MAX_VALUE_CHARS = 64 << 20
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_COMMA = re.compile(r"[ \t\n\r]*,[ \t\n\r]*")


class JsonCursor:
    """A forward-only cursor over a JSON text: structure by hand, values by the C decoder."""

    def __init__(self, file: BinaryIO) -> None:
        self._file = file
        # Decoding whole 1 MiB pieces at once: TextIOWrapper.read(n) decodes in 8 KiB steps.
        self._utf8 = codecs.getincrementaldecoder("utf-8-sig")()
        self._buf = ""
        self._pos = 0
        self._offset = 0  # characters dropped from the front of the buffer
        self._eof = False
        decoder = json.JSONDecoder()
        self._decode = decoder.raw_decode
        self._scan = json.scanner.make_scanner(decoder)  # the C scanner behind raw_decode

    def _fill(self) -> bool:
        """Append the next piece of the file to the buffer; False at the end of the file."""
        while not self._eof:
            data = self._file.read(_READ_BYTES)
            try:
                piece = self._utf8.decode(data, final=not data)
            except UnicodeDecodeError:
                # At the end, only an incomplete sequence is left undecoded (invalid bytes fail
                # earlier): the file was cut inside a character, it is not some other encoding.
                if data:
                    raise
                raise ExportFormatError("truncated JSON: the file ends early (inside a UTF-8 character)") from None
            self._eof = not data
            if piece:
                self._offset += self._pos
                self._buf = self._buf[self._pos:] + piece
                self._pos = 0
                return True
        return False

    def _error(self, reason: str) -> ExportFormatError:
        if self._eof and self._pos >= len(self._buf):
            return ExportFormatError(f"truncated JSON: the file ends early ({reason})")
        return ExportFormatError(f"not valid JSON at character {self._offset + self._pos}: {reason}")

    def peek(self) -> str:
        """The next non-blank character ('' at the end of the file)."""
        while True:
            self._pos = _WHITESPACE.match(self._buf, self._pos).end()  # type: ignore[union-attr]
            if self._pos < len(self._buf):
                return self._buf[self._pos]
            if not self._fill():
                return ""

    def expect(self, char: str) -> None:
        found = self.peek()
        if found != char:
            raise self._error(f"expected {char!r}, found {found!r}" if found else f"expected {char!r}")
        self._pos += 1

    def value(self) -> Any:
        """Decode the whole value at the cursor (a message, a scalar, a small object)."""
        self.peek()
        while True:
            try:
                value, end = self._decode(self._buf, self._pos)
            except json.JSONDecodeError as exc:
                if self._maybe_incomplete(exc) and self._fill():
                    continue
                self._pos = exc.pos
                raise self._error(exc.msg) from None
            if end == len(self._buf) and self._fill():
                continue  # a number at the end of the buffer may go on in the next piece
            self._pos = end
            return value

    def _maybe_incomplete(self, exc: json.JSONDecodeError) -> bool:
        """Could more text fix this error? (The value may just run past the buffer.)"""
        if len(self._buf) - self._pos > _MAX_VALUE_CHARS:
            return False
        return exc.msg.startswith("Unterminated string") or exc.pos >= len(self._buf) - 16

    def keys(self, what: str) -> Iterator[str]:
        """Each key of the object at the cursor; the caller consumes each value before the next."""
        if self.peek() != "{":
            raise ExportFormatError(f"{what} is not a JSON object")
        self._pos += 1
        if self.peek() == "}":
            self._pos += 1
            return
        while True:
            if self.peek() != '"':
                raise self._error("expected a key")
            key = self.value()
            self.expect(":")
            yield key
            sep = self.peek()
            self._pos += 1
            if sep == "}":
                return
            if sep != ",":
                self._pos -= 1
                raise self._error("expected ',' or '}'")

    def items(self, what: str) -> Iterator[None]:
        """Steps through the array at the cursor; the caller consumes one value per step."""
        if self.peek() != "[":
            raise ExportFormatError(f"{what} is not a list")
        self._pos += 1
        if self.peek() == "]":
            self._pos += 1
            return
        while True:
            yield
            sep = self.peek()
            self._pos += 1
            if sep == "]":
                return
            if sep != ",":
                self._pos -= 1
                raise self._error("expected ',' or ']'")

    def values(self, what: str) -> Iterator[Any]:
        """Each value of the array at the cursor, decoded whole: the messages loop.

        The fast path is one C scan and one separator match per value; anything unusual (a
        value running past the buffer, odd spacing, an error) goes through the careful path.
        """
        if self.peek() != "[":
            raise ExportFormatError(f"{what} is not a list")
        self._pos += 1
        if self.peek() == "]":
            self._pos += 1
            return
        scan, comma = self._scan, _COMMA.match
        while True:
            if len(self._buf) - self._pos < _REFILL_MARGIN:
                # Refill before a value runs off the buffer: a failed scan costs far more.
                self._fill()
            buf = self._buf
            try:
                value, end = scan(buf, self._pos)
            except (StopIteration, json.JSONDecodeError):
                value = self.value()
            else:
                if end < len(buf):
                    self._pos = end
                else:
                    value = self.value()
            yield value
            match = comma(self._buf, self._pos)
            if match is not None:
                self._pos = match.end()
                continue
            sep = self.peek()
            self._pos += 1
            if sep == "]":
                return
            if sep != ",":
                self._pos -= 1
                raise self._error("expected ',' or ']'")

    def skip(self) -> None:
        """Step over a value we do not need without building it (contacts lists can be large)."""
        char = self.peek()
        if char == "{":
            for _ in self.keys("value"):
                self.skip()
        elif char == "[":
            for _ in self.items("value"):
                self.skip()
        else:
            self.value()

    def at_end(self) -> bool:
        return self.peek() == ""
