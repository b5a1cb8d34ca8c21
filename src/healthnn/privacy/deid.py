"""placeholder"""
from __future__ import annotations
from dataclasses import dataclass
from healthnn.privacy._deid_rules import detect

@dataclass(frozen=True)
class Span:
    start: int
    end: int
    label: str
    score: float

class Deidentifier:
    def __init__(self, mode="tag", key=None, keep_year=True):
        self.keep_year = keep_year
    def find(self, text):
        return [Span(*h) for h in detect(text, keep_year=self.keep_year)]
