"""The tokenised note that every detector of the de-identifier reads.

>>> note = Note("Seen by Dr. Okonjo today.")
>>> [note.tokens[i][2] for i in note.words]
['Seen', 'by', 'Dr', 'Okonjo', 'today']
>>> note.case, gap(note, 2, 4)
('mixed', '. ')
"""

from __future__ import annotations

import re

__all__ = ["WORD", "Hit", "Note", "gap", "prev_word"]

Hit = tuple[int, int, str, float]

WORD = re.compile(r"[A-Za-z]+|\d+|[^\sA-Za-z\d]")
_NOT_UPPER = re.compile(r"[^A-Z]+")
_NOT_LETTER = re.compile(r"[^A-Za-z]+")


class Note:
    """Text plus a word tokenisation and the case style of the note.

    ``tokens`` are ``(start, end, text)`` runs of letters, of digits, or single other
    characters; ``words`` the indices of the alphabetic tokens; ``case`` is ``"upper"``
    (mostly capitals), ``"lower"`` (almost none) or ``"mixed"``: only mixed-case text carries
    case information about names.
    """

    __slots__ = ("text", "tokens", "words", "case")

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = [(m.start(), m.end(), m.group()) for m in WORD.finditer(text)]
        self.words = [i for i, t in enumerate(self.tokens) if t[2][0].isalpha()]
        head = text[:20000]
        upper = len(_NOT_UPPER.sub("", head))
        n = max(len(_NOT_LETTER.sub("", head)), 1)
        self.case = "upper" if upper > 0.7 * n else ("lower" if upper < 0.02 * n else "mixed")

    def capitalised(self, i: int) -> bool:
        """Token ``i`` starts with a capital, or the note has no case information."""
        w = self.tokens[i][2]
        if self.case != "mixed":
            return True  # no case information: every word could be a name
        return w[0].isupper()


def prev_word(note: Note, i: int, skip: str = ".,:;'") -> int | None:
    """Index of the alphabetic token before token ``i`` (over ``skip`` punctuation), or None."""
    j = i - 1
    while j >= 0 and note.tokens[j][2] in skip:
        j -= 1
    return j if j >= 0 and note.tokens[j][2][0].isalpha() else None


def gap(note: Note, i: int, j: int) -> str:
    """The text between the end of token ``i`` and the start of token ``j``."""
    return note.text[note.tokens[i][1]:note.tokens[j][0]]
