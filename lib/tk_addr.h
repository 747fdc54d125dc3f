/*
 * tk_addr.h - lists of trusted network addresses ("127.0.0.0/8,::1").
 *
 * tokend accepts FastCGI connections over TCP only from the front ends
 * named in trusted_addresses; a unix socket is protected by its mode.
 */
#ifndef TK_ADDR_H
#define TK_ADDR_H

#include <stdbool.h>
#include <sys/socket.h>
#include "tk_err.h"

struct tk_addr_list;

/*
 * Parse a list of addresses or CIDR blocks separated by commas or
 * spaces; "" is the empty list (nobody over TCP).  TK_EINVAL on a bad
 * item, whose text goes to bad (up to badlen bytes).
 */
enum tk_err		 tk_addr_list_parse(const char *spec,
			    struct tk_addr_list **out, char *bad, size_t badlen);
void			 tk_addr_list_free(struct tk_addr_list *);	/* NULL is fine */

/* Does the socket address fall in the list?  Non-IP families: true. */
bool			 tk_addr_list_match(const struct tk_addr_list *,
			    const struct sockaddr *, socklen_t);

#endif /* TK_ADDR_H */
