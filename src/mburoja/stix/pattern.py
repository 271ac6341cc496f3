"""STIX 2.1 patterns: validity and the comparisons inside them, fast.

The reference is ``stix2patterns`` (the OASIS ANTLR grammar): a pattern is valid here exactly
when ``run_validator(pattern, stix_version="2.1")`` returns no errors. That costs about half a
millisecond, far too much for an ingest path that sees tens of thousands of indicators a
second, so this module first tries a *fast path*: a precise regular grammar for the forms feeds
actually use,

    [ <type>:<path> <op> <literal> ( AND|OR <comparison> )* ]  ( AND|OR|FOLLOWEDBY [ ... ] )*

with ``=`` (``==``), ``!=`` (``<>``), ``<``, ``<=``, ``>``, ``>=``, ``IN (...)``, ``LIKE``,
``MATCHES``, ``ISSUBSET``, ``ISSUPERSET`` (optionally ``NOT``), and string, integer, float and
boolean literals.
The fast path only ever *accepts*; it reproduces the lexer's longest-match and keyword rules
(an identifier must not run on into ``-`` or ``'``, keywords are not identifiers) and the
reference's extra hash-value check. Anything it does not recognise (parentheses, qualifiers,
comments, hex/binary/timestamp literals, odd spacing) goes to the reference, whose answers are
cached. ``tests/stix/test_pattern.py`` checks the agreement with Hypothesis.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Final

import msgspec
from stix2patterns.inspector import INDEX_STAR
from stix2patterns.v21.object_validator import HASHES_REGEX
from stix2patterns.v21.pattern import Pattern
from stix2patterns.validator import run_validator

Scalar = str | int | float | bool
Value = Scalar | tuple[Scalar, ...]


class Comparison(msgspec.Struct, frozen=True):
    """One comparison of a pattern: ``<object_type>:<path> <op> <value>``.

    ``path`` holds the property path as steps: keys unquoted (``("hashes", "SHA-256")``), list
    indexes as ``"[0]"`` or ``"[*]"``. ``op`` is upper-case (``=``, ``!=``, ``<``, ``<=``,
    ``>``, ``>=``, ``IN``, ``LIKE``, ``MATCHES``, ``ISSUBSET``, ``ISSUPERSET``), prefixed
    ``NOT `` when negated; ``==`` reads as ``=`` and ``<>`` as ``!=``. ``value`` is the literal
    unquoted and unescaped; an ``IN`` list is a tuple; timestamp, hex and binary literals give
    their text between the quotes.
    """

    object_type: str
    path: tuple[str, ...]
    op: str
    value: Value


# --- the fast grammar ---------------------------------------------------------------------

_WS = r"[ \t\r\n]"
_KEYWORD = (
    r"(?:AND|OR|NOT|FOLLOWEDBY|LIKE|MATCHES|ISSUPERSET|ISSUBSET|EXISTS|LAST|IN|START|STOP"
    r"|SECONDS|true|false|WITHIN|REPEATS|TIMES)"
)
# An object type may contain hyphens; it is followed by ':' directly, so a keyword is excluded
# by looking for "<keyword>:".
_TYPE = rf"(?!{_KEYWORD}:)[A-Za-z_][A-Za-z0-9_-]*"
# A path key is an identifier *without* hyphen. The lexer takes the longest token, so the name
# must not run on into '-' (IdentifierWithHyphen) or a quote (b'..', h'..', t'..' literals).
_IDENT = rf"(?!{_KEYWORD}(?![A-Za-z0-9_]))[A-Za-z_][A-Za-z0-9_]*(?![A-Za-z0-9_'-])"
_STR = r"'[^'\\]*(?:\\['\\][^'\\]*)*'"  # unrolled: fast on long literals
_INT = r"[+-]?(?:0|[1-9][0-9]*)"
_FLOAT = r"[+-]?[0-9]*\.[0-9]+"
_BOOL = r"(?:true|false)"
_LIT = rf"(?:{_STR}|{_FLOAT}|{_INT}|{_BOOL})"
_ORDERABLE = rf"(?:{_STR}|{_FLOAT}|{_INT})"
_PATH = rf"{_IDENT}(?:\.(?:{_IDENT}|{_STR})|\[(?:0|[1-9][0-9]*|\*)\])*"
_NOT_OR_SPACE = rf"(?:{_WS}+NOT{_WS}+|{_WS}*)"
_SET = rf"\({_WS}*(?:{_LIT}(?:{_WS}*,{_WS}*{_LIT})*{_WS}*)?\)"
_STRING_OPS = r"(?:LIKE|MATCHES|ISSUBSET|ISSUPERSET)"

_COMPARISON = (
    rf"{_TYPE}:{_PATH}(?:"
    rf"{_NOT_OR_SPACE}(?:==|=|!=|<>){_WS}*{_LIT}"
    rf"|{_NOT_OR_SPACE}(?:<=|>=|<|>){_WS}*{_ORDERABLE}"
    rf"|{_WS}+(?:NOT{_WS}+)?IN{_WS}*{_SET}"
    rf"|{_WS}+(?:NOT{_WS}+)?{_STRING_OPS}{_WS}+{_STR})"
)
_OBSERVATION = rf"\[{_WS}*{_COMPARISON}(?:{_WS}+(?:AND|OR){_WS}+{_COMPARISON})*{_WS}*\]"
_FAST_PATTERN: Final = re.compile(
    rf"{_WS}*{_OBSERVATION}(?:{_WS}*(?:AND|OR|FOLLOWEDBY){_WS}*{_OBSERVATION})*{_WS}*"
)

# The same grammar, one comparison at a time, with the parts captured.
_COMPARISON_PARTS: Final = re.compile(
    rf"(?P<type>{_TYPE}):(?P<path>{_PATH})(?:"
    rf"(?:{_WS}+(?P<n1>NOT){_WS}+|{_WS}*)(?P<eq>==|=|!=|<>){_WS}*(?P<v1>{_LIT})"
    rf"|(?:{_WS}+(?P<n2>NOT){_WS}+|{_WS}*)(?P<ord><=|>=|<|>){_WS}*(?P<v2>{_ORDERABLE})"
    rf"|{_WS}+(?:(?P<n3>NOT){_WS}+)?IN{_WS}*(?P<set>{_SET})"
    rf"|{_WS}+(?:(?P<n4>NOT){_WS}+)?(?P<sop>{_STRING_OPS}){_WS}+(?P<v4>{_STR}))"
)
# The commonest form of all, one equality on a top-level key with a plain string, read by one
# small regex. A lower-case type (not the keywords true/false) and a path that is no keyword.
_SIMPLE: Final = re.compile(
    r"\[((?!true:|false:)[a-z][a-z0-9-]*):(value|name|number|key) = '([^'\\]*)'\]"
)
_SIMPLE_HASH: Final = re.compile(
    r"\[((?!true:|false:)[a-z][a-z0-9-]*):hashes\.(?:'([A-Za-z0-9-]+)'|([A-Za-z][A-Za-z0-9]*))"
    r" = '([0-9A-Za-z+/:.]*)'\]"
)
_KEYWORDS: Final = frozenset(_KEYWORD[3:-1].split("|"))
_OPEN: Final = re.compile(rf"{_WS}*\[{_WS}*")
_NEXT: Final = re.compile(
    rf"{_WS}+(?:AND|OR){_WS}+"  # another comparison in this observation
    rf"|{_WS}*\]{_WS}*(?:AND|OR|FOLLOWEDBY){_WS}*\[{_WS}*"  # the next observation
    rf"|(?P<end>{_WS}*\]{_WS}*\Z)"
)
_PATH_STEP: Final = re.compile(rf"\.(?:(?P<key>{_IDENT})|(?P<quoted>{_STR}))|\[(?P<index>[^\]]+)\]")
_LITERAL: Final = re.compile(
    rf"(?P<s>{_STR})|(?P<f>{_FLOAT})|(?P<i>{_INT})|(?P<b>{_BOOL})"
    r"|(?P<prefixed>[thb]'[^']*')"
)
_ESCAPE: Final = re.compile(r"\\(.)", re.DOTALL)

# The reference's extra check: a value compared with a known hash algorithm must look like it.
_HASH_VALUE: Final[dict[str, re.Pattern[str]]] = {
    algorithm: re.compile(regex) for algorithm, (regex, _name) in HASHES_REGEX.items()
}

_EQUALITY_SPELLING: Final = {"=": "=", "==": "=", "!=": "!=", "<>": "!="}
_Scanned = tuple[str, str, str, str]  # object type, path text, op, literal text


def _unquote(literal: str) -> str:
    inner = literal[1:-1]
    return _ESCAPE.sub(r"\1", inner) if "\\" in inner else inner


def _scan(pattern: str) -> list[_Scanned] | None:
    """The comparisons of a pattern in the fast grammar, in order; None if it is not in it."""
    m = _OPEN.match(pattern)
    if m is None:
        return None
    pos = m.end()
    found: list[_Scanned] = []
    while True:
        c = _COMPARISON_PARTS.match(pattern, pos)
        if c is None:
            return None
        if c["eq"] is not None:
            op, literal, negated = _EQUALITY_SPELLING[c["eq"]], c["v1"], c["n1"]
        elif c["ord"] is not None:
            op, literal, negated = c["ord"], c["v2"], c["n2"]
        elif c["set"] is not None:
            op, literal, negated = "IN", c["set"], c["n3"]
        else:
            op, literal, negated = c["sop"], c["v4"], c["n4"]
        found.append((c["type"], c["path"], "NOT " + op if negated else op, literal))
        n = _NEXT.match(pattern, c.end())
        if n is None:
            return None
        if n["end"] is not None:
            return found
        pos = n.end()


@lru_cache(maxsize=4096)  # few distinct paths (value, hashes.'SHA-256', ...) recur endlessly
def _split_path(text: str) -> tuple[str, ...]:
    """The steps of a path the fast grammar accepted (``hashes.'SHA-256'`` -> two steps)."""
    if "[" not in text and "\\" not in text:
        if "'" not in text:
            return tuple(text.split("."))
        # Outside quotes (even pieces) the dots separate keys; inside (odd pieces) they do not.
        steps: list[str] = []
        for i, piece in enumerate(text.split("'")):
            if i % 2:
                steps.append(piece)
            else:
                steps.extend(key for key in piece.split(".") if key)
        return tuple(steps)
    first_end = len(text)
    for stop in (".", "["):
        i = text.find(stop)
        if i != -1:
            first_end = min(first_end, i)
    result = [text[:first_end]]
    for m in _PATH_STEP.finditer(text, first_end):
        if m["key"] is not None:
            result.append(m["key"])
        elif m["quoted"] is not None:
            result.append(_unquote(m["quoted"]))
        else:
            result.append(f"[{m['index']}]")
    return tuple(result)


def _hashes_pass(scanned: list[_Scanned]) -> bool:
    """Mirror of the reference's hash check; False also where only the reference can decide."""
    for _type, path_text, op, literal in scanned:
        if "hashes" not in path_text:
            continue
        path = _split_path(path_text)
        if "hashes" not in path:
            continue
        selector = path[-1]
        if selector.startswith("[") or "\\" in path_text:
            return False
        algorithm = selector.upper().replace("-", "").replace("'", "")
        regex = _HASH_VALUE.get(algorithm)
        if regex is None:
            continue
        if op.endswith("IN") or regex.match(literal.replace("'", "")) is None:
            return False
    return True


def _simple_hash(pattern: str) -> Comparison | None:
    """The comparison of a lone ``[<type>:hashes.<algorithm> = '<value>']`` that is valid."""
    m = _SIMPLE_HASH.fullmatch(pattern)
    if m is None:
        return None
    algorithm = m[2] or m[3]
    if m[3] is not None and algorithm in _KEYWORDS:
        return None
    regex = _HASH_VALUE.get(algorithm.upper().replace("-", ""))
    if regex is not None and regex.match(m[4]) is None:
        return None
    return Comparison(m[1], ("hashes", algorithm), "=", m[4])


@lru_cache(maxsize=8192)
def _reference_check(pattern: str) -> str | None:
    try:
        errors = run_validator(pattern, stix_version="2.1")
    except Exception as exc:  # the reference crashes on a few inputs, e.g. hashes[0]
        return f"pattern cannot be checked: {type(exc).__name__}: {exc}"
    if not errors:
        return None
    return str(errors[0]).removeprefix("FAIL: ")


def check(pattern: str) -> str | None:
    """None if ``pattern`` is a valid STIX 2.1 pattern, else a short reason.

    Agrees with ``stix2patterns.validator.run_validator(pattern, stix_version="2.1")``.
    """
    if "hashes" not in pattern:
        if _SIMPLE.fullmatch(pattern) is not None or _FAST_PATTERN.fullmatch(pattern) is not None:
            return None
    elif _simple_hash(pattern) is not None:
        return None
    else:
        # The reference also checks hash values, so the comparisons are needed one by one.
        scanned = _scan(pattern)
        if scanned is not None and _hashes_pass(scanned):
            return None
    return _reference_check(pattern)


def _literal_value(text: str) -> Scalar:
    """The value of one literal token the grammar accepted."""
    first = text[0]
    if first == "'":
        return _unquote(text)
    if first in "thb" and text[1:2] == "'":
        return text[2:-1]
    if text == "true" or text == "false":
        return text == "true"
    return float(text) if "." in text else int(text)


def _set_value(text: str) -> tuple[Scalar, ...]:
    values: list[Scalar] = []
    pos = 1
    end = len(text) - 1
    while pos < end:
        ch = text[pos]
        if ch in " \t\r\n,":
            pos += 1
            continue
        m = _LITERAL.match(text, pos)
        if m is None:
            break
        values.append(_literal_value(m.group()))
        pos = m.end()
    return tuple(values)


def _value(op: str, literal: str) -> Value:
    if op.endswith("IN"):
        return _set_value(literal)
    return _literal_value(literal)


_OP_SPELLING: Final = {"==": "=", "<>": "!=", "NOT ==": "NOT =", "NOT <>": "NOT !="}


def _reference_step(step: Any) -> str:
    if step is INDEX_STAR:
        return "[*]"
    if isinstance(step, int):
        return f"[{step}]"
    return str(step)


@lru_cache(maxsize=8192)
def _reference_comparisons(pattern: str) -> tuple[Comparison, ...]:
    try:
        data = Pattern(pattern).inspect()
    except Exception:  # ParseException, or the reference failing on odd input
        return ()
    result: list[Comparison] = []
    for object_type, tests in data.comparisons.items():
        for path, op, literal in tests:
            op = _OP_SPELLING.get(op, op)
            result.append(
                Comparison(
                    object_type,
                    tuple(_reference_step(step) for step in path),
                    op,
                    _value(op, literal),
                )
            )
    return tuple(result)


def comparisons(pattern: str) -> tuple[Comparison, ...]:
    """Every comparison in a valid pattern, in order; an empty tuple if it is invalid.

    Simple patterns are read by the fast grammar; the rest by the reference parser (cached),
    whose order is grouped by object type.
    """
    m = _SIMPLE.fullmatch(pattern)
    if m is not None:
        return (Comparison(m[1], (m[2],), "=", m[3]),)
    if "hashes" in pattern and (c := _simple_hash(pattern)) is not None:
        return (c,)
    scanned = _scan(pattern)
    if scanned is not None and ("hashes" not in pattern or _hashes_pass(scanned)):
        found = []
        for object_type, path, op, literal in scanned:
            found.append(Comparison(object_type, _split_path(path), op, _value(op, literal)))
        return tuple(found)
    if check(pattern) is not None:
        return ()
    return _reference_comparisons(pattern)
