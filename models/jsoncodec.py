"""JSON for the database's JSON columns and the Bot API's bodies: orjson.

Every update's answer is a JSON body posted and a JSON answer read, and most turns write the
draft's JSON; with the standard library's encoder and decoder that was ~5 % of the bot's CPU
per update (py-spy, bench/README.md "Eighth pass"). orjson does the same work several times
faster. Its output differs only in form (non-ASCII text as UTF-8, not \\u escapes), which
both readers accept; keys that are not strings are written as strings, as `json` does.

What orjson refuses and the standard library takes goes to the standard library, as before:
a text with a lone surrogate (Meta writes non-ASCII as \\uXXXX escapes, so half an emoji
arrives as one; the webhook's parser keeps it), written or read, and an integer beyond
64 bits, written.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_OPTIONS = orjson.OPT_NON_STR_KEYS


def dumps(obj: Any) -> str:
    """`obj` as JSON text."""
    try:
        return orjson.dumps(obj, option=_OPTIONS).decode()
    except TypeError:  # (orjson.JSONEncodeError) a lone surrogate, a big integer
        return json.dumps(obj)  # escapes them as ASCII; raises TypeError for what it can't


def loads(text: str | bytes) -> Any:
    """JSON text (or bytes) as Python values; ValueError when it is not JSON."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # a lone surrogate's escape; else not JSON (ValueError)
        return json.loads(text)
