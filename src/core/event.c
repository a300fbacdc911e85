/*
 * event.c - the context's event sinks (netbe/event.h): a list of
 * subscribers each event is handed to, with the wall-clock time.
 *
 * A sink may remove any sink, itself included, from inside its callback:
 * removed sinks are only marked while an emit walks the list and are
 * freed when the outermost emit returns.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include "core/internal.h"
#include "netbe/event.h"
#include "netbe/util.h"

struct netbe_event_sink {
    struct netbe_ctx *ctx;
    netbe_event_fn *fn;
    void *opaque;
    bool dead;
    TAILQ_ENTRY(netbe_event_sink) next;
};

/* A NIC whose last change was told and not queried since. */
struct muted_nic {
    const struct netbe_nic *nic; /* with its name: a new NIC is not muted */
    char *name;
    LIST_ENTRY(muted_nic) next;
};

struct netbe_event_state {
    TAILQ_HEAD(, netbe_event_sink) sinks;
    LIST_HEAD(, muted_nic) muted;
    int emitting; /* emits on the stack */
    bool have_dead;
};

static struct netbe_event_state *state(struct netbe_ctx *ctx)
{
    if (!ctx->events) {
        ctx->events = netbe_malloc0(sizeof(*ctx->events));
        TAILQ_INIT(&ctx->events->sinks);
        LIST_INIT(&ctx->events->muted);
    }
    return ctx->events;
}

struct netbe_event_sink *netbe_event_sink_add(struct netbe_ctx *ctx,
                                              netbe_event_fn *fn, void *opaque)
{
    struct netbe_event_sink *s = netbe_malloc0(sizeof(*s));

    s->ctx = ctx;
    s->fn = fn;
    s->opaque = opaque;
    TAILQ_INSERT_TAIL(&state(ctx)->sinks, s, next);
    return s;
}

static void reap(struct netbe_event_state *st)
{
    struct netbe_event_sink *s, *n;

    for (s = TAILQ_FIRST(&st->sinks); s; s = n) {
        n = TAILQ_NEXT(s, next);
        if (s->dead) {
            TAILQ_REMOVE(&st->sinks, s, next);
            free(s);
        }
    }
    st->have_dead = false;
}

void netbe_event_sink_del(struct netbe_event_sink *sink)
{
    struct netbe_event_state *st;

    if (!sink) {
        return;
    }
    st = sink->ctx->events;
    sink->dead = true;
    st->have_dead = true;
    if (!st->emitting) {
        reap(st);
    }
}

void netbe_event_emit(struct netbe_ctx *ctx, const char *name,
                      const struct netbe_event_field *fields, int nfields)
{
    struct netbe_event_state *st = ctx->events;
    struct netbe_event_sink *s;
    struct netbe_event ev = {
        .name = name,
        .fields = fields,
        .nfields = nfields,
    };
    struct timespec ts;

    if (!st || ctx->freeing || TAILQ_EMPTY(&st->sinks)) {
        return;
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    ev.seconds = ts.tv_sec;
    ev.microseconds = ts.tv_nsec / 1000;
    st->emitting++;
    /* sinks added meanwhile come at the tail and get this event too */
    TAILQ_FOREACH (s, &st->sinks, next) {
        if (!s->dead) {
            s->fn(s->opaque, &ev);
        }
    }
    if (--st->emitting == 0 && st->have_dead) {
        reap(st);
    }
}

static struct muted_nic *muted_find(struct netbe_event_state *st,
                                    const struct netbe_nic *nic,
                                    const char *name)
{
    struct muted_nic *m;

    LIST_FOREACH (m, &st->muted, next) {
        if (m->nic == nic && !strcmp(m->name, name)) {
            return m;
        }
    }
    return NULL;
}

void netbe_nic_rx_filter_changed(struct netbe_nic *nic)
{
    struct netbe_client *nc = netbe_nic_get_queue(nic);
    struct netbe_event_state *st = state(nc->ctx);
    struct muted_nic *m;
    char *path;

    if (muted_find(st, nic, nc->name)) {
        return;
    }
    m = netbe_malloc0(sizeof(*m));
    m->nic = nic;
    m->name = netbe_strdup(nc->name);
    LIST_INSERT_HEAD(&st->muted, m, next);
    /* QEMU's path is the device's QOM path; netbe's NICs have none */
    path = netbe_strdup_printf("/netbe/nic/%s", nc->name);
    netbe_event_emit(
        nc->ctx, NETBE_EVENT_NIC_RX_FILTER_CHANGED,
        (const struct netbe_event_field[]){
            {.name = "name", .type = NETBE_EVENT_STR, .str = nc->name},
            {.name = "path", .type = NETBE_EVENT_STR, .str = path},
        },
        2);
    free(path);
}

void netbe_nic_rx_filter_queried(struct netbe_nic *nic)
{
    struct netbe_client *nc = netbe_nic_get_queue(nic);
    struct muted_nic *m;

    if (!nc->ctx->events) {
        return;
    }
    m = muted_find(nc->ctx->events, nic, nc->name);
    if (m) {
        LIST_REMOVE(m, next);
        free(m->name);
        free(m);
    }
}

void events_free(struct netbe_ctx *ctx)
{
    struct netbe_event_state *st = ctx->events;
    struct netbe_event_sink *s;
    struct muted_nic *m;

    if (!st) {
        return;
    }
    while ((s = TAILQ_FIRST(&st->sinks))) {
        TAILQ_REMOVE(&st->sinks, s, next);
        free(s);
    }
    while ((m = LIST_FIRST(&st->muted))) {
        LIST_REMOVE(m, next);
        free(m->name);
        free(m);
    }
    free(st);
    ctx->events = NULL;
}
