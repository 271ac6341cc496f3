"""STIX patterns: the fast path agrees with the ``stix2patterns`` reference, and reads
comparisons the way the reference parser does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from stix2patterns.validator import run_validator

from mburoja.stix import pattern
from mburoja.stix.pattern import Comparison, check, comparisons

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
MD5 = "d41d8cd98f00b204e9800998ecf8427e"
SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def reference_valid(p: str) -> bool:
    try:
        return run_validator(p, stix_version="2.1") == []
    except Exception:  # the reference crashes on a few inputs; those are not valid
        return False


def quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


# --- generators of valid and near-valid patterns --------------------------------------------
# A pattern is drawn from valid parts; then, half the time, exactly one part is drawn from the
# invalid choices instead (or one character is mutated), so most failures are near misses.

TYPES = (
    ["domain-name", "ipv4-addr", "file", "url", "x-custom_1", "network-traffic", "Domain-Name",
     "a", "_", "x-"],  # the last four are odd but syntactically fine
    ["AND", "true", "9a", "-x", "do main", "domain.name", "", "NOT"],
)  # fmt: skip
PATHS = (
    ["value", "name", "hashes.MD5", "hashes.'SHA-256'", "hashes.sha256", "hashes.'MD5'",
     "hashes.SSDEEP", "hashes.FOO", "dst_ref.value", "a.b.c", "a[0].b", "a[*]", "t", "b",
     "x.'a.b'", "x.'it\\'s'", "bNOT", "values9"],
    ["hashes[0]", "x-y", "a.x-y", "IN", "true", "a.true", "b'x'", "va lue", "a..b", "a[-1]",
     "a[01]", ".a", "a.", "a:b", "hashes.'SHA-256"],
)  # fmt: skip
NUMBERS = (
    ["0", "1", "443", "-5", "+7", "1.5", ".5", "-.5", "00.5", "+0"],
    ["05", "5.", "1e5", "- 1", "1_0"],
)
OTHERS = (
    ["true", "false", "h'ab'", "b'YWJj'", "t'2020-01-01T00:00:00Z'"],
    ["TRUE", "True", "h'abc'", "t'2020-13-01T00:00:00Z'", "t'2020-01-01'"],
)
EQUALITY = (["=", "!=", "==", "<>", "NOT =", "NOT !="], ["=>", "= =", "IS", "EXISTS"])
ORDERING = (["<", "<=", ">", ">=", "NOT <"], ["=<", "< ="])
STRING_OPS = (
    ["LIKE", "MATCHES", "ISSUBSET", "ISSUPERSET", "NOT LIKE", "NOT ISSUBSET"],
    ["like", "IS", "ISSUBSET IN"],
)
SPACES = ([" ", " ", " ", "", "  ", "\t", "\n"], ["\u00a0", "\x0b", "\u2028"])
AND_OR = ([" AND ", " OR ", " AND  "], [" and ", "AND", " or"])
OBS_JOINERS = ([" AND ", " OR ", " FOLLOWEDBY ", "AND", "OR"], [" followedby ", " ", ","])
OPEN = (["["], ["(", "", "{"])
CLOSE = (["]"], [")", "", "}"])
TAILS = (["", "", "", " WITHIN 5 SECONDS", " /* c */", " START t'2020-01-01T00:00:00Z'"
          " STOP t'2021-01-01T00:00:00Z'"], [" REPEATS 0 TIMES", " WITHIN SECONDS"])  # fmt: skip
PARTS = ["type", "path", "op", "literal", "space", "bracket", "joiner", "tail"]
MD5_VALUES = [f"'{MD5}'", f"'{SHA256}'", f"'{MD5.upper()}'", "'3:a+b:c'", "''"]


class Drawer:
    """Draws the parts of one pattern, breaking at most one of them."""

    def __init__(self, draw: st.DrawFn) -> None:
        self.draw = draw
        # Half the patterns keep to the forms the fast path knows, so both paths get exercised.
        self.simple = draw(st.booleans())
        self.broken = draw(st.sampled_from([None, None, None, None, *PARTS]))
        self.spent = False

    def pick(self, part: str, choices: tuple[list[str], list[str]]) -> str:
        valid, invalid = choices
        if part == self.broken and not self.spent and self.draw(st.booleans()):
            self.spent = True
            return self.draw(st.sampled_from(invalid))
        return self.draw(st.sampled_from(valid))

    def string(self) -> str:
        if self.broken == "literal" and not self.spent and self.draw(st.booleans()):
            self.spent = True
            badly = st.text(alphabet="ab.'\\", max_size=6).map(lambda s: f"'{s}'")
            return self.draw(badly | st.sampled_from([f"'{MD5[:-1]}'", "'open", "bare", '"dq"']))
        good = st.text(alphabet="ab.-_:/%'\\ é\n", max_size=8).map(quoted)
        return self.draw(good | st.sampled_from(MD5_VALUES))

    def literal(self) -> str:
        kind = self.draw(st.integers(0, 3))
        if kind == 0:
            return self.pick("literal", NUMBERS)
        if kind == 1:
            return self.pick("literal", (["true", "false"], OTHERS[1]) if self.simple else OTHERS)
        return self.string()

    def comparison(self) -> str:
        lead = self.pick("type", TYPES) + ":" + self.pick("path", PATHS)
        sp = self.pick("space", SPACES)
        form = self.draw(st.sampled_from([0, 3, 5, 6] if self.simple else range(10)))
        if form == 0:
            items = self.draw(st.integers(0, 3))
            body = ", ".join(self.literal() for _ in range(items))
            return f"{lead} {self.draw(st.sampled_from(['IN', 'NOT IN']))}{sp}({body})"
        if form == 1:
            return f"EXISTS {lead}"
        if form == 2:
            return f"({lead} = {self.literal()})"
        if form in (3, 4):
            return f"{lead} {self.pick('op', STRING_OPS)}{sp}{self.string()}"
        if form == 5:
            return f"{lead}{sp}{self.pick('op', ORDERING)}{sp}{self.literal()}"
        return f"{lead}{sp}{self.pick('op', EQUALITY)}{sp}{self.literal()}"

    def observation(self) -> str:
        tests = [self.comparison() for _ in range(self.draw(st.integers(1, 3)))]
        pad = self.pick("space", SPACES)
        inner = self.pick("joiner", AND_OR).join(tests)
        return self.pick("bracket", OPEN) + pad + inner + pad + self.pick("bracket", CLOSE)

    def pattern(self) -> str:
        observations = [self.observation() for _ in range(self.draw(st.integers(1, 3)))]
        text = self.pick("space", SPACES) + self.pick("joiner", OBS_JOINERS).join(observations)
        tail = "" if self.simple else self.pick("tail", TAILS)
        return text + self.pick("space", SPACES) + tail


@st.composite
def pattern_text(draw: st.DrawFn) -> str:
    drawer = Drawer(draw)
    text = drawer.pattern()
    if drawer.broken is None and draw(st.booleans()) and text:  # a one-character mutation
        i = draw(st.integers(0, len(text) - 1))
        replacement = draw(st.sampled_from(["", "'", "]", "[", "\\", " ", "-", ":", "."]))
        text = text[:i] + replacement + text[i + 1 :]
    return text


COMMON = [
    "[domain-name:value = 'evil.example']",
    "[ipv4-addr:value = '198.51.100.7']",
    "[ipv4-addr:value ISSUBSET '10.0.0.0/8']",
    "[url:value = 'http://evil.example/a?b=\\'c\\'']",
    f"[file:hashes.'SHA-256' = '{SHA256}']",
    f"[file:hashes.MD5 = '{MD5}' OR file:name = 'x.exe']",
    "[email-addr:value = 'a@evil.example'] AND [domain-name:value IN ('x.example', 'y.example')]",
    "[network-traffic:dst_ref.value = '203.0.113.5' AND network-traffic:dst_port = 443]",
    "[autonomous-system:number = 174]",
    "[process:name NOT LIKE 'svc%'] FOLLOWEDBY [file:name MATCHES '^evil\\\\d+$']",
    "[x-acme:values[*].name != 'ok']",
]


# --- check ---------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pattern_text())
@example("[file:hashes.'MD5' IN ('d41d8cd98f00b204e9800998ecf8427e')]")
@example("[file:hashes[0] = 'x']")
@example(f"[file:hashes.MD5 = '{MD5}\n']")
@example("[a:b = 5AND a:c = 2]")
@example("[a:bNOT = 1]")
@example("[AND:b = 1]")
def test_check_agrees_with_the_reference_validator(p: str) -> None:
    assert (check(p) is None) == reference_valid(p), p


ONE_EQUALITY_TYPES = [*TYPES[0], *TYPES[1], "true", "false", "artifact"]
ONE_EQUALITY_PATHS = [
    "value", "name", "number", "key", "hashes.MD5", "hashes.'SHA-256'", "hashes.SHA256",
    "hashes.'SHA3-256'", "hashes.ssdeep", "hashes.IN", "hashes.true", "hashes.x1", "IN",
]  # fmt: skip
one_equality = st.builds(
    "[{}:{} = '{}']".format,
    st.sampled_from(ONE_EQUALITY_TYPES),
    st.sampled_from(ONE_EQUALITY_PATHS),
    st.one_of(
        st.sampled_from([MD5, SHA256, MD5.upper(), MD5[:-1], SHA256 + "0", "3:a+b:c", ""]),
        st.text(alphabet="0123456789abcdefAF+/:.-", max_size=70),
    ),
)


@settings(max_examples=300, deadline=None)
@given(one_equality)
def test_check_agrees_with_the_reference_on_lone_equalities(p: str) -> None:
    assert (check(p) is None) == reference_valid(p), p
    if check(p) is None:
        assert sorted(map(_key, comparisons(p))) == sorted(
            map(_key, pattern._reference_comparisons.__wrapped__(p))
        )


@pytest.mark.parametrize("p", COMMON)
def test_common_patterns_are_valid(p: str) -> None:
    assert reference_valid(p)
    assert check(p) is None


@pytest.mark.parametrize("p", [c for c in COMMON if "MATCHES" not in c])
def test_common_patterns_never_reach_the_slow_reference(
    p: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(_: str) -> Any:
        raise AssertionError("the fast path should have decided")

    monkeypatch.setattr(pattern, "_reference_check", refuse)
    monkeypatch.setattr(pattern, "_reference_comparisons", refuse)
    assert check(p) is None
    assert comparisons(p)


@pytest.mark.parametrize(
    ("p", "words"),
    [
        ("[domain-name:value = 'x'", "']'"),
        ("domain-name:value = 'x'", "square brackets"),
        (f"[file:hashes.MD5 = '{MD5[:-1]}']", "MD5"),
    ],
)
def test_check_gives_a_reason_for_an_invalid_pattern(p: str, words: str) -> None:
    reason = check(p)
    assert reason is not None
    assert words in reason


# --- comparisons ---------------------------------------------------------------------------


def test_comparisons_read_paths_ops_and_unescaped_values() -> None:
    p = (
        f"[file:hashes.'SHA-256' = '{SHA256}' AND file:name NOT = 'it\\'s \\\\ here'] "
        "OR [ipv4-addr:value ISSUBSET '10.0.0.0/8' AND x-a:n[*].v IN (1, 'two', true, 2.5)]"
    )
    assert comparisons(p) == (
        Comparison("file", ("hashes", "SHA-256"), "=", SHA256),
        Comparison("file", ("name",), "NOT =", "it's \\ here"),
        Comparison("ipv4-addr", ("value",), "ISSUBSET", "10.0.0.0/8"),
        Comparison("x-a", ("n", "[*]", "v"), "IN", (1, "two", True, 2.5)),
    )


def test_comparisons_of_complex_patterns_come_from_the_reference_parser() -> None:
    p = "([a:b == 1 OR (a:c <> t'2020-01-01T00:00:00Z')] WITHIN 5 SECONDS)"
    assert set(comparisons(p)) == {
        Comparison("a", ("b",), "=", 1),
        Comparison("a", ("c",), "!=", "2020-01-01T00:00:00Z"),
    }


@pytest.mark.parametrize("p", ["[a:b = ", "", "[file:hashes.MD5 = 'short']", "[x:y = 'a'] garbage"])
def test_comparisons_of_an_invalid_pattern_are_empty(p: str) -> None:
    assert comparisons(p) == ()


def _key(c: Comparison) -> str:
    return repr((c.object_type, c.path, c.op, c.value))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pattern_text())
def test_fast_comparisons_equal_the_reference_parser(p: str) -> None:
    fast = comparisons(p)
    if check(p) is not None:
        assert fast == ()
        return
    slow = pattern._reference_comparisons.__wrapped__(p)
    assert sorted(map(_key, fast)) == sorted(map(_key, slow))


def real_patterns() -> list[str]:
    found = []
    for path in sorted(DATA.glob("*/*.json")):
        bundle = orjson.loads(path.read_bytes())
        for obj in bundle.get("objects", []) if isinstance(bundle, dict) else []:
            if obj.get("type") == "indicator" and obj.get("pattern_type") == "stix":
                found.append(obj["pattern"])
    return found


def test_real_indicator_patterns_are_judged_like_the_reference() -> None:
    patterns = real_patterns()
    if not patterns:
        pytest.skip(f"no STIX example data under {DATA}")
    assert len(patterns) >= 10
    for p in patterns:
        assert (check(p) is None) == reference_valid(p), p
