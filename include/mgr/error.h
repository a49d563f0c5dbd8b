/* mgr — error codes. One X-macro list generates the enum, mgr_strerror(),
 * mgr_err_name() and the spec's error table. */
#ifndef MGR_ERROR_H
#define MGR_ERROR_H

#include "version.h"

#ifdef __cplusplus
extern "C" {
#endif

/* X(NAME, value, python_exception, message)
 *
 * Values are negative; on the wire an error travels as its absolute value.
 * Groups: -1..-19 local to a process (never sent on the wire), -20..-39 protocol
 * errors, -40..-59 errors of an operation's semantics (Python exception analogues).
 */
#define MGR_ERRORS(X)                                                          \
  X(OK, 0, "-", "success")                                                     \
  X(ENOMEM, -1, "MemoryError", "out of memory")                                \
  X(EINVAL, -2, "ValueError", "invalid argument")                              \
  X(ESYS, -3, "OSError", "system call failed")                                 \
  X(ECONNECT, -4, "ConnectionRefusedError", "cannot connect to the manager")   \
  X(ECLOSED, -5, "EOFError", "connection to the manager lost")                 \
  X(ETIMEDOUT, -6, "TimeoutError", "timed out")                                \
  X(EOWNERDEAD, -7, "-", "lock acquired; its previous owner died holding it")  \
  X(EUNKNOWN, -8, "Exception", "unknown error code from the manager")          \
  X(EPROTO, -20, "-", "protocol violation")                                    \
  X(EDECODE, -21, "-", "malformed message")                                    \
  X(ETOOBIG, -22, "-", "message exceeds a limit")                              \
  X(EVERSION, -23, "-", "no common protocol version")                          \
  X(EPERM, -24, "PermissionError", "permission denied")                        \
  X(EBADOP, -25, "AttributeError", "operation not supported by this object")   \
  X(EKEY, -40, "KeyError", "key not found")                                    \
  X(EINDEX, -41, "IndexError", "index out of range")                           \
  X(ETYPE, -42, "TypeError", "wrong type or number of arguments")              \
  X(EVALUE, -43, "ValueError", "bad value")                                    \
  X(EOVERFLOW, -44, "OverflowError", "integer overflow")                       \
  X(ENOTFOUND, -45, "LookupError", "no such shared object")                    \
  X(ESTATE, -46, "RuntimeError", "operation not valid in the object's state")  \
  X(ELIMIT, -47, "MemoryError", "manager resource limit reached")              \
  X(ESHUTDOWN, -48, "EOFError", "manager is shutting down")                    \
  X(EATTR, -49, "AttributeError", "no such attribute")                         \
  X(EFULL, -50, "queue.Full", "the queue is full")                             \
  X(EEMPTY, -51, "queue.Empty", "the queue is empty")                          \
  X(EBROKEN, -52, "threading.BrokenBarrierError", "the barrier is broken")

typedef enum mgr_err {
#define MGR_ERR_ENUM_(name, value, py, msg) MGR_##name = value,
  MGR_ERRORS(MGR_ERR_ENUM_)
#undef MGR_ERR_ENUM_
} mgr_err;

/* A static English message for an error code ("unknown error" for others).
 * Never fails. Thread-safe. */
MGR_API const char *mgr_strerror(int err);
/* The code's name as a static string, "MGR_EKEY"; "MGR_E?" for unknown codes.
 * Never fails. Thread-safe. */
MGR_API const char *mgr_err_name(int err);
/* The name of the Python exception the code corresponds to ("KeyError"), or
 * "-" when none does. Never fails. Thread-safe. */
MGR_API const char *mgr_err_python(int err);

#ifdef __cplusplus
}
#endif

#endif
