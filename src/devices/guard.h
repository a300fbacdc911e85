/*
 * guard.h - guest memory a front-end may pull from under netbe.
 *
 * netbe maps the files a vhost-user front-end sends (guest RAM, the dirty
 * log).  A front-end that then shrinks such a file (ftruncate) turns
 * every access past its new end into SIGBUS, which would kill netbe and
 * every VM on it.  The guard's SIGBUS handler looks the faulting address
 * up among the mappings registered here; when one holds it, it maps zero
 * pages over the rest of that mapping, marks it hit and returns, so the
 * access completes (on zeros) and the device resets that front-end on
 * the loop.  A SIGBUS anywhere else goes on to the handler there was
 * before, or kills the process as it would have.
 *
 * Nothing costs anything per access: the handler is installed with the
 * first mapping (and again with a later one if another handler replaced
 * it meanwhile; that one is then the one chained to), and the device asks vu_guard_hits() at the end of a
 * batch.  The table is lock-free for the handler: slots are only ever
 * added in blocks that stay, and a slot is filled before it is marked.
 */
#ifndef NETBE_DEVICES_GUARD_H
#define NETBE_DEVICES_GUARD_H

#include <stdbool.h>
#include <stddef.h>

/**
 * vu_guard_add() - guard [@addr, @addr + @len), a MAP_SHARED mapping of
 * a front-end's file (installs the handler the first time)
 * Return: 0, or -1 when the handler cannot be installed (errno)
 */
int vu_guard_add(void *addr, size_t len);

/** vu_guard_del() - forget the mapping at @addr (before munmap()) */
void vu_guard_del(void *addr);

/**
 * vu_guard_hits() - Return: how many faults the handler caught so far
 * (a change says: ask vu_guard_hit() of your mappings)
 */
unsigned long vu_guard_hits(void);

/**
 * vu_guard_hit() - whether the mapping at @addr faulted (it reads zeros
 * from the faulting page on); the mark stays until vu_guard_del()
 */
bool vu_guard_hit(void *addr);

#endif
