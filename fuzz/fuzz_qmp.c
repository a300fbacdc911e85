/*
 * fuzz_qmp.c - libFuzzer target for QMP input (control/qmp.c), what a
 * client sends a -qmp monitor.
 *
 * The input is fed to one session as a client's bytes arrive: in pieces
 * whose lengths the first byte picks, so that a value is cut at any point.
 * The graph has no event loop: netdev_add of a type that needs one fails
 * with an error (which keeps this target off the network), a hubport is
 * really made, and the session's commands meet its events.  Checked: all
 * output is whole "\r\n"-terminated messages of printable ASCII (QEMU
 * escapes everything else), the output stays bounded, nothing is read
 * after "quit", and everything goes with the session and the context
 * (LeakSanitizer).
 */
#include <string.h>

#include "control/qmp.h"
#include "fuzzlib.h"
#include "netbe/netbe.h"

static void check_output(const char *p, size_t len)
{
    size_t i;

    FZ_CHECK(len == 0 || (len >= 2 && p[len - 2] == '\r' && p[len - 1] == '\n'),
             "output does not end a message");
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)p[i];

        FZ_CHECK((c >= 0x20 && c < 0x7f) || c == '\r' || c == '\n',
                 "raw byte 0x%02x in the output", c);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fz_quiet();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct netbe_ctx *ctx = netbe_ctx_new(NULL);
    struct netbe_qmp_session *s;
    size_t piece, used = 0, len;
    const char *out;
    bool pretty;

    FZ_CHECK(ctx, "no context");
    if (size == 0) {
        netbe_ctx_free(ctx);
        return 0;
    }
    pretty = data[0] & 1;
    piece = (data[0] >> 1) ? (data[0] >> 1) : size;
    data++;
    size--;
    s = netbe_qmp_session_new(ctx, pretty, NULL, NULL);
    while (used < size) {
        size_t n = size - used < piece ? size - used : piece;
        size_t off = 0;
        int zeros = 0;

        while (off < n && !netbe_qmp_session_quitting(s)) {
            size_t k = netbe_qmp_session_feed(
                s, (const char *)data + used + off, n - off);

            /* 0 only when the byte after a number ended it: once */
            zeros = k ? 0 : zeros + 1;
            FZ_CHECK(k <= n - off && zeros < 2, "feed used %zu of %zu", k,
                     n - off);
            off += k;
            out = netbe_qmp_session_output(s, &len);
            check_output(out, len);
            FZ_CHECK(len < 2 * NETBE_QMP_OUTPUT_MAX, "output of %zu bytes",
                     len);
            netbe_qmp_session_consume(s, len);
        }
        if (netbe_qmp_session_quitting(s)) {
            break;
        }
        used += n;
    }
    netbe_qmp_session_free(s);
    netbe_ctx_free(ctx);
    return 0;
}
