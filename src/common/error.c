/* mgr — the error table and the runtime version, generated from the
 * MGR_ERRORS X-macro so names, messages and Python names never drift. */
#include "mgr/error.h"
#include "mgr/version.h"

const char *mgr_strerror(int err) {
  switch (err) {
#define X_(name, value, py, msg)                                               \
  case value:                                                                  \
    return msg;
    MGR_ERRORS(X_)
#undef X_
  }
  return "unknown error";
}

const char *mgr_err_name(int err) {
  switch (err) {
#define X_(name, value, py, msg)                                               \
  case value:                                                                  \
    return "MGR_" #name;
    MGR_ERRORS(X_)
#undef X_
  }
  return "MGR_E?";
}

const char *mgr_err_python(int err) {
  switch (err) {
#define X_(name, value, py, msg)                                               \
  case value:                                                                  \
    return py;
    MGR_ERRORS(X_)
#undef X_
  }
  return "-";
}

unsigned mgr_version(void) { return MGR_VERSION_HEX; }

const char *mgr_version_string(void) { return MGR_VERSION_STRING; }
