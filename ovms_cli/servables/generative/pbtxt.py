"""Protobuf text format, as far as a MediaPipe ``graph.pbtxt`` needs it: fields, nested messages
(``{}`` or ``<>``), extension names (``[type.googleapis.com/...]``), lists (``[a, b]``) and comments.

The reader checks the syntax only (what protobuf's own parser refuses: unbalanced braces, trailing
text, a value without a field); which field names a message may hold is the caller's to check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TOKEN = re.compile(
    r"""(?P<space>\s+|\#[^\n]*)"""
    r"""|(?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')"""
    r"""|(?P<word>[A-Za-z0-9_.+\-/]+)"""
    r"""|(?P<punct>[{}<>\[\]:,;])"""
)
_CLOSING = {"{": "}", "<": ">"}


class TextFormatError(ValueError):
    """Text that protobuf's text format parser refuses; the message names the line."""


@dataclass(frozen=True, slots=True)
class Field:
    """One field of a message: a scalar token (strings keep their quotes) or a nested message."""

    name: str
    line: int
    value: str | Message


Message = tuple[Field, ...]


@dataclass(frozen=True, slots=True)
class _Token:
    text: str
    kind: str
    line: int


def parse(text: str) -> Message:
    """The top-level message of ``text``. Raises TextFormatError naming the line."""
    tokens = _tokens(text)
    fields, position = _message(tokens, 0, None)
    if position < len(tokens):
        token = tokens[position]
        raise TextFormatError(f"line {token.line}: unexpected {token.text!r}")
    return fields


def _tokens(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position, line = 0, 1
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise TextFormatError(f"line {line}: unexpected {text[position]!r}")
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append(_Token(match.group(), kind, line))
        line += match.group().count("\n")
        position = match.end()
    return tokens


def _message(tokens: list[_Token], position: int, closing: str | None) -> tuple[Message, int]:
    fields: list[Field] = []
    while position < len(tokens) and tokens[position].text != closing:
        field, position = _field(tokens, position)
        fields.append(field)
        if position < len(tokens) and tokens[position].text in (",", ";"):
            position += 1
    if closing is not None and position == len(tokens):
        raise TextFormatError(f"line {tokens[-1].line}: unbalanced braces: {closing!r} missing at the end")
    return tuple(fields), position + (closing is not None)


def _field(tokens: list[_Token], position: int) -> tuple[Field, int]:
    name, position = _name(tokens, position)
    line = tokens[position - 1].line
    colon = _at(tokens, position).text == ":"
    position += colon
    token = _at(tokens, position)
    if token.text in _CLOSING:
        value, position = _message(tokens, position + 1, _CLOSING[token.text])
        return Field(name, line, value), position
    if not colon:
        raise TextFormatError(f"line {token.line}: expected ':' or '{{' after {name}, not {token.text!r}")
    if token.text == "[":
        return _list(tokens, position + 1, name, line)
    return Field(name, line, _scalar(token)), position + 1


def _name(tokens: list[_Token], position: int) -> tuple[str, int]:
    token = _at(tokens, position)
    if token.kind == "word":
        return token.text, position + 1
    if token.text == "[":
        inner, closing = _at(tokens, position + 1), _at(tokens, position + 2)
        if inner.kind == "word" and closing.text == "]":
            return f"[{inner.text}]", position + 3
    if token.text in ("}", ">"):
        raise TextFormatError(f"line {token.line}: unbalanced braces: {token.text!r} closes nothing")
    raise TextFormatError(f"line {token.line}: expected a field name, not {token.text!r}")


def _list(tokens: list[_Token], position: int, name: str, line: int) -> tuple[Field, int]:
    """``name: [a, b]``: the first value stands for the field (a graph's options take no lists)."""
    values: list[str] = []
    while _at(tokens, position).text != "]":
        values.append(_scalar(_at(tokens, position)))
        position += 1
        if _at(tokens, position).text == ",":
            position += 1
    return Field(name, line, values[0] if values else ""), position + 1


def _scalar(token: _Token) -> str:
    if token.kind not in ("string", "word"):
        raise TextFormatError(f"line {token.line}: expected a value, not {token.text!r}")
    return token.text


def _at(tokens: list[_Token], position: int) -> _Token:
    if position >= len(tokens):
        line = tokens[-1].line if tokens else 1
        raise TextFormatError(f"line {line}: unexpected end of the text")
    return tokens[position]
