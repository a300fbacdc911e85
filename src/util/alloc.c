/*
 * alloc.c - allocation for the control path.  Running out of memory while
 * building the graph is not recoverable in a useful way, so these abort;
 * the packet path never calls them per frame.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netbe/util.h"

static void *check(void *p)
{
    if (!p) {
        fputs("netbe: out of memory\n", stderr);
        abort();
    }
    return p;
}

void *netbe_malloc0(size_t size)
{
    return check(calloc(1, size ? size : 1));
}

void *netbe_realloc(void *p, size_t size)
{
    return check(realloc(p, size ? size : 1));
}

char *netbe_strdup(const char *s)
{
    return s ? check(strdup(s)) : NULL;
}

char *netbe_strdup_printf(const char *fmt, ...)
{
    va_list ap;
    char *s;
    int n;

    va_start(ap, fmt);
    n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0) {
        check(NULL);
    }
    return s;
}
