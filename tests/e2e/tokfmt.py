"""Token format of CONTRACT §2: mint, parse and check tokens offline.

<prefix><body><check>: prefix tkl_/tks_/tkc_; body = base62 (0-9A-Za-z) of the
16 id bytes followed by 32 random bytes, as one big-endian integer, left-padded
with '0' to 65 characters; check = base62 of zlib.crc32(prefix || body),
left-padded to 6.  75 characters in all.
"""
import hashlib
import os
import re
import uuid
import zlib

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
TOKEN_RE = re.compile(r"^tk[lsc]_[0-9A-Za-z]{71}$")
# Anything that looks like a token, inside a larger text.
TOKEN_SEARCH_RE = re.compile(r"tk[lsc]_[0-9A-Za-z]{71}")
BODY_LEN = 65
CHECK_LEN = 6
TOKEN_LEN = 75
PREFIXES = {"long": "tkl_", "short": "tks_", "client": "tkc_"}


def b62encode(n, width):
    out = []
    while n:
        n, r = divmod(n, 62)
        out.append(ALPHABET[r])
    s = "".join(reversed(out)) or ""
    if len(s) > width:
        raise ValueError("does not fit in %d base62 digits" % width)
    return s.rjust(width, "0")


def b62decode(s):
    n = 0
    for ch in s:
        n = n * 62 + ALPHABET.index(ch)
    return n


def check_of(prefix_and_body):
    return b62encode(zlib.crc32(prefix_and_body.encode("ascii")) & 0xFFFFFFFF, CHECK_LEN)


def mint(kind, token_uuid=None, rand=None):
    """A token of kind 'long'|'short'|'client' embedding token_uuid (uuid.UUID or str)."""
    prefix = PREFIXES[kind]
    if token_uuid is None:
        token_uuid = uuid.uuid4()
    if isinstance(token_uuid, str):
        token_uuid = uuid.UUID(token_uuid)
    if rand is None:
        rand = os.urandom(32)
    body = b62encode(int.from_bytes(token_uuid.bytes + rand, "big"), BODY_LEN)
    head = prefix + body
    return head + check_of(head)


def parse(token):
    """(kind_prefix, uuid_str) of a well-formed token, else raise ValueError."""
    if not TOKEN_RE.match(token):
        raise ValueError("does not match %s" % TOKEN_RE.pattern)
    head, check = token[:-CHECK_LEN], token[-CHECK_LEN:]
    if check_of(head) != check:
        raise ValueError("bad checksum")
    n = b62decode(head[4:])
    if n >= 1 << 384:
        raise ValueError("body larger than 48 bytes")
    raw = n.to_bytes(48, "big")
    return token[:4], str(uuid.UUID(bytes=raw[:16]))


def is_well_formed(token):
    try:
        parse(token)
        return True
    except ValueError:
        return False


def digest(token):
    return hashlib.sha256(token.encode("ascii")).digest()


def change_one_char(token, pos=None):
    """The token with one body character changed (so its checksum fails)."""
    if pos is None:
        pos = 40
    ch = token[pos]
    new = "1" if ch != "1" else "2"
    bad = token[:pos] + new + token[pos + 1:]
    assert bad != token
    return bad


def with_checksum_fixed(token_head):
    """token_head = prefix+body (69 chars): append a valid check."""
    return token_head + check_of(token_head)
