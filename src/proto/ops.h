/* mgr — THE operation table. Dispatch, the client, mgrctl, tracing and the
 * spec's op table all follow this list; tests/test_proto.c checks that
 * spec/protocol.md names every op with the same code.
 *
 * X(NAME, code, kind, min_args, max_args, flags, python)
 *   kind: 0 = the manager itself (oid 0), else an mgr_kind.
 *   flags: R reads object state, W writes it, B may block (parked),
 *          K first argument is a key or index (traced as a digest),
 *          O a manager op whose oid names an object (RELEASE, DUMP),
 *          BA0/BA1 a B op whose argument 0/1 (true when omitted) says
 *          whether it may wait: false makes it non-blocking (a BATCH may
 *          hold it then, spec 9.6.3). A B op without BAn always may wait.
 * The arguments and results of each op are specified in spec/protocol.md. */
#ifndef MGRI_OPS_H
#define MGRI_OPS_H

#include <stdint.h>

#define MGRI_OPF_R 1u
#define MGRI_OPF_W 2u
#define MGRI_OPF_B 4u
#define MGRI_OPF_K 8u
#define MGRI_OPF_O 16u
/* The blocking argument of a B op: its index + 1 in bits 8..11, 0 none. */
#define MGRI_OPF_BARG(i) ((uint32_t)((i) + 1) << 8)
#define MGRI_OPF_BARG_OF(flags) ((int)(((flags) >> 8) & 0xfu) - 1)
#define R_ MGRI_OPF_R
#define W_ MGRI_OPF_W
#define B_ MGRI_OPF_B
#define K_ MGRI_OPF_K
#define O_ MGRI_OPF_O
#define BA0_ MGRI_OPF_BARG(0)
#define BA1_ MGRI_OPF_BARG(1)

#define MGRI_OPS(X)                                                            \
  /* manager, oid 0 */                                                         \
  X(HELLO, 1, 0, 4, 4, 0, "-")                                                 \
  X(PING, 2, 0, 0, 1, 0, "-")                                                  \
  X(CREATE, 3, 0, 1, 2, W_, "manager.dict()/list()/Value()/Lock()/RLock()")    \
  X(OPEN, 4, 0, 2, 4, W_, "-")                                                 \
  X(RELEASE, 5, 0, 0, 0, W_ | O_, "del proxy")                                 \
  X(RETAIN, 6, 0, 1, 1, W_, "unpickling a proxy")                              \
  X(LIST, 7, 0, 0, 0, R_, "-")                                                 \
  X(UNLINK, 8, 0, 1, 1, W_, "-")                                               \
  X(SHUTDOWN, 9, 0, 0, 0, 0, "manager.shutdown()")                             \
  X(BATCH, 10, 0, 1, 1, R_ | W_, "- (several ops, one round trip)")            \
  X(STATS, 11, 0, 0, 0, R_, "- (the server's resources)")                      \
  X(DUMP, 12, 0, 0, 0, R_ | O_, "- (one object, for tools)")                   \
  X(SHM_OPEN, 13, 0, 0, 0, 0, "- (the shared-memory transport, spec 2.10)")    \
  /* dict */                                                                   \
  X(DICT_GET, 16, 1, 1, 2, R_ | K_, "d[k] / d.get(k, default)")                \
  X(DICT_SET, 17, 1, 2, 2, W_ | K_, "d[k] = v")                                \
  X(DICT_DEL, 18, 1, 1, 1, W_ | K_, "del d[k]")                                \
  X(DICT_CONTAINS, 19, 1, 1, 1, R_ | K_, "k in d")                             \
  X(DICT_LEN, 20, 1, 0, 0, R_, "len(d)")                                       \
  X(DICT_KEYS, 21, 1, 0, 0, R_, "list(d.keys())")                              \
  X(DICT_VALUES, 22, 1, 0, 0, R_, "list(d.values())")                          \
  X(DICT_ITEMS, 23, 1, 0, 0, R_, "list(d.items())")                            \
  X(DICT_POP, 24, 1, 1, 2, R_ | W_ | K_, "d.pop(k[, default])")                \
  X(DICT_POPITEM, 25, 1, 0, 0, R_ | W_, "d.popitem()")                         \
  X(DICT_SETDEFAULT, 26, 1, 1, 2, R_ | W_ | K_, "d.setdefault(k[, default])")  \
  X(DICT_UPDATE, 27, 1, 1, 1, W_, "d.update(other)")                           \
  X(DICT_CLEAR, 28, 1, 0, 0, W_, "d.clear()")                                  \
  X(DICT_COPY, 29, 1, 0, 0, R_, "d.copy()")                                    \
  X(DICT_INCR, 30, 1, 2, 3, R_ | W_ | K_, "d[k] += delta (atomic)")            \
  X(DICT_CAS, 31, 1, 3, 3, R_ | W_ | K_, "-")                                  \
  /* list */                                                                   \
  X(LIST_GET, 40, 2, 1, 1, R_ | K_, "l[i]")                                    \
  X(LIST_SET, 41, 2, 2, 2, W_ | K_, "l[i] = v")                                \
  X(LIST_DEL, 42, 2, 1, 1, W_ | K_, "del l[i]")                                \
  X(LIST_LEN, 43, 2, 0, 0, R_, "len(l)")                                       \
  X(LIST_GETSLICE, 44, 2, 3, 3, R_, "l[a:b:c]")                                \
  X(LIST_SETSLICE, 45, 2, 4, 4, W_, "l[a:b:c] = items")                        \
  X(LIST_DELSLICE, 46, 2, 3, 3, W_, "del l[a:b:c]")                            \
  X(LIST_APPEND, 47, 2, 1, 1, W_, "l.append(v)")                               \
  X(LIST_EXTEND, 48, 2, 1, 1, W_, "l.extend(items) / l += items")              \
  X(LIST_INSERT, 49, 2, 2, 2, W_, "l.insert(i, v)")                            \
  X(LIST_POP, 50, 2, 0, 1, R_ | W_, "l.pop([i])")                              \
  X(LIST_REMOVE, 51, 2, 1, 1, R_ | W_, "l.remove(v)")                          \
  X(LIST_INDEX, 52, 2, 1, 3, R_, "l.index(v[, start[, stop]])")                \
  X(LIST_COUNT, 53, 2, 1, 1, R_, "l.count(v)")                                 \
  X(LIST_REVERSE, 54, 2, 0, 0, W_, "l.reverse()")                              \
  X(LIST_SORT, 55, 2, 0, 1, W_, "l.sort(reverse=False)")                       \
  X(LIST_CLEAR, 56, 2, 0, 0, W_, "l.clear()")                                  \
  X(LIST_COPY, 57, 2, 0, 0, R_, "l[:]")                                        \
  X(LIST_IMUL, 58, 2, 1, 1, W_, "l *= n")                                      \
  X(LIST_CONTAINS, 59, 2, 1, 1, R_, "v in l")                                  \
  X(LIST_INCR, 62, 2, 2, 2, R_ | W_ | K_, "l[i] += delta (atomic)")            \
  X(LIST_CAS, 63, 2, 3, 3, R_ | W_ | K_, "-")                                  \
  /* var (manager.Value) */                                                    \
  X(VAR_GET, 72, 3, 0, 0, R_, "v.value")                                       \
  X(VAR_SET, 73, 3, 1, 1, W_, "v.value = x")                                   \
  X(VAR_INCR, 74, 3, 1, 2, R_ | W_, "v.value += delta (atomic)")               \
  X(VAR_CAS, 75, 3, 2, 2, R_ | W_, "-")                                        \
  /* lock and rlock (kinds 4 and 5 share these ops) */                         \
  X(LOCK_ACQUIRE, 80, 4, 2, 2, W_ | B_ | BA0_,                                 \
    "lock.acquire(blocking, timeout)")                                         \
  X(LOCK_RELEASE, 81, 4, 0, 0, W_, "lock.release()")                           \
  X(LOCK_LOCKED, 82, 4, 0, 0, R_, "lock.locked()")                             \
  /* queue and joinable queue (kind 7 runs kind 6's ops too) */                \
  X(QUEUE_PUT, 96, 6, 1, 3, W_ | B_ | BA1_,                                    \
    "q.put(item, block=True, timeout=None)")                                   \
  X(QUEUE_GET, 97, 6, 0, 2, R_ | W_ | B_ | BA0_,                               \
    "q.get(block=True, timeout=None)")                                         \
  X(QUEUE_QSIZE, 98, 6, 0, 0, R_, "q.qsize()")                                 \
  X(QUEUE_EMPTY, 99, 6, 0, 0, R_, "q.empty()")                                 \
  X(QUEUE_FULL, 100, 6, 0, 0, R_, "q.full()")                                  \
  X(QUEUE_TASK_DONE, 101, 7, 0, 0, W_, "q.task_done()")                        \
  X(QUEUE_JOIN, 102, 7, 0, 1, R_ | B_, "q.join()")                             \
  /* namespace */                                                              \
  X(NS_GET, 112, 8, 1, 1, R_ | K_, "ns.name")                                  \
  X(NS_SET, 113, 8, 2, 2, W_ | K_, "ns.name = value")                          \
  X(NS_DEL, 114, 8, 1, 1, W_ | K_, "del ns.name")                              \
  X(NS_ITEMS, 115, 8, 0, 0, R_, "vars(ns)")                                    \
  /* event */                                                                  \
  X(EVENT_SET, 128, 9, 0, 0, W_, "e.set()")                                    \
  X(EVENT_CLEAR, 129, 9, 0, 0, W_, "e.clear()")                                \
  X(EVENT_IS_SET, 130, 9, 0, 0, R_, "e.is_set()")                              \
  X(EVENT_WAIT, 131, 9, 0, 1, R_ | B_, "e.wait(timeout=None)")                 \
  /* condition */                                                              \
  X(COND_ACQUIRE, 144, 10, 2, 2, W_ | B_ | BA0_,                               \
    "c.acquire(blocking, timeout)")                                            \
  X(COND_RELEASE, 145, 10, 0, 0, W_, "c.release()")                            \
  X(COND_WAIT, 146, 10, 0, 1, W_ | B_, "c.wait(timeout=None)")                 \
  X(COND_NOTIFY, 147, 10, 0, 1, W_, "c.notify(n=1)")                           \
  X(COND_NOTIFY_ALL, 148, 10, 0, 0, W_, "c.notify_all()")                      \
  /* semaphore and bounded semaphore (kind 12 runs kind 11's ops) */           \
  X(SEM_ACQUIRE, 160, 11, 0, 2, W_ | B_ | BA0_,                                \
    "s.acquire(blocking=True, timeout=None)")                                  \
  X(SEM_RELEASE, 161, 11, 0, 1, W_, "s.release(n=1)")                          \
  X(SEM_VALUE, 162, 11, 0, 0, R_, "- (the counter)")                           \
  /* barrier */                                                                \
  X(BARRIER_WAIT, 176, 13, 0, 1, W_ | B_, "b.wait(timeout=None)")              \
  X(BARRIER_RESET, 177, 13, 0, 0, W_, "b.reset()")                             \
  X(BARRIER_ABORT, 178, 13, 0, 0, W_, "b.abort()")                             \
  X(BARRIER_PARTIES, 179, 13, 0, 0, R_, "b.parties")                           \
  X(BARRIER_N_WAITING, 180, 13, 0, 0, R_, "b.n_waiting")                       \
  X(BARRIER_BROKEN, 181, 13, 0, 0, R_, "b.broken")                             \
  /* array */                                                                  \
  X(ARRAY_GET, 192, 14, 1, 1, R_ | K_, "a[i]")                                 \
  X(ARRAY_SET, 193, 14, 2, 2, W_ | K_, "a[i] = v")                             \
  X(ARRAY_LEN, 194, 14, 0, 0, R_, "len(a)")                                    \
  X(ARRAY_GETSLICE, 195, 14, 3, 3, R_, "a[i:j:k]")                             \
  X(ARRAY_SETSLICE, 196, 14, 4, 4, W_, "a[i:j:k] = items")                     \
  X(ARRAY_INCR, 197, 14, 2, 2, R_ | W_ | K_, "a[i] += delta (atomic)")         \
  X(ARRAY_CAS, 198, 14, 3, 3, R_ | W_ | K_, "-")                               \
  X(ARRAY_TYPECODE, 199, 14, 0, 0, R_, "a.typecode")

enum {
#define MGRI_OP_ENUM_(name, code, kind, mn, mx, fl, py) MGRI_OP_##name = code,
  MGRI_OPS(MGRI_OP_ENUM_)
#undef MGRI_OP_ENUM_
};

typedef struct mgri_opinfo {
  const char *name; /* "DICT_GET" */
  uint32_t code;
  uint32_t kind; /* 0 manager, else mgr_kind (4 covers locks and rlocks) */
  uint8_t min_args, max_args;
  uint32_t flags;
  const char *python;
} mgri_opinfo;

/* The op's entry, or NULL for an unknown code. O(1). */
const mgri_opinfo *mgri_op_info(uint64_t code);
/* The op's name, "?" for unknown codes. */
const char *mgri_op_name(uint64_t code);
/* Calls fn for each op in table order (for tests and mgrctl). */
void mgri_op_foreach(void (*fn)(void *ctx, const mgri_opinfo *op), void *ctx);

#undef R_
#undef W_
#undef B_
#undef K_
#undef O_
#undef BA0_
#undef BA1_

#endif
