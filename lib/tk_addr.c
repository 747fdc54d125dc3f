/*
 * tk_addr.c - CIDR matching for trusted_addresses.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tk_addr.h"

struct block {
	int		family;		/* AF_INET or AF_INET6 */
	unsigned char	addr[16];
	unsigned int	prefix;		/* bits */
};

struct tk_addr_list {
	size_t		n;
	struct block	blocks[];
};

static bool
parse_block(const char *item, struct block *b)
{
	char		 buf[64], *slash, *end;
	unsigned long	 prefix;
	unsigned int	 max;

	if (strlen(item) >= sizeof(buf))
		return false;
	strcpy(buf, item);
	if ((slash = strchr(buf, '/')) != NULL)
		*slash = '\0';
	memset(b, 0, sizeof(*b));
	if (inet_pton(AF_INET, buf, b->addr) == 1) {
		b->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, b->addr) == 1) {
		b->family = AF_INET6;
		max = 128;
	} else
		return false;
	b->prefix = max;
	if (slash != NULL) {
		if (slash[1] < '0' || slash[1] > '9')
			return false;
		prefix = strtoul(slash + 1, &end, 10);
		if (*end != '\0' || prefix > max)
			return false;
		b->prefix = (unsigned int)prefix;
	}
	return true;
}

enum tk_err
tk_addr_list_parse(const char *spec, struct tk_addr_list **out, char *bad,
    size_t badlen)
{
	struct tk_addr_list	*list;
	const char		*p;
	size_t			 n = 1;

	for (p = spec; *p != '\0'; p++)
		if (*p == ',' || *p == ' ')
			n++;
	if ((list = calloc(1, sizeof(*list) + n * sizeof(list->blocks[0]))) == NULL)
		return TK_ENOMEM;
	for (p = spec; *p != '\0'; ) {
		char	item[64];
		size_t	len = strcspn(p, ", ");

		if (len == 0) {
			p++;
			continue;
		}
		snprintf(item, sizeof(item), "%.*s", (int)len, p);
		if (len >= sizeof(item) ||
		    !parse_block(item, &list->blocks[list->n])) {
			snprintf(bad, badlen, "%.*s", (int)len, p);
			free(list);
			return TK_EINVAL;
		}
		list->n++;
		p += len;
	}
	*out = list;
	return TK_OK;
}

void
tk_addr_list_free(struct tk_addr_list *list)
{
	free(list);
}

static bool
prefix_equal(const unsigned char *a, const unsigned char *b, unsigned int bits)
{
	unsigned int	whole = bits / 8, rest = bits % 8;

	if (memcmp(a, b, whole) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((a[whole] ^ b[whole]) & (0xff << (8 - rest))) == 0;
}

bool
tk_addr_list_match(const struct tk_addr_list *list, const struct sockaddr *sa,
    socklen_t len)
{
	const unsigned char	*addr;
	unsigned char		 v4[4];
	int			 family;
	size_t			 i;

	if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
		addr = (const unsigned char *)&((const struct sockaddr_in *)
		    (const void *)sa)->sin_addr;
		family = AF_INET;
	} else if (sa->sa_family == AF_INET6 &&
	    len >= (socklen_t)sizeof(struct sockaddr_in6)) {
		addr = ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr;
		family = AF_INET6;
		/* An IPv4-mapped peer is judged as IPv4. */
		if (IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)(const void *)addr)) {
			memcpy(v4, addr + 12, 4);
			addr = v4;
			family = AF_INET;
		}
	} else
		return true;
	for (i = 0; i < list->n; i++)
		if (list->blocks[i].family == family &&
		    prefix_equal(list->blocks[i].addr, addr, list->blocks[i].prefix))
			return true;
	return false;
}
