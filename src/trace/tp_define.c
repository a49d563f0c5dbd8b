/* mgr — libmgr's side of the tracepoints: their definitions, and the loader
 * of the provider library (libmgr-tp.so) that holds the probes.
 *
 * libmgr never links liblttng-ust (LTTNG_UST_TRACEPOINT_PROBE_DYNAMIC_LINKAGE).
 * What the definitions do at load time (lttng/tracepoint.h): a constructor
 * dlopens liblttng-ust-tracepoint.so.1, a small library that only keeps the
 * tracepoint registry, and registers this module's tracepoints with it. When
 * that library is absent the dlopen fails silently (a message only with
 * LTTNG_UST_DEBUG set) and every tracepoint stays disabled: a call site is
 * then a load of the tracepoint's state and a branch never taken.
 *
 * The probes arrive when libmgr-tp.so is loaded: by us, below, when MGR_TRACE
 * is set (and not "0") in the environment at load time, or by LD_PRELOAD. It
 * brings liblttng-ust.so, which registers with the session daemon.
 *
 * Fork: a child of fork() must re-register with the session daemon to trace
 * under its own vpid, which lttng-ust does only from lttng_ust_before_fork /
 * lttng_ust_after_fork_{parent,child} around the fork. liblttng-ust-fork.so,
 * LD_PRELOADed (traces/record does), wraps fork() to call them. When it is not
 * loaded and the provider is, we register the same three calls with
 * pthread_atfork, so mgr_start()'s server and forked workers trace correctly
 * without any preload. Never both: the hooks take locks and must run once.
 * MGR_TRACE_FORK=0 turns our hooks off (to see what they fix). */
#define LTTNG_UST_TRACEPOINT_DEFINE
#define LTTNG_UST_TRACEPOINT_PROBE_DYNAMIC_LINKAGE
#include "trace/trace.h"

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef MGRI_TP_SONAME
#error "MGRI_TP_SONAME is set by src/trace/CMakeLists.txt"
#endif

#define FORK_SONAME "liblttng-ust-fork.so.1"

static void *provider; /* never closed: lttng-ust forbids unloading probes */

typedef void (*fork_hook)(sigset_t *);
static fork_hook hook_before, hook_parent, hook_child;
/* The forking thread's signal mask, saved by before and restored after. Per
 * thread: lttng_ust_before_fork writes it before taking its lock, so two
 * threads forking at once must not share it. */
static _Thread_local sigset_t fork_sigset;

static void fork_prepare(void) { hook_before(&fork_sigset); }
static void fork_parent(void) { hook_parent(&fork_sigset); }
static void fork_child(void) { hook_child(&fork_sigset); }

/* The environment, except in a process running with more privilege than
 * its caller (setuid, file capabilities): secure_getenv, so that no caller
 * can make such a process load code of its choosing (MGR_TRACE_PROVIDER). */
static const char *env(const char *name) { return secure_getenv(name); }

/* The library never prints, except what the user asked for with lttng-ust's
 * own debug switch. */
static int debug_on(void) { return env("LTTNG_UST_DEBUG") != NULL; }

static void *try_open(const char *path) {
  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!h && debug_on())
    fprintf(stderr, "mgr-trace [%ld]: dlopen %s: %s\n", (long)getpid(), path,
            dlerror());
  return h;
}

/* In order: $MGR_TRACE_PROVIDER, next to the object libmgr is in (libdir, or
 * the build tree's top where libmgr.so is built), the install libdir, then
 * the dynamic linker's search path. No build-tree path is compiled in:
 * programs linked statically in the build tree (the tests) name the
 * provider with MGR_TRACE_PROVIDER. */
static void *open_provider(void) {
  const char *p = env("MGR_TRACE_PROVIDER");
  if (p && *p) return try_open(p);

  void *h = NULL;
  Dl_info info;
  if (dladdr((void *)&mgri_trace_loaded, &info) && info.dli_fname) {
    const char *slash = strrchr(info.dli_fname, '/');
    char path[PATH_MAX];
    if (slash &&
        snprintf(path, sizeof path, "%.*s/%s", (int)(slash - info.dli_fname),
                 info.dli_fname, MGRI_TP_SONAME) < (int)sizeof path &&
        access(path, R_OK) == 0)
      h = try_open(path);
  }
#ifdef MGRI_TP_INSTALL_PATH
  if (!h && access(MGRI_TP_INSTALL_PATH, R_OK) == 0)
    h = try_open(MGRI_TP_INSTALL_PATH);
#endif
  if (!h) h = try_open(MGRI_TP_SONAME);
  return h;
}

static void install_fork_hooks(void *h) {
  const char *e = env("MGR_TRACE_FORK"); /* "0": leave fork alone (tests) */
  if (e && strcmp(e, "0") == 0) return;
  void *preloaded = dlopen(FORK_SONAME, RTLD_NOW | RTLD_NOLOAD);
  if (preloaded) {      /* its fork() wrapper calls the hooks already */
    dlclose(preloaded); /* drops only the reference NOLOAD took */
    return;
  }
  hook_before = (fork_hook)dlsym(h, "lttng_ust_before_fork");
  hook_parent = (fork_hook)dlsym(h, "lttng_ust_after_fork_parent");
  hook_child = (fork_hook)dlsym(h, "lttng_ust_after_fork_child");
  if (hook_before && hook_parent && hook_child)
    pthread_atfork(fork_prepare, fork_parent, fork_child);
}

static int env_wants_trace(void) {
  const char *e = env("MGR_TRACE");
  return e && *e && strcmp(e, "0") != 0;
}

__attribute__((constructor)) static void mgri_trace_init(void) {
  /* Already there (LD_PRELOAD, or the application loaded it)? */
  void *h = dlopen(MGRI_TP_SONAME, RTLD_NOW | RTLD_NOLOAD);
  if (!h) {
    if (!env_wants_trace()) return;
    h = open_provider();
    if (!h) return;
  }
  provider = h;
  install_fork_hooks(h);
}

int mgri_trace_loaded(void) { return provider != NULL; }
