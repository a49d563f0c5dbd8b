/* bench — the harness every C contender shares: options, forking P clients
 * that start together (pipes, no sleeps), timing, RSS, CSV output.
 *
 * Output lines (stdout, one per measurement; bench/report.py reads them):
 *   run,<contender>,<op>,<clients>,<ops>,<ops_per_s>,<lat_us>
 * (for the queue workloads an "op" is an item through the queue and ops_per_s
 * items/s; for sem a ping-pong round and rounds/s: see bench_share)
 *   mem,<contender>,dict_entry,1,<entries>,<bytes_per_entry>,<rss_kb_before>,<rss_kb_after>
 * Progress and errors go to stderr. */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define BENCH_MAX_CLIENTS 64
#define BENCH_MAX_OPS 16

/* The logical operations, with the round trips each needs at least.
 *   qpair  each client puts an item and gets one back (one queue shared by
 *          all clients; at P = 1 its own item): 2 round trips per item
 *   qpc    producers put, consumers get, one unbounded queue: the first
 *          half of the clients (rounded down) produce, the rest consume
 *   qpcb   as qpc over a queue bounded to BENCH_QUEUE_MAXSIZE items
 *   sem    exactly 2 clients alternate through two semaphores (0 releases
 *          s1 and acquires s2, 1 acquires s1 and releases s2): one op is a
 *          round, two wake-ups through the server */
enum {
  OP_SET,
  OP_GET,
  OP_INCR,
  OP_ADD,
  OP_LOCK,
  OP_RT,
  OP_QPAIR,
  OP_QPC,
  OP_QPCB,
  OP_SEM,
  OP_N
};
extern const char *const bench_op_names[OP_N];

typedef struct bench_opts {
  long ops;                       /* total operations per measurement */
  int clients[BENCH_MAX_CLIENTS]; /* client counts to run */
  int nclients;
  int opset[BENCH_MAX_OPS]; /* ops to run, in order */
  int nops;
  long mem;               /* entries for the memory measurement; 0 = skip */
  int warmup;             /* warm-up ops per client before the start */
  int req_size, rep_size; /* floor frame sizes, header included */
  const char *tmpdir;     /* for sockets */
} bench_opts;

/* Parses --ops N --clients 1,4,16 --only set,get --mem N --warmup N
 * --req-size N --rep-size N --tmpdir DIR. Exits with a message on errors. */
void bench_parse(int argc, char **argv, bench_opts *o, const int *default_ops,
                 int ndefault_ops);

/* One client process's work. setup runs in the child after fork (connect, warm
 * up); run does `n` operations of `op` as client `idx` of `nclients`. Both
 * return 0 or a negative error; on error the child prints why. */
typedef struct bench_client {
  int (*setup)(void *ctx, int op, int idx, int nclients);
  int (*run)(void *ctx, int op, int idx, int nclients, long n);
  /* Optional, in the parent: reset the state an op checks (before forking),
   * and check it afterwards (incr and lock must count exactly ops). */
  int (*prepare)(void *ctx, int op);
  int (*check)(void *ctx, int op, long ops);
  void *ctx;
} bench_client;

/* Forks nclients children, waits until all have finished setup, starts them at
 * once, and collects their timings. Total throughput is all ops over the span
 * from the first start to the last end; latency is the mean over clients of
 * (a client's time / its ops). Returns 0, or -1 if a child failed. */
int bench_run_clients(const bench_client *c, int op, int nclients, long ops,
                      double *ops_per_s, double *lat_us);

/* The queue workloads. Items are ints: producer index << 32 | sequence
 * number (bench_item). Waits that could wait forever are bounded by
 * BENCH_WAIT_S so a lost item or wake-up fails the run instead of hanging
 * it. */
#define BENCH_QUEUE_MAXSIZE 16
#define BENCH_WAIT_S 30

/* What client idx of nclients does of an op's `ops`: the number of its
 * operations (puts for a producer, gets for a consumer, put+get pairs for
 * qpair, rounds for sem, calls for the dict ops). */
long bench_share(int op, int idx, int nclients, long ops);
/* Whether client idx produces (qpair: every client does both). */
bool bench_is_producer(int op, int idx, int nclients);
bool bench_is_consumer(int op, int idx, int nclients);
bool bench_op_is_queue(int op); /* qpair, qpc, qpcb */
uint64_t bench_item(int producer, long seq);

/* A consumer calls bench_got for every item it gets, in order: -1 (with a
 * message) when the item is not one a producer puts or comes out of order
 * against the earlier items of its producer (a duplicate, or FIFO broken).
 * bench_run_clients sums what each client got (count and a 64-bit sum of a
 * hash of each item) and bench_sweep compares it with what the producers
 * put: every item received exactly once, or the measurement fails. */
int bench_got(uint64_t item);

/* Runs every (clients, op) pair of o and prints the run lines. Returns the
 * number of failed measurements. */
int bench_sweep(const char *contender, const bench_opts *o,
                const bench_client *c);

/* Prints a mem line. */
void bench_print_mem(const char *contender, long entries, long rss_before_kb,
                     long rss_after_kb);

/* VmRSS of pid in kB, or -1. */
long bench_rss_kb(pid_t pid);

double bench_now(void); /* CLOCK_MONOTONIC, seconds */

/* The key client idx uses for its private entry ("k0", "k1" ...) and the
 * key of the memory measurement's entry i ("key:0000042"). */
void bench_client_key(char *buf, size_t cap, int idx);
void bench_mem_key(char *buf, size_t cap, long i);

/* Prints "what: message" to stderr and exits 1. */
void bench_die(const char *what, const char *msg);

/* Writes or reads exactly n bytes on a blocking descriptor, retrying EINTR;
 * 0, or -1 on error or end of file. */
int bench_write_all(int fd, const void *p, size_t n);
int bench_read_all(int fd, void *p, size_t n);

/* Big-endian 32-bit words, as the frames' length prefix. */
void bench_put_be32(unsigned char *p, uint32_t v);
uint32_t bench_get_be32(const unsigned char *p);

/* The raw ping-pong floor's server: accepts on lfd, reads frames (a
 * 4-byte big-endian length, then the body) on every connection and
 * answers each whole one with a reply frame of rep_size bytes (at most
 * 4096). Never returns (a fork child's body). */
void bench_floor_serve(int lfd, size_t rep_size);

#endif
