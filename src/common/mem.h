/* mgr — memory accounting: an allocator front that counts the bytes it hands
 * out by category against a limit, and can be made to fail the N-th
 * allocation (tests). The server routes every allocation of its store, its
 * objects and its connections' buffers through one mgri_mem, so the limit
 * holds for the whole process and STATS can say where the memory is. A NULL
 * mgri_mem means plain malloc, uncounted (the client library). Single-
 * threaded: one mgri_mem belongs to one thread. */
#ifndef MGRI_MEM_H
#define MGRI_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* X(NAME, stats_name): the categories. */
#define MGRI_MEM_CATS(X)                                                       \
  X(OBJECTS, "objects")   /* shared objects: state, entries, stored values */  \
  X(CONN_IN, "conn_in")   /* connections' input (frame reader) buffers */      \
  X(CONN_OUT, "conn_out") /* connections' unsent replies */                    \
  X(ARENAS, "arenas") /* decoded requests, result scratch, batch results */    \
  X(PARKED, "parked") /* parked (blocking) requests */                         \
  X(STORE, "store")   /* connections, sessions, names, id maps, timers */

enum {
#define MGRI_MEM_ENUM_(name, s) MGRI_MEM_##name,
  MGRI_MEM_CATS(MGRI_MEM_ENUM_)
#undef MGRI_MEM_ENUM_
      MGRI_MEM_NCAT
};

typedef struct mgri_mem {
  size_t used[MGRI_MEM_NCAT]; /* bytes held, by category */
  size_t total;               /* sum of used[] */
  size_t peak;                /* highest total seen */
  size_t max;                 /* limit on total; 0 = none */
  uint64_t refused;           /* allocations refused for the limit */
  /* Fault injection (tests): when fail_in > 0 it counts down at each
   * allocation, and the allocation that takes it to 0 fails once. */
  uint64_t fail_in;
  uint64_t failed; /* allocations failed by injection */
} mgri_mem;

/* Bytes held by a block this allocator returned (its usable size). */
size_t mgri_mem_size(const void *p);
/* Whether n more bytes fit under the limit (always true without one). */
bool mgri_mem_room(const mgri_mem *m, size_t n);
/* n bytes (n > 0) counted in category cat, or NULL: the limit would be
 * exceeded (m->refused counts it), injected failure, or out of memory.
 * m NULL: plain malloc. */
void *mgri_mem_alloc(mgri_mem *m, unsigned cat, size_t n);
void *mgri_mem_calloc(mgri_mem *m, unsigned cat, size_t n);
/* realloc(p, n) (n > 0) with the same rules; p unchanged on failure. The
 * limit is checked against the growth only. */
void *mgri_mem_realloc(mgri_mem *m, unsigned cat, void *p, size_t n);
/* Shrinks block p to n bytes (0 < n): never refused, neither by the limit
 * nor by injection (shrinking is not an allocation that can fail: its
 * callers need not undo anything). NULL when the allocator cannot (or n is
 * not smaller than p's size): p is then as it was, still valid and
 * counted. */
void *mgri_mem_shrink(mgri_mem *m, unsigned cat, void *p, size_t n);
/* Frees p (NULL is fine), uncounting it from cat. */
void mgri_mem_free(mgri_mem *m, unsigned cat, void *p);
/* Moves the count of block p from category `from` to `to`. */
void mgri_mem_move(mgri_mem *m, unsigned from, unsigned to, const void *p);
/* Uncounts p without freeing it (it is freed later, by free()). */
void mgri_mem_forget(mgri_mem *m, unsigned cat, const void *p);
/* Counts again in cat a block p uncounted by mgri_mem_forget (never
 * refused: the block is held already). */
void mgri_mem_count(mgri_mem *m, unsigned cat, const void *p);
/* Counts n bytes the allocator did not hand out (a mapping: the shared
 * memory transport's segments, spec 2.10) in cat: false, counting nothing,
 * when the limit would be exceeded (m->refused counts it). */
bool mgri_mem_charge(mgri_mem *m, unsigned cat, size_t n);
/* Uncounts n bytes counted by mgri_mem_charge. */
void mgri_mem_discharge(mgri_mem *m, unsigned cat, size_t n);
/* The category's name in STATS ("objects" ...), NULL when out of range. */
const char *mgri_mem_cat_name(unsigned cat);

#endif
