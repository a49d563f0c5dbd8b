/* mgr — THE list of object kinds, as the protocol names them (spec 5.2): a
 * ref carries one of these ids. The server's behaviour for each is in
 * src/server/kinds/; this list is what the codec, the messages and the
 * tools need to know. Adding a kind: a row here, its file under
 * src/server/kinds/ and its row in the kind table (kinds/kinds.c). */
#ifndef MGRI_KINDS_H
#define MGRI_KINDS_H

#include <stdint.h>

/* X(NAME, id, short, python, proxy): short names a ref in repr ("<dict
 * #3>") and in tools; python is the type Python's manager gives the object
 * (in error messages); proxy is the type of Python's proxy for it. */
#define MGRI_KINDS(X)                                                          \
  X(DICT, 1, "dict", "dict", "DictProxy")                                      \
  X(LIST, 2, "list", "list", "ListProxy")                                      \
  X(VAR, 3, "value", "Value", "ValueProxy")                                    \
  X(LOCK, 4, "lock", "Lock", "AcquirerProxy")                                  \
  X(RLOCK, 5, "rlock", "RLock", "AcquirerProxy")                               \
  X(QUEUE, 6, "queue", "Queue", "AutoProxy[Queue]")                            \
  X(JQUEUE, 7, "jqueue", "JoinableQueue", "AutoProxy[JoinableQueue]")          \
  X(NAMESPACE, 8, "namespace", "Namespace", "NamespaceProxy")                  \
  X(EVENT, 9, "event", "Event", "EventProxy")                                  \
  X(CONDITION, 10, "condition", "Condition", "ConditionProxy")                 \
  X(SEMAPHORE, 11, "semaphore", "Semaphore", "AcquirerProxy")                  \
  X(BSEMAPHORE, 12, "bsemaphore", "BoundedSemaphore", "AcquirerProxy")         \
  X(BARRIER, 13, "barrier", "Barrier", "BarrierProxy")                         \
  X(ARRAY, 14, "array", "Array", "ArrayProxy")

/* MGRI_KIND_<NAME>_ID: the ids as constants (common/ cannot see mgr_kind). */
enum {
#define MGRI_KIND_ID_(NAME, id, s, py, proxy) MGRI_KIND_##NAME##_ID = id,
  MGRI_KINDS(MGRI_KIND_ID_)
#undef MGRI_KIND_ID_
};

/* The highest kind id: refs carry kinds 1..MGRI_KIND_MAX. */
#define MGRI_KIND_MAX 14u

/* The kind whose ops this kind runs too (spec 5.2 "extends": an RLock runs
 * the Lock's, a JoinableQueue the Queue's, a BoundedSemaphore the
 * Semaphore's), or 0. The server's kind table agrees (tests/test_kinds.c). */
uint32_t mgri_kind_base(uint32_t kind);

/* The kind's names, or "object"/"ref" for an id not in the list. */
const char *mgri_kind_short(uint32_t kind);
const char *mgri_kind_python(uint32_t kind);
const char *mgri_kind_proxy(uint32_t kind);

#endif
