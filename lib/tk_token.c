/*
 * tk_token.c - minting and checking tokens, and UUIDs.
 */
#include <pthread.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
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

/*
 * Base62 works on 32-bit limbs, most significant first, five digits at a
 * time: 62^5 < 2^30, so a remainder times 2^32 plus a limb fits in 64
 * bits.  A 48-byte body is 13 passes over 12 limbs, where a byte-wise
 * long division was 65 passes over 48 bytes (a sixth of a request's
 * instructions in tokend, tests/bench/RESULTS.md).
 */
#define LIMBS_MAX	16		/* 64 bytes, the most either side takes */
#define GROUP		5		/* digits per pass */
#define GROUP_BASE	916132832u	/* 62^5 */

static const uint32_t pow62[GROUP + 1] = {
	1u, 62u, 3844u, 238328u, 14776336u, 916132832u,
};

/* Big-endian bytes into limbs, most significant first; returns the count. */
static size_t
to_limbs(const unsigned char *in, size_t len, uint32_t *limb)
{
	size_t	n = (len + 3) / 4, i, k;

	memset(limb, 0, n * sizeof(*limb));
	for (i = 0; i < len; i++) {
		k = (len - 1 - i) / 4;		/* limb from the least significant */
		limb[n - 1 - k] |= (uint32_t)in[i] << (8 * ((len - 1 - i) % 4));
	}
	return n;
}

bool
tk_base62_encode(const unsigned char *in, size_t inlen, char *out, size_t width)
{
	uint32_t	limb[LIMBS_MAX];
	size_t		n, first, i, pos, k;
	bool		ok = false;

	if (inlen > 4 * LIMBS_MAX)
		return false;
	n = to_limbs(in, inlen, limb);
	first = 0;		/* limbs before it are zero */
	while (first < n && limb[first] == 0)
		first++;
	/* Divide by 62^k, least significant group of digits first. */
	for (pos = width; pos > 0; pos -= k) {
		uint64_t	rem = 0;

		k = pos < GROUP ? pos : GROUP;
		if (k == GROUP) {	/* a constant divisor: a multiplication */
			for (i = first; i < n; i++) {
				uint64_t cur = rem << 32 | limb[i];

				limb[i] = (uint32_t)(cur / GROUP_BASE);
				rem = cur % GROUP_BASE;
			}
		} else {
			for (i = first; i < n; i++) {
				uint64_t cur = rem << 32 | limb[i];

				limb[i] = (uint32_t)(cur / pow62[k]);
				rem = cur % pow62[k];
			}
		}
		for (i = 0; i < k; i++) {
			out[pos - 1 - i] = alphabet[rem % 62];
			rem /= 62;
		}
		while (first < n && limb[first] == 0)
			first++;
		if (first == n) {
			memset(out, '0', pos - k);
			ok = true;
			break;
		}
	}
	OPENSSL_cleanse(limb, sizeof(limb));
	return ok;	/* false: digits left over, the value needs more than width */
}

bool
tk_base62_decode(const char *in, size_t width, unsigned char *out, size_t outlen)
{
	uint32_t	limb[LIMBS_MAX];
	size_t		n = (outlen + 3) / 4, i, j, k, spare;
	bool		ok = false;

	if (outlen > 4 * LIMBS_MAX)
		return false;
	for (i = 0; i < width; i++)
		if (digit_value((unsigned char)in[i]) < 0)
			return false;
	memset(limb, 0, sizeof(limb));
	/* Multiply-add a group of up to five digits at a time. */
	for (i = 0; i < width; i += k) {
		uint64_t	carry = 0;
		uint32_t	group = 0;

		/* Only the first group may be short. */
		k = (i == 0 && width % GROUP != 0) ? width % GROUP : GROUP;
		for (j = 0; j < k; j++)
			group = group * 62u + (uint32_t)digit_value((unsigned char)in[i + j]);
		carry = group;
		for (j = n; j > 0; j--) {
			uint64_t cur = (uint64_t)limb[j - 1] * pow62[k] + carry;

			limb[j - 1] = (uint32_t)cur;
			carry = cur >> 32;
		}
		if (carry != 0)
			goto out;
	}
	/* The top limb may hold more bytes than outlen has room for. */
	spare = 4 * n - outlen;
	if (spare > 0 && (limb[0] >> (8 * (4 - spare))) != 0)
		goto out;
	for (i = 0; i < outlen; i++) {
		k = (outlen - 1 - i) / 4;
		out[i] = (unsigned char)(limb[n - 1 - k] >> (8 * ((outlen - 1 - i) % 4)));
	}
	ok = true;
out:
	OPENSSL_cleanse(limb, sizeof(limb));
	if (!ok)
		memset(out, 0, outlen);
	return ok;
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

/* Write the token of body (id then secret) to out. */
static void
encode_token(const char *prefix, const unsigned char body[BODY_BYTES],
    char out[TK_TOKEN_LEN + 1])
{
	memcpy(out, prefix, PREFIX_LEN);
	/* 48 bytes always fit in 65 base62 digits (62^65 > 2^384). */
	(void)tk_base62_encode(body, BODY_BYTES, out + PREFIX_LEN,
	    TK_TOKEN_BODY_LEN);
	checksum(out, PREFIX_LEN + TK_TOKEN_BODY_LEN,
	    out + PREFIX_LEN + TK_TOKEN_BODY_LEN);
	out[TK_TOKEN_LEN] = '\0';
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
	encode_token(prefix, body, out);
out:
	OPENSSL_cleanse(body, sizeof(body));
	return err;
}

enum tk_err
tk_token_mint_new(enum tk_token_kind kind, unsigned char id[TK_UUID_LEN],
    char out[TK_TOKEN_LEN + 1])
{
	unsigned char	body[BODY_BYTES];
	const char	*prefix = tk_token_prefix(kind);
	enum tk_err	err = TK_OK;

	if (strlen(prefix) != PREFIX_LEN)
		return TK_EINVAL;
	/* One draw for id and secret: each RAND_bytes call costs as much
	 * as the bytes of a token. */
	if (RAND_bytes(body, BODY_BYTES) != 1) {
		err = TK_EIO;
		goto out;
	}
	body[6] = (unsigned char)((body[6] & 0x0f) | 0x40);	/* version 4 */
	body[8] = (unsigned char)((body[8] & 0x3f) | 0x80);	/* RFC 4122 variant */
	memcpy(id, body, TK_UUID_LEN);
	encode_token(prefix, body, out);
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

/*
 * OpenSSL 3's SHA256() looks the algorithm up in the provider store on
 * every call, half of its cost for a 75-byte token: look it up once per
 * process (after fork: this runs in the worker's first request).
 */
static EVP_MD		*sha256_md;
static pthread_once_t	 sha256_once = PTHREAD_ONCE_INIT;

static void
sha256_fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

void
tk_token_digest(const char *s, unsigned char out[TK_DIGEST_LEN])
{
	(void)pthread_once(&sha256_once, sha256_fetch);
	if (sha256_md == NULL ||
	    EVP_Digest(s, strlen(s), out, NULL, sha256_md, NULL) != 1)
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
