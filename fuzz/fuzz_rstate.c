/*
 * fuzz_rstate.c - libFuzzer target for the stream reassembler
 * (netbe_rstate_fill), which reads what a stream or socket peer sends.
 *
 * The same byte stream is fed whole, cut at points the input chooses, and
 * one byte at a time; all three must deliver the same frames and end with
 * the same error, since a socket may hand out any cut.  A small reference
 * decoder of the wire format (4-byte big-endian length, with vnet a second
 * 4-byte vnet header length, then the frame) says what those frames must
 * be.  Any difference aborts.
 *
 * Input: byte 0 chooses vnet (bit 0), the frame limit (bits 1-2) and how
 * many cut lengths follow (bits 3-6, 0 to 15); then the cut lengths, one
 * byte each, used in turn (0 is an empty read); the rest is the stream.
 */
#include <stdbool.h>
#include <string.h>

#include "fuzzlib.h"
#include "netbe/error.h"
#include "netbe/rstate.h"

/* Small limits reach the oversize error with short inputs. */
static const uint32_t max_lens[4] = {0, 1, 64, 1514};

#define MAX_VNET_HDR_LEN 12

/* What one way of feeding gave: frames as (len, vnet len, bytes)... */
struct run {
    uint8_t *log;
    size_t log_len, log_cap;
    size_t frames;
    bool failed;
    char *msg; /* the error's message */
    /* the read being fed, to tell in-place frames from assembled ones */
    const uint8_t *cur_lo, *cur_hi;
    bool vnet;
    uint32_t max_len;
};

static void log_put(struct run *r, const void *p, size_t n)
{
    if (r->log_len + n > r->log_cap) {
        r->log_cap = (r->log_len + n) * 2;
        r->log = realloc(r->log, r->log_cap);
        if (!r->log) {
            abort();
        }
    }
    if (n) {
        memcpy(r->log + r->log_len, p, n);
    }
    r->log_len += n;
}

static void log_frame(struct run *r, const uint8_t *buf, uint32_t len,
                      uint32_t vnet_len)
{
    log_put(r, &len, sizeof(len));
    log_put(r, &vnet_len, sizeof(vnet_len));
    log_put(r, buf, len);
    r->frames++;
}

static void run_free(struct run *r)
{
    free(r->log);
    free(r->msg);
}

static void on_frame(struct netbe_rstate *rs, const uint8_t *buf, size_t len,
                     void *opaque)
{
    struct run *r = opaque;
    uint32_t max = r->max_len ? r->max_len : NETBE_NET_BUFSIZE;

    FZ_CHECK(len == rs->packet_len, "len %zu, packet_len %u", len,
             rs->packet_len);
    FZ_CHECK(len <= max, "frame of %zu bytes over the limit %u", len, max);
    FZ_CHECK(rs->vnet_hdr_len <= len && rs->vnet_hdr_len <= MAX_VNET_HDR_LEN,
             "vnet header %u bytes in a frame of %zu", rs->vnet_hdr_len, len);
    FZ_CHECK(r->vnet || rs->vnet_hdr_len == 0, "vnet header without vnet");
    /* Zero copy: a frame is in the caller's read or in the state's buffer */
    FZ_CHECK((buf >= r->cur_lo && buf + len <= r->cur_hi) ||
                 (rs->buf && buf == rs->buf),
             "frame delivered from neither the read nor rs->buf");
    log_frame(r, buf, (uint32_t)len, rs->vnet_hdr_len);
}

static int feed(struct netbe_rstate *rs, struct run *r, const uint8_t *p,
                size_t n)
{
    struct netbe_error *err = NULL;

    r->cur_lo = p;
    r->cur_hi = p + n;
    if (netbe_rstate_fill(rs, p, n, &err) == 0) {
        FZ_CHECK(!err, "error set on success: %s", netbe_error_msg(err));
        return 0;
    }
    FZ_CHECK(err, "-1 without an error");
    r->failed = true;
    r->msg = strdup(netbe_error_msg(err));
    netbe_error_free(err);
    return -1;
}

/*
 * Feed @s in reads of the lengths in @cuts, in turn; with no cuts, one
 * byte at a time.  Stops at the first error, as a backend closes the
 * connection then.
 */
static void run_cut(struct run *r, const uint8_t *s, size_t n,
                    const uint8_t *cuts, size_t ncuts)
{
    struct netbe_rstate rs;
    size_t pos = 0, i = 0, empty = 0;

    netbe_rstate_init(&rs, r->vnet, r->max_len, on_frame, r);
    while (pos < n) {
        size_t len = ncuts ? cuts[i++ % ncuts] : 1;

        /* all cuts empty reads: still move on */
        if (len == 0 && ++empty > ncuts) {
            len = 1;
        }
        if (len) {
            empty = 0;
        }
        if (len > n - pos) {
            len = n - pos;
        }
        if (feed(&rs, r, s + pos, len) < 0) {
            break;
        }
        pos += len;
    }
    netbe_rstate_destroy(&rs);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           (uint32_t)p[3];
}

/* The wire format as rstate.h states it, written for clarity not speed. */
static void reference(struct run *r, const uint8_t *s, size_t n)
{
    uint32_t max = r->max_len ? r->max_len : NETBE_NET_BUFSIZE;
    size_t pos = 0;

    while (n - pos >= 4) {
        uint32_t len = be32(s + pos), vlen = 0;

        pos += 4;
        if (len > max) {
            r->failed = true;
            return;
        }
        if (r->vnet) {
            if (n - pos < 4) {
                return;
            }
            vlen = be32(s + pos);
            pos += 4;
            if (vlen > MAX_VNET_HDR_LEN || vlen > len) {
                r->failed = true;
                return;
            }
        }
        if (n - pos < len) {
            return; /* a partial frame waits for more */
        }
        log_frame(r, s + pos, len, vlen);
        pos += len;
    }
}

static void same(const struct run *a, const struct run *b, const char *what)
{
    FZ_CHECK(a->frames == b->frames, "%s: %zu frames against %zu", what,
             a->frames, b->frames);
    FZ_CHECK(a->log_len == b->log_len &&
                 (!a->log_len || !memcmp(a->log, b->log, a->log_len)),
             "%s: different frames", what);
    FZ_CHECK(a->failed == b->failed, "%s: error '%s' against '%s'", what,
             a->msg ? a->msg : "(none)", b->msg ? b->msg : "(none)");
    FZ_CHECK(!a->msg || !b->msg || !strcmp(a->msg, b->msg),
             "%s: error '%s' against '%s'", what, a->msg, b->msg);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fz_quiet();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct run whole = {0}, again = {0}, cut = {0}, bytes = {0}, ref = {0};
    struct netbe_rstate rs;
    const uint8_t *cuts, *s;
    size_t ncuts, n;
    bool vnet;
    uint32_t max_len;

    if (size < 1) {
        return 0;
    }
    vnet = data[0] & 1;
    max_len = max_lens[(data[0] >> 1) & 3];
    ncuts = (data[0] >> 3) & 15;
    if (size - 1 < ncuts) {
        return 0;
    }
    cuts = data + 1;
    s = cuts + ncuts;
    n = size - 1 - ncuts;

    whole.vnet = again.vnet = cut.vnet = bytes.vnet = ref.vnet = vnet;
    whole.max_len = again.max_len = cut.max_len = bytes.max_len = ref.max_len =
        max_len;

    netbe_rstate_init(&rs, vnet, max_len, on_frame, &whole);
    if (n) {
        feed(&rs, &whole, s, n);
    }
    if (whole.failed) {
        /* An error leaves the state reset: the same bytes read the same. */
        rs.opaque = &again;
        feed(&rs, &again, s, n);
        same(&whole, &again, "after an error");
    }
    netbe_rstate_destroy(&rs);

    if (ncuts) {
        run_cut(&cut, s, n, cuts, ncuts);
        same(&whole, &cut, "whole against cut");
    }
    run_cut(&bytes, s, n, NULL, 0);
    same(&whole, &bytes, "whole against byte by byte");
    reference(&ref, s, n);
    same(&whole, &ref, "whole against the reference");

    run_free(&whole);
    run_free(&again);
    run_free(&cut);
    run_free(&bytes);
    run_free(&ref);
    return 0;
}
