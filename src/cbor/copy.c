/* mgr — owned values: the one-block deep copy (value nodes first, then
 * string bytes, so one free() releases a value however deep), the refs a
 * value holds, its item count, and the structural checks shared by
 * mgr_value_copy and the encoder. */
#include <stdlib.h>
#include <string.h>

#include "cbor/model.h"
#include "common/kinds.h"
#include "common/limits.h"
#include "mgr/error.h"

/* --- owned copies: one block, value nodes first, then string bytes -------- */

static bool measure(const mgr_value *v, size_t *nodes, size_t *strs) {
  switch (v->type) {
  case MGR_T_TEXT:
  case MGR_T_BYTES:
    /* Bytes get a NUL too, so even an empty string owns a block. */
    if (v->u.s.len > SIZE_MAX - 1 || *strs > SIZE_MAX - 1 - v->u.s.len)
      return false;
    *strs += v->u.s.len + 1;
    return true;
  case MGR_T_ARRAY:
  case MGR_T_MAP: {
    size_t n = v->u.a.len;
    if (v->type == MGR_T_MAP) {
      if (n > SIZE_MAX / 2) return false;
      n *= 2;
    }
    if (*nodes > SIZE_MAX - n) return false;
    *nodes += n;
    for (size_t i = 0; i < n; i++)
      if (!measure(&v->u.a.items[i], nodes, strs)) return false;
    return true;
  }
  default:
    return true;
  }
}

size_t mgri_value_size(const mgr_value *v) {
  size_t nodes = 0, strs = 0;
  if (!measure(v, &nodes, &strs)) return SIZE_MAX;
  if (nodes > (SIZE_MAX - 1) / sizeof(mgr_value)) return SIZE_MAX;
  nodes *= sizeof(mgr_value);
  if (strs >= SIZE_MAX - nodes) return SIZE_MAX;
  return nodes + strs;
}

static void copy_rec(mgr_value *dst, const mgr_value *v, char **nodes,
                     char **strs) {
  *dst = *v;
  switch (v->type) {
  case MGR_T_TEXT:
  case MGR_T_BYTES: {
    char *s = *strs;
    if (v->u.s.len) memcpy(s, v->u.s.ptr, v->u.s.len);
    s[v->u.s.len] = '\0';
    dst->u.s.ptr = s;
    *strs += v->u.s.len + 1;
    break;
  }
  case MGR_T_ARRAY:
  case MGR_T_MAP: {
    size_t n = v->u.a.len * (v->type == MGR_T_MAP ? 2 : 1);
    mgr_value *items = (mgr_value *)(void *)*nodes;
    *nodes += n * sizeof(mgr_value);
    dst->u.a.items = n ? items : NULL;
    for (size_t i = 0; i < n; i++)
      copy_rec(&items[i], &v->u.a.items[i], nodes, strs);
    break;
  }
  default:
    break;
  }
}

void mgri_value_copy_into(mgr_value *dst, const mgr_value *v, void *mem) {
  size_t nodes = 0, strs = 0;
  if (!mem) { /* size 0: a scalar or an empty container */
    *dst = *v;
    if (v->type == MGR_T_ARRAY || v->type == MGR_T_MAP) dst->u.a.items = NULL;
    return;
  }
  measure(v, &nodes, &strs);
  char *np = mem, *sp = (char *)mem + nodes * sizeof(mgr_value);
  copy_rec(dst, v, &np, &sp);
  /* The root pointer is the block itself, so one free() releases it. */
  if (v->type == MGR_T_ARRAY || v->type == MGR_T_MAP) dst->u.a.items = mem;
}

void *mgri_value_block(const mgr_value *v) {
  switch (v->type) {
  case MGR_T_TEXT:
  case MGR_T_BYTES:
    return (void *)v->u.s.ptr;
  case MGR_T_ARRAY:
  case MGR_T_MAP:
    return v->u.a.items;
  default:
    return NULL;
  }
}

static size_t items_rec(const mgr_value *v, size_t cap) {
  if (v->type != MGR_T_ARRAY && v->type != MGR_T_MAP) return 1;
  size_t n = v->u.a.len * (v->type == MGR_T_MAP ? 2 : 1), c = 1;
  for (size_t i = 0; i < n && c < cap; i++)
    c += items_rec(&v->u.a.items[i], cap - c);
  return c;
}

size_t mgri_value_items(const mgr_value *v, size_t cap) {
  return cap ? items_rec(v, cap) : 0;
}

size_t mgri_value_refs(const mgr_value *v, void (*fn)(void *ctx, uint64_t id),
                       void *ctx) {
  switch (v->type) {
  case MGR_T_REF:
    if (fn) fn(ctx, v->u.ref.id);
    return 1;
  case MGR_T_ARRAY:
  case MGR_T_MAP: {
    size_t n = v->u.a.len * (v->type == MGR_T_MAP ? 2 : 1), c = 0;
    for (size_t i = 0; i < n; i++)
      c += mgri_value_refs(&v->u.a.items[i], fn, ctx);
    return c;
  }
  default:
    return 0;
  }
}

static int check(const mgr_value *v, unsigned depth) {
  if (depth > MGRI_DEPTH_MAX) return MGR_EINVAL;
  switch (v->type) {
  case MGR_T_NIL:
  case MGR_T_BOOL:
  case MGR_T_INT:
  case MGR_T_FLOAT:
    return MGR_OK;
  case MGR_T_TEXT:
    if (!v->u.s.ptr && v->u.s.len) return MGR_EINVAL;
    return v->u.s.len == 0 || mgri_utf8_valid(v->u.s.ptr, v->u.s.len)
               ? MGR_OK
               : MGR_EINVAL;
  case MGR_T_BYTES:
    return !v->u.s.ptr && v->u.s.len ? MGR_EINVAL : MGR_OK;
  case MGR_T_REF:
    if ((v->u.ref.kind < 1 || v->u.ref.kind > MGRI_KIND_MAX ||
         v->u.ref.id == 0 || v->u.ref.id > INT64_MAX))
      return MGR_EINVAL;
    return MGR_OK;
  case MGR_T_ARRAY:
  case MGR_T_MAP: {
    size_t n = v->u.a.len;
    if (v->type == MGR_T_MAP) {
      if (n > SIZE_MAX / 2) return MGR_EINVAL;
      n *= 2;
    }
    if (!v->u.a.items && n) return MGR_EINVAL;
    for (size_t i = 0; i < n; i++) {
      int rc = check(&v->u.a.items[i], depth + 1);
      if (rc != MGR_OK) return rc;
    }
    if (v->type == MGR_T_MAP) {
      for (size_t i = 0; i < v->u.a.len; i++)
        if (mgri_value_hashable(&v->u.a.items[2 * i]) != MGR_OK)
          return MGR_EINVAL;
      size_t dup;
      int rc = mgri_map_find_dup(v->u.a.items, v->u.a.len, &dup);
      if (rc < 0) return rc;
      if (rc > 0) return MGR_EINVAL;
    }
    return MGR_OK;
  }
  default:
    return MGR_EINVAL;
  }
}

int mgri_value_valid(const mgr_value *v, unsigned depth) {
  return v ? check(v, depth ? depth : 1) : MGR_EINVAL;
}
