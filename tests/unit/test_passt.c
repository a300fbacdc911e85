/*
 * test_passt.c - the passt netdev against a fake passt: a shell script
 * that records its arguments and then echoes what comes on fd 3 (cat),
 * so every frame netbe writes comes back.  The real passt is driven by
 * tests/integration/test_passt.py; here: the command line the keys make,
 * frames both ways, start-up failures with QEMU's messages, and a passt
 * that dies being started again without stalling the loop.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "backends/backends.h"
#include "netbe/backend.h"
#include "netbe/log.h"
#include "netbe/loop.h"
#include "netbe/net.h"
#include "netbe/opts.h"
#include "testlib.h"

struct fx {
    struct netbe_loop *loop;
    struct netbe_ctx *ctx;
    struct tl_client *peer;
    char dir[64], fake[96], args[96];
};

static struct fx *F;

static void write_script(const char *path, const char *body)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fprintf(f, "#!/bin/sh\n%s\n", body);
    fclose(f);
    assert_int_equal(chmod(path, 0755), 0);
}

static int setup(void **state)
{
    char body[256];

    F = calloc(1, sizeof(*F));
    F->loop = netbe_loop_default();
    F->ctx = netbe_ctx_new(F->loop);
    snprintf(F->dir, sizeof(F->dir), "/tmp/netbe-passt-XXXXXX");
    assert_non_null(mkdtemp(F->dir));
    snprintf(F->fake, sizeof(F->fake), "%s/passt", F->dir);
    snprintf(F->args, sizeof(F->args), "%s/args", F->dir);
    snprintf(body, sizeof(body), "echo \"$@\" >> %s\nexec cat <&3 >&3",
             F->args);
    write_script(F->fake, body);
    F->peer = tl_backend(F->ctx, "nic", NULL);
    tl_reset();
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];

    netbe_ctx_free(F->ctx);
    for (int i = 0; i < 5; i++) {
        netbe_loop_run_once(F->loop, 0);
    }
    snprintf(cmd, sizeof(cmd), "rm -rf %s", F->dir);
    assert_int_equal(system(cmd), 0);
    free(F);
    return 0;
}

/* Add "passt,id=p,..." peered with the test's client; Return: 0 or -1. */
static int add(const char *keys, char *msg, size_t len)
{
    struct netbe_error *err = NULL;
    char spec[512];
    struct netbe_opts *o;
    int r = -1;

    snprintf(spec, sizeof(spec), "passt,id=p,%s", keys);
    o = netbe_opts_parse(spec, "type", &err);
    assert_non_null(o);
    if (netbe_opts_check(o, netbe_backend_passt.schema, &err) == 0) {
        r = netbe_backend_passt.init(F->ctx, o, "p", &F->peer->nc, &err);
    }
    if (msg) {
        snprintf(msg, len, "%s", err ? netbe_error_msg(err) : "");
    }
    netbe_error_free(err);
    netbe_opts_free(o);
    return r;
}

static int passt_pid(void)
{
    struct netbe_client *p = netbe_find_netdev(F->ctx, "p");
    int pid = 0;

    assert_non_null(p);
    sscanf(p->info_str, "stream,connected to pid %d", &pid);
    return pid;
}

static long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Run the loop until @n frames came back; Return: the longest turn. */
static long run_until_frames(int n, long limit_ms)
{
    long start = now_ms(), longest = 0;

    while (F->peer->nframes < n && now_ms() - start < limit_ms) {
        long t = now_ms();

        netbe_loop_run_once(F->loop, 0);
        if (now_ms() - t > longest) {
            longest = now_ms() - t;
        }
        usleep(1000);
    }
    return longest;
}

static void send_frame(uint8_t tag)
{
    uint8_t frame[60];

    tl_fill(frame, sizeof(frame), tag);
    assert_true(netbe_send_packet(&F->peer->nc, frame, sizeof(frame)) > 0);
}

/* The keys' options, in QEMU's order, and a frame there and back. */
static void test_argv_and_frames(void **state)
{
    char keys[256], line[512] = "";
    uint8_t want[60];
    FILE *f;

    snprintf(keys, sizeof(keys),
             "path=%s,mtu=1500,tcp=off,search=a.example,search=b.example,"
             "param=--debug",
             F->fake);
    assert_int_equal(add(keys, NULL, 0), 0);
    assert_true(passt_pid() > 0);
    send_frame(7);
    run_until_frames(1, 5000);
    assert_int_equal(F->peer->nframes, 1);
    tl_fill(want, sizeof(want), 7);
    assert_int_equal(F->peer->frames[0].len, 60);
    assert_memory_equal(F->peer->frames[0].data, want, sizeof(want));
    f = fopen(F->args, "r");
    assert_non_null(f);
    assert_non_null(fgets(line, sizeof(line), f));
    fclose(f);
    assert_string_equal(line, "--quiet --mtu 1500 --no-tcp --search "
                              "a.example b.example --debug --foreground "
                              "--fd 3\n");
}

/*
 * passt is killed: the link goes down, a new passt comes a second later
 * and frames flow again; no turn of the loop waits for it meanwhile
 * (the VMs on the same loop go on).
 */
static void test_restart_does_not_block(void **state)
{
    char keys[128];
    long start, longest = 0;
    int pid;

    snprintf(keys, sizeof(keys), "path=%s", F->fake);
    assert_int_equal(add(keys, NULL, 0), 0);
    pid = passt_pid();
    assert_true(pid > 0);
    assert_int_equal(kill(pid, SIGKILL), 0);
    start = now_ms();
    while ((passt_pid() == pid || passt_pid() == 0) &&
           now_ms() - start < 5000) {
        long t = now_ms();

        netbe_loop_run_once(F->loop, 0);
        if (now_ms() - t > longest) {
            longest = now_ms() - t;
        }
        usleep(1000);
    }
    assert_true(passt_pid() > 0);
    assert_true(passt_pid() != pid);
    assert_true(now_ms() - start >= 900); /* at most once a second */
    /* QEMU's start-up waits 150 ms for passt; a restart must not */
    if (longest >= 100) {
        fail_msg("a loop turn took %ld ms while passt restarted", longest);
    }
    send_frame(9);
    longest = run_until_frames(1, 5000);
    assert_int_equal(F->peer->nframes, 1);
    assert_int_equal(F->peer->frames[0].data[0], 9);
}

/* A passt that ignores SIGTERM is killed: deleting it stalls nothing. */
static void test_stop_hung_passt(void **state)
{
    char keys[256], stubborn[128];
    long start;
    int pid;

    snprintf(stubborn, sizeof(stubborn), "%s/stubborn", F->dir);
    /* it reads nothing: it does not end at EOF either */
    write_script(stubborn, "trap '' TERM\nexec sleep 100");
    snprintf(keys, sizeof(keys), "path=%s", stubborn);
    assert_int_equal(add(keys, NULL, 0), 0);
    pid = passt_pid();
    assert_true(pid > 0);
    start = now_ms();
    netbe_client_del(netbe_find_netdev(F->ctx, "p"));
    if (now_ms() - start >= 500) {
        fail_msg("deleting the netdev took %ld ms", now_ms() - start);
    }
    /* gone and reaped */
    assert_int_equal(kill(pid, 0), -1);
    assert_int_equal(errno, ESRCH);
}

/* A passt that exits at once, or none at all: QEMU's messages. */
static void test_start_failures(void **state)
{
    char keys[256], msg[256], bad[128];

    snprintf(bad, sizeof(bad), "%s/exits", F->dir);
    write_script(bad, "exit 1");
    snprintf(keys, sizeof(keys), "path=%s", bad);
    assert_int_equal(add(keys, msg, sizeof(msg)), -1);
    assert_string_equal(msg, "Device 'passt' could not be initialized");
    assert_null(netbe_find_netdev(F->ctx, "p"));
    snprintf(keys, sizeof(keys), "path=%s/none", F->dir);
    assert_int_equal(add(keys, msg, sizeof(msg)), -1);
    snprintf(bad, sizeof(bad),
             "Error creating daemon: %s/none: No such file or directory",
             F->dir);
    assert_string_equal(msg, bad);
    assert_int_equal(add("path=/bin/true,vhost-user=on", msg, sizeof(msg)), -1);
    assert_non_null(strstr(msg, "vhost-user=on is not available"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_argv_and_frames, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_does_not_block, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_start_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_hung_passt, setup, teardown),
    };

    netbe_log_set_level(NETBE_LOG_ERROR);
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
