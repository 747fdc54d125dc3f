/*
 * tk_err.h - the error codes every tokend function returns.
 *
 * TK_OK is 0 so that "if (err)" reads naturally.  Only tk_http maps
 * these to HTTP statuses; everything else passes them up unchanged.
 */
#ifndef TK_ERR_H
#define TK_ERR_H

enum tk_err {
	TK_OK = 0,
	TK_ENOMEM,	/* allocation failed */
	TK_EINVAL,	/* input refused: bad format, type or value */
	TK_ERANGE,	/* a value outside its allowed range */
	TK_ENOENT,	/* the thing named does not exist (or is out of reach) */
	TK_EUNAVAIL,	/* database down, read-only, timed out or pool exhausted */
	TK_ETIMEDOUT,	/* the request ran out of time */
	TK_EIO,		/* a system call failed; errno was logged */
	TK_EINTERNAL,	/* a bug: logged with the request id */
};

/* A short lower-case name for logs, e.g. "invalid input". */
const char	*tk_err_str(enum tk_err);

#endif /* TK_ERR_H */
