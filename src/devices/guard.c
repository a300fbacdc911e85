/*
 * guard.c - a SIGBUS handler for guest memory a front-end shrank
 * (guard.h).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "devices/guard.h"
#include "netbe/util.h"

#define BLOCK_SLOTS 128

struct slot {
    uintptr_t start; /* atomic; 0: free */
    uintptr_t end;   /* page-aligned */
    int hit;         /* atomic */
};

struct block {
    struct slot s[BLOCK_SLOTS];
    struct block *next; /* atomic; blocks are never freed */
};

static struct block first;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct sigaction previous;
static bool installed;
static void on_sigbus(int sig, siginfo_t *si, void *uc);
static uintptr_t page_mask;
static unsigned long hits; /* atomic */

static void chain(int sig, siginfo_t *si, void *uc)
{
    if (previous.sa_flags & SA_SIGINFO) {
        if (previous.sa_sigaction) {
            previous.sa_sigaction(sig, si, uc);
            return;
        }
    } else if (previous.sa_handler != SIG_DFL &&
               previous.sa_handler != SIG_IGN) {
        previous.sa_handler(sig);
        return;
    }
    /* as without us: the access faults again and the default kills */
    signal(SIGBUS, SIG_DFL);
}

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
    uintptr_t a = (uintptr_t)si->si_addr;
    int saved = errno;

    for (struct block *b = &first; b;
         b = __atomic_load_n(&b->next, __ATOMIC_ACQUIRE)) {
        for (int i = 0; i < BLOCK_SLOTS; i++) {
            struct slot *s = &b->s[i];
            uintptr_t start = __atomic_load_n(&s->start, __ATOMIC_ACQUIRE);
            uintptr_t page = a & ~page_mask;

            if (!start || a < start || a >= s->end) {
                continue;
            }
            /* the file ends before the mapping: zeros from here on */
            if (mmap((void *)page, s->end - page, PROT_READ | PROT_WRITE,
                     MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1,
                     0) == MAP_FAILED) {
                errno = saved;
                chain(sig, si, uc);
                return;
            }
            __atomic_store_n(&s->hit, 1, __ATOMIC_RELEASE);
            __atomic_add_fetch(&hits, 1, __ATOMIC_RELEASE);
            errno = saved;
            return;
        }
    }
    errno = saved;
    chain(sig, si, uc);
}

static int install(void)
{
    struct sigaction sa, now;

    /* installed, and no one put a handler of their own over ours since */
    if (installed && sigaction(SIGBUS, NULL, &now) == 0 &&
        (now.sa_flags & SA_SIGINFO) && now.sa_sigaction == on_sigbus) {
        return 0;
    }
    page_mask = (uintptr_t)sysconf(_SC_PAGESIZE) - 1;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGBUS, &sa, &previous) < 0) {
        return -1;
    }
    installed = true;
    return 0;
}

int vu_guard_add(void *addr, size_t len)
{
    struct block *b = &first, *last = NULL;
    int ret = -1;

    pthread_mutex_lock(&lock);
    if (install() < 0) {
        goto out;
    }
    for (; b; last = b, b = b->next) {
        for (int i = 0; i < BLOCK_SLOTS; i++) {
            struct slot *s = &b->s[i];

            if (!s->start) {
                s->end = ((uintptr_t)addr + len + page_mask) & ~page_mask;
                __atomic_store_n(&s->hit, 0, __ATOMIC_RELAXED);
                __atomic_store_n(&s->start, (uintptr_t)addr, __ATOMIC_RELEASE);
                ret = 0;
                goto out;
            }
        }
    }
    b = netbe_malloc0(sizeof(*b));
    b->s[0].end = ((uintptr_t)addr + len + page_mask) & ~page_mask;
    b->s[0].start = (uintptr_t)addr;
    __atomic_store_n(&last->next, b, __ATOMIC_RELEASE);
    ret = 0;
out:
    pthread_mutex_unlock(&lock);
    return ret;
}

static struct slot *find(void *addr)
{
    for (struct block *b = &first; b; b = b->next) {
        for (int i = 0; i < BLOCK_SLOTS; i++) {
            if (b->s[i].start == (uintptr_t)addr) {
                return &b->s[i];
            }
        }
    }
    return NULL;
}

void vu_guard_del(void *addr)
{
    struct slot *s;

    if (!addr) {
        return;
    }
    pthread_mutex_lock(&lock);
    if ((s = find(addr))) {
        __atomic_store_n(&s->start, 0, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&lock);
}

unsigned long vu_guard_hits(void)
{
    return __atomic_load_n(&hits, __ATOMIC_ACQUIRE);
}

bool vu_guard_hit(void *addr)
{
    struct slot *s;
    bool hit = false;

    pthread_mutex_lock(&lock);
    if ((s = find(addr))) {
        hit = __atomic_load_n(&s->hit, __ATOMIC_ACQUIRE);
    }
    pthread_mutex_unlock(&lock);
    return hit;
}
