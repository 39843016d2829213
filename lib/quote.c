/*
 * quote.c: C-style quoting of paths in records (git's quote_c_style
 * rule), for the commands that print paths and read them back.  Part of
 * the library, not the command layer: it neither prints nor exits, and
 * a fuzz target reaches the unquoting without a process.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dos.h"

static int
needs_quote(unsigned char c)
{
	return c < 0x20 || c == '"' || c == '\\' || c == 0x7f;
}

int
dos_quote_path(const char *name, char **out)
{
	const unsigned char *p;
	char *q;
	size_t need = 3;
	int quote = 0;

	for (p = (const unsigned char *)name; *p; p++) {
		if (needs_quote(*p)) {
			quote = 1;
			need += 4;
		} else {
			need++;
		}
	}
	if (!quote)
		return 0;
	if ((q = *out = malloc(need)) == NULL)
		return DOS_ENOMEM;
	*q++ = '"';
	for (p = (const unsigned char *)name; *p; p++) {
		const char *esc = NULL;
		switch (*p) {
		case '\a': esc = "\\a"; break;
		case '\b': esc = "\\b"; break;
		case '\t': esc = "\\t"; break;
		case '\n': esc = "\\n"; break;
		case '\v': esc = "\\v"; break;
		case '\f': esc = "\\f"; break;
		case '\r': esc = "\\r"; break;
		case '"': esc = "\\\""; break;
		case '\\': esc = "\\\\"; break;
		}
		if (esc != NULL) {
			memcpy(q, esc, 2);
			q += 2;
		} else if (needs_quote(*p)) {
			q += sprintf(q, "\\%03o", *p);
		} else {
			*q++ = (char)*p;
		}
	}
	*q++ = '"';
	*q = '\0';
	return 1;
}

int
dos_unquote_path(char *line)
{
	char *src = line + 1, *dst = line;
	int i, v;

	if (line[0] != '"')
		return 0;
	for (;;) {
		char c = *src++;
		if (c == '\0')
			return DOS_EINVAL;
		if (c == '"')
			break;
		if (c != '\\') {
			*dst++ = c;
			continue;
		}
		c = *src++;
		switch (c) {
		case 'a': *dst++ = '\a'; break;
		case 'b': *dst++ = '\b'; break;
		case 't': *dst++ = '\t'; break;
		case 'n': *dst++ = '\n'; break;
		case 'v': *dst++ = '\v'; break;
		case 'f': *dst++ = '\f'; break;
		case 'r': *dst++ = '\r'; break;
		case '"': case '\\': *dst++ = c; break;
		case '0': case '1': case '2': case '3':
			v = c - '0';
			for (i = 0; i < 2; i++) {
				c = *src++;
				if (c < '0' || c > '7')
					return DOS_EINVAL;
				v = v * 8 + (c - '0');
			}
			/* No path holds a NUL: it would cut this one short. */
			if (v == 0)
				return DOS_EINVAL;
			*dst++ = (char)v;
			break;
		default:
			return DOS_EINVAL;
		}
	}
	if (*src != '\0')
		return DOS_EINVAL;
	*dst = '\0';
	return 0;
}
