"""`-it`: a real pty inside, with the caller's window size, both for run
and exec; the exit code still propagates."""

import fcntl
import os
import pty
import select
import struct
import subprocess
import termios
import time


def _drive(argv, keystrokes: bytes, rows=33, cols=101, timeout=20):
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave,
                            start_new_session=True)
    os.close(slave)
    output = b""
    sent = False
    deadline = time.time() + timeout
    while time.time() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
        if not sent and (b"#" in output or time.time() > deadline - timeout + 1.5):
            os.write(master, keystrokes)
            sent = True
        if proc.poll() is not None and not ready:
            break
    code = proc.wait(timeout=10)
    os.close(master)
    return code, output.decode(errors="replace")


def test_run_it_gives_a_pty_with_window_size(bb):
    code, out = _drive(bb.base + ["run", "-it", "--rm", "bb", "sh"],
                       b"tty; stty size; exit 3\n")
    assert code == 3, out
    assert "/dev/pts/" in out or "/dev/console" in out
    assert "33 101" in out


def test_exec_it(bb):
    bb.ok("run", "-d", "--name", "ttyhost", "bb", "sleep", "60")
    code, out = _drive(bb.base + ["exec", "-it", "ttyhost", "sh"],
                       b"stty size; echo $TERM; exit 4\n", rows=20, cols=70)
    assert code == 4, out
    assert "20 70" in out and "xterm" in out
