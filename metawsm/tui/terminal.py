"""The terminal, with termios and ANSI escapes only: cbreak mode on the alternate screen, whole-
screen redraws, keys decoded from the bytes the terminal sends, and a way to hand the terminal to
another program (``tmux attach``) and take it back.

Keys are read without blocking the event loop: :meth:`Terminal.read` waits with
:func:`anyio.wait_readable` on the input descriptor, then reads what is there.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import shutil
import sys
import termios
import tty
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any

import anyio

ENTER_SCREEN = "\x1b[?1049h\x1b[?25l"  # the alternate screen, cursor hidden
LEAVE_SCREEN = "\x1b[?25h\x1b[?1049l"
ESCAPE_WAIT = 0.05
"""How long a lone ESC waits for the rest of an escape sequence (an arrow key)."""

_SEQUENCES = {
    "[A": "up",
    "[B": "down",
    "OA": "up",
    "OB": "down",
    "[Z": "btab",
}
_SINGLE = {"\t": "tab", "\r": "enter", "\n": "enter", "\x7f": "backspace", "\x08": "backspace"}


def decode_keys(text: str) -> list[str]:
    """The keys in ``text`` as the terminal sent them: printable characters as themselves; up,
    down, tab, btab, enter, backspace and esc by name; other escape sequences are dropped."""
    keys: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char != "\x1b":
            keys.append(_SINGLE.get(char, char))
            i += 1
            continue
        rest = text[i + 1 :]
        if rest[:1] not in ("[", "O"):
            keys.append("esc")
            i += 1
            continue
        # SS3 (ESC O): one final character; CSI (ESC [): parameters, then a final byte in @..~.
        end = 1
        if rest[0] == "[":
            while end < len(rest) and not "@" <= rest[end] <= "~":
                end += 1
        sequence = rest[: end + 1]
        named = _SEQUENCES.get(sequence)
        if named is not None:
            keys.append(named)
        i += 1 + len(sequence)
    return keys


class Terminal:
    """The controlling terminal on ``fd_in`` / ``fd_out`` (stdin and stdout by default); a
    context manager that takes it (cbreak, alternate screen) and always gives it back."""

    def __init__(self, fd_in: int = 0, fd_out: int = 1) -> None:
        self.fd_in = fd_in
        self.fd_out = fd_out
        self.encoding = sys.stdout.encoding or "utf-8"
        self._saved: list[Any] | None = None
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def __enter__(self) -> Terminal:
        self.take()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def take(self) -> None:
        """Cbreak mode (keys one by one, no echo; Ctrl-C still interrupts), alternate screen."""
        if self._saved is None:
            self._saved = termios.tcgetattr(self.fd_in)
        tty.setcbreak(self.fd_in, termios.TCSANOW)
        self.write(ENTER_SCREEN)

    def release(self) -> None:
        """Give the terminal back as it was (safe to call twice)."""
        if self._saved is None:
            return
        saved, self._saved = self._saved, None
        with contextlib.suppress(OSError):  # a terminal that is gone needs no restoring
            self.write(LEAVE_SCREEN)
        with contextlib.suppress(OSError, termios.error):
            termios.tcsetattr(self.fd_in, termios.TCSADRAIN, saved)

    @contextmanager
    def suspended(self) -> Iterator[None]:
        """Give the terminal back for the time of the block (another program uses it)."""
        self.release()
        try:
            yield
        finally:
            self.take()

    def size(self) -> tuple[int, int]:
        """Columns and rows."""
        try:
            size = os.get_terminal_size(self.fd_out)
        except OSError:
            return shutil.get_terminal_size()
        return size.columns, size.lines

    def write(self, text: str) -> None:
        data = text.encode(self.encoding, "replace")
        while data:
            data = data[os.write(self.fd_out, data) :]

    def draw(self, lines: list[str]) -> None:
        """Replace the screen with ``lines`` (one write, so no flicker)."""
        self.write("\x1b[H" + "\r\n".join(f"{line}\x1b[K" for line in lines) + "\x1b[J")

    async def read(self) -> list[str] | None:
        """Wait for the next keys (without blocking the event loop); None at end of input."""
        await anyio.wait_readable(self.fd_in)
        try:
            data = os.read(self.fd_in, 1024)
        except OSError:  # the terminal went away
            return None
        if not data:
            return None
        while data.endswith((b"\x1b", b"\x1b[", b"\x1bO")):
            # The rest of an escape sequence may be on its way; a lone ESC is the Esc key.
            with anyio.move_on_after(ESCAPE_WAIT):
                await anyio.wait_readable(self.fd_in)
                try:
                    more = os.read(self.fd_in, 1024)
                except OSError:
                    break
                if not more:
                    break
                data += more
                continue
            break
        return decode_keys(self._decoder.decode(data))
