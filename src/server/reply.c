/* mgr — answering: errors, LIMIT reasons, scratch results, argument
 * helpers, type names, emission (see reply.h). */
#include "server/reply.h"

#include <stdio.h>
#include <string.h>

#include "cbor/model.h"
#include "mgr/error.h"

/* Cuts s (NUL-terminated, valid UTF-8 up to a truncation) back to the end
 * of its last whole code point: a message cut at a byte count must still be
 * valid UTF-8, or its reply could not be encoded. */
static void utf8_tail(char *s) {
  size_t n = strlen(s), i = n;
  while (i > 0 && ((unsigned char)s[i - 1] & 0xc0) == 0x80)
    i--;
  if (i == 0) return;
  unsigned char lead = (unsigned char)s[i - 1];
  size_t need = lead < 0x80 ? 1 : lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;
  if (n - (i - 1) < need) s[i - 1] = '\0';
}

int mgri_fail(mgri_octx *x, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(x->msg, sizeof x->msg, fmt, ap);
  va_end(ap);
  if (n >= (int)sizeof x->msg) utf8_tail(x->msg);
  return code;
}

int mgri_limit(mgri_octx *x, int why, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(x->msg, sizeof x->msg, fmt, ap);
  va_end(ap);
  if (n >= (int)sizeof x->msg) utf8_tail(x->msg);
  if (why >= 0 && why < MGRI_WHY_N) x->s->st.refused[why]++;
  return MGR_ELIMIT;
}

int mgri_need(mgri_octx *x, size_t n) {
  const mgri_mem *m = &x->s->mem;
  if (mgri_mem_room(m, n)) return MGR_OK;
  return mgri_limit(x, MGRI_WHY_MEMORY,
                    "MemoryError: %zu more bytes would exceed the manager's "
                    "memory limit (%zu of %zu bytes held)",
                    n, m->total, m->max);
}

int mgri_nomem(mgri_octx *x) {
  const mgri_mem *m = &x->s->mem;
  return mgri_limit(x, MGRI_WHY_MEMORY,
                    "MemoryError: out of memory (%zu of %zu bytes held)",
                    m->total, m->max);
}

const char *mgri_repr(const mgr_value *v, char *buf, size_t cap) {
  size_t n = mgr_value_repr(v, buf, cap);
  if (n >= cap && cap >= 4) {
    /* Shortened: cut at a code point, then "..." */
    buf[cap - 4] = '\0';
    utf8_tail(buf);
    memcpy(buf + strlen(buf), "...", 4);
  }
  return buf;
}

const char *mgri_kind_name(uint32_t kind) { return mgri_kind_python(kind); }

const char *mgri_tname(const mgr_value *v) {
  switch (v->type) {
  case MGR_T_NIL:
    return "NoneType";
  case MGR_T_BOOL:
    return "bool";
  case MGR_T_INT:
    return "int";
  case MGR_T_FLOAT:
    return "float";
  case MGR_T_TEXT:
    return "str";
  case MGR_T_BYTES:
    return "bytes";
  case MGR_T_ARRAY:
    return "list";
  case MGR_T_MAP:
    return "dict";
  case MGR_T_REF:
    return mgri_kind_proxy(v->u.ref.kind);
  }
  return "object";
}

mgr_value *mgri_scratch(mgri_octx *x, size_t n) {
  /* Every value encodes to at least one byte: more than frame_max values
   * cannot be sent, so none is allocated (spec 14.2). */
  if (n > x->s->cfg.limits.frame_max) {
    mgri_limit(x, MGRI_WHY_REPLY,
               "MemoryError: a result of %zu items exceeds the frame limit "
               "(%u bytes)",
               n, x->s->cfg.limits.frame_max);
    return NULL;
  }
  mgr_value *p = mgri_arena_alloc(&x->s->scratch, n * sizeof(mgr_value));
  if (!p) mgri_nomem(x);
  return p;
}

int mgri_arg_int(mgri_octx *x, size_t i, const char *what, int64_t *out) {
  const mgr_value *v = &x->args[i];
  if (v->type != MGR_T_INT)
    return mgri_fail(x, MGR_ETYPE, "TypeError: %s must be int, not %s", what,
                     mgri_tname(v));
  *out = v->u.i;
  return MGR_OK;
}

bool mgri_emit(mgri_store *s, mgri_sconn *c, uint64_t rid, int status,
               const mgr_value *result, const char *msg, bool stored) {
  if (!s->cfg.reply) return false;
  mgri_reply r;
  memset(&r, 0, sizeof r);
  r.rid = rid;
  r.status = status;
  if (status == MGR_OK) {
    r.result = result ? *result : mgr_nil();
  } else {
    const char *m = msg && *msg ? msg : mgr_strerror(status);
    r.msg = m;
    r.msglen = strlen(m);
  }
  s->emit_stored = stored && result && status == MGR_OK;
  bool ok = s->cfg.reply(s->cfg.reply_ctx, c, &r);
  s->emit_stored = false;
  return ok;
}
