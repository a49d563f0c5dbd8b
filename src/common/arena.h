/* mgr — a bump allocator for decoded messages: reset per message, so steady
 * state decoding allocates nothing. */
#ifndef MGRI_ARENA_H
#define MGRI_ARENA_H

#include <stddef.h>

typedef struct mgri_arena_chunk mgri_arena_chunk;

typedef struct mgri_arena {
  mgri_arena_chunk *head; /* chunk in use; older chunks chained behind it */
  size_t used;            /* bytes handed out since the last reset */
  size_t limit;           /* most bytes handed out between resets; 0 = none */
} mgri_arena;

void mgri_arena_init(mgri_arena *a, size_t limit);
/* n bytes, aligned for any mgr_value, or NULL (limit reached or out of
 * memory). n == 0 returns a valid non-NULL pointer. */
void *mgri_arena_alloc(mgri_arena *a, size_t n);
/* Forgets every allocation; keeps the largest chunk for reuse. */
void mgri_arena_reset(mgri_arena *a);
void mgri_arena_fini(mgri_arena *a);

#endif
