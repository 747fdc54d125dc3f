/*
 * test_tk_log.c - escaping request data, level names, and the shape of
 * a log line in each format.
 *
 * Log lines go to stderr; the tests that read them point stderr at a
 * temporary file for the duration of one call.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "tk_log.h"

/* ---- stderr capture ---- */

static int	saved_stderr = -1;
static FILE	*captured;

static void
capture_begin(void)
{
	fflush(stderr);
	captured = tmpfile();
	assert_non_null(captured);
	saved_stderr = dup(STDERR_FILENO);
	assert_true(saved_stderr >= 0);
	assert_int_equal(dup2(fileno(captured), STDERR_FILENO), STDERR_FILENO);
}

/* Restore stderr and return what was written to it (yours to free). */
static char *
capture_end(void)
{
	char	*text;
	long	 len;

	fflush(stderr);
	assert_int_equal(dup2(saved_stderr, STDERR_FILENO), STDERR_FILENO);
	close(saved_stderr);
	saved_stderr = -1;
	assert_int_equal(fseek(captured, 0, SEEK_END), 0);
	len = ftell(captured);
	rewind(captured);
	text = malloc((size_t)len + 1);
	assert_non_null(text);
	assert_int_equal(fread(text, 1, (size_t)len, captured), (size_t)len);
	text[len] = '\0';
	fclose(captured);
	captured = NULL;
	return text;
}

/* Back to the defaults after each test that changes them. */
static int
reset_log(void **state)
{
	(void)state;
	tk_log_setup(TK_LOG_INFO, "logfmt");
	return 0;
}

/* ---- tk_log_escape ---- */

struct escape_case {
	const char	*in;
	size_t		 outlen;
	const char	*out;
};

static const struct escape_case escapes[] = {
	{ "", 16, "" },
	{ "plain text", 64, "plain text" },
	{ "request_id=abc-123 path=/v1/x?y=z", 64,
	  "request_id=abc-123 path=/v1/x?y=z" },
	{ " ~!#$%&'()*+,-./:;<=>?@[]^_`{|}", 64,
	  " ~!#$%&'()*+,-./:;<=>?@[]^_`{|}" },
	{ "a\"b", 16, "a\\x22b" },
	{ "a\\b", 16, "a\\x5cb" },
	{ "\\x41", 16, "\\x5cx41" },
	{ "\n", 16, "\\x0a" },
	{ "\r\n", 16, "\\x0d\\x0a" },
	{ "\t", 16, "\\x09" },
	{ "\x01", 16, "\\x01" },
	{ "\x1b[31m", 16, "\\x1b[31m" },
	{ "\x1f", 16, "\\x1f" },
	{ "\x7f", 16, "\\x7f" },
	{ "\x80", 16, "\\x80" },
	{ "\xff", 16, "\\xff" },
	{ "caf\xc3\xa9", 16, "caf\\xc3\\xa9" },
	{ "x\" level=error msg=\"forged", 128,
	  "x\\x22 level=error msg=\\x22forged" },
	{ "ok\nts=2024 level=error msg=\"forged\"", 128,
	  "ok\\x0ats=2024 level=error msg=\\x22forged\\x22" },
	/* Truncation: never a partial escape, always a NUL. */
	{ "abcdef", 4, "abc" },
	{ "abc", 4, "abc" },
	{ "abcd", 4, "abc" },
	{ "abc", 1, "" },
	{ "\n", 4, "" },
	{ "\n", 5, "\\x0a" },
	{ "a\n", 5, "a" },
	{ "a\n", 6, "a\\x0a" },
	{ "ab\"", 6, "ab" },
	{ "ab\"", 7, "ab\\x22" },
	{ "\n\n\n", 9, "\\x0a\\x0a" },
	{ "\n\nab", 10, "\\x0a\\x0aa" },
	{ "\xc3\xa9", 8, "\\xc3" },
};

static void
test_escape_table(void **state)
{
	size_t	i;

	(void)state;
	for (i = 0; i < sizeof(escapes) / sizeof(escapes[0]); i++) {
		const struct escape_case	*c = &escapes[i];
		char				 buf[256];
		size_t				 k;

		assert_true(c->outlen < sizeof(buf) - 8);
		memset(buf, 0x55, sizeof(buf));
		tk_log_escape(c->in, buf, c->outlen);
		if (memchr(buf, '\0', c->outlen) == NULL)
			fail_msg("case %zu: not NUL-terminated", i);
		if (strcmp(buf, c->out) != 0)
			fail_msg("case %zu: \"%s\", not \"%s\"", i, buf, c->out);
		for (k = c->outlen; k < sizeof(buf); k++)
			if ((unsigned char)buf[k] != 0x55)
				fail_msg("case %zu: byte %zu written past outlen",
				    i, k);
	}
}

/* Every byte alone: kept if printable ASCII other than " and \, else \xNN. */
static void
test_escape_every_byte(void **state)
{
	int	c;

	(void)state;
	for (c = 1; c < 256; c++) {
		char	in[2] = { (char)c, '\0' }, out[8], want[8];

		tk_log_escape(in, out, sizeof(out));
		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
			snprintf(want, sizeof(want), "%c", c);
		else
			snprintf(want, sizeof(want), "\\x%02x", c);
		if (strcmp(out, want) != 0)
			fail_msg("byte %#x: \"%s\", not \"%s\"", c, out, want);
	}
}

/* Whatever goes in, only printable ASCII without '"' comes out. */
static void
test_escape_output_is_safe(void **state)
{
	char	in[512], out[300];
	size_t	i, outlen;

	(void)state;
	for (i = 0; i < sizeof(in) - 1; i++)
		in[i] = (char)(i % 255 + 1);
	in[sizeof(in) - 1] = '\0';
	for (outlen = 1; outlen <= sizeof(out); outlen++) {
		size_t	len;

		memset(out, 0x55, sizeof(out));
		tk_log_escape(in, out, outlen);
		len = strnlen(out, outlen);
		assert_true(len < outlen);
		for (i = 0; i < len; i++) {
			unsigned char c = (unsigned char)out[i];

			if (c < 0x20 || c >= 0x7f || c == '"')
				fail_msg("outlen %zu: byte %#x at %zu", outlen,
				    c, i);
		}
		/* Every backslash starts a whole \xNN. */
		for (i = 0; i < len; i++)
			if (out[i] == '\\') {
				if (i + 4 > len || out[i + 1] != 'x' ||
				    strchr("0123456789abcdef", out[i + 2]) == NULL ||
				    strchr("0123456789abcdef", out[i + 3]) == NULL)
					fail_msg("outlen %zu: partial escape at %zu",
					    outlen, i);
				i += 3;
			}
	}
}

static void
test_escape_null_and_zero_length(void **state)
{
	char	out[4] = { 'x', 'y', 'z', 'w' };

	(void)state;
	tk_log_escape(NULL, out, sizeof(out));
	assert_string_equal(out, "");
	memcpy(out, "xyz", 4);
	tk_log_escape("abc", out, 0);	/* nothing written */
	assert_memory_equal(out, "xyz", 4);
}

/* ---- tk_log_level_parse ---- */

static void
test_level_parse_table(void **state)
{
	static const struct {
		const char	*s;
		int		 level;
	} cases[] = {
		{ "error", TK_LOG_ERROR },
		{ "warn", TK_LOG_WARN },
		{ "info", TK_LOG_INFO },
		{ "debug", TK_LOG_DEBUG },
		{ "", -1 },
		{ "Error", -1 },
		{ "INFO", -1 },
		{ "warning", -1 },
		{ "err", -1 },
		{ "trace", -1 },
		{ "fatal", -1 },
		{ "info ", -1 },
		{ " info", -1 },
		{ "debug\n", -1 },
		{ "0", -1 },
		{ "2", -1 },
	};
	size_t	i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (tk_log_level_parse(cases[i].s) != cases[i].level)
			fail_msg("\"%s\": %d, not %d", cases[i].s,
			    tk_log_level_parse(cases[i].s), cases[i].level);
}

/* ---- lines ---- */

static void
test_info_writes_logfmt_line(void **state)
{
	regex_t		 re;
	regmatch_t	 m[2];
	char		*text, pid[32];

	(void)state;
	tk_log_setup(TK_LOG_INFO, "logfmt");
	capture_begin();
	tk_log_info("worker %d started request_id=%s", 7, "abc");
	text = capture_end();
	assert_int_equal(regcomp(&re, "^ts=[0-9]{4}-[0-9]{2}-[0-9]{2}T"
	    "[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z level=info pid=([0-9]+) "
	    "msg=\"worker 7 started request_id=abc\"\n$", REG_EXTENDED), 0);
	if (regexec(&re, text, 2, m, 0) != 0)
		fail_msg("line \"%s\"", text);
	regfree(&re);
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	assert_int_equal((size_t)(m[1].rm_eo - m[1].rm_so), strlen(pid));
	assert_memory_equal(text + m[1].rm_so, pid, strlen(pid));
	free(text);
}

static void
test_setup_sets_threshold(void **state)
{
	static const struct {
		enum tk_log_level	threshold;
		const char		*levels;	/* e, w, i, d written */
	} cases[] = {
		{ TK_LOG_ERROR, "e" },
		{ TK_LOG_WARN, "ew" },
		{ TK_LOG_INFO, "ewi" },
		{ TK_LOG_DEBUG, "ewid" },
	};
	size_t	i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char	*text;

		tk_log_setup(cases[i].threshold, "logfmt");
		capture_begin();
		tk_log_error("e");
		tk_log_warn("w");
		tk_log_info("i");
		tk_log_debug("d");
		text = capture_end();
		assert_int_equal(strstr(text, "level=error ") != NULL,
		    strchr(cases[i].levels, 'e') != NULL);
		assert_int_equal(strstr(text, "level=warn ") != NULL,
		    strchr(cases[i].levels, 'w') != NULL);
		assert_int_equal(strstr(text, "level=info ") != NULL,
		    strchr(cases[i].levels, 'i') != NULL);
		assert_int_equal(strstr(text, "level=debug ") != NULL,
		    strchr(cases[i].levels, 'd') != NULL);
		{
			size_t	lines = 0;
			char	*p;

			for (p = text; (p = strchr(p, '\n')) != NULL; p++)
				lines++;
			assert_int_equal(lines, strlen(cases[i].levels));
		}
		free(text);
	}
}

static struct json_object *
parse_line(const char *line, size_t len)
{
	struct json_tokener	*tok = json_tokener_new();
	struct json_object	*obj;

	assert_non_null(tok);
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	obj = json_tokener_parse_ex(tok, line, (int)len);
	if (obj == NULL || json_tokener_get_parse_end(tok) != len)
		fail_msg("not one JSON object: \"%.*s\"", (int)len, line);
	json_tokener_free(tok);
	return obj;
}

static const char *
member(struct json_object *obj, const char *name)
{
	struct json_object	*v;

	if (!json_object_object_get_ex(obj, name, &v))
		fail_msg("no member %s", name);
	return json_object_get_string(v);
}

static void
test_warn_writes_json_line(void **state)
{
	static const char *const msgs[] = {
		"plain",
		"quote \" and backslash \\ inside",
		"escaped by the caller: \\x0a\\x22",
		"key=value request_id=abc",
		"",
	};
	size_t	i;

	(void)state;
	tk_log_setup(TK_LOG_DEBUG, "json");
	for (i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
		struct json_object	*obj, *pid;
		char			*text;
		size_t			 len;

		capture_begin();
		tk_log_warn("%s", msgs[i]);
		text = capture_end();
		len = strlen(text);
		assert_true(len > 0 && text[len - 1] == '\n');
		assert_null(memchr(text, '\n', len - 1));	/* one line */
		obj = parse_line(text, len - 1);
		assert_string_equal(member(obj, "level"), "warn");
		assert_string_equal(member(obj, "msg"), msgs[i]);
		assert_int_equal(strlen(member(obj, "ts")), 24);
		assert_true(json_object_object_get_ex(obj, "pid", &pid));
		assert_true(json_object_is_type(pid, json_type_int));
		assert_int_equal(json_object_get_int64(pid), (int64_t)getpid());
		json_object_put(obj);
		free(text);
	}
}

/* A message longer than the buffer is cut, and stays one valid line. */
static void
test_info_cuts_long_message_to_one_line(void **state)
{
	char	*big, *text;
	size_t	 len;
	int	 json;

	(void)state;
	big = malloc(10000);
	assert_non_null(big);
	memset(big, '"', 9999);
	big[9999] = '\0';
	for (json = 0; json < 2; json++) {
		tk_log_setup(TK_LOG_INFO, json ? "json" : "logfmt");
		capture_begin();
		tk_log_info("%s", big);
		text = capture_end();
		len = strlen(text);
		assert_true(len > 1000 && len < 10000);
		assert_int_equal(text[len - 1], '\n');
		assert_null(memchr(text, '\n', len - 1));
		if (json)
			json_object_put(parse_line(text, len - 1));
		free(text);
	}
	free(big);
}

static void
test_setup_null_format_is_logfmt(void **state)
{
	char	*text;

	(void)state;
	tk_log_setup(TK_LOG_INFO, NULL);
	capture_begin();
	tk_log_info("x");
	text = capture_end();
	assert_memory_equal(text, "ts=", 3);
	free(text);
}

int
main(void)
{
#define T(f)	cmocka_unit_test_teardown(f, reset_log)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape_table),
		cmocka_unit_test(test_escape_every_byte),
		cmocka_unit_test(test_escape_output_is_safe),
		cmocka_unit_test(test_escape_null_and_zero_length),
		cmocka_unit_test(test_level_parse_table),
		T(test_info_writes_logfmt_line),
		T(test_setup_sets_threshold),
		T(test_warn_writes_json_line),
		T(test_info_cuts_long_message_to_one_line),
		T(test_setup_null_format_is_logfmt),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
