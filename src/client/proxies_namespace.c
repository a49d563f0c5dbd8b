/* mgr client: the Namespace proxy (manager.Namespace(), spec 9.9), and its
 * text as Python shows it, built here from NS_ITEMS. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "pcall.h"
#include "mgr/error.h"
#include "mgr/sync.h"

int mgr_namespace_new(mgr_client *m, const mgr_value *init, mgr_proxy **out) {
  return mgri_create(m, MGR_K_NAMESPACE, init, out);
}

int mgr_ns_get(mgr_proxy *ns, const char *name, mgr_value *out) {
  if (!name || !out) return MGR_EINVAL;
  mgr_value a[1] = {mgr_text(name)};
  return mgri_pcall_out(ns, MGRI_OP_NS_GET, a, 1, out);
}

int mgr_ns_set(mgr_proxy *ns, const char *name, const mgr_value *val) {
  if (!name || !val) return MGR_EINVAL;
  mgr_value a[2] = {mgr_text(name), *val};
  return mgri_pcall(ns, MGRI_OP_NS_SET, a, 2, NULL);
}

int mgr_ns_del(mgr_proxy *ns, const char *name) {
  if (!name) return MGR_EINVAL;
  mgr_value a[1] = {mgr_text(name)};
  return mgri_pcall(ns, MGRI_OP_NS_DEL, a, 1, NULL);
}

/* NS_ITEMS, borrowed: a map whose keys are text. */
static int items(mgr_proxy *ns, mgr_value *res) {
  int rc = mgri_pcall(ns, MGRI_OP_NS_ITEMS, NULL, 0, res);
  if (rc != MGR_OK) return rc;
  if (res->type != MGR_T_MAP) return mgri_pcall_bad(ns, "a map");
  for (size_t i = 0; i < res->u.a.len; i++)
    if (res->u.a.items[2 * i].type != MGR_T_TEXT)
      return mgri_pcall_bad(ns, "a map of names");
  return MGR_OK;
}

int mgr_ns_items(mgr_proxy *ns, mgr_value *out) {
  if (!out) return MGR_EINVAL;
  *out = mgr_nil();
  mgr_value res;
  int rc = items(ns, &res);
  return rc != MGR_OK ? rc : mgri_result_out(&res, out);
}

/* One "name=repr(value)" of the text. */
typedef struct piece {
  const char *p;
  size_t len;
} piece;

static int piece_cmp(const void *a, const void *b) {
  const piece *x = a, *y = b;
  size_t n = x->len < y->len ? x->len : y->len;
  int c = memcmp(x->p, y->p, n);
  if (c) return c;
  return x->len < y->len ? -1 : x->len > y->len;
}

static bool add_ok(size_t *total, size_t n) {
  if (n > SIZE_MAX - *total) return false;
  *total += n;
  return true;
}

/* Python's Namespace.__repr__ (what str() of a NamespaceProxy prints; its
 * repr() is the proxy's "<NamespaceProxy object ...>"): each attribute as
 * "name=repr(value)", the strings sorted — the whole strings, not the
 * names: "a0=1" comes before "a=2" as '0' < '=' — and joined with ", "
 * inside "Namespace(...)". UTF-8 sorts bytewise as Python's str does by
 * code point. */
int mgr_ns_repr(mgr_proxy *ns, mgr_value *out) {
  if (!out) return MGR_EINVAL;
  *out = mgr_nil();
  mgr_value res;
  int rc = items(ns, &res);
  if (rc != MGR_OK) return rc;
  size_t n = res.u.a.len, body = 0;
  for (size_t i = 0; i < n; i++) {
    const mgr_value *k = &res.u.a.items[2 * i], *v = &res.u.a.items[2 * i + 1];
    if (!add_ok(&body, k->u.s.len) || !add_ok(&body, 2) ||
        !add_ok(&body, mgr_value_repr(v, NULL, 0)))
      return MGR_ENOMEM;
  }
  /* The pieces (each with room for the repr's NUL), then the text. */
  piece *pc = n ? calloc(n, sizeof *pc) : NULL;
  char *pbuf = malloc(body ? body : 1);
  size_t total = sizeof "Namespace()" - 1;
  if (!add_ok(&total, body) || !add_ok(&total, 2 * n) || !add_ok(&total, 1) ||
      (n && !pc) || !pbuf) {
    free(pc);
    free(pbuf);
    return MGR_ENOMEM;
  }
  char *w = pbuf;
  for (size_t i = 0; i < n; i++) {
    const mgr_value *k = &res.u.a.items[2 * i], *v = &res.u.a.items[2 * i + 1];
    pc[i].p = w;
    memcpy(w, k->u.s.ptr, k->u.s.len);
    w += k->u.s.len;
    *w++ = '=';
    size_t rl = mgr_value_repr(v, w, (size_t)(pbuf + body - w));
    w += rl;
    pc[i].len = (size_t)(w - pc[i].p);
  }
  if (n > 1) qsort(pc, n, sizeof *pc, piece_cmp);
  char *text = malloc(total);
  if (!text) {
    free(pc);
    free(pbuf);
    return MGR_ENOMEM;
  }
  w = text;
  memcpy(w, "Namespace(", 10);
  w += 10;
  for (size_t i = 0; i < n; i++) {
    if (i) {
      memcpy(w, ", ", 2);
      w += 2;
    }
    memcpy(w, pc[i].p, pc[i].len);
    w += pc[i].len;
  }
  *w++ = ')';
  *w = '\0';
  free(pc);
  free(pbuf);
  /* An owned text is one block, its pointer (mgr_value_free frees it). */
  *out = mgr_textn(text, (size_t)(w - text));
  return MGR_OK;
}
