/*
 * fuzz_json_scan.c - tk_json_scan(), tokend's own scanner of raw
 * request bodies (CONTRACT §8), on any bytes, NULs included.
 *
 * Debian's json-c is not instrumented, so this is where the bytes of a
 * body meet instrumented code first.  Checks: a refusal says why in
 * printable ASCII; a container the scanner lets through is parsed whole
 * by json-c as tokend runs it, and json-c keeps every member the body
 * names (no member lost to a duplicate or a name cut short).
 */
#include <string.h>

#include <json-c/json.h>

#include "fuzz.h"
#include "tk_json.h"

/* Members json-c holds, at any depth. */
static size_t
count_members(struct json_object *o)
{
	size_t	n = 0, i;

	if (json_object_is_type(o, json_type_array))
		for (i = 0; i < json_object_array_length(o); i++)
			n += count_members(json_object_array_get_idx(o, i));
	if (json_object_is_type(o, json_type_object)) {
		json_object_object_foreach(o, key, val) {
			(void)key;
			n += 1 + count_members(val);
		}
	}
	return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char		*body = (const char *)data;
	struct tk_json_error	 err;
	struct json_tokener	*tok;
	struct json_object	*obj;
	size_t			 i, colons = 0, start;
	bool			 in_string = false;

	if (tk_json_scan(body, size, NULL, &err) != TK_OK) {
		FUZZ_CHECK(err.error != NULL);
		FUZZ_CHECK(fuzz_is_printable(err.detail, sizeof(err.detail)));
		return 0;
	}
	start = strspn(body, " \t\r\n");
	if (size > 0x7fffffff || (body[start] != '{' && body[start] != '['))
		return 0;
	/* Valid JSON: a ':' outside strings separates one member. */
	for (i = 0; i < size; i++) {
		if (in_string && body[i] == '\\')
			i++;
		else if (body[i] == '"')
			in_string = !in_string;
		else if (!in_string && body[i] == ':')
			colons++;
	}
	if ((tok = json_tokener_new_ex(TK_JSON_DEFAULT_DEPTH + 1)) == NULL)
		abort();
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
	    JSON_TOKENER_VALIDATE_UTF8);
	obj = json_tokener_parse_ex(tok, body, (int)size);
	FUZZ_CHECK(json_tokener_get_error(tok) == json_tokener_success);
	FUZZ_CHECK(obj != NULL && count_members(obj) == colons);
	for (i = json_tokener_get_parse_end(tok); i < size; i++)
		FUZZ_CHECK(body[i] == ' ' || body[i] == '\t' ||
		    body[i] == '\r' || body[i] == '\n');
	json_object_put(obj);
	json_tokener_free(tok);
	return 0;
}
