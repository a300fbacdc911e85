/*
 * fuzzlib.c - helpers shared by the libFuzzer targets (see fuzzlib.h).
 */
#include <string.h>

#include "fuzzlib.h"
#include "netbe/log.h"

char *fz_cstr(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t len = nul ? (size_t)(nul - data) : size;
    char *s = malloc(len + 1);

    if (!s) {
        abort();
    }
    memcpy(s, data, len);
    s[len] = '\0';
    return s;
}

static void discard(enum netbe_log_level level, const char *msg, void *opaque)
{
    (void)level;
    (void)msg;
    (void)opaque;
}

void fz_quiet(void)
{
    netbe_log_set_sink(discard, NULL);
}
