"""What customer-name columns really contain: every class the reliability report lists.

Each entry is (class, value). Used by the in-process, DataFrame, SQL and job tests alike.
"""

from __future__ import annotations

HOSTILE: list[tuple[str, str | None]] = [
    ("null", None),
    ("empty", ""),
    ("blank", "   "),
    ("whitespace controls", "\t\n\r\x0b\x0c"),
    ("100,000 characters", "Smith " * 16_666 + "Jo"),
    ("100,000 characters, one word", "x" * 100_000),
    ("3,000 non-Latin characters", "Ω" * 3000),
    ("emoji flood", "😀" * 2000),
    ("ZWJ sequences", "👨‍👩‍👧‍👦 👩🏽‍💻 family"),
    ("zero-width and BOM", "\u200b\u200d\ufeffJohn\u200bSmith"),
    ("control characters", "a\x00b\x07c\x1b[31mred\x1b[0m"),
    ("embedded newlines", "John\nSmith\r\nLtd"),
    ("right-to-left Arabic", "شركة أرامكو السعودية"),
    ("right-to-left Hebrew", "בנק לאומי"),
    ("bidi override", "\u202eJohn Smith\u202c"),
    ("CJK", "株式会社トヨタ自動車"),
    ("Korean", "삼성전자 주식회사"),
    ("combining marks", "Jose\u0301 Garci\u0301a e\u0301\u0301\u0301"),
    ("HTML", "<script>alert('x')</script><b>Acme</b>"),
    ("SQL", "Robert'); DROP TABLE customers;--"),
    ("JSON", '{"name": "John Smith", "id": 7}'),
    ("e-mail", "john.smith@example.com"),
    ("phone", "+34 600 123 456"),
    ("digits only", "0000123456789"),
    ("punctuation only", "-- / ## ..."),
    ("surrogate-free astral", "\U0001d4d0\U0001d4d1 \U0010fffd"),
    ("mixed scripts", "Müller 株式会社 محمد Smith"),
]

NAMES: list[str | None] = [v for _, v in HOSTILE]
