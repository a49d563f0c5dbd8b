/* mgr tests — a socket-free driver for the store: open connections (HELLO
 * included), dispatch requests built from mgr_values, and capture every
 * reply (deep-copied) in order. Header-only, not part of the library. */
#ifndef MGR_TEST_HARNESS_H
#define MGR_TEST_HARNESS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mgr/error.h"
#include "mgr/version.h"
#include "server/store.h"

#define MGRI_H_REPLIES 256
#define MGRI_H_CONNS 64

typedef struct mgri_hreply {
  mgri_sconn *conn;
  uint64_t rid;
  int status;
  mgr_value result; /* owned (mgr_value_copy) */
  char msg[320];
} mgri_hreply;

typedef struct mgri_harness {
  mgri_store *s;
  mgri_sconn *conns[MGRI_H_CONNS];
  size_t nconns;
  mgri_hreply rep[MGRI_H_REPLIES];
  size_t nrep; /* replies captured since the last mgri_h_clear */
  uint64_t rid;
  int64_t now;
  int last_action;
  int64_t tick;        /* how far each reading of mgri_h_clock moves now */
  mgri_sconn *deaf[4]; /* connections whose replies cannot be delivered */
} mgri_harness;

/* From now on c's replies are undeliverable, as a closing connection's
 * (the sink refuses them: they are not captured). */
static inline void mgri_h_deafen(mgri_harness *h, mgri_sconn *c) {
  for (size_t i = 0; i < sizeof h->deaf / sizeof h->deaf[0]; i++)
    if (!h->deaf[i]) {
      h->deaf[i] = c;
      return;
    }
}

static inline bool mgri_h_sink(void *ctx, mgri_sconn *c, const mgri_reply *r) {
  mgri_harness *h = ctx;
  for (size_t i = 0; i < sizeof h->deaf / sizeof h->deaf[0]; i++)
    if (h->deaf[i] && h->deaf[i] == c) return false;
  if (h->nrep == MGRI_H_REPLIES) return true;
  mgri_hreply *o = &h->rep[h->nrep++];
  o->conn = c;
  o->rid = r->rid;
  o->status = r->status;
  o->result = mgr_nil();
  o->msg[0] = '\0';
  if (r->status == MGR_OK) {
    if (mgr_value_copy(&o->result, &r->result) != MGR_OK)
      o->status = MGR_ENOMEM;
  } else if (r->msg) {
    size_t n = r->msglen < sizeof o->msg - 1 ? r->msglen : sizeof o->msg - 1;
    memcpy(o->msg, r->msg, n);
    o->msg[n] = '\0';
  }
  return true;
}

static inline void mgri_h_clear(mgri_harness *h) {
  for (size_t i = 0; i < h->nrep; i++)
    mgr_value_free(&h->rep[i].result);
  h->nrep = 0;
}

/* The harness's clock, the one its requests' now_ns comes from: each
 * reading moves it `tick` ns on (0 by default), so a test can make requests
 * "slow" without waiting. */
static inline int64_t mgri_h_clock(void *ctx) {
  mgri_harness *h = ctx;
  h->now += h->tick;
  return h->now;
}

/* A store with cfg (NULL: the defaults) whose replies the harness captures. */
static inline int mgri_h_init_cfg(mgri_harness *h,
                                  const mgri_store_config *base) {
  memset(h, 0, sizeof *h);
  mgri_store_config cfg;
  if (base)
    cfg = *base;
  else
    mgri_store_config_init(&cfg);
  if (!cfg.server_pid) cfg.server_pid = 4242;
  cfg.reply = mgri_h_sink;
  cfg.reply_ctx = h;
  if (!cfg.clock) {
    cfg.clock = mgri_h_clock;
    cfg.clock_ctx = h;
  }
  h->s = mgri_store_new(&cfg);
  h->now = 1000000000;
  return h->s ? MGR_OK : MGR_ENOMEM;
}

static inline int mgri_h_init(mgri_harness *h) {
  return mgri_h_init_cfg(h, NULL);
}

/* Dispatches [rid, op, oid, args] with a fresh rid; returns the reply to it
 * if one came during the call (NULL when parked). */
static inline mgri_hreply *mgri_h_req(mgri_harness *h, mgri_sconn *c,
                                      uint64_t rid, uint64_t op, uint64_t oid,
                                      const mgr_value *args, size_t nargs) {
  mgri_request rq;
  rq.rid = rid;
  rq.op = op;
  rq.oid = oid;
  rq.args = args;
  rq.nargs = nargs;
  size_t before = h->nrep;
  h->last_action = mgri_dispatch(h->s, c, &rq, h->now);
  for (size_t i = h->nrep; i > before; i--)
    if (h->rep[i - 1].conn == c && h->rep[i - 1].rid == rid)
      return &h->rep[i - 1];
  return NULL;
}

static inline mgri_hreply *mgri_h_call(mgri_harness *h, mgri_sconn *c,
                                       uint64_t op, uint64_t oid,
                                       const mgr_value *args, size_t nargs) {
  return mgri_h_req(h, c, ++h->rid, op, oid, args, nargs);
}

/* A connection past HELLO, joining session `session` (0: a new one). */
static inline mgri_sconn *mgri_h_conn(mgri_harness *h, uint64_t session) {
  if (h->nconns == MGRI_H_CONNS) return NULL;
  mgri_sconn *c = mgri_store_conn_open(h->s, NULL);
  if (!c) return NULL;
  mgr_value a[4] = {mgr_int(MGR_PROTOCOL_MIN), mgr_int(MGR_PROTOCOL_MAX),
                    mgr_int(1234), mgr_int((int64_t)session)};
  mgri_hreply *r = mgri_h_req(h, c, 0, 1, 0, a, 4);
  if (!r || r->status != MGR_OK) {
    mgri_store_conn_close(h->s, c);
    return NULL;
  }
  h->conns[h->nconns++] = c;
  return c;
}

static inline void mgri_h_close(mgri_harness *h, mgri_sconn *c) {
  for (size_t i = 0; i < h->nconns; i++) {
    if (h->conns[i] != c) continue;
    h->conns[i] = h->conns[--h->nconns];
    for (size_t j = 0; j < sizeof h->deaf / sizeof h->deaf[0]; j++)
      if (h->deaf[j] == c) h->deaf[j] = NULL;
    mgri_store_conn_close(h->s, c);
    return;
  }
}

static inline void mgri_h_fini(mgri_harness *h) {
  while (h->nconns)
    mgri_h_close(h, h->conns[h->nconns - 1]);
  mgri_store_free(h->s);
  mgri_h_clear(h);
}

/* CREATE [kind, init?]: the new object's id, 0 on error. */
static inline uint64_t mgri_h_create(mgri_harness *h, mgri_sconn *c,
                                     uint32_t kind, const mgr_value *init) {
  mgr_value a[2] = {mgr_int(kind), init ? *init : mgr_nil()};
  mgri_hreply *r = mgri_h_call(h, c, 3, 0, a, init ? 2 : 1);
  if (!r || r->status != MGR_OK || r->result.type != MGR_T_REF) return 0;
  return r->result.u.ref.id;
}

static inline mgr_value mgri_h_ref(uint32_t kind, uint64_t id) {
  mgr_value v = mgr_nil();
  v.type = MGR_T_REF;
  v.u.ref.kind = kind;
  v.u.ref.id = id;
  return v;
}

#endif
