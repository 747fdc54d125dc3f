/*
 * tk_token.c - minting and checking tokens, and UUIDs.
 */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <zlib.h>

#include "tk_token.h"

#define PREFIX_LEN	4
#define BODY_BYTES	(TK_UUID_LEN + 32)

static const char alphabet[] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static int
digit_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'Z')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 36;
	return -1;
}

bool
tk_base62_encode(const unsigned char *in, size_t inlen, char *out, size_t width)
{
	unsigned char	num[64];
	size_t		i, pos;
	bool		zero;

	if (inlen > sizeof(num))
		return false;
	memcpy(num, in, inlen);
	/* Long division by 62, least significant digit first. */
	for (pos = width; pos > 0; pos--) {
		unsigned int rem = 0;

		zero = true;
		for (i = 0; i < inlen; i++) {
			unsigned int cur = rem * 256 + num[i];

			num[i] = (unsigned char)(cur / 62);
			rem = cur % 62;
			if (num[i] != 0)
				zero = false;
		}
		out[pos - 1] = alphabet[rem];
		if (zero) {
			memset(out, '0', pos - 1);
			OPENSSL_cleanse(num, sizeof(num));
			return true;
		}
	}
	OPENSSL_cleanse(num, sizeof(num));
	return false;	/* digits left over: does not fit in width */
}

bool
tk_base62_decode(const char *in, size_t width, unsigned char *out, size_t outlen)
{
	size_t	i, j;

	memset(out, 0, outlen);
	for (i = 0; i < width; i++) {
		int		d = digit_value((unsigned char)in[i]);
		unsigned int	carry;

		if (d < 0)
			return false;
		carry = (unsigned int)d;
		for (j = outlen; j > 0; j--) {
			unsigned int cur = out[j - 1] * 62u + carry;

			out[j - 1] = (unsigned char)(cur & 0xff);
			carry = cur >> 8;
		}
		if (carry != 0)
			return false;
	}
	return true;
}

static int
hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

const char *
tk_token_prefix(enum tk_token_kind kind)
{
	switch (kind) {
	case TK_TOKEN_LONG:	return "tkl_";
	case TK_TOKEN_SHORT:	return "tks_";
	case TK_TOKEN_CLIENT:	return "tkc_";
	case TK_TOKEN_NONE:	break;
	}
	return "";
}

static void
checksum(const char *s, size_t len, char out[TK_TOKEN_CHECK_LEN])
{
	uLong		crc = crc32(0L, Z_NULL, 0);
	unsigned char	be[4];

	crc = crc32(crc, (const Bytef *)s, (uInt)len);
	be[0] = (unsigned char)(crc >> 24);
	be[1] = (unsigned char)(crc >> 16);
	be[2] = (unsigned char)(crc >> 8);
	be[3] = (unsigned char)crc;
	(void)tk_base62_encode(be, sizeof(be), out, TK_TOKEN_CHECK_LEN);
}

enum tk_err
tk_token_mint(enum tk_token_kind kind, const unsigned char id[TK_UUID_LEN],
    char out[TK_TOKEN_LEN + 1])
{
	unsigned char	body[BODY_BYTES];
	const char	*prefix = tk_token_prefix(kind);
	enum tk_err	err = TK_OK;

	if (strlen(prefix) != PREFIX_LEN)
		return TK_EINVAL;
	memcpy(body, id, TK_UUID_LEN);
	if (RAND_bytes(body + TK_UUID_LEN, BODY_BYTES - TK_UUID_LEN) != 1) {
		err = TK_EIO;
		goto out;
	}
	memcpy(out, prefix, PREFIX_LEN);
	/* 48 bytes always fit in 65 base62 digits (62^65 > 2^384). */
	(void)tk_base62_encode(body, sizeof(body), out + PREFIX_LEN,
	    TK_TOKEN_BODY_LEN);
	checksum(out, PREFIX_LEN + TK_TOKEN_BODY_LEN,
	    out + PREFIX_LEN + TK_TOKEN_BODY_LEN);
	out[TK_TOKEN_LEN] = '\0';
out:
	OPENSSL_cleanse(body, sizeof(body));
	return err;
}

enum tk_err
tk_token_parse(const char *s, struct tk_token *out)
{
	unsigned char		body[BODY_BYTES];
	char			check[TK_TOKEN_CHECK_LEN];
	enum tk_token_kind	kind;
	enum tk_err		err = TK_EINVAL;

	if (strnlen(s, TK_TOKEN_LEN + 1) != TK_TOKEN_LEN)
		return TK_EINVAL;
	if (strncmp(s, "tkl_", PREFIX_LEN) == 0)
		kind = TK_TOKEN_LONG;
	else if (strncmp(s, "tks_", PREFIX_LEN) == 0)
		kind = TK_TOKEN_SHORT;
	else if (strncmp(s, "tkc_", PREFIX_LEN) == 0)
		kind = TK_TOKEN_CLIENT;
	else
		return TK_EINVAL;
	if (!tk_base62_decode(s + PREFIX_LEN, TK_TOKEN_BODY_LEN, body,
	    sizeof(body)))
		goto out;
	if (!tk_base62_decode(s + PREFIX_LEN + TK_TOKEN_BODY_LEN,
	    TK_TOKEN_CHECK_LEN, (unsigned char[4]){0}, 4))
		goto out;
	checksum(s, PREFIX_LEN + TK_TOKEN_BODY_LEN, check);
	/* The checksum is public (it is in the token): no need for constant time. */
	if (memcmp(check, s + PREFIX_LEN + TK_TOKEN_BODY_LEN,
	    TK_TOKEN_CHECK_LEN) != 0)
		goto out;
	out->kind = kind;
	memcpy(out->id, body, TK_UUID_LEN);
	err = TK_OK;
out:
	OPENSSL_cleanse(body, sizeof(body));
	return err;
}

void
tk_token_digest(const char *s, unsigned char out[TK_DIGEST_LEN])
{
	SHA256((const unsigned char *)s, strlen(s), out);
}

enum tk_err
tk_uuid_new(unsigned char out[TK_UUID_LEN])
{
	if (RAND_bytes(out, TK_UUID_LEN) != 1)
		return TK_EIO;
	out[6] = (unsigned char)((out[6] & 0x0f) | 0x40);	/* version 4 */
	out[8] = (unsigned char)((out[8] & 0x3f) | 0x80);	/* RFC 4122 variant */
	return TK_OK;
}

bool
tk_uuid_parse(const char *s, unsigned char out[TK_UUID_LEN])
{
	unsigned char	tmp[TK_UUID_LEN];
	size_t		i, n = 0;

	for (i = 0; i < TK_UUID_STR_LEN; i++) {
		int hi, lo;

		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
			continue;
		}
		/* Test the first digit before reading past a possible NUL. */
		if ((hi = hex_value((unsigned char)s[i])) < 0 ||
		    (lo = hex_value((unsigned char)s[i + 1])) < 0)
			return false;
		tmp[n++] = (unsigned char)(hi << 4 | lo);
		i++;
	}
	if (s[TK_UUID_STR_LEN] != '\0')
		return false;
	memcpy(out, tmp, TK_UUID_LEN);
	return true;
}

void
tk_uuid_format(const unsigned char id[TK_UUID_LEN], char out[TK_UUID_STR_LEN + 1])
{
	static const char	hex[] = "0123456789abcdef";
	size_t			i, pos = 0;

	for (i = 0; i < TK_UUID_LEN; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[pos++] = '-';
		out[pos++] = hex[id[i] >> 4];
		out[pos++] = hex[id[i] & 0x0f];
	}
	out[pos] = '\0';
}
