/* mgr — the uint64 -> pointer map (see u64map.h). */
#include "common/u64map.h"

#include <string.h>

#include "mgr/error.h"

static size_t slot_of(uint64_t key, size_t cap) {
  key ^= key >> 33;
  key *= 0xff51afd7ed558ccdull;
  key ^= key >> 33;
  return (size_t)key & (cap - 1);
}

void mgri_u64map_init(mgri_u64map *m, mgri_mem *mem, unsigned cat) {
  memset(m, 0, sizeof *m);
  m->mem = mem;
  m->cat = cat;
}

void *mgri_u64map_get(const mgri_u64map *m, uint64_t key) {
  if (!m->cap || !key) return NULL;
  for (size_t i = slot_of(key, m->cap);; i = (i + 1) & (m->cap - 1)) {
    if (m->keys[i] == key) return m->vals[i];
    if (m->keys[i] == 0) return NULL;
  }
}

static int grow_to(mgri_u64map *m, size_t cap) {
  uint64_t *keys = mgri_mem_calloc(m->mem, m->cat, cap * sizeof *keys);
  void **vals =
      keys ? mgri_mem_calloc(m->mem, m->cat, cap * sizeof *vals) : NULL;
  if (!keys || !vals) {
    mgri_mem_free(m->mem, m->cat, keys);
    return MGR_ENOMEM;
  }
  for (size_t i = 0; i < m->cap; i++) {
    if (!m->keys[i]) continue;
    size_t j = slot_of(m->keys[i], cap);
    while (keys[j])
      j = (j + 1) & (cap - 1);
    keys[j] = m->keys[i];
    vals[j] = m->vals[i];
  }
  mgri_mem_free(m->mem, m->cat, m->keys);
  mgri_mem_free(m->mem, m->cat, m->vals);
  m->keys = keys;
  m->vals = vals;
  m->cap = cap;
  return MGR_OK;
}

int mgri_u64map_reserve(mgri_u64map *m, size_t n) {
  if (n > SIZE_MAX / 8 - m->len) return MGR_ENOMEM;
  size_t need = m->len + n, cap = m->cap ? m->cap : 16;
  /* At most 3/4 full. */
  while (need * 4 > cap * 3) {
    if (cap > SIZE_MAX / 16) return MGR_ENOMEM;
    cap *= 2;
  }
  return cap == m->cap ? MGR_OK : grow_to(m, cap);
}

int mgri_u64map_put(mgri_u64map *m, uint64_t key, void *val) {
  if (mgri_u64map_reserve(m, 1)) return MGR_ENOMEM;
  size_t i = slot_of(key, m->cap);
  while (m->keys[i] && m->keys[i] != key)
    i = (i + 1) & (m->cap - 1);
  if (!m->keys[i]) m->len++;
  m->keys[i] = key;
  m->vals[i] = val;
  return MGR_OK;
}

bool mgri_u64map_del(mgri_u64map *m, uint64_t key) {
  if (!m->cap || !key) return false;
  size_t mask = m->cap - 1, i = slot_of(key, m->cap);
  while (m->keys[i] != key) {
    if (!m->keys[i]) return false;
    i = (i + 1) & mask;
  }
  /* Backward-shift deletion: no tombstones. */
  size_t j = i;
  for (;;) {
    j = (j + 1) & mask;
    if (!m->keys[j]) break;
    size_t home = slot_of(m->keys[j], m->cap);
    /* Move j to i when its home is not cyclically in (i, j]. */
    if ((j > i && (home <= i || home > j)) ||
        (j < i && home <= i && home > j)) {
      m->keys[i] = m->keys[j];
      m->vals[i] = m->vals[j];
      i = j;
    }
  }
  m->keys[i] = 0;
  m->vals[i] = NULL;
  m->len--;
  return true;
}

void mgri_u64map_fini(mgri_u64map *m) {
  mgri_mem_free(m->mem, m->cat, m->keys);
  mgri_mem_free(m->mem, m->cat, m->vals);
  m->keys = NULL;
  m->vals = NULL;
  m->cap = m->len = 0;
}
