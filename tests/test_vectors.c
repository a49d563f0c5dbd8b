/* mgr tests — runs every vector in the spec/vectors .txt files (format:
 * that directory's README.md): values through the CBOR codec, requests and
 * replies through the message codec, streams through the frame reader (whole,
 * byte by byte, split at every point), exchanges through the server's store
 * (tests/harness.h). Fails when the directory holds none. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <ctype.h>
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "mgr/error.h"
#include "proto/auth.h"
#include "proto/proto.h"
#include "util.h"

#define VEC_DIR MGR_SOURCE_DIR "/spec/vectors"

/* One step of an exchange: a request body sent, what it must get. */
typedef struct step {
  int line;
  char *send, *reply; /* hex, malloc'd (reply: NULL when not checked) */
  char expect[48];    /* MGR_OK, MGR_E..., or parked */
  char type[16];      /* the result's type, optional */
  bool diag;
} step;

typedef struct vec {
  char file[128];
  int line;
  char name[160];
  char kind[16];
  char *hex; /* concatenated hex lines, malloc'd */
  char expect[64];
  char diag[8], rule[8]; /* only presence is checked */
  char rid[32], op[48], oid[32], nargs[16], status[32], frames[16];
  char config[256]; /* exchange: the server's settings */
  step *steps;      /* exchange: malloc'd */
  size_t nsteps;
  int hexto; /* parsing: what a hex: line continues (0 hex, 1 send, 2 reply) */
  /* auth (spec 7.8): hex, malloc'd */
  char *akey, *anc, *ans, *abind, *aclient, *aserver;
} vec;

typedef struct vecs {
  vec *v;
  size_t n, cap;
} vecs;

static vecs all;

/* ---------------------------------------------------------------- parse -- */

static void trim(char *s) {
  size_t n = strlen(s);
  while (n && isspace((unsigned char)s[n - 1]))
    s[--n] = 0;
  size_t i = 0;
  while (isspace((unsigned char)s[i]))
    i++;
  memmove(s, s + i, n - i + 1);
}

static void set(char *dst, size_t cap, const char *src, const vec *v) {
  if (strlen(src) >= cap)
    fail_msg("%s:%d: value too long: %s", v->file, v->line, src);
  strcpy(dst, src);
}

static void add_hex(char **dst, const char *h) {
  size_t old = *dst ? strlen(*dst) : 0, n = strlen(h);
  char *p = realloc(*dst, old + n + 2);
  assert_non_null(p);
  if (old) p[old++] = ' ';
  memcpy(p + old, h, n + 1);
  *dst = p;
}

static step *new_step(vec *v, int line) {
  step *p = realloc(v->steps, (v->nsteps + 1) * sizeof *p);
  assert_non_null(p);
  v->steps = p;
  p += v->nsteps++;
  memset(p, 0, sizeof *p);
  p->line = line;
  return p;
}

static void push(vec *cur) {
  if (!cur->name[0] && !cur->kind[0] && !cur->hex && !cur->nsteps) return;
  if (all.n == all.cap) {
    all.cap = all.cap ? 2 * all.cap : 64;
    all.v = realloc(all.v, all.cap * sizeof *all.v);
    assert_non_null(all.v);
  }
  all.v[all.n++] = *cur;
}

static void parse_file(const char *path, const char *base) {
  char *text = tu_read_file(path, NULL);
  if (!text) fail_msg("cannot read %s", path);
  vec cur;
  memset(&cur, 0, sizeof cur);
  int lineno = 0;
  /* strtok_r skips empty lines, so walk lines by hand. */
  char *p = text;
  while (*p) {
    char *nl = strchr(p, '\n');
    if (nl) *nl = 0;
    char line[4096];
    lineno++;
    if (strlen(p) >= sizeof line)
      fail_msg("%s:%d: line too long", base, lineno);
    strcpy(line, p);
    p = nl ? nl + 1 : p + strlen(p);
    trim(line);
    if (line[0] == '#') continue;
    if (!line[0]) {
      push(&cur);
      memset(&cur, 0, sizeof cur);
      continue;
    }
    if (!cur.name[0] && !cur.kind[0] && !cur.hex && !cur.nsteps) {
      snprintf(cur.file, sizeof cur.file, "%s", base);
      cur.line = lineno;
    }
    char *colon = strchr(line, ':');
    if (!colon) fail_msg("%s:%d: not a key: value line", base, lineno);
    *colon = 0;
    char *key = line, *val = colon + 1;
    trim(key);
    trim(val);
    /* In an exchange, the keys after a send: belong to that step, and a
     * hex: line continues the send: or reply: line before it. */
    step *st = cur.nsteps ? &cur.steps[cur.nsteps - 1] : NULL;
    int hexto = cur.hexto;
    cur.hexto = 0;
    if (!strcmp(key, "hex") && hexto) {
      add_hex(hexto == 1 ? &st->send : &st->reply, val);
      cur.hexto = hexto;
    } else if (!strcmp(key, "send")) {
      add_hex(&new_step(&cur, lineno)->send, val);
      cur.hexto = 1;
    } else if (!strcmp(key, "reply") || !strcmp(key, "type")) {
      if (!st) fail_msg("%s:%d: '%s' before any send:", base, lineno, key);
      if (key[0] == 'r') {
        if (st->reply) fail_msg("%s:%d: a second reply:", base, lineno);
        add_hex(&st->reply, val);
        cur.hexto = 2;
      } else {
        set(st->type, sizeof st->type, val, &cur);
      }
    } else if (st && !strcmp(key, "expect")) {
      set(st->expect, sizeof st->expect, val, &cur);
    } else if (st && !strcmp(key, "diag")) {
      st->diag = true;
    } else if (!strcmp(key, "config")) {
      if (st) fail_msg("%s:%d: config: after a send:", base, lineno);
      set(cur.config, sizeof cur.config, val, &cur);
    } else if (!strcmp(key, "name"))
      set(cur.name, sizeof cur.name, val, &cur);
    else if (!strcmp(key, "kind"))
      set(cur.kind, sizeof cur.kind, val, &cur);
    else if (!strcmp(key, "hex"))
      add_hex(&cur.hex, val);
    else if (!strcmp(key, "expect"))
      set(cur.expect, sizeof cur.expect, val, &cur);
    else if (!strcmp(key, "diag"))
      strcpy(cur.diag, "y");
    else if (!strcmp(key, "rule"))
      strcpy(cur.rule, "y");
    else if (!strcmp(key, "rid"))
      set(cur.rid, sizeof cur.rid, val, &cur);
    else if (!strcmp(key, "op"))
      set(cur.op, sizeof cur.op, val, &cur);
    else if (!strcmp(key, "oid"))
      set(cur.oid, sizeof cur.oid, val, &cur);
    else if (!strcmp(key, "nargs"))
      set(cur.nargs, sizeof cur.nargs, val, &cur);
    else if (!strcmp(key, "status"))
      set(cur.status, sizeof cur.status, val, &cur);
    else if (!strcmp(key, "frames"))
      set(cur.frames, sizeof cur.frames, val, &cur);
    else if (!strcmp(key, "meaning"))
      continue;
    else if (!strcmp(key, "key"))
      add_hex(&cur.akey, val);
    else if (!strcmp(key, "nc"))
      add_hex(&cur.anc, val);
    else if (!strcmp(key, "ns"))
      add_hex(&cur.ans, val);
    else if (!strcmp(key, "binding"))
      add_hex(&cur.abind, val);
    else if (!strcmp(key, "client"))
      add_hex(&cur.aclient, val);
    else if (!strcmp(key, "server"))
      add_hex(&cur.aserver, val);
    else
      fail_msg("%s:%d: unknown key '%s'", base, lineno, key);
  }
  push(&cur);
  free(text);
}

static int cmp_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void load(void) {
  DIR *d = opendir(VEC_DIR);
  if (!d) fail_msg("cannot open %s", VEC_DIR);
  char *names[256];
  size_t nfiles = 0;
  struct dirent *e;
  while ((e = readdir(d)) && nfiles < 256) {
    size_t n = strlen(e->d_name);
    if (n > 4 && !strcmp(e->d_name + n - 4, ".txt"))
      names[nfiles++] = strdup(e->d_name);
  }
  closedir(d);
  qsort(names, nfiles, sizeof *names, cmp_name);
  for (size_t i = 0; i < nfiles; i++) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", VEC_DIR, names[i]);
    parse_file(path, names[i]);
    free(names[i]);
  }
}

static int unload(void **state) {
  (void)state;
  for (size_t i = 0; i < all.n; i++) {
    free(all.v[i].hex);
    free(all.v[i].akey);
    free(all.v[i].anc);
    free(all.v[i].ans);
    free(all.v[i].abind);
    free(all.v[i].aclient);
    free(all.v[i].aserver);
    for (size_t j = 0; j < all.v[i].nsteps; j++) {
      free(all.v[i].steps[j].send);
      free(all.v[i].steps[j].reply);
    }
    free(all.v[i].steps);
  }
  free(all.v);
  memset(&all, 0, sizeof all);
  return 0;
}

/* Every vector is run; each failure is printed, and the test fails at the
 * end with their count. */
static size_t failures;

#define BAD(v, ...)                                                            \
  do {                                                                         \
    printf("FAIL %s (%s:%d): ", (v)->name, (v)->file, (v)->line);              \
    printf(__VA_ARGS__);                                                       \
    printf("\n");                                                              \
    failures++;                                                                \
  } while (0)

/* "MGR_EDECODE @12" -> code and offset; "ok" -> 0. False if malformed. */
static bool parse_expect(const vec *v, int *code, uint64_t *off) {
  *code = 0;
  *off = 0;
  if (!strcmp(v->expect, "ok")) return true;
  char name[48];
  unsigned long long o;
  if (sscanf(v->expect, "%47s @%llu", name, &o) != 2) {
    BAD(v, "bad expect '%s'", v->expect);
    return false;
  }
  *off = o;
#define X_(nm, value, py, text)                                                \
  if (!strcmp(name, "MGR_" #nm)) *code = value;
  MGR_ERRORS(X_)
#undef X_
  if (*code == 0) {
    BAD(v, "unknown error name '%s'", name);
    return false;
  }
  return true;
}

/* A decimal field, or false (and a failure) when it is not one. */
static bool num(const vec *v, const char *s, uint64_t *out) {
  char *end;
  *out = strtoull(s, &end, 0);
  if (!*s || *end) {
    BAD(v, "not a number: '%s'", s);
    return false;
  }
  return true;
}

static void field(const vec *v, const char *key, const char *want,
                  uint64_t got) {
  uint64_t x;
  if (!want[0] || !num(v, want, &x)) return;
  if (x != got)
    BAD(v, "%s is %llu, want %llu", key, (unsigned long long)got,
        (unsigned long long)x);
}

/* ------------------------------------------------------------- checking -- */

static void check_bytes(const vec *v, const mgri_buf *b, size_t skip,
                        const uint8_t *p, size_t n) {
  if (b->len - skip == n && !memcmp(b->data + skip, p, n)) return;
  BAD(v, "re-encoded to %zu bytes, not the vector's %zu:", b->len - skip, n);
  for (size_t i = skip; i < b->len; i++)
    printf(" %02x", b->data[i]);
  printf("\n");
}

static bool check_err(const vec *v, int rc, const mgri_decode_error *e,
                      int code, uint64_t off) {
  if (rc == code && (!code || e->offset == off)) return true;
  BAD(v, "got %s @%zu (%s), want %s", mgr_err_name(rc), e->offset,
      e->what ? e->what : "-", v->expect);
  return false;
}

static void run_value(const vec *v, const uint8_t *p, size_t n, int code,
                      uint64_t off, mgri_arena *a, mgri_buf *b) {
  mgr_value val;
  mgri_decode_error e = {0, 0, NULL};
  int rc = mgri_cbor_decode(p, n, NULL, a, &val, &e);
  if (!check_err(v, rc, &e, code, off) || rc) return;
  if ((rc = mgri_cbor_value(b, &val)) != MGR_OK)
    BAD(v, "re-encoding fails: %s", mgr_err_name(rc));
  else
    check_bytes(v, b, 0, p, n);
}

static void run_request(const vec *v, const uint8_t *p, size_t n, int code,
                        uint64_t off, mgri_arena *a, mgri_buf *b) {
  mgri_request r;
  mgri_decode_error e = {0, 0, NULL};
  int rc = mgri_request_decode(p, n, NULL, a, &r, &e);
  if (!check_err(v, rc, &e, code, off)) return;
  if (rc) {
    /* The rid the server's error reply echoes (spec 3.5), if given. */
    field(v, "rid", v->rid, r.rid);
    return;
  }
  field(v, "rid", v->rid, r.rid);
  if (v->op[0]) {
    if (isdigit((unsigned char)v->op[0])) {
      field(v, "op", v->op, r.op);
    } else {
      const mgri_opinfo *op = mgri_op_info(r.op);
      if (!op || strcmp(op->name, v->op))
        BAD(v, "op %llu is %s, want %s", (unsigned long long)r.op,
            mgri_op_name(r.op), v->op);
    }
  }
  field(v, "oid", v->oid, r.oid);
  field(v, "nargs", v->nargs, r.nargs);
  if ((rc = mgri_request_encode(b, &r, 0)) != MGR_OK)
    BAD(v, "re-encoding fails: %s", mgr_err_name(rc));
  else
    check_bytes(v, b, MGRI_FRAME_HEADER, p, n);
}

static void run_reply(const vec *v, const uint8_t *p, size_t n, int code,
                      uint64_t off, mgri_arena *a, mgri_buf *b) {
  mgri_reply r;
  mgri_decode_error e = {0, 0, NULL};
  int rc = mgri_reply_decode(p, n, NULL, a, &r, &e);
  if (!check_err(v, rc, &e, code, off) || rc) return;
  field(v, "rid", v->rid, r.rid);
  if (v->status[0] && strcmp(mgr_err_name(r.status), v->status))
    BAD(v, "status %s, want %s", mgr_err_name(r.status), v->status);
  /* A reply with an unknown code decodes as MGR_EUNKNOWN, which cannot be
   * sent (spec 6.2: not re-encodable). */
  if (r.status == MGR_EUNKNOWN) return;
  if ((rc = mgri_reply_encode(b, &r, 0)) != MGR_OK)
    BAD(v, "re-encoding fails: %s", mgr_err_name(rc));
  else
    check_bytes(v, b, MGRI_FRAME_HEADER, p, n);
}

/* Feeds p in the pieces cut at cuts[], taking frames as they come; returns
 * the number of whole frames and the error (0 if none) with its offset. */
static size_t feed_stream(const uint8_t *p, size_t n, const size_t *cuts,
                          size_t ncuts, int *err, uint64_t *off) {
  mgri_reader r;
  mgri_reader_init(&r, MGRI_FRAME_MAX_DEFAULT); /* spec 16 */
  size_t frames = 0, prev = 0;
  *err = 0;
  for (size_t c = 0; c <= ncuts && !*err; c++) {
    size_t end = c < ncuts ? cuts[c] : n;
    int rc = mgri_reader_feed(&r, p + prev, end - prev);
    assert_true(rc == MGR_OK || rc == r.err);
    prev = end;
    const uint8_t *body;
    size_t len;
    while ((rc = mgri_reader_next(&r, &body, &len)) == 1)
      frames++;
    if (rc < 0) {
      *err = rc;
      *off = r.err_offset;
      assert_non_null(strstr(r.errmsg, "offset"));
    }
  }
  mgri_reader_fini(&r);
  return frames;
}

static void run_frame(const vec *v, const uint8_t *p, size_t n, int code,
                      uint64_t off) {
  int err;
  uint64_t at = 0, want = UINT64_MAX;
  if (v->frames[0] && !num(v, v->frames, &want)) return;
  size_t *cuts = malloc((n + 1) * sizeof *cuts);
  assert_non_null(cuts);
  /* Whole, byte by byte, then split at every single point. */
  for (size_t mode = 0; mode < n + 3; mode++) {
    size_t nc = 0;
    char how[48];
    if (mode == 0) {
      snprintf(how, sizeof how, "whole");
    } else if (mode == 1) {
      snprintf(how, sizeof how, "byte by byte");
      for (size_t i = 1; i < n; i++)
        cuts[nc++] = i;
    } else {
      snprintf(how, sizeof how, "split at %zu", mode - 2);
      cuts[nc++] = mode - 2;
    }
    size_t got = feed_stream(p, n, cuts, nc, &err, &at);
    if (err != code || (code && at != off) ||
        (want != UINT64_MAX && got != want)) {
      BAD(v, "%s: %zu frames, %s @%llu; want %s, frames %s", how, got,
          mgr_err_name(err), (unsigned long long)at, v->expect,
          v->frames[0] ? v->frames : "-");
      break;
    }
  }
  free(cuts);
}

/* ------------------------------------------------------------ exchanges -- */

/* "MGR_OK" / "MGR_ELIMIT" -> the code; false if no such name. */
static bool code_of(const char *name, int *code) {
#define X_(nm, value, py, text)                                                \
  if (!strcmp(name, "MGR_" #nm)) {                                             \
    *code = value;                                                             \
    return true;                                                               \
  }
  MGR_ERRORS(X_)
#undef X_
  return false;
}

/* config: "key=value ..." over the defaults; false (and a failure) if bad. */
static bool exchange_config(const vec *v, mgri_store_config *cfg) {
  mgri_store_config_init(cfg);
  /* A fixed hash key: runs are reproducible (nothing on the wire shows it). */
  cfg->hash_key_set = true;
  cfg->hash_key[0] = UINT64_C(0x0706050403020100);
  cfg->hash_key[1] = UINT64_C(0x0f0e0d0c0b0a0908);
  char buf[sizeof v->config], *save = NULL;
  strcpy(buf, v->config);
  for (char *t = strtok_r(buf, " \t", &save); t;
       t = strtok_r(NULL, " \t", &save)) {
    char *eq = strchr(t, '=');
    uint64_t x;
    if (!eq) {
      BAD(v, "config: '%s' is not key=value", t);
      return false;
    }
    *eq = 0;
    if (!num(v, eq + 1, &x)) return false;
    if (x == 0) {
      BAD(v, "config: %s=0 (leave a setting out for its default)", t);
      return false;
    }
    if (!strcmp(t, "memory_max")) {
      cfg->memory_max = (size_t)x;
    } else if (!strcmp(t, "work_budget")) {
      cfg->work_budget = x;
    } else if (!strcmp(t, "objects_max")) {
      cfg->objects_max = (size_t)x;
    } else if (!strcmp(t, "frame_max") || !strcmp(t, "depth_max") ||
               !strcmp(t, "items_max")) {
      uint64_t ceil = t[0] == 'f'   ? MGRI_FRAME_MAX_CEIL
                      : t[0] == 'd' ? MGRI_DEPTH_MAX
                                    : UINT32_MAX;
      if (x > ceil) {
        BAD(v, "config: %s=%llu is over its ceiling %llu", t,
            (unsigned long long)x, (unsigned long long)ceil);
        return false;
      }
      *(t[0] == 'f'   ? &cfg->limits.frame_max
        : t[0] == 'd' ? &cfg->limits.depth_max
                      : &cfg->limits.items_max) = (uint32_t)x;
    } else {
      BAD(v, "config: unknown setting '%s'", t);
      return false;
    }
  }
  return true;
}

static const char *type_name(mgr_type t) {
  static const char *const names[] = {"nil",   "bool",  "int", "float", "text",
                                      "bytes", "array", "map", "ref"};
  return (unsigned)t < sizeof names / sizeof *names ? names[t] : "?";
}

#define SBAD(v, i, st, ...)                                                    \
  do {                                                                         \
    char what_[640];                                                           \
    snprintf(what_, sizeof what_, __VA_ARGS__);                                \
    BAD(v, "step %zu (line %d): %s", (i) + 1, (st)->line, what_);              \
  } while (0)

/* Runs the steps of an exchange through a store (spec/vectors/README.md):
 * one connection past HELLO, each request decoded with the server's limits
 * and dispatched, each reply encoded under its frame_max as the server's
 * loop does (spec 3.7: one that does not fit is answered LIMIT). Returns the
 * number of steps run. */
static size_t run_exchange(const vec *v, mgri_arena *a, mgri_buf *b) {
  if (v->hex)
    BAD(v, "an exchange has no hex: of its own (hex: continues a "
           "send: or reply:)");
  if (v->expect[0])
    BAD(v, "an exchange's expect: lines follow its send: lines");
  if (!v->nsteps) {
    BAD(v, "an exchange needs at least one send:");
    return 0;
  }
  mgri_store_config cfg;
  if (!exchange_config(v, &cfg)) return 0;
  mgri_harness h;
  if (mgri_h_init_cfg(&h, &cfg) != MGR_OK) {
    BAD(v, "cannot make a store");
    return 0;
  }
  mgri_sconn *c = mgri_h_conn(&h, 0);
  if (!c) {
    BAD(v, "HELLO failed");
    mgri_h_fini(&h);
    return 0;
  }
  const uint32_t frame_max = cfg.limits.frame_max;
  /* HELLO's result announces the frame_max the replies are held to (7.5). */
  const mgr_value *hr = h.nrep == 1 ? &h.rep[0].result : NULL;
  if (!hr || hr->type != MGR_T_ARRAY || hr->u.a.len != 5 ||
      hr->u.a.items[4].type != MGR_T_INT ||
      hr->u.a.items[4].u.i != (int64_t)frame_max)
    BAD(v, "HELLO's result does not announce frame_max %u", frame_max);
  mgri_h_clear(&h);
  /* MGR_VECTORS_VERBOSE=1: every step's outcome, with the server's message. */
  const char *ev = getenv("MGR_VECTORS_VERBOSE");
  bool verbose = ev && *ev && strcmp(ev, "0");
  bool open = true;
  size_t i;
  for (i = 0; i < v->nsteps; i++) {
    const step *st = &v->steps[i];
    int want = 0;
    bool parked = !strcmp(st->expect, "parked");
    if (!st->diag) SBAD(v, i, st, "a step needs a diag:");
    if (!parked && !code_of(st->expect, &want)) {
      SBAD(v, i, st, "expect: '%s' is not MGR_OK, an error name or parked",
           st->expect);
      break;
    }
    if ((st->reply || st->type[0]) && want != MGR_OK) {
      SBAD(v, i, st, "reply: and type: are for MGR_OK steps");
      break;
    }
    if (!open) {
      SBAD(v, i, st, "a step after the server closed the connection");
      break;
    }
    uint8_t *p, *rp = NULL;
    size_t n = tu_unhex(st->send, &p), rn = 0;
    if (n == (size_t)-1) {
      SBAD(v, i, st, "bad send: hex");
      break;
    }
    if (st->reply && (rn = tu_unhex(st->reply, &rp)) == (size_t)-1) {
      SBAD(v, i, st, "bad reply: hex");
      free(p);
      break;
    }
    mgri_arena_reset(a);
    mgri_buf_clear(b);
    mgri_request rq;
    mgri_decode_error e = {0, 0, NULL};
    /* What the server's loop does with the frame (spec 3.3, 3.5): over
     * frame_max or not a request: an error reply, then the close. */
    int rc = n > frame_max ? MGR_ETOOBIG
                           : mgri_request_decode(p, n, &cfg.limits, a, &rq, &e);
    const char *got = NULL;
    const mgri_hreply *r = NULL;
    if (rc != MGR_OK) {
      got = mgr_err_name(rc);
      open = false;
    } else {
      size_t before = h.nrep;
      r = mgri_h_req(&h, c, rq.rid, rq.op, rq.oid, rq.args, rq.nargs);
      if (h.last_action != MGRI_DISPATCH_OK) open = false;
      for (size_t k = before; k < h.nrep; k++)
        if (&h.rep[k] != r)
          SBAD(v, i, st,
               "a reply to rid %llu (%s) that the step does not expect",
               (unsigned long long)h.rep[k].rid, mgr_err_name(h.rep[k].status));
      if (!r) {
        got = "parked";
      } else {
        mgri_reply out = {r->rid, r->status, r->result, NULL, 0};
        if (r->status != MGR_OK) {
          out.msg = r->msg;
          out.msglen = strlen(r->msg);
        }
        int erc = mgri_reply_encode(b, &out, frame_max);
        if (erc == MGR_ETOOBIG || erc == MGR_EINVAL) {
          got = mgr_err_name(MGR_ELIMIT); /* spec 3.7 */
        } else if (erc != MGR_OK) {
          SBAD(v, i, st, "encoding the reply fails: %s", mgr_err_name(erc));
        } else {
          got = mgr_err_name(r->status);
        }
      }
    }
    if (verbose)
      printf("# %s step %zu: %s%s%s\n", v->name, i + 1, got ? got : "-",
             r && r->msg[0] ? ": " : "", r ? r->msg : "");
    if (got && strcmp(got, st->expect)) {
      SBAD(v, i, st, "got %s%s%s, want %s", got, r && r->msg[0] ? ": " : "",
           r ? r->msg : "", st->expect);
    } else if (got && want == MGR_OK && !parked) {
      if (st->type[0] && strcmp(type_name(r->result.type), st->type))
        SBAD(v, i, st, "result is %s, want %s", type_name(r->result.type),
             st->type);
      if (rp && (b->len - MGRI_FRAME_HEADER != rn ||
                 memcmp(b->data + MGRI_FRAME_HEADER, rp, rn))) {
        SBAD(v, i, st, "reply of %zu bytes differs from the vector's %zu:",
             b->len - MGRI_FRAME_HEADER, rn);
        for (size_t k = MGRI_FRAME_HEADER; k < b->len; k++)
          printf(" %02x", b->data[k]);
        printf("\n");
      }
    }
    mgri_h_clear(&h);
    free(p);
    free(rp);
  }
  mgri_h_fini(&h);
  return i;
}

/* --- auth (spec 7.8) ---------------------------------------------------- */

/* The server's state machine fed `in` in pieces of `step` bytes (0: whole):
 * what it sends, and where it decided (*at: the refusal's offset; 1 once
 * authenticated, with *at the bytes fed). Returns 1, -1, or 0 (wants more
 * at the end: the end of the stream refuses it there). */
static int auth_server(const uint8_t *key, size_t klen, const uint8_t *ns,
                       const uint8_t *b, size_t blen, const uint8_t *in,
                       size_t n, size_t chunk, mgri_buf *sent, size_t *at) {
  mgri_auth_srv a;
  mgri_auth_srv_init(&a, key, klen, ns);
  if (blen) mgri_auth_srv_bind(&a, b, blen);
  size_t off = 0;
  int r = 0;
  while (off < n && r == 0) {
    size_t k = chunk ? chunk : n - off;
    if (k > n - off) k = n - off;
    if (k > mgri_auth_srv_want(&a)) k = mgri_auth_srv_want(&a);
    uint8_t out[MGRI_AUTH_HELLO_LEN];
    size_t olen = 0, where = 0;
    r = mgri_auth_srv_feed(&a, in + off, k, out, &olen, &where);
    mgri_buf_append(sent, out, olen);
    if (r < 0) {
      *at = where;
      return -1;
    }
    off += k;
  }
  *at = off;
  return r;
}

static void run_auth(const vec *v) {
  uint8_t *key = NULL, *nc = NULL, *ns = NULL, *b = NULL, *cl = NULL,
          *sv = NULL;
  size_t klen = v->akey ? tu_unhex(v->akey, &key) : (size_t)-1;
  size_t nclen = v->anc ? tu_unhex(v->anc, &nc) : (size_t)-1;
  size_t nslen = v->ans ? tu_unhex(v->ans, &ns) : (size_t)-1;
  size_t blen = v->abind ? tu_unhex(v->abind, &b) : 0;
  size_t clen = v->aclient ? tu_unhex(v->aclient, &cl) : (size_t)-1;
  size_t slen = v->aserver ? tu_unhex(v->aserver, &sv) : 0;
  int code;
  uint64_t off;
  if (klen == (size_t)-1 || nclen != MGRI_AUTH_NONCE ||
      nslen != MGRI_AUTH_NONCE || clen == (size_t)-1 || blen == (size_t)-1 ||
      slen == (size_t)-1 || blen > MGRI_AUTH_BINDING_MAX) {
    BAD(v, "an auth vector needs key, nc and ns (32 bytes), client; binding "
           "at most 32 bytes");
  } else if (parse_expect(v, &code, &off)) {
    if (code && (code != MGR_EPERM || !v->rule[0]))
      BAD(v, "an auth refusal is MGR_EPERM @N with a rule");
    /* The server, fed whole and byte by byte, says and sends the same. */
    for (size_t chunk = 0; chunk <= 1; chunk++) {
      mgri_buf sent;
      mgri_buf_init(&sent, 0);
      size_t at = 0;
      int r = auth_server(key, klen, ns, b, blen, cl, clen, chunk, &sent, &at);
      if (code == 0 && r != 1)
        BAD(v, "server (chunk %zu): not authenticated (%d @%zu)", chunk, r, at);
      if (code && r == 1) BAD(v, "server (chunk %zu): authenticated", chunk);
      if (code && at != off)
        BAD(v, "server (chunk %zu): refused @%zu, not @%llu", chunk, at,
            (unsigned long long)off);
      if (sent.len != slen || (slen && memcmp(sent.data, sv, slen)))
        BAD(v,
            "server (chunk %zu): sent %zu bytes, not the %zu of server:", chunk,
            sent.len, slen);
      mgri_buf_fini(&sent);
    }
    /* The client: its OPEN, and from the CHALLENGE its RESPONSE and the
     * PROOF it expects. */
    if (code == 0) {
      uint8_t open[MGRI_AUTH_HELLO_LEN], resp[MGRI_AUTH_MAC_LEN],
          proof[MGRI_AUTH_MAC_LEN];
      mgri_auth_open(nc, open);
      if (clen != MGRI_AUTH_IN_MAX ||
          slen != MGRI_AUTH_HELLO_LEN + MGRI_AUTH_MAC_LEN)
        BAD(v, "an ok exchange is 69 bytes each way");
      else if (memcmp(open, cl, sizeof open))
        BAD(v, "client: OPEN differs");
      else if (mgri_auth_client(key, klen, nc, sv, b, blen, resp, proof) !=
               MGR_OK)
        BAD(v, "client: refused the CHALLENGE");
      else if (memcmp(resp, cl + MGRI_AUTH_HELLO_LEN, sizeof resp))
        BAD(v, "client: RESPONSE differs");
      else if (memcmp(proof, sv + MGRI_AUTH_HELLO_LEN, sizeof proof))
        BAD(v, "client: the PROOF it expects differs");
    }
  }
  free(key);
  free(nc);
  free(ns);
  free(b);
  free(cl);
  free(sv);
}

static void test_vectors(void **state) {
  (void)state;
  load();
  if (all.n == 0) fail_msg("no vectors in %s", VEC_DIR);
  size_t counts[5] = {0}, rejects = 0, steps = 0, nauth = 0;
  failures = 0;
  mgri_arena a;
  mgri_buf b;
  mgri_arena_init(&a, 0);
  mgri_buf_init(&b, 0);
  for (size_t i = 0; i < all.n; i++) {
    const vec *v = &all.v[i];
    if (!v->name[0]) {
      BAD(v, "a vector without a name");
      continue;
    }
    for (size_t j = 0; j < i; j++)
      if (!strcmp(all.v[j].name, v->name))
        BAD(v, "name already used at %s:%d", all.v[j].file, all.v[j].line);
    if (!strcmp(v->kind, "exchange")) {
      counts[4]++;
      steps += run_exchange(v, &a, &b);
      continue;
    }
    if (!strcmp(v->kind, "auth")) {
      nauth++;
      run_auth(v);
      continue;
    }
    if (v->nsteps || v->config[0]) {
      BAD(v, "send: and config: belong to exchanges");
      continue;
    }
    if (!v->kind[0] || !v->hex || !v->expect[0]) {
      BAD(v, "kind, hex and expect are required");
      continue;
    }
    int code;
    uint64_t off;
    if (!parse_expect(v, &code, &off)) continue;
    if (code && !v->rule[0]) BAD(v, "a rejection needs a rule");
    if (!code && strcmp(v->kind, "frame") && !v->diag[0])
      BAD(v, "an accepted item needs a diag");
    if (code) rejects++;
    uint8_t *p;
    size_t n = tu_unhex(v->hex, &p);
    if (n == (size_t)-1) {
      BAD(v, "bad hex");
      continue;
    }
    mgri_arena_reset(&a);
    mgri_buf_clear(&b);
    if (!strcmp(v->kind, "value")) {
      counts[0]++;
      run_value(v, p, n, code, off, &a, &b);
    } else if (!strcmp(v->kind, "request")) {
      counts[1]++;
      run_request(v, p, n, code, off, &a, &b);
    } else if (!strcmp(v->kind, "reply")) {
      counts[2]++;
      run_reply(v, p, n, code, off, &a, &b);
    } else if (!strcmp(v->kind, "frame")) {
      counts[3]++;
      run_frame(v, p, n, code, off);
    } else {
      BAD(v, "unknown kind '%s'", v->kind);
    }
    free(p);
  }
  mgri_buf_fini(&b);
  mgri_arena_fini(&a);
  printf("# %zu vectors: %zu value, %zu request, %zu reply, %zu frame, %zu "
         "exchange (%zu steps), %zu auth; %zu rejections; %zu failures\n",
         all.n, counts[0], counts[1], counts[2], counts[3], counts[4], steps,
         nauth, rejects, failures);
  if (failures) fail_msg("%zu vector failures", failures);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_vectors),
  };
  return cmocka_run_group_tests(tests, NULL, unload);
}
