"""Code and confidence come out of a free-text model reply."""

import pytest

from hi_moe.llm.extraction import MAX_CODE_CHARS, extract_code, extract_confidence, malformed_code


def test_fenced_python_block_is_extracted():
    reply = "Here you go:\n```python\ndef f():\n    return 1\n```\nCONFIDENCE: 0.8\n"
    assert extract_code(reply) == "def f():\n    return 1\n"


@pytest.mark.parametrize("info", ["", "py", "python", "Python", "python3", "PY "])
def test_fence_info_strings_are_accepted(info):
    reply = f"```{info}\nx = 1\n```\nCONFIDENCE: 0.7"
    assert extract_code(reply) == "x = 1\n"


def test_a_confidence_line_inside_the_code_block_is_dropped():
    reply = "```python\ndef f(s):\n    return s[::-1]\nCONFIDENCE: 0.9\n```"
    assert extract_code(reply) == "def f(s):\n    return s[::-1]\n"
    assert extract_confidence(reply) == 0.9
    commented = "```python\nx = 1\n# confidence: 0.5\ny = 2\n```"
    assert extract_code(commented) == "x = 1\ny = 2\n"


def test_first_fenced_block_wins():
    reply = "```python\na = 1\n```\nand a test:\n```python\nassert a == 1\n```"
    assert extract_code(reply) == "a = 1\n"


def test_unterminated_fence_takes_the_rest():
    assert extract_code("```python\ndef g():\n    pass\n") == "def g():\n    pass\n"


def test_no_fence_uses_the_reply_up_to_confidence():
    reply = "def f():\n    return 2\nCONFIDENCE: 0.4"
    assert extract_code(reply) == "def f():\n    return 2\n"


def test_no_fence_no_confidence_is_the_whole_reply():
    assert extract_code("  x = 3  \n") == "x = 3\n"


def test_code_is_bounded():
    code = extract_code("```python\n" + "a" * (MAX_CODE_CHARS * 2) + "\n```")
    assert len(code) == MAX_CODE_CHARS + 1


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("CONFIDENCE: 0.8", 0.8),
        ("confidence: .25", 0.25),
        ("Confidence:1", 1.0),
        ("CONFIDENCE: 0", 0.0),
        ("text\nCONFIDENCE:   0.65\nmore", 0.65),
    ],
)
def test_confidence_is_parsed(reply, expected):
    assert extract_confidence(reply) == pytest.approx(expected)


@pytest.mark.parametrize("reply", ["CONFIDENCE: 1.7", "CONFIDENCE: 85"])
def test_confidence_is_clamped_to_one(reply):
    assert extract_confidence(reply) == 1.0


@pytest.mark.parametrize("reply", ["no confidence here", "CONFIDENCE: high", ""])
def test_missing_confidence_gives_the_default(reply):
    assert extract_confidence(reply) == 0.5
    assert extract_confidence(reply, default=0.3) == 0.3


@pytest.mark.parametrize(
    ("code", "entry_point", "malformed"),
    [
        ("def f(x):\n    return x\n", "f", False),
        ("import math\n\nclass A:\n    def f(self):\n        return 1\n", "f", False),
        ("print(6 * 7)\n", "", False),
        ("def f(x):\n    return x\n", "g", True),
        ("def f(x:\n    return x\n", "f", True),
        ("\n", "", True),
        ("Here is the code: f(x) = x\n", "", True),
    ],
)
def test_malformed_code_is_a_format_error(code, entry_point, malformed):
    assert malformed_code(code, entry_point) is malformed
