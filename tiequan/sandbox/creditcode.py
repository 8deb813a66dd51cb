"""Unified social credit codes (统一社会信用代码, GB 32100-2015) for sandbox shops.

The generated codes are fictional but structurally valid: both the embedded
organisation code (GB 11714) and the final check digit are computed properly, so a
validator in the pipeline treats them exactly like real ones.
"""

from __future__ import annotations

import random

# GB 32100 alphabet: digits and capitals without I, O, Z, S, V.
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def _char_value(ch: str) -> int:
    """Value of a character in the GB 11714 organisation code (A=10 … Z=35)."""
    if ch.isdigit():
        return int(ch)
    return ord(ch) - ord("A") + 10


def org_check_digit(body: str) -> str:
    """Check character of an 8-character organisation-code body (GB 11714)."""
    total = sum(_char_value(c) * w for c, w in zip(body, _ORG_WEIGHTS, strict=True))
    check = 11 - total % 11
    if check == 10:
        return "X"
    if check == 11:
        return "0"
    return str(check)


def uscc_check_digit(first17: str) -> str:
    """Check character of the first 17 characters of a credit code (GB 32100)."""
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def is_valid_uscc(code: str) -> bool:
    """True when ``code`` is 18 GB 32100 characters with a matching check digit."""
    if len(code) != 18 or any(c not in USCC_ALPHABET for c in code):
        return False
    return uscc_check_digit(code[:17]) == code[17]


def make_uscc(rng: random.Random, division_code: str, org_type: str = "1") -> str:
    """A fresh credit code registered by 工商 (``9``) in ``division_code``.

    ``org_type`` is ``1`` for an enterprise, ``2`` for an individual business
    (个体工商户).
    """
    if len(division_code) != 6 or not division_code.isdigit():
        raise ValueError(f"division code must be 6 digits, got {division_code!r}")
    # Bodies use only characters valid in both alphabets, so the check digit can be too.
    body_chars = "0123456789ABCDEFGHJKLMNPQRTUWY"
    body = "".join(rng.choice(body_chars) for _ in range(8))
    org = body + org_check_digit(body)
    first17 = "9" + org_type + division_code + org
    return first17 + uscc_check_digit(first17)
