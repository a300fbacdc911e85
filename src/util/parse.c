/*
 * parse.c - the scalar syntaxes of QEMU's command line: ids, unsigned
 * numbers, sizes and booleans, with QEMU 7.2's acceptance rules so that
 * option strings copied from a QEMU command line mean the same here.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "netbe/log.h"
#include "netbe/util.h"

/* ASCII only: ids must not depend on the process locale. */
static bool ascii_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool ascii_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool ascii_space(char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

bool netbe_id_wellformed(const char *id)
{
    const char *p;

    if (!id || !ascii_alpha(id[0])) {
        return false;
    }
    for (p = id + 1; *p; p++) {
        if (!ascii_alpha(*p) && !ascii_digit(*p) && *p != '-' && *p != '.' &&
            *p != '_') {
            return false;
        }
    }
    return true;
}

/*
 * Leading white space is skipped as strtoull() does, but a minus sign is
 * refused: strtoull() would silently wrap "-1" to UINT64_MAX.
 */
int netbe_parse_uint(const char *str, uint64_t *out)
{
    const char *p = str;
    unsigned long long v;
    char *end;

    if (!str) {
        return -1;
    }
    while (ascii_space(*p)) {
        p++;
    }
    if (*p == '-') {
        return -1;
    }
    errno = 0;
    v = strtoull(p, &end, 0);
    if (end == p || *end != '\0' || errno == ERANGE) {
        return -1;
    }
    *out = v;
    return 0;
}

static uint64_t suffix_mul(char c)
{
    switch (c) {
    case 'B':
    case 'b':
        return 1;
    case 'K':
    case 'k':
        return 1ULL << 10;
    case 'M':
    case 'm':
        return 1ULL << 20;
    case 'G':
    case 'g':
        return 1ULL << 30;
    case 'T':
    case 't':
        return 1ULL << 40;
    case 'P':
    case 'p':
        return 1ULL << 50;
    case 'E':
    case 'e':
        return 1ULL << 60;
    }
    return 0;
}

/*
 * QEMU 7.2's qemu_strtosz(): a decimal integer part (leading blanks and
 * '+' allowed, any '-' refused), then either a 0x hex number without a
 * fraction or an optional decimal fraction, then one optional suffix
 * letter in either case.  A fraction needs a suffix other than B, since
 * bytes are whole.  The fraction is kept as 64-bit fixed point and the
 * product rounded half up, so "1.5k" is exactly 1536 with no double
 * rounding error.  An exponent ("1.5e3") is refused rather than read as
 * an exabyte suffix.  Hex with a suffix still works but warns, as it is
 * deprecated in QEMU 7.2.
 */
int netbe_parse_size(const char *str, uint64_t *out)
{
    unsigned long long val;
    uint64_t valf = 0, mul;
    bool hex = false;
    const char *p;
    char *end;

    if (!str) {
        return -1;
    }
    errno = 0;
    val = strtoull(str, &end, 10);
    if (end == str || errno == ERANGE) {
        return -1;
    }
    if (memchr(str, '-', end - str)) {
        return -1;
    }
    p = end;
    if (val == 0 && (*p == 'x' || *p == 'X')) {
        errno = 0;
        val = strtoull(str, &end, 16);
        if (errno == ERANGE) {
            return -1;
        }
        p = end;
        if (*p == '.') {
            return -1;
        }
        hex = true;
    } else if (*p == '.') {
        const char *f = p;
        double fraction;

        errno = 0;
        fraction = strtod(f, &end);
        if (end == f || errno == ERANGE) {
            /* "1." or "1.k": a bare point, no fraction digits. */
            p = f + 1;
        } else if (memchr(f, 'e', end - f) || memchr(f, 'E', end - f)) {
            return -1;
        } else {
            p = end;
            /* Scaled by 2^64; a fraction that rounded up to 1 saturates. */
            if (fraction >= 1.0) {
                valf = UINT64_MAX;
            } else {
                valf = (uint64_t)(fraction * 0x1p64);
            }
        }
    }

    mul = suffix_mul(*p);
    if (mul) {
        if (hex) {
            netbe_warn_report("Using a multiplier suffix on hex numbers "
                              "is deprecated: %s",
                              str);
        }
        p++;
    } else {
        mul = 1;
    }
    if (*p != '\0') {
        return -1;
    }

    if (mul == 1) {
        if (valf != 0) {
            return -1;
        }
    } else {
        unsigned __int128 whole = (unsigned __int128)val * mul;
        unsigned __int128 part = (unsigned __int128)valf * mul;

        /* part is 64.64 fixed point: high half whole bytes, low half
         * the remaining fraction, whose top bit rounds half up. */
        whole += part >> 64;
        whole += (uint64_t)part >> 63;
        if (whole > UINT64_MAX) {
            return -1;
        }
        val = (uint64_t)whole;
    }
    *out = val;
    return 0;
}

/*
 * QEMU 7.2's qapi_bool_parse() also takes "y" and "n" (since 5.2, when
 * the different boolean parsers were merged), so they are accepted too.
 * Matching is case-sensitive.
 */
int netbe_parse_bool(const char *str, bool *out)
{
    static const char *const yes[] = {"on", "yes", "true", "y"};
    static const char *const no[] = {"off", "no", "false", "n"};
    size_t i;

    if (!str) {
        return -1;
    }
    for (i = 0; i < NETBE_ARRAY_SIZE(yes); i++) {
        if (!strcmp(str, yes[i])) {
            *out = true;
            return 0;
        }
        if (!strcmp(str, no[i])) {
            *out = false;
            return 0;
        }
    }
    return -1;
}
