/*
 * fuzz_monitor.c - libFuzzer target for HMP command lines
 * (netbe_monitor_run_command), what a user types on -monitor.
 *
 * The input is one or more lines, split at '\n' as the monitor splits
 * what it reads, run in turn on one graph so that a netdev_add can meet a
 * later set_link or netdev_del.  The graph has no event loop: commands
 * that would need one (a stream, dgram or socket netdev) must fail with
 * an error, which also keeps this target off the network; a hubport
 * needs none and is really made.  Everything made must go with
 * netbe_ctx_free() (LeakSanitizer checks), and a command's output must
 * end with its line end.
 */
#include <string.h>

#include "control/monitor.h"
#include "fuzzlib.h"
#include "netbe/net.h"

/* As the transport refuses longer lines, so do we: no new paths there. */
#define MAX_LINES 16

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fz_quiet();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *input = fz_cstr(data, size);
    struct netbe_ctx *ctx = netbe_ctx_new(NULL);
    char *line = input, *nl;
    int lines = 0;

    FZ_CHECK(ctx, "no context");
    while (line && lines++ < MAX_LINES) {
        char *text = NULL;
        size_t len = 0;
        FILE *out = open_memstream(&text, &len);

        if (!out) {
            abort();
        }
        nl = strchr(line, '\n');
        if (nl) {
            *nl = '\0';
        }
        if (strlen(line) <= NETBE_MONITOR_LINE_MAX) {
            (void)netbe_monitor_run_command(ctx, line, out);
        }
        fclose(out);
        FZ_CHECK(len == 0 || text[len - 1] == '\n',
                 "output of '%s' does not end a line: '%s'", line, text);
        FZ_CHECK(strlen(text) == len, "a NUL in the output of '%s'", line);
        free(text);
        line = nl ? nl + 1 : NULL;
    }
    netbe_ctx_free(ctx);
    free(input);
    return 0;
}
