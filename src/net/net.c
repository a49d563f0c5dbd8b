/* mgr — sockets both sides share: listen, connect, TCP options, authkey
 * files, random bytes (see net.h). */
#include "net/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "mgr/error.h"

#define ERR(...) (err && cap ? (void)snprintf(err, cap, __VA_ARGS__) : (void)0)

void mgri_keepalive_fill(mgri_keepalive *ka) {
  if (!ka->idle_ms) ka->idle_ms = MGRI_KEEPALIVE_IDLE_MS_DEFAULT;
  if (!ka->interval_ms) ka->interval_ms = MGRI_KEEPALIVE_INTERVAL_MS_DEFAULT;
  if (!ka->count) ka->count = MGRI_KEEPALIVE_COUNT_DEFAULT;
}

static int secs_up(uint32_t ms) { return (int)((ms + 999u) / 1000u); }

uint64_t mgri_keepalive_bound_ms(const mgri_keepalive *given) {
  mgri_keepalive ka = *given;
  mgri_keepalive_fill(&ka);
  return (uint64_t)secs_up(ka.idle_ms) * 1000u +
         (uint64_t)secs_up(ka.interval_ms) * 1000u * ka.count;
}

int mgri_net_tcp_tune(int fd, const mgri_keepalive *given) {
  mgri_keepalive ka = given ? *given : (mgri_keepalive){0, 0, 0};
  mgri_keepalive_fill(&ka);
  int one = 1, idle = secs_up(ka.idle_ms), intvl = secs_up(ka.interval_ms),
      cnt = (int)ka.count;
  /* TCP_USER_TIMEOUT: data sent and never acknowledged (a reply to a peer
   * that vanished) ends the connection within the same bound; with
   * keepalive on, it also decides when the unanswered probes end it. */
  unsigned int user = (unsigned int)mgri_keepalive_bound_ms(&ka);
  if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) ||
      setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one) ||
      setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle) ||
      setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl) ||
      setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt) ||
      setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user, sizeof user))
    return MGR_ESYS;
  return MGR_OK;
}

/* Spec 2.2: the socket's directory must be the server user's alone (owned
 * by the effective uid, no group or other permissions). */
static int check_private_dir(const char *path) {
  char dir[MGRI_ADDR_PATH_MAX];
  const char *slash = strrchr(path, '/');
  if (!slash) {
    memcpy(dir, ".", 2);
  } else if (slash == path) {
    memcpy(dir, "/", 2);
  } else {
    memcpy(dir, path, (size_t)(slash - path));
    dir[slash - path] = '\0';
  }
  struct stat st;
  if (stat(dir, &st) != 0) return MGR_ESYS;
  if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077)) {
    errno = EPERM;
    return MGR_ESYS;
  }
  return MGR_OK;
}

static int listen_unix(const mgri_addr *a, bool any_uid, int *out, char *err,
                       size_t cap) {
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  const char *path = a->path;
  if (strlen(path) >= sizeof sa.sun_path) return MGR_EINVAL;
  if (!any_uid && check_private_dir(path) != MGR_OK) {
    ERR("%s: the socket's directory must be owned by this user with mode "
        "0700 (%s)",
        path, strerror(errno));
    return MGR_ESYS;
  }
  memcpy(sa.sun_path, path, strlen(path) + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return MGR_ESYS;
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    int e = errno;
    /* A socket nobody listens on is stale: replace it. A live one is not
     * ours to take. */
    int probe =
        e == EADDRINUSE ? socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0) : -1;
    int r = probe >= 0 ? connect(probe, (struct sockaddr *)&sa, sizeof sa) : 0;
    int perr = errno;
    if (probe >= 0) close(probe);
    struct stat stt;
    if (e != EADDRINUSE || probe < 0 || r == 0 || perr != ECONNREFUSED ||
        lstat(path, &stt) != 0 || !S_ISSOCK(stt.st_mode)) {
      close(fd);
      ERR("%s: %s", path, strerror(e == EADDRINUSE ? EADDRINUSE : e));
      errno = e;
      return MGR_ESYS;
    }
    unlink(path);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
      e = errno;
      close(fd);
      ERR("%s: %s", path, strerror(e));
      errno = e;
      return MGR_ESYS;
    }
  }
  if (chmod(path, any_uid ? 0666 : 0600) != 0 || listen(fd, SOMAXCONN) != 0) {
    int e = errno;
    unlink(path);
    close(fd);
    ERR("%s: %s", path, strerror(e));
    errno = e;
    return MGR_ESYS;
  }
  *out = fd;
  return MGR_OK;
}

/* The numeric text of a socket address into host (no brackets); its port. */
static void numeric(const struct sockaddr *sa, socklen_t len, char *host,
                    size_t hcap, uint16_t *port, bool *v6) {
  char serv[16];
  host[0] = '\0';
  if (getnameinfo(sa, len, host, (socklen_t)hcap, serv, sizeof serv,
                  NI_NUMERICHOST | NI_NUMERICSERV) != 0)
    serv[0] = '\0';
  *port = (uint16_t)atoi(serv);
  *v6 = sa->sa_family == AF_INET6;
}

static int resolve(const mgri_addr *a, bool passive, struct addrinfo **res,
                   char *err, size_t cap) {
  char port[8];
  snprintf(port, sizeof port, "%u", (unsigned)a->port);
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : AI_ADDRCONFIG);
  if (a->v6) hints.ai_flags |= AI_NUMERICHOST;
  int g = getaddrinfo(a->host, port, &hints, res);
  if (g == EAI_ADDRFAMILY || g == EAI_NONAME || g == EAI_NODATA) {
    /* AI_ADDRCONFIG hides ::1 and 127.0.0.1 on a host with no address of
     * that family but loopback: try once without it. */
    hints.ai_flags &= ~AI_ADDRCONFIG;
    g = getaddrinfo(a->host, port, &hints, res);
  }
  if (g != 0) {
    ERR("%s: %s", a->host, g == EAI_SYSTEM ? strerror(errno) : gai_strerror(g));
    return MGR_ECONNECT;
  }
  return MGR_OK;
}

static int listen_tcp(const mgri_addr *a, int *out, mgri_addr *bound, char *err,
                      size_t cap) {
  struct addrinfo *res;
  if (resolve(a, true, &res, err, cap) != MGR_OK) {
    errno = EADDRNOTAVAIL;
    return MGR_ESYS;
  }
  int fd = -1, e = EADDRNOTAVAIL;
  for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                ai->ai_protocol);
    if (fd < 0) {
      e = errno;
      continue;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
        listen(fd, SOMAXCONN) != 0) {
      e = errno;
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(res);
  if (fd < 0) {
    ERR("%s:%u: %s", a->host, (unsigned)a->port, strerror(e));
    errno = e;
    return MGR_ESYS;
  }
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  *bound = *a;
  if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
    numeric((struct sockaddr *)&ss, sl, bound->host, sizeof bound->host,
            &bound->port, &bound->v6);
  *out = fd;
  return MGR_OK;
}

int mgri_net_listen(const mgri_addr *a, bool any_uid, int *fd, mgri_addr *bound,
                    char *err, size_t cap) {
  *fd = -1;
  if (err && cap) err[0] = '\0';
  if (a->kind == MGRI_ADDR_UNIX) {
    *bound = *a;
    return listen_unix(a, any_uid, fd, err, cap);
  }
  return listen_tcp(a, fd, bound, err, cap);
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* connect() with a deadline (dl < 0: none): a non-blocking connect and
 * poll. 0, or -1 with errno. */
static int connect_dl(int fd, const struct sockaddr *sa, socklen_t len,
                      int64_t dl) {
  int fl = fcntl(fd, F_GETFL);
  if (dl >= 0) fcntl(fd, F_SETFL, fl | O_NONBLOCK);
  int r;
  do
    r = connect(fd, sa, len);
  while (r < 0 && errno == EINTR && dl < 0);
  if (r < 0 && dl >= 0 && (errno == EINPROGRESS || errno == EINTR)) {
    for (;;) {
      int64_t left = dl - now_ms();
      if (left <= 0) {
        errno = ETIMEDOUT;
        return -1;
      }
      struct pollfd p = {.fd = fd, .events = POLLOUT};
      int n = poll(&p, 1, left > 1000000 ? 1000000 : (int)left);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return -1;
      if (n == 0) continue;
      int soerr = 0;
      socklen_t sl = sizeof soerr;
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
      if (soerr) {
        errno = soerr;
        return -1;
      }
      r = 0;
      break;
    }
  }
  if (r < 0 && errno == EISCONN) r = 0;
  if (dl >= 0) fcntl(fd, F_SETFL, fl);
  return r;
}

int mgri_net_connect(const mgri_addr *a, int64_t timeout_ms, bool nonblock,
                     const mgri_keepalive *ka, int *out, char *err,
                     size_t cap) {
  *out = -1;
  /* Any timeout >= 0 is allowed: a sum past INT64_MAX is none at all. */
  int64_t now = now_ms();
  int64_t dl = timeout_ms < 0                 ? -1
               : timeout_ms > INT64_MAX - now ? INT64_MAX
                                              : now + timeout_ms;
  int fd = -1;
  if (a->kind == MGRI_ADDR_UNIX) {
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    size_t n = strlen(a->path);
    if (n == 0 || n >= sizeof sa.sun_path) {
      ERR("socket path too long or empty");
      return MGR_ECONNECT;
    }
    memcpy(sa.sun_path, a->path, n);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      ERR("socket: %s", strerror(errno));
      return MGR_ESYS;
    }
    if (connect_dl(fd, (struct sockaddr *)&sa, sizeof sa, dl) != 0) {
      int e = errno;
      close(fd);
      ERR("connect %s: %s", a->path, strerror(e));
      return e == ETIMEDOUT ? MGR_ETIMEDOUT : MGR_ECONNECT;
    }
  } else {
    struct addrinfo *res;
    int rc = resolve(a, false, &res, err, cap);
    if (rc != MGR_OK) return rc;
    int e = ECONNREFUSED;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
      fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                  ai->ai_protocol);
      if (fd < 0) {
        e = errno;
        continue;
      }
      if (connect_dl(fd, ai->ai_addr, ai->ai_addrlen, dl) != 0) {
        e = errno;
        close(fd);
        fd = -1;
        if (e == ETIMEDOUT) break;
      }
    }
    freeaddrinfo(res);
    if (fd < 0) {
      ERR("connect %s:%u: %s", a->host, (unsigned)a->port, strerror(e));
      return e == ETIMEDOUT ? MGR_ETIMEDOUT : MGR_ECONNECT;
    }
    if (mgri_net_tcp_tune(fd, ka) != MGR_OK) {
      e = errno;
      close(fd);
      ERR("setsockopt: %s", strerror(e));
      return MGR_ESYS;
    }
  }
  if (nonblock) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  *out = fd;
  return MGR_OK;
}

void mgri_net_peer(int fd, char *buf, size_t cap) {
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  if (getpeername(fd, (struct sockaddr *)&ss, &sl) != 0 ||
      (ss.ss_family != AF_INET && ss.ss_family != AF_INET6)) {
    snprintf(buf, cap, "unix");
    return;
  }
  mgri_addr a;
  memset(&a, 0, sizeof a);
  a.kind = MGRI_ADDR_TCP;
  numeric((struct sockaddr *)&ss, sl, a.host, sizeof a.host, &a.port, &a.v6);
  if (mgri_addr_format(&a, false, buf, cap) != MGR_OK)
    snprintf(buf, cap, "tcp");
}

int mgri_authkey_file(const char *path, uint8_t key[MGRI_AUTHKEY_MAX],
                      size_t *len, char *err, size_t cap) {
  *len = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    ERR("authkey file %s: %s", path, strerror(errno));
    return MGR_ESYS;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    ERR("authkey file %s: %s", path, strerror(e));
    return MGR_ESYS;
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    ERR("authkey file %s is not a regular file", path);
    return MGR_EPERM;
  }
  if (st.st_uid != geteuid()) {
    close(fd);
    ERR("authkey file %s belongs to uid %lu, not to this user (uid %lu)", path,
        (unsigned long)st.st_uid, (unsigned long)geteuid());
    return MGR_EPERM;
  }
  if (st.st_mode & 077) {
    close(fd);
    ERR("authkey file %s is open to group or others (mode %04o): run "
        "chmod 600 %s",
        path, (unsigned)(st.st_mode & 07777), path);
    return MGR_EPERM;
  }
  /* Two bytes more than the largest key: a trailing CRLF. */
  uint8_t buf[MGRI_AUTHKEY_MAX + 3];
  size_t n = 0;
  for (;;) {
    ssize_t r = read(fd, buf + n, sizeof buf - n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      int e = errno;
      close(fd);
      ERR("authkey file %s: %s", path, strerror(e));
      return MGR_ESYS;
    }
    if (r == 0 || (n += (size_t)r) == sizeof buf) break;
  }
  close(fd);
  if (n && buf[n - 1] == '\n') {
    n--;
    if (n && buf[n - 1] == '\r') n--;
  }
  if (n < MGRI_AUTHKEY_MIN || n > MGRI_AUTHKEY_MAX) {
    explicit_bzero(buf, sizeof buf);
    ERR("authkey file %s holds %s%zu bytes; a key has %u to %u", path,
        n > MGRI_AUTHKEY_MAX ? "more than " : "",
        n > MGRI_AUTHKEY_MAX ? (size_t)MGRI_AUTHKEY_MAX : n, MGRI_AUTHKEY_MIN,
        MGRI_AUTHKEY_MAX);
    return MGR_EINVAL;
  }
  memcpy(key, buf, n);
  explicit_bzero(buf, sizeof buf);
  *len = n;
  return MGR_OK;
}

int mgri_random(void *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = getrandom((char *)buf + got, n - got, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return MGR_ESYS;
    got += (size_t)r;
  }
  return MGR_OK;
}
