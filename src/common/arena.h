/* mgr — a bump allocator for decoded messages and results: reset per
 * message, so steady-state decoding allocates nothing, and bounded: a reset
 * keeps at most MGRI_IDLE_BUF_MAX bytes, whatever the last message needed. */
#ifndef MGRI_ARENA_H
#define MGRI_ARENA_H

#include <stddef.h>

#include "common/mem.h"

typedef struct mgri_arena_chunk mgri_arena_chunk;

typedef struct mgri_arena {
  mgri_arena_chunk *head; /* chunk in use; older chunks chained behind it */
  size_t used;            /* bytes handed out since the last reset */
  size_t limit;           /* most bytes handed out between resets; 0 = none */
  mgri_mem *mem;          /* NULL: plain malloc */
  unsigned cat;
} mgri_arena;

void mgri_arena_init(mgri_arena *a, size_t limit);
/* Counts the arena's chunks in mem/cat from now on (call before the first
 * allocation). */
void mgri_arena_set_mem(mgri_arena *a, mgri_mem *mem, unsigned cat);
/* n bytes, aligned for any mgr_value, or NULL (limit reached or out of
 * memory). n == 0 returns a valid non-NULL pointer. */
void *mgri_arena_alloc(mgri_arena *a, size_t n);
/* Forgets every allocation; keeps one chunk of at most MGRI_IDLE_BUF_MAX
 * bytes for reuse and frees the rest. */
void mgri_arena_reset(mgri_arena *a);
void mgri_arena_fini(mgri_arena *a);
/* Bytes the arena holds (its chunks, headers included). */
size_t mgri_arena_held(const mgri_arena *a);

#endif
