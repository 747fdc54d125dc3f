/*
 * fuzz.h - what the harnesses of tests/fuzz/ share.
 *
 * Each fuzz_<target>.c defines LLVMFuzzerTestOneInput() and nothing
 * that outlives one call.  It is linked either with libFuzzer (clang,
 * -DTOKEND_FUZZ=ON) or with replay_main.c, which feeds it the files of
 * a corpus.  A failed FUZZ_CHECK is a crash: libFuzzer keeps the input,
 * the replay exits non-zero.
 */
#ifndef TK_FUZZ_H
#define TK_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(c) do {						\
	if (!(c)) {							\
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,	\
		    __LINE__, #c);					\
		abort();						\
	}								\
} while (0)

/* Is s, within max bytes, NUL-terminated printable ASCII? */
static inline bool
fuzz_is_printable(const char *s, size_t max)
{
	size_t	i;

	for (i = 0; i < max && s[i] != '\0'; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return false;
	return i < max;
}

/* A copy of the input with a NUL after it; free() it. */
static inline char *
fuzz_strndup(const uint8_t *data, size_t size)
{
	char	*s;
	size_t	 i;

	if ((s = malloc(size + 1)) == NULL)
		abort();
	for (i = 0; i < size; i++)
		s[i] = (char)data[i];
	s[size] = '\0';
	return s;
}

#endif /* TK_FUZZ_H */
