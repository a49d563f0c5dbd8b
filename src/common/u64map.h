/* mgr — a uint64 -> pointer map: open addressing, linear probing,
 * backward-shift deletion (no tombstones); key 0 is never stored. Its keys
 * are ids the server assigns itself (objects, sessions), never values a
 * client chooses, so an unkeyed mixer is enough: a client cannot pick ids
 * that collide. Memory through an optional mgri_mem. */
#ifndef MGRI_U64MAP_H
#define MGRI_U64MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/mem.h"

typedef struct mgri_u64map {
  uint64_t *keys;
  void **vals;
  size_t cap; /* 0 or a power of two */
  size_t len;
  mgri_mem *mem; /* NULL: plain malloc */
  unsigned cat;  /* the category counted in mem */
} mgri_u64map;

/* An empty map counting its memory in mem/cat (mem may be NULL). */
void mgri_u64map_init(mgri_u64map *m, mgri_mem *mem, unsigned cat);
void *mgri_u64map_get(const mgri_u64map *m, uint64_t key);
/* Inserts or replaces. MGR_OK or MGR_ENOMEM (map unchanged). key != 0. */
int mgri_u64map_put(mgri_u64map *m, uint64_t key, void *val);
/* Makes room so that n more puts cannot fail. MGR_OK or MGR_ENOMEM. */
int mgri_u64map_reserve(mgri_u64map *m, size_t n);
/* Removes key; false when absent. Never allocates. */
bool mgri_u64map_del(mgri_u64map *m, uint64_t key);
/* Frees the map's memory (not the values). */
void mgri_u64map_fini(mgri_u64map *m);

#endif
