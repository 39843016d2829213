/* grow.c: room for one more element in a growable array. */
#include <stdlib.h>

#include "dos.h"

void *
dos_grow(void *items, size_t nr, size_t *alloc, size_t size, size_t first)
{
	size_t n;
	void *grown;

	if (nr < *alloc)
		return items;
	n = *alloc ? 2 * *alloc : first;
	if (n < *alloc || n > SIZE_MAX / size)
		return NULL;
	if ((grown = realloc(items, n * size)) == NULL)
		return NULL;
	*alloc = n;
	return grown;
}
