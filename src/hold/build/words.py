"""Variable substitution and word splitting, as Docker's Dockerfile lexer does.

Used by the builder for the instructions Docker expands: ADD, COPY, ENV,
EXPOSE, FROM, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR, ARG defaults,
HEALTHCHECK flags.  RUN, CMD and ENTRYPOINT are left to the shell.

- ``'...'`` is literal; ``"..."`` expands variables, and inside it the
  escape character only escapes ``"``, ``$`` and itself.
- outside quotes the escape character (``\\``, or ````` with the
  ``# escape`` directive) makes the next character literal.
- ``$NAME``, ``${NAME}``, ``${NAME:-word}`` (word when unset or empty),
  ``${NAME-word}`` (when unset), ``${NAME:+word}`` (word when set and not
  empty), ``${NAME+word}`` (when set), ``${NAME:?message}`` and
  ``${NAME?message}`` (an error when unset [or empty]).  ``word`` itself
  may hold variables.  A ``$`` not followed by a name is a literal ``$``.
- ``expand_words`` splits on unquoted whitespace, and also splits the
  value of an unquoted variable (Docker does; quote it to keep it whole).
"""

from __future__ import annotations

from hold.errors import InvalidArgument

__all__ = ["expand_word", "expand_words"]

_NAME_START = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_NAME_CHARS = _NAME_START | set("0123456789")


def expand_word(text: str, env: dict[str, str], escape: str = "\\") -> str:
    """One word: quotes and escapes removed, variables expanded, no split."""
    return _Lexer(text, env, escape).run(split=False)[0]


def expand_words(text: str, env: dict[str, str], escape: str = "\\") -> list[str]:
    """Words split on unquoted whitespace, each expanded."""
    return _Lexer(text, env, escape).run(split=True)


class _Lexer:
    def __init__(self, text: str, env: dict[str, str], escape: str):
        self.text, self.env, self.escape = text, env, escape
        self.pos = 0

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def next(self) -> str:
        ch = self.peek()
        self.pos += 1
        return ch

    def run(self, split: bool, stop: str = "") -> list[str]:
        words: list[str] = []
        word: list[str] = []
        started = False

        def add_split(value: str) -> None:
            nonlocal word, started
            for ch in value:
                if ch.isspace():
                    if started:
                        words.append("".join(word))
                        word, started = [], False
                else:
                    word.append(ch)
                    started = True

        while self.pos < len(self.text):
            ch = self.peek()
            if stop and ch == stop:
                break
            if split and ch.isspace():
                self.next()
                if started:
                    words.append("".join(word))
                    word, started = [], False
                continue
            if ch == "'":
                word.append(self._single())
                started = True
            elif ch == '"':
                word.append(self._double())
                started = True
            elif ch == self.escape:
                self.next()
                if self.pos < len(self.text):
                    word.append(self.next())
                    started = True
            elif ch == "$":
                value = self._dollar()
                if split:
                    add_split(value)
                else:
                    word.append(value)
                    started = True
            else:
                word.append(self.next())
                started = True
        if started or not split:
            words.append("".join(word))
        return words

    def _single(self) -> str:
        self.next()
        end = self.text.find("'", self.pos)
        if end < 0:
            raise InvalidArgument(f"unexpected end of statement while looking for "
                                  f"matching single-quote in {self.text!r}")
        value = self.text[self.pos:end]
        self.pos = end + 1
        return value

    def _double(self) -> str:
        self.next()
        out: list[str] = []
        while True:
            ch = self.peek()
            if not ch:
                raise InvalidArgument(f"unexpected end of statement while looking for "
                                      f"matching double-quote in {self.text!r}")
            if ch == '"':
                self.next()
                return "".join(out)
            if ch == "$":
                out.append(self._dollar())
            elif ch == self.escape and self.pos + 1 < len(self.text) and \
                    self.text[self.pos + 1] in ('"', "$", self.escape):
                self.next()
                out.append(self.next())
            else:
                out.append(self.next())

    def _name(self) -> str:
        start = self.pos
        if self.peek() and self.peek() in _NAME_START:
            while self.peek() and self.peek() in _NAME_CHARS:
                self.next()
        return self.text[start:self.pos]

    def _dollar(self) -> str:
        self.next()                                  # the "$"
        if self.peek() != "{":
            name = self._name()
            return self.env.get(name, "") if name else "$"
        self.next()                                  # the "{"
        name = self._name()
        if not name:
            raise InvalidArgument(f"bad substitution in {self.text!r}: expected a "
                                  "variable name after ${")
        ch = self.next()
        if ch == "}":
            return self.env.get(name, "")
        colon = ch == ":"
        if colon:
            ch = self.next()
        if ch not in ("-", "+", "?"):
            raise InvalidArgument(f"unsupported modifier {(':' if colon else '') + ch!r} "
                                  f"in ${{{name}...}} in {self.text!r} (accepted: "
                                  ":-, -, :+, +, :?, ?)")
        word = _Lexer(self.text, self.env, self.escape)
        word.pos = self.pos
        inner = word.run(split=False, stop="}")[0]
        if word.peek() != "}":
            raise InvalidArgument(f"missing '}}' in {self.text!r}")
        self.pos = word.pos + 1
        is_set = name in self.env
        value = self.env.get(name, "")
        present = bool(value) if colon else is_set
        if ch == "-":
            return value if present else inner
        if ch == "+":
            return inner if present else ""
        if not present:
            raise InvalidArgument(f"{name}: {inner or 'is not allowed to be unset'}")
        return value
