"""Unified social credit codes (统一社会信用代码, GB 32100-2015) for sandbox shops.

The generated codes are fictional but structurally valid: the embedded organisation
code (GB 11714) and the final check digit come from the same functions the pipeline's
validator uses (tiequan.party.creditcode), so it treats them exactly like real ones.
"""

from __future__ import annotations

import random

from tiequan.party.creditcode import check_digit, org_check_digit


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
    return first17 + check_digit(first17)
