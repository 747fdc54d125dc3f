/*
 * test_tk_token.c - the token format (CONTRACT §2), base62 and UUIDs.
 *
 * The known vectors below were computed once, independently of this
 * code, with Python's zlib.crc32, int.from_bytes and hashlib.sha256:
 * prefix + base62(id || 0xa0..0xbf) padded to 65 + base62(crc32) padded
 * to 6.  Strings that must not be read past their end are copied to the
 * heap with their exact size, so that AddressSanitizer sees any overread.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tk_token.h"

#define ALPHABET	"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

/* 0f8fad5b-d9cb-469f-a165-70867728950e */
static const unsigned char vec_id[TK_UUID_LEN] = {
	0x0f, 0x8f, 0xad, 0x5b, 0xd9, 0xcb, 0x46, 0x9f,
	0xa1, 0x65, 0x70, 0x86, 0x77, 0x28, 0x95, 0x0e,
};

#define VEC_BODY	"0SkX6F2TJw2uZFXl8PHDOOI2SgE91xbxQLCW1bDT7Lzt55CpXgyXh7qG3ASQwfcKt"
#define VEC_LONG	"tkl_" VEC_BODY "1Go9rh"
#define VEC_SHORT	"tks_" VEC_BODY "1dMC0a"
#define VEC_CLIENT	"tkc_" VEC_BODY "46mljt"

/* 2^384 - 1, the largest body, and 2^384, one too many; checksums valid. */
#define MAX_BODY	"7cyhQvv5axdeihmOzIHjs85TcUIYiWHdsxNz50GTerEOR5ucj2TITPXxyaCUli1oF"
#define MAX_LONG	"tkl_" MAX_BODY "3kpNzS"
#define OVER_BODY	"7cyhQvv5axdeihmOzIHjs85TcUIYiWHdsxNz50GTerEOR5ucj2TITPXxyaCUli1oG"
#define ZZZ_LONG	"tkl_zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz0kBOKr"
#define ZERO_LONG	"tkl_00000000000000000000000000000000000000000000000000000000000000000" "2WBLjk"

struct vector {
	const char		*token;
	enum tk_token_kind	 kind;
	const char		*sha256;	/* hex of the digest of token */
};

static const struct vector vectors[] = {
	{ VEC_LONG, TK_TOKEN_LONG,
	  "f99c8ef46b03ffe58796e1a16d6d8a655e2bbdd06adb133a5479954ef42cc8a1" },
	{ VEC_SHORT, TK_TOKEN_SHORT,
	  "cb6d88e9ed7dd1730cc9000ca3998c5acc6339ee0ee54c7de8c8da9568b84535" },
	{ VEC_CLIENT, TK_TOKEN_CLIENT,
	  "fbf94cae1ab9f4d97ce332c6ea2fea8844d159ed97f04d3361edc8256272e9a7" },
};

static const enum tk_token_kind kinds[] = {
	TK_TOKEN_LONG, TK_TOKEN_SHORT, TK_TOKEN_CLIENT,
};

/* The fixed 32 bytes of the vectors: 0xa0, 0xa1, ... 0xbf. */
static void
vec_bytes(unsigned char out[48])
{
	size_t	i;

	memcpy(out, vec_id, TK_UUID_LEN);
	for (i = 0; i < 32; i++)
		out[TK_UUID_LEN + i] = (unsigned char)(0xa0 + i);
}

static void
hex(const unsigned char *in, size_t len, char *out)
{
	static const char	digits[] = "0123456789abcdef";
	size_t			i;

	for (i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0xf];
	}
	out[2 * len] = '\0';
}

/* A heap copy of exactly len bytes plus NUL: ASan catches reads past it. */
static char *
exact_copy(const char *s, size_t len)
{
	char	*p = malloc(len + 1);

	assert_non_null(p);
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

static enum tk_err
parse_exact(const char *s, struct tk_token *tok)
{
	char		*copy = exact_copy(s, strlen(s));
	enum tk_err	 err = tk_token_parse(copy, tok);

	free(copy);
	return err;
}

static bool
matches_published_regex(const char *s)
{
	regex_t	re;
	int	rc;

	assert_int_equal(regcomp(&re, "^tk[lsc]_[0-9A-Za-z]{71}$",
	    REG_EXTENDED | REG_NOSUB), 0);
	rc = regexec(&re, s, 0, NULL, 0);
	regfree(&re);
	return rc == 0;
}

/* A small deterministic generator: tests must not depend on luck. */
static unsigned long long
next_rand(unsigned long long *seed)
{
	*seed = *seed * 6364136223846793005ULL + 1442695040888963407ULL;
	return *seed >> 33;
}

static void
test_prefix_of_each_kind(void **state)
{
	(void)state;
	assert_string_equal(tk_token_prefix(TK_TOKEN_LONG), "tkl_");
	assert_string_equal(tk_token_prefix(TK_TOKEN_SHORT), "tks_");
	assert_string_equal(tk_token_prefix(TK_TOKEN_CLIENT), "tkc_");
	assert_string_equal(tk_token_prefix(TK_TOKEN_NONE), "");
	assert_string_equal(tk_token_prefix((enum tk_token_kind)42), "");
}

static void
test_mint_round_trips_each_kind(void **state)
{
	size_t	i;
	int	round;

	(void)state;
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		for (round = 0; round < 50; round++) {
			unsigned char	id[TK_UUID_LEN];
			char		tok[TK_TOKEN_LEN + 1];
			struct tk_token	parsed;

			assert_int_equal(tk_uuid_new(id), TK_OK);
			memset(tok, 'X', sizeof(tok));
			assert_int_equal(tk_token_mint(kinds[i], id, tok), TK_OK);
			assert_int_equal(tok[TK_TOKEN_LEN], '\0');
			assert_int_equal(strlen(tok), 75);
			assert_memory_equal(tok, tk_token_prefix(kinds[i]), 4);
			if (!matches_published_regex(tok))
				fail_msg("kind %zu: \"%s\" does not match the "
				    "published pattern", i, tok);
			memset(&parsed, 0xee, sizeof(parsed));
			assert_int_equal(parse_exact(tok, &parsed), TK_OK);
			assert_int_equal(parsed.kind, kinds[i]);
			assert_memory_equal(parsed.id, id, TK_UUID_LEN);
		}
	}
}

static void
test_mint_embeds_id_in_body(void **state)
{
	static const unsigned char	ids[][TK_UUID_LEN] = {
		{ 0 },
		{ 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff },
		{ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 },
		{ 0x80 },
	};
	size_t				i;

	(void)state;
	for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		char		tok[TK_TOKEN_LEN + 1];
		unsigned char	body[48];
		struct tk_token	parsed;

		assert_int_equal(tk_token_mint(TK_TOKEN_LONG, ids[i], tok), TK_OK);
		/* Decode the body independently of tk_token_parse. */
		assert_true(tk_base62_decode(tok + 4, TK_TOKEN_BODY_LEN, body,
		    sizeof(body)));
		assert_memory_equal(body, ids[i], TK_UUID_LEN);
		assert_int_equal(tk_token_parse(tok, &parsed), TK_OK);
		assert_memory_equal(parsed.id, ids[i], TK_UUID_LEN);
	}
}

static void
test_mint_differs_each_time(void **state)
{
	char	a[TK_TOKEN_LEN + 1], b[TK_TOKEN_LEN + 1];

	(void)state;
	assert_int_equal(tk_token_mint(TK_TOKEN_SHORT, vec_id, a), TK_OK);
	assert_int_equal(tk_token_mint(TK_TOKEN_SHORT, vec_id, b), TK_OK);
	assert_string_not_equal(a, b);
}

static void
test_mint_refuses_no_kind(void **state)
{
	char	tok[TK_TOKEN_LEN + 1];

	(void)state;
	assert_int_equal(tk_token_mint(TK_TOKEN_NONE, vec_id, tok), TK_EINVAL);
	assert_int_equal(tk_token_mint((enum tk_token_kind)42, vec_id, tok),
	    TK_EINVAL);
}

static void
test_parse_accepts_known_vectors(void **state)
{
	size_t	i;

	(void)state;
	for (i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		struct tk_token	tok;

		assert_int_equal(strlen(vectors[i].token), TK_TOKEN_LEN);
		assert_true(matches_published_regex(vectors[i].token));
		assert_int_equal(parse_exact(vectors[i].token, &tok), TK_OK);
		assert_int_equal(tok.kind, vectors[i].kind);
		assert_memory_equal(tok.id, vec_id, TK_UUID_LEN);
	}
}

static void
test_parse_accepts_extreme_bodies(void **state)
{
	static const unsigned char	ones[TK_UUID_LEN] = {
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	};
	static const unsigned char	zeros[TK_UUID_LEN] = { 0 };
	struct tk_token			tok;

	(void)state;
	assert_int_equal(parse_exact(MAX_LONG, &tok), TK_OK);
	assert_memory_equal(tok.id, ones, TK_UUID_LEN);
	assert_int_equal(parse_exact(ZERO_LONG, &tok), TK_OK);
	assert_memory_equal(tok.id, zeros, TK_UUID_LEN);
}

static void
test_parse_refuses_malformed(void **state)
{
	static const char *const bad[] = {
		"",
		"tkl_",
		/* wrong prefix, right length and checksum of the vector */
		"tkx_" VEC_BODY "1Go9rh",
		"TKL_" VEC_BODY "1Go9rh",
		"tkl-" VEC_BODY "1Go9rh",
		"tk_l" VEC_BODY "1Go9rh",
		"xtkl" VEC_BODY "1Go9rh",
		/* a valid token of another kind, relabelled */
		"tks_" VEC_BODY "1Go9rh",
		"tkc_" VEC_BODY "1Go9rh",
		"tkl_" VEC_BODY "1dMC0a",
		/* length 74 and 76 */
		"tkl_" VEC_BODY "1Go9r",
		"tkl_" VEC_BODY "1Go9rhh",
		"tkl_" VEC_BODY "1Go9rh0",
		"tkl_0" VEC_BODY "1Go9rh",
		"tkl_" VEC_BODY "1Go9rh ",
		" tkl_" VEC_BODY "1Go9rh",
		"tkl_" VEC_BODY "1Go9rh\n",
		/* bytes outside the alphabet */
		"tkl_-SkX6F2TJw2uZFXl8PHDOOI2SgE91xbxQLCW1bDT7Lzt55CpXgyXh7qG3ASQwfcKt1Go9rh",
		"tkl_0SkX6F2TJw2uZFXl8PHDOOI2SgE91xbxQLCW1bDT7Lzt55CpXgyXh7qG3ASQwfcK_1Go9rh",
		"tkl_0SkX6F2TJw2uZFXl8PHDOOI2SgE91xbxQLCW1bDT7Lzt55CpXgyXh7qG3ASQwfcKt1Go9r=",
		"tkl_0SkX6F2TJw2uZFXl8PHDOOI2 gE91xbxQLCW1bDT7Lzt55CpXgyXh7qG3ASQwfcKt1Go9rh",
		"tkl_0SkX6F2TJw2uZFXl8PHDOOI2+gE91xbxQLCW1bDT7Lzt55CpXgyXh7qG3ASQwfcKt1Go9rh",
		"tkl_0SkX6F2TJw2uZFXl8PHDOOI2/gE91xbxQLCW1bDT7Lzt55CpXgyXh7qG3ASQwfcKt1Go9rh",
		"tkl_0SkX6F2TJw2uZFXl8PHDOOI2\xc3gE91xbxQLCW1bDT7Lzt55CpXgyXh7qG3ASQwfcKt1Go9rh",
		/* a body above 2^384 - 1, each with a matching CRC */
		ZZZ_LONG,
		/* 2^384 exactly; the checksum does not matter, it is refused first */
		"tkl_" OVER_BODY "000000",
		/* a checksum above 2^32 - 1 */
		"tkl_" VEC_BODY "zzzzzz",
		"tkl_" VEC_BODY "4gfFC4",
	};
	size_t	i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct tk_token	tok;

		memset(&tok, 0x5a, sizeof(tok));
		if (parse_exact(bad[i], &tok) != TK_EINVAL)
			fail_msg("case %zu \"%s\" accepted", i, bad[i]);
		/* Nothing written on failure. */
		assert_int_equal(tok.kind, 0x5a5a5a5a);
	}
}

static void
test_parse_refuses_every_truncation(void **state)
{
	size_t	len;

	(void)state;
	for (len = 0; len < TK_TOKEN_LEN; len++) {
		char		*s = exact_copy(VEC_LONG, len);
		struct tk_token	 tok;

		if (tk_token_parse(s, &tok) != TK_EINVAL)
			fail_msg("prefix of length %zu accepted", len);
		free(s);
	}
}

static void
test_parse_refuses_embedded_nul(void **state)
{
	char		s[TK_TOKEN_LEN + 1];
	struct tk_token	tok;
	size_t		i;

	(void)state;
	for (i = 0; i < TK_TOKEN_LEN; i++) {
		memcpy(s, VEC_LONG, sizeof(s));
		s[i] = '\0';
		if (tk_token_parse(s, &tok) != TK_EINVAL)
			fail_msg("NUL at %zu accepted", i);
	}
}

/*
 * CRC32 catches every single-byte error: any one character changed,
 * in the prefix, the body or the checksum itself, must be refused.
 */
static void
test_parse_refuses_every_single_character_change(void **state)
{
	static const char	extra[] = "_-+/=. \x7f\x80\xff";
	size_t			v, pos, c;
	size_t			tried = 0;

	(void)state;
	for (v = 0; v < sizeof(vectors) / sizeof(vectors[0]); v++) {
		for (pos = 0; pos < TK_TOKEN_LEN; pos++) {
			const char	*all[2] = { ALPHABET, extra };
			int		 set;

			for (set = 0; set < 2; set++) {
				for (c = 0; all[set][c] != '\0'; c++) {
					char		s[TK_TOKEN_LEN + 1];
					struct tk_token	tok;

					memcpy(s, vectors[v].token, sizeof(s));
					if (s[pos] == all[set][c])
						continue;
					s[pos] = all[set][c];
					tried++;
					if (tk_token_parse(s, &tok) != TK_EINVAL)
						fail_msg("vector %zu: '%c' at %zu "
						    "accepted: %s", v, all[set][c],
						    pos, s);
				}
			}
		}
	}
	assert_true(tried > 3 * 71 * 61);
}

/* Swapping two adjacent different characters of the body is caught too. */
static void
test_parse_refuses_adjacent_transpositions(void **state)
{
	size_t	pos;

	(void)state;
	for (pos = 4; pos + 1 < TK_TOKEN_LEN; pos++) {
		char		s[TK_TOKEN_LEN + 1];
		struct tk_token	tok;
		char		t;

		memcpy(s, VEC_LONG, sizeof(s));
		if (s[pos] == s[pos + 1])
			continue;
		t = s[pos];
		s[pos] = s[pos + 1];
		s[pos + 1] = t;
		if (tk_token_parse(s, &tok) != TK_EINVAL)
			fail_msg("swap at %zu accepted", pos);
	}
}

static void
test_digest_is_sha256_of_string(void **state)
{
	static const struct {
		const char	*in;
		const char	*sha256;
	} cases[] = {
		{ "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
		{ "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
	};
	unsigned char	d[TK_DIGEST_LEN];
	char		h[2 * TK_DIGEST_LEN + 1];
	size_t		i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		tk_token_digest(cases[i].in, d);
		hex(d, sizeof(d), h);
		assert_string_equal(h, cases[i].sha256);
	}
	for (i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		tk_token_digest(vectors[i].token, d);
		hex(d, sizeof(d), h);
		assert_string_equal(h, vectors[i].sha256);
	}
}

static void
test_base62_encode_known_values(void **state)
{
	static const unsigned char	five[] = { 1, 2, 3, 4, 5 };
	static const unsigned char	crc_max[] = { 0xff, 0xff, 0xff, 0xff };
	unsigned char			vec[48], max[48];
	char				out[80];

	(void)state;
	memset(out, 'X', sizeof(out));
	assert_true(tk_base62_encode(five, sizeof(five), out, 10));
	assert_memory_equal(out, "00004iwreH", 10);
	assert_int_equal(out[10], 'X');		/* no NUL, no more */

	assert_true(tk_base62_encode(crc_max, sizeof(crc_max), out, 6));
	assert_memory_equal(out, "4gfFC3", 6);

	vec_bytes(vec);
	assert_true(tk_base62_encode(vec, sizeof(vec), out, 65));
	assert_memory_equal(out, VEC_BODY, 65);

	memset(max, 0xff, sizeof(max));
	assert_true(tk_base62_encode(max, sizeof(max), out, 65));
	assert_memory_equal(out, MAX_BODY, 65);
}

static void
test_base62_encode_zero(void **state)
{
	static const unsigned char	zero[48] = { 0 };
	char				out[70];

	(void)state;
	memset(out, 'X', sizeof(out));
	assert_true(tk_base62_encode(zero, sizeof(zero), out, 65));
	assert_memory_equal(out, ZERO_LONG + 4, 65);
	assert_int_equal(out[65], 'X');

	memset(out, 'X', sizeof(out));
	assert_true(tk_base62_encode(zero, 1, out, 1));
	assert_int_equal(out[0], '0');
	assert_int_equal(out[1], 'X');

	/* No input bytes is the value zero too. */
	memset(out, 'X', sizeof(out));
	assert_true(tk_base62_encode(zero, 0, out, 3));
	assert_memory_equal(out, "000X", 4);
}

static void
test_base62_encode_refuses_width_too_small(void **state)
{
	static const unsigned char	sixty_one[] = { 61 };
	static const unsigned char	sixty_two[] = { 62 };
	static const unsigned char	crc_max[] = { 0xff, 0xff, 0xff, 0xff };
	unsigned char			max[48];
	char				out[70];

	(void)state;
	assert_true(tk_base62_encode(sixty_one, 1, out, 1));
	assert_int_equal(out[0], 'z');
	assert_false(tk_base62_encode(sixty_two, 1, out, 1));
	assert_true(tk_base62_encode(sixty_two, 1, out, 2));
	assert_memory_equal(out, "10", 2);
	assert_false(tk_base62_encode(crc_max, sizeof(crc_max), out, 5));
	memset(max, 0xff, sizeof(max));
	assert_false(tk_base62_encode(max, sizeof(max), out, 64));
	assert_false(tk_base62_encode(sixty_one, 1, out, 0));
}

static void
test_base62_decode_known_values(void **state)
{
	static const unsigned char	five[] = { 1, 2, 3, 4, 5 };
	static const unsigned char	crc_max[] = { 0xff, 0xff, 0xff, 0xff };
	unsigned char			out[48], want[48];

	(void)state;
	assert_true(tk_base62_decode("00004iwreH", 10, out, 5));
	assert_memory_equal(out, five, 5);
	/* Only width characters are read: what follows does not count. */
	assert_true(tk_base62_decode("4gfFC3!!", 6, out, 4));
	assert_memory_equal(out, crc_max, 4);
	assert_true(tk_base62_decode(VEC_BODY, 65, out, 48));
	vec_bytes(want);
	assert_memory_equal(out, want, 48);
	assert_true(tk_base62_decode(MAX_BODY, 65, out, 48));
	memset(want, 0xff, sizeof(want));
	assert_memory_equal(out, want, 48);
}

static void
test_base62_decode_zero_and_empty(void **state)
{
	unsigned char	out[8], zero[8] = { 0 };

	(void)state;
	memset(out, 0xaa, sizeof(out));
	assert_true(tk_base62_decode("000000", 6, out, sizeof(out)));
	assert_memory_equal(out, zero, sizeof(out));
	memset(out, 0xaa, sizeof(out));
	assert_true(tk_base62_decode("", 0, out, sizeof(out)));
	assert_memory_equal(out, zero, sizeof(out));
	/* Zero fits in no bytes at all; anything else does not. */
	assert_true(tk_base62_decode("0000", 4, out, 0));
	assert_false(tk_base62_decode("0001", 4, out, 0));
}

static void
test_base62_decode_refuses_overflow(void **state)
{
	unsigned char	out[48];

	(void)state;
	assert_false(tk_base62_decode("4gfFC4", 6, out, 4));	/* 2^32 */
	assert_false(tk_base62_decode("zzzzzz", 6, out, 4));
	assert_false(tk_base62_decode(OVER_BODY, 65, out, 48));	/* 2^384 */
	assert_false(tk_base62_decode(ZZZ_LONG + 4, 65, out, 48));
	assert_true(tk_base62_decode("47", 2, out, 1));		/* 255 */
	assert_int_equal(out[0], 255);
	assert_false(tk_base62_decode("48", 2, out, 1));	/* 256 */
}

static void
test_base62_decode_refuses_bad_characters(void **state)
{
	unsigned char	out[8];
	int		c;

	(void)state;
	for (c = 1; c < 256; c++) {
		char	s[3] = { '1', (char)c, '\0' };
		bool	in_alphabet = strchr(ALPHABET, c) != NULL;

		if (tk_base62_decode(s, 2, out, sizeof(out)) != in_alphabet)
			fail_msg("byte %#x: %s", c, in_alphabet ?
			    "refused" : "accepted");
	}
	assert_false(tk_base62_decode("1\0" "1", 3, out, sizeof(out)));
}

static void
test_base62_round_trips(void **state)
{
	unsigned long long	seed = 42;
	int			round;

	(void)state;
	for (round = 0; round < 500; round++) {
		unsigned char	in[48], back[48];
		char		text[70];
		size_t		len = (size_t)(next_rand(&seed) % 49), i;

		for (i = 0; i < len; i++)
			in[i] = (unsigned char)next_rand(&seed);
		if (round % 5 == 0 && len > 0)
			in[0] = 0;	/* leading zero bytes */
		/* 65 digits hold any 48 bytes. */
		assert_true(tk_base62_encode(in, len, text, 65));
		for (i = 0; i < 65; i++)
			assert_non_null(strchr(ALPHABET, text[i]));
		assert_true(tk_base62_decode(text, 65, back, len));
		assert_memory_equal(back, in, len);
	}
}

/*
 * The digit-at-a-time definition of base62, as a model: one division of
 * the whole byte string by 62 per digit.  The code under test works on
 * limbs and groups of digits; every width and length must agree.
 */
static bool
model_encode(const unsigned char *in, size_t len, char *out, size_t width)
{
	unsigned char	num[64];
	size_t		pos, i;

	memcpy(num, in, len);
	for (pos = width; pos > 0; pos--) {
		unsigned int	rem = 0;

		for (i = 0; i < len; i++) {
			unsigned int cur = rem * 256 + num[i];

			num[i] = (unsigned char)(cur / 62);
			rem = cur % 62;
		}
		out[pos - 1] = ALPHABET[rem];
	}
	for (i = 0; i < len; i++)
		if (num[i] != 0)
			return false;
	return width > 0;
}

static void
test_base62_agrees_with_model_at_every_width(void **state)
{
	unsigned long long	seed = 7;
	int			round;

	(void)state;
	for (round = 0; round < 3000; round++) {
		unsigned char	in[64], back[64];
		char		got[100], want[100];
		size_t		len = (size_t)(next_rand(&seed) % 65), i;
		size_t		width = (size_t)(next_rand(&seed) % 100);
		bool		fits;

		for (i = 0; i < len; i++)
			in[i] = (unsigned char)next_rand(&seed);
		/* Small values and values near a power of 62 too. */
		for (i = 0; i < len && round % 3 == 0; i++)
			in[i] = i + 2 < len ? 0 : in[i];
		if (round % 7 == 0)
			memset(in, 0xff, len);
		fits = model_encode(in, len, want, width);
		memset(got, '#', sizeof(got));
		if (tk_base62_encode(in, len, got, width) != fits)
			fail_msg("round %d, %zu bytes, width %zu: fits is %d in the model",
			    round, len, width, fits);
		if (!fits)
			continue;
		assert_memory_equal(got, want, width);
		assert_int_equal(got[width], '#');	/* nothing past width */
		assert_true(tk_base62_decode(got, width, back, len));
		assert_memory_equal(back, in, len);
		/* One byte fewer has room only when the top byte is zero. */
		if (len > 0)
			assert_int_equal(tk_base62_decode(got, width, back, len - 1),
			    in[0] == 0);
	}
}

static void
test_base62_decode_at_limb_boundaries(void **state)
{
	unsigned char	out[8];

	(void)state;
	/* 2^40 - 1 and 2^40, written by the model. */
	static const unsigned char five[5] = { 0xff, 0xff, 0xff, 0xff, 0xff };
	static const unsigned char six[6] = { 0x01, 0, 0, 0, 0, 0 };
	char		text[8];

	assert_true(model_encode(five, 5, text, 7));
	assert_true(tk_base62_decode(text, 7, out, 5));
	assert_memory_equal(out, five, 5);
	assert_true(model_encode(six, 6, text, 8));
	/* 2^40 needs six bytes: five refuse, six take it. */
	assert_false(tk_base62_decode(text, 8, out, 5));
	assert_true(tk_base62_decode(text, 8, out, 6));
	assert_memory_equal(out, six, 6);
	assert_false(tk_base62_decode("1", 1, out, 0));
	assert_true(tk_base62_decode("000", 3, out, 0));
}

static void
test_mint_new_embeds_a_fresh_version_4_id(void **state)
{
	size_t	i;
	int	round;

	(void)state;
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		unsigned char	first[TK_UUID_LEN];

		for (round = 0; round < 50; round++) {
			unsigned char	id[TK_UUID_LEN], body[48];
			char		tok[TK_TOKEN_LEN + 1];
			struct tk_token	parsed;

			memset(tok, 'X', sizeof(tok));
			assert_int_equal(tk_token_mint_new(kinds[i], id, tok), TK_OK);
			assert_int_equal(strlen(tok), 75);
			assert_memory_equal(tok, tk_token_prefix(kinds[i]), 4);
			assert_true(matches_published_regex(tok));
			assert_int_equal(id[6] >> 4, 4);
			assert_int_equal(id[8] >> 6, 2);
			assert_int_equal(parse_exact(tok, &parsed), TK_OK);
			assert_int_equal(parsed.kind, kinds[i]);
			assert_memory_equal(parsed.id, id, TK_UUID_LEN);
			assert_true(tk_base62_decode(tok + 4, TK_TOKEN_BODY_LEN,
			    body, sizeof(body)));
			assert_memory_equal(body, id, TK_UUID_LEN);
			if (round == 0)
				memcpy(first, id, TK_UUID_LEN);
			else
				assert_memory_not_equal(id, first, TK_UUID_LEN);
		}
	}
	{
		unsigned char	id[TK_UUID_LEN];
		char		tok[TK_TOKEN_LEN + 1];

		assert_int_equal(tk_token_mint_new(TK_TOKEN_NONE, id, tok),
		    TK_EINVAL);
	}
}

static void
test_uuid_new_is_version_4(void **state)
{
	unsigned char	a[TK_UUID_LEN], b[TK_UUID_LEN];
	int		i;

	(void)state;
	for (i = 0; i < 100; i++) {
		assert_int_equal(tk_uuid_new(a), TK_OK);
		assert_int_equal(a[6] >> 4, 4);
		assert_int_equal(a[8] >> 6, 2);
	}
	assert_int_equal(tk_uuid_new(b), TK_OK);
	assert_memory_not_equal(a, b, TK_UUID_LEN);
}

static void
test_uuid_parse_valid(void **state)
{
	static const struct {
		const char	*s;
		unsigned char	 id[TK_UUID_LEN];
	} cases[] = {
		{ "0f8fad5b-d9cb-469f-a165-70867728950e",
		  { 0x0f, 0x8f, 0xad, 0x5b, 0xd9, 0xcb, 0x46, 0x9f,
		    0xa1, 0x65, 0x70, 0x86, 0x77, 0x28, 0x95, 0x0e } },
		{ "0F8FAD5B-D9CB-469F-A165-70867728950E",
		  { 0x0f, 0x8f, 0xad, 0x5b, 0xd9, 0xcb, 0x46, 0x9f,
		    0xa1, 0x65, 0x70, 0x86, 0x77, 0x28, 0x95, 0x0e } },
		{ "0f8FAD5b-D9cb-469F-a165-70867728950E",
		  { 0x0f, 0x8f, 0xad, 0x5b, 0xd9, 0xcb, 0x46, 0x9f,
		    0xa1, 0x65, 0x70, 0x86, 0x77, 0x28, 0x95, 0x0e } },
		{ "00000000-0000-0000-0000-000000000000", { 0 } },
		{ "ffffffff-ffff-ffff-ffff-ffffffffffff",
		  { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff } },
		{ "01234567-89ab-cdef-0123-456789ABCDEF",
		  { 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
		    0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef } },
	};
	size_t	i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned char	 id[TK_UUID_LEN];
		char		*s = exact_copy(cases[i].s, strlen(cases[i].s));

		if (!tk_uuid_parse(s, id))
			fail_msg("case %zu \"%s\" refused", i, cases[i].s);
		assert_memory_equal(id, cases[i].id, TK_UUID_LEN);
		free(s);
	}
}

static void
test_uuid_parse_invalid(void **state)
{
	static const char *const cases[] = {
		"",
		"{0f8fad5b-d9cb-469f-a165-70867728950e}",
		"0f8fad5b-d9cb-469f-a165-70867728950e}",
		"{0f8fad5b-d9cb-469f-a165-70867728950",
		"urn:uuid:0f8fad5b-d9cb-469f-a165-70867728950e",
		"0f8fad5bd9cb469fa16570867728950e",
		"0f8fad5b-d9cb-469f-a165-70867728950",
		"0f8fad5b-d9cb-469f-a165-70867728950e0",
		"0f8fad5b-d9cb-469f-a165-70867728950e ",
		" 0f8fad5b-d9cb-469f-a165-70867728950e",
		"0f8fad5b-d9cb-469f-a165-70867728950e\n",
		"0f8fad5g-d9cb-469f-a165-70867728950e",
		"0f8fad5b-d9cb-469f-a165-70867728950G",
		"0f8fad5b-d9cb-469f-a165_70867728950e",
		"0f8fad5b-d9cb-469f-a16570867728950e-",
		"0f8fad5bd-9cb-469f-a165-70867728950e",
		"0f8fad5b--9cb-469f-a165-70867728950e",
		"0f8fad5b-d9cb-469f-a165-7086772895-e",
		"-f8fad5b-d9cb-469f-a165-70867728950e",
		"0x8fad5b-d9cb-469f-a165-70867728950e",
		"+f8fad5b-d9cb-469f-a165-70867728950e",
		" f8fad5b-d9cb-469f-a165-70867728950e",
		"0f8fad5b-d9cb-469f-a165-70867728950\xc3\xa9",
		"not a uuid",
	};
	size_t	i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned char	 id[TK_UUID_LEN];
		char		*s = exact_copy(cases[i], strlen(cases[i]));

		memset(id, 0x5a, sizeof(id));
		if (tk_uuid_parse(s, id))
			fail_msg("case %zu \"%s\" accepted", i, cases[i]);
		assert_int_equal(id[0], 0x5a);	/* untouched on failure */
		free(s);
	}
}

/* Every prefix of a valid UUID, each in a buffer of its exact size. */
static void
test_uuid_parse_reads_no_further_than_nul(void **state)
{
	static const char	s[] = "0f8fad5b-d9cb-469f-a165-70867728950e";
	size_t			len;

	(void)state;
	for (len = 0; len < TK_UUID_STR_LEN; len++) {
		unsigned char	 id[TK_UUID_LEN];
		char		*p = exact_copy(s, len);

		if (tk_uuid_parse(p, id))
			fail_msg("prefix of length %zu accepted", len);
		free(p);
	}
}

static void
test_uuid_format_is_lower_case_canonical(void **state)
{
	char	out[TK_UUID_STR_LEN + 2];

	(void)state;
	memset(out, 'X', sizeof(out));
	tk_uuid_format(vec_id, out);
	assert_string_equal(out, "0f8fad5b-d9cb-469f-a165-70867728950e");
	assert_int_equal(out[TK_UUID_STR_LEN + 1], 'X');
}

static void
test_uuid_format_round_trips(void **state)
{
	int	i;

	(void)state;
	for (i = 0; i < 200; i++) {
		unsigned char	id[TK_UUID_LEN], back[TK_UUID_LEN];
		char		s[TK_UUID_STR_LEN + 1];

		assert_int_equal(tk_uuid_new(id), TK_OK);
		tk_uuid_format(id, s);
		assert_int_equal(strlen(s), TK_UUID_STR_LEN);
		assert_true(tk_uuid_parse(s, back));
		assert_memory_equal(back, id, TK_UUID_LEN);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prefix_of_each_kind),
		cmocka_unit_test(test_mint_round_trips_each_kind),
		cmocka_unit_test(test_mint_embeds_id_in_body),
		cmocka_unit_test(test_mint_differs_each_time),
		cmocka_unit_test(test_mint_refuses_no_kind),
		cmocka_unit_test(test_parse_accepts_known_vectors),
		cmocka_unit_test(test_parse_accepts_extreme_bodies),
		cmocka_unit_test(test_parse_refuses_malformed),
		cmocka_unit_test(test_parse_refuses_every_truncation),
		cmocka_unit_test(test_parse_refuses_embedded_nul),
		cmocka_unit_test(test_parse_refuses_every_single_character_change),
		cmocka_unit_test(test_parse_refuses_adjacent_transpositions),
		cmocka_unit_test(test_digest_is_sha256_of_string),
		cmocka_unit_test(test_base62_encode_known_values),
		cmocka_unit_test(test_base62_encode_zero),
		cmocka_unit_test(test_base62_encode_refuses_width_too_small),
		cmocka_unit_test(test_base62_decode_known_values),
		cmocka_unit_test(test_base62_decode_zero_and_empty),
		cmocka_unit_test(test_base62_decode_refuses_overflow),
		cmocka_unit_test(test_base62_decode_refuses_bad_characters),
		cmocka_unit_test(test_base62_round_trips),
		cmocka_unit_test(test_base62_agrees_with_model_at_every_width),
		cmocka_unit_test(test_base62_decode_at_limb_boundaries),
		cmocka_unit_test(test_mint_new_embeds_a_fresh_version_4_id),
		cmocka_unit_test(test_uuid_new_is_version_4),
		cmocka_unit_test(test_uuid_parse_valid),
		cmocka_unit_test(test_uuid_parse_invalid),
		cmocka_unit_test(test_uuid_parse_reads_no_further_than_nul),
		cmocka_unit_test(test_uuid_format_is_lower_case_canonical),
		cmocka_unit_test(test_uuid_format_round_trips),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
