"""The user's terminal: raw mode while attached to a container's pty, and
window-size changes carried to it (SIGWINCH -> TIOCSWINSZ on the master)."""

from __future__ import annotations

import fcntl
import os
import struct
import sys
import termios


def make_pty() -> tuple[int, int]:
    """A pty pair sized like our terminal; the master stays with the CLI."""
    master, slave = os.openpty()
    copy_window_size(master)
    return master, slave


def copy_window_size(master: int) -> None:
    for fd in (0, 1, 2):
        try:
            size = fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8)
        except OSError:
            continue
        if struct.unpack("HHHH", size)[:2] != (0, 0):
            fcntl.ioctl(master, termios.TIOCSWINSZ, size)
            return


class RawTerminal:
    """Puts stdin's terminal in raw mode for the duration, and restores it."""

    def __init__(self, active: bool):
        self.active = active
        self.saved = None

    def __enter__(self):
        if self.active:
            import tty
            self.saved = termios.tcgetattr(sys.stdin.fileno())
            tty.setraw(sys.stdin.fileno())
        return self

    def __exit__(self, *exc):
        if self.saved is not None:
            termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, self.saved)
        return False
