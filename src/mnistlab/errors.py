"""The one exception type the CLI turns into a one-line message and a non-zero exit, and `an()`,
the article its messages put before a word they did not choose (a format, a content type)."""

import re


class MnistlabError(Exception):
    """A problem the user can fix; the message says what is wrong and how to fix it."""


# Letters whose English names begin with a vowel sound: an FBI, an HTML, an MPO, an SVG.
_VOWEL_LETTERS = "AEFHILMNORSX"
_CONSONANT_SOUNDS = ("uni", "use", "usa", "usu", "uti", "eu", "one", "once")  # a unit, a user, a one-off


def an(word: str) -> str:
    """`word` with its indefinite article: 'a PNG', 'an ICO', 'an application/json', 'a text/plain'."""
    initials = re.match(r"[A-Z]{2,}\b", word)
    if initials:  # read letter by letter
        vowel = word[0] in _VOWEL_LETTERS
    else:
        lower = word.lower()
        vowel = lower[:1] in ("a", "e", "i", "o", "u") and not lower.startswith(_CONSONANT_SOUNDS)
    return f"{'an' if vowel else 'a'} {word}"
