/* mgr — memory accounting (see mem.h). Sizes are the allocator's usable
 * sizes (malloc_usable_size), so what is counted is what the heap holds for
 * each block, and a block's size need not be remembered by its owner. */
#include "common/mem.h"

#include <malloc.h>
#include <stdlib.h>

size_t mgri_mem_size(const void *p) {
  return p ? malloc_usable_size((void *)p) : 0;
}

bool mgri_mem_room(const mgri_mem *m, size_t n) {
  return !m || !m->max || (n <= m->max && m->total <= m->max - n);
}

static void count(mgri_mem *m, unsigned cat, size_t add, size_t sub) {
  /* Clamped: a miscount must never wrap into a huge number. */
  size_t u = m->used[cat];
  u = u >= sub ? u - sub : 0;
  m->used[cat] = u + add;
  m->total = (m->total >= sub ? m->total - sub : 0) + add;
  if (m->total > m->peak) m->peak = m->total;
}

/* Whether this allocation must fail: the limit (checked against the growth
 * only, so shrinking is never refused), or injection. */
static bool refuse(mgri_mem *m, size_t grow) {
  if (m->fail_in && --m->fail_in == 0) {
    m->failed++;
    return true;
  }
  if (grow && !mgri_mem_room(m, grow)) {
    m->refused++;
    return true;
  }
  return false;
}

/* A new block p: counted, or given back when what the allocator really holds
 * for it (rounded up) would pass the limit. */
static void *admit(mgri_mem *m, unsigned cat, void *p) {
  if (!p) return NULL;
  size_t got = mgri_mem_size(p);
  if (!mgri_mem_room(m, got)) {
    free(p);
    m->refused++;
    return NULL;
  }
  count(m, cat, got, 0);
  return p;
}

void *mgri_mem_alloc(mgri_mem *m, unsigned cat, size_t n) {
  if (!m) return malloc(n);
  if (cat >= MGRI_MEM_NCAT || refuse(m, n)) return NULL;
  return admit(m, cat, malloc(n));
}

void *mgri_mem_calloc(mgri_mem *m, unsigned cat, size_t n) {
  if (!m) return calloc(1, n);
  if (cat >= MGRI_MEM_NCAT || refuse(m, n)) return NULL;
  return admit(m, cat, calloc(1, n));
}

void *mgri_mem_realloc(mgri_mem *m, unsigned cat, void *p, size_t n) {
  if (!m) return realloc(p, n);
  size_t old = mgri_mem_size(p);
  if (cat >= MGRI_MEM_NCAT || refuse(m, n > old ? n - old : 0)) return NULL;
  void *q = realloc(p, n);
  if (q) count(m, cat, mgri_mem_size(q), old);
  return q;
}

void *mgri_mem_shrink(mgri_mem *m, unsigned cat, void *p, size_t n) {
  size_t old = mgri_mem_size(p);
  if (!p || !n || n >= old) return NULL;
  void *q = realloc(p, n);
  if (!q) return NULL;
  if (m && cat < MGRI_MEM_NCAT) count(m, cat, mgri_mem_size(q), old);
  return q;
}

void mgri_mem_free(mgri_mem *m, unsigned cat, void *p) {
  if (!p) return;
  if (m && cat < MGRI_MEM_NCAT) count(m, cat, 0, mgri_mem_size(p));
  free(p);
}

void mgri_mem_move(mgri_mem *m, unsigned from, unsigned to, const void *p) {
  if (!m || !p || from >= MGRI_MEM_NCAT || to >= MGRI_MEM_NCAT) return;
  size_t n = mgri_mem_size(p);
  count(m, from, 0, n);
  count(m, to, n, 0);
}

void mgri_mem_forget(mgri_mem *m, unsigned cat, const void *p) {
  if (m && p && cat < MGRI_MEM_NCAT) count(m, cat, 0, mgri_mem_size(p));
}

void mgri_mem_count(mgri_mem *m, unsigned cat, const void *p) {
  if (m && p && cat < MGRI_MEM_NCAT) count(m, cat, mgri_mem_size(p), 0);
}

const char *mgri_mem_cat_name(unsigned cat) {
  static const char *const names[] = {
#define MGRI_MEM_NAME_(name, s) s,
      MGRI_MEM_CATS(MGRI_MEM_NAME_)
#undef MGRI_MEM_NAME_
  };
  return cat < MGRI_MEM_NCAT ? names[cat] : NULL;
}

bool mgri_mem_charge(mgri_mem *m, unsigned cat, size_t n) {
  if (!m || cat >= MGRI_MEM_NCAT) return true;
  if (!mgri_mem_room(m, n)) {
    m->refused++;
    return false;
  }
  count(m, cat, n, 0);
  return true;
}

void mgri_mem_discharge(mgri_mem *m, unsigned cat, size_t n) {
  if (m && cat < MGRI_MEM_NCAT) count(m, cat, 0, n);
}
