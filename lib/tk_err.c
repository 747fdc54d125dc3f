/*
 * tk_err.c - names of error codes.
 */
#include "tk_err.h"

const char *
tk_err_str(enum tk_err err)
{
	switch (err) {
	case TK_OK:		return "ok";
	case TK_ENOMEM:		return "out of memory";
	case TK_EINVAL:		return "invalid input";
	case TK_ERANGE:		return "value out of range";
	case TK_ENOENT:		return "not found";
	case TK_EUNAVAIL:	return "service unavailable";
	case TK_ETIMEDOUT:	return "timed out";
	case TK_EIO:		return "input/output error";
	case TK_EINTERNAL:	return "internal error";
	}
	return "unknown error";
}
