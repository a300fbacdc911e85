/*
 * fuzzlib.h - what the libFuzzer targets of fuzz/ share: the fuzz input as
 * a C string, a log sink that keeps netbe's warnings off the fuzzer's
 * output, and a check that aborts (which libFuzzer reports as a crash and
 * saves the input for) when a property does not hold.
 */
#ifndef NETBE_FUZZLIB_H
#define NETBE_FUZZLIB_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* The entry points libFuzzer calls; declared for -Wmissing-prototypes. */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * A property violated: say which, with the input's own words, and abort,
 * since an assert() would vanish under -DNDEBUG.
 */
#define FZ_CHECK(cond, ...)                                                    \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__,   \
                    #cond);                                                    \
            fprintf(stderr, __VA_ARGS__);                                      \
            fputc('\n', stderr);                                               \
            abort();                                                           \
        }                                                                      \
    } while (0)

/**
 * fz_cstr() - @data up to its first NUL (or all of it), NUL-terminated
 * Return: malloc'ed; the caller frees it
 */
char *fz_cstr(const uint8_t *data, size_t size);

/**
 * fz_quiet() - discard netbe's log messages: millions of deprecation
 * warnings would drown the fuzzer's own report
 */
void fz_quiet(void);

#endif
