/* mgr client: proxies and references. A per-client table counts this
 * process's proxies of each object; the session's reference is taken when the
 * first proxy appears and dropped (RELEASE) when the last one goes. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "pcall.h"
#include "mgr/error.h"

static size_t ref_hash(uint64_t id, size_t cap) {
  return (size_t)((id * 0x9E3779B97F4A7C15ull) >> 17) & (cap - 1);
}

static int ref_grow(mgr_client *m) {
  size_t cap = m->caprefs ? m->caprefs * 2 : 16;
  mgri_ref *t = calloc(cap, sizeof *t);
  if (!t) return MGR_ENOMEM;
  for (size_t i = 0; i < m->caprefs; i++) {
    if (!m->refs[i].id) continue;
    size_t j = ref_hash(m->refs[i].id, cap);
    while (t[j].id)
      j = (j + 1) & (cap - 1);
    t[j] = m->refs[i];
  }
  free(m->refs);
  m->refs = t;
  m->caprefs = cap;
  return MGR_OK;
}

/* Room for one more id, so that the mgri_ref_slot(create) after a request
 * that added a reference on the manager cannot fail (the reference would
 * be held by nobody who knows). With m->mu held. */
static int ref_reserve(mgr_client *m) {
  if ((m->nrefs + 1) * 2 > m->caprefs) return ref_grow(m);
  return MGR_OK;
}

uint64_t *mgri_ref_slot(mgr_client *m, uint64_t id, bool create) {
  if (m->caprefs) {
    size_t mask = m->caprefs - 1;
    for (size_t i = ref_hash(id, m->caprefs); m->refs[i].id; i = (i + 1) & mask)
      if (m->refs[i].id == id) return &m->refs[i].count;
  }
  if (!create) return NULL;
  if ((m->nrefs + 1) * 2 > m->caprefs && ref_grow(m) != MGR_OK) return NULL;
  size_t mask = m->caprefs - 1;
  size_t i = ref_hash(id, m->caprefs);
  while (m->refs[i].id)
    i = (i + 1) & mask;
  m->refs[i].id = id;
  m->refs[i].count = 0;
  m->nrefs++;
  return &m->refs[i].count;
}

/* Linear probing removal by backward shift (no tombstones). */
void mgri_ref_remove(mgr_client *m, uint64_t id) {
  if (!m->caprefs) return;
  size_t mask = m->caprefs - 1;
  size_t i = ref_hash(id, m->caprefs);
  while (m->refs[i].id && m->refs[i].id != id)
    i = (i + 1) & mask;
  if (!m->refs[i].id) return;
  size_t j = i;
  for (;;) {
    j = (j + 1) & mask;
    if (!m->refs[j].id) break;
    size_t k = ref_hash(m->refs[j].id, m->caprefs);
    /* Move j back to the hole at i unless its home k lies in (i, j]. */
    bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
    if (!stays) {
      m->refs[i] = m->refs[j];
      i = j;
    }
  }
  m->refs[i].id = 0;
  m->refs[i].count = 0;
  m->nrefs--;
}

/* With m->mu held, after ref_reserve: counts one more local proxy of ref
 * (cannot fail then). */
static int proxy_make(mgr_client *m, const mgr_value *ref, mgr_proxy *p,
                      mgr_proxy **out) {
  uint64_t *cnt = mgri_ref_slot(m, ref->u.ref.id, true);
  if (!cnt) { /* not reserved: a bug */
    free(p);
    return MGR_ENOMEM;
  }
  ++*cnt;
  p->m = m;
  p->id = ref->u.ref.id;
  p->kind = (mgr_kind)ref->u.ref.kind;
  *out = p;
  return MGR_OK;
}

static bool is_ref(const mgr_value *v) {
  return v && v->type == MGR_T_REF && v->u.ref.id >= 1 && v->u.ref.kind >= 1 &&
         mgr_kind_name((int)v->u.ref.kind) != NULL;
}

int mgri_create(mgr_client *m, mgr_kind kind, const mgr_value *init,
                mgr_proxy **out) {
  if (!m || !out) return MGR_EINVAL;
  *out = NULL;
  mgr_proxy *p = malloc(sizeof *p);
  if (!p) return MGR_ENOMEM;
  mgr_value args[2] = {mgr_int(kind), init ? *init : mgr_nil()};
  mgr_value res;
  pthread_mutex_lock(&m->mu);
  int rc = ref_reserve(m);
  if (rc == MGR_OK)
    rc = mgri_callm(m, MGRI_OP_CREATE, 0, args, init ? 2 : 1, &res);
  if (rc == MGR_OK && !is_ref(&res)) {
    mgri_seterr(m, "CREATE did not answer a ref");
    rc = MGR_EPROTO;
  }
  if (rc == MGR_OK)
    rc = proxy_make(m, &res, p, out);
  else
    free(p);
  pthread_mutex_unlock(&m->mu);
  return rc;
}

int mgr_dict_new(mgr_client *m, const mgr_value *init, mgr_proxy **out) {
  return mgri_create(m, MGR_K_DICT, init, out);
}
int mgr_list_new(mgr_client *m, const mgr_value *init, mgr_proxy **out) {
  return mgri_create(m, MGR_K_LIST, init, out);
}
int mgr_var_new(mgr_client *m, const mgr_value *init, mgr_proxy **out) {
  mgr_value nil = mgr_nil();
  return mgri_create(m, MGR_K_VAR, init ? init : &nil, out);
}
int mgr_lock_new(mgr_client *m, mgr_proxy **out) {
  return mgri_create(m, MGR_K_LOCK, NULL, out);
}
int mgr_rlock_new(mgr_client *m, mgr_proxy **out) {
  return mgri_create(m, MGR_K_RLOCK, NULL, out);
}

int mgr_open(mgr_client *m, const char *name, mgr_kind kind,
             const mgr_value *init, bool create_, mgr_proxy **out,
             bool *created) {
  if (!m || !name || !out) return MGR_EINVAL;
  *out = NULL;
  if (created) *created = false;
  mgr_proxy *p = malloc(sizeof *p);
  if (!p) return MGR_ENOMEM;
  mgr_value args[4] = {mgr_text(name), mgr_int(kind), init ? *init : mgr_nil(),
                       mgr_bool(create_)};
  mgr_value res;
  pthread_mutex_lock(&m->mu);
  int rc = ref_reserve(m);
  if (rc == MGR_OK) rc = mgri_callm(m, MGRI_OP_OPEN, 0, args, 4, &res);
  if (rc == MGR_OK &&
      (res.type != MGR_T_ARRAY || res.u.a.len != 2 ||
       !is_ref(&res.u.a.items[0]) || res.u.a.items[1].type != MGR_T_BOOL)) {
    mgri_seterr(m, "OPEN did not answer [ref, created]");
    rc = MGR_EPROTO;
  }
  if (rc == MGR_OK) {
    if (created) *created = res.u.a.items[1].u.b;
    rc = proxy_make(m, &res.u.a.items[0], p, out);
  } else {
    free(p);
  }
  pthread_mutex_unlock(&m->mu);
  return rc;
}

int mgr_unlink(mgr_client *m, const char *name) {
  if (!m || !name) return MGR_EINVAL;
  mgr_value arg = mgr_text(name);
  return mgri_callm(m, MGRI_OP_UNLINK, 0, &arg, 1, NULL);
}

int mgr_proxy_from_value(mgr_client *m, const mgr_value *ref, mgr_proxy **out) {
  if (!m || !out) return MGR_EINVAL;
  *out = NULL;
  if (!is_ref(ref)) {
    mgri_seterr(m, "not a ref");
    return MGR_ETYPE;
  }
  mgr_proxy *p = malloc(sizeof *p);
  if (!p) return MGR_ENOMEM;
  pthread_mutex_lock(&m->mu);
  int rc = ref_reserve(m);
  uint64_t *cnt = mgri_ref_slot(m, ref->u.ref.id, false);
  if (rc == MGR_OK && (!cnt || *cnt == 0)) {
    /* The first proxy here: the ref we read is borrowed, take our own. */
    mgr_value id = mgr_int((int64_t)ref->u.ref.id);
    mgr_value arg = mgr_array(&id, 1);
    rc = mgri_callm(m, MGRI_OP_RETAIN, 0, &arg, 1, NULL);
  }
  if (rc == MGR_OK)
    rc = proxy_make(m, ref, p, out);
  else
    free(p);
  pthread_mutex_unlock(&m->mu);
  return rc;
}

mgr_value mgr_proxy_value(const mgr_proxy *p) {
  mgr_value v = mgr_nil();
  v.type = MGR_T_REF;
  v.u.ref.id = p->id;
  v.u.ref.kind = (uint32_t)p->kind;
  return v;
}

uint64_t mgr_proxy_id(const mgr_proxy *p) { return p->id; }
mgr_kind mgr_proxy_kind(const mgr_proxy *p) { return p->kind; }

int mgr_release(mgr_proxy *p) {
  if (!p) return MGR_OK;
  mgr_client *m = p->m;
  int rc = MGR_OK;
  pthread_mutex_lock(&m->mu);
  uint64_t *cnt = mgri_ref_slot(m, p->id, false);
  if (cnt && --*cnt == 0) {
    mgri_ref_remove(m, p->id);
    /* No session yet in this process (a fresh fork child): the object was
     * never retained here, nothing to drop. */
    if (m->session) rc = mgri_callm(m, MGRI_OP_RELEASE, p->id, NULL, 0, NULL);
  }
  pthread_mutex_unlock(&m->mu);
  free(p);
  return rc;
}
