/* mgr — messages <-> bytes, and the frame reader (spec/protocol.md,
 * "Framing" and "Messages"). Pure: no I/O, no global state. */
#ifndef MGRI_PROTO_H
#define MGRI_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../cbor/cbor.h"
#include "../common/arena.h"
#include "../common/buf.h"
#include "../common/limits.h"
#include "mgr/value.h"
#include "ops.h"

/* request = [rid, op, oid, [args...]] */
typedef struct mgri_request {
  uint64_t rid;
  uint64_t op; /* may be unknown: dispatch answers EBADOP */
  uint64_t oid;
  const mgr_value *args; /* nargs items; borrowed (arena or caller) */
  size_t nargs;
} mgri_request;

/* reply = [rid, 0, result] or [rid, code > 0, message] */
typedef struct mgri_reply {
  uint64_t rid;
  int status; /* MGR_OK, or a negative mgr_err (wire: its absolute value) */
  mgr_value result; /* status == MGR_OK; borrowed */
  const char *msg;  /* status != MGR_OK: UTF-8 detail, may be NULL */
  size_t msglen;
} mgri_reply;

/* Appends one whole frame (4-byte length + item) to b. On error nothing is
 * appended and b is as before (its sticky err included). Returns MGR_OK,
 * MGR_EINVAL (a value the peer would reject, more than MGRI_ARGS_MAX args, a
 * local-only status or a non-UTF-8 message in a reply), MGR_ETOOBIG (item
 * longer than frame_max, or than b->max allows), MGR_ENOMEM, or b->err when
 * b was already in error. frame_max 0 means MGRI_FRAME_MAX_DEFAULT; values
 * above MGRI_FRAME_MAX_CEIL count as the ceiling. */
int mgri_request_encode(mgri_buf *b, const mgri_request *r, uint32_t frame_max);
int mgri_reply_encode(mgri_buf *b, const mgri_reply *r, uint32_t frame_max);

/* Decodes one frame body (without its length prefix). Values live in a.
 * MGR_EDECODE for malformed CBOR, MGR_EPROTO for well-formed CBOR that is not
 * a request/reply (err->what says which rule), MGR_ETOOBIG, MGR_ENOMEM. A reply
 * with an unknown error code decodes with status MGR_EUNKNOWN. After a request
 * decode error out->rid is the rid the error reply echoes (spec 3.5): the
 * first element when the body is an array starting with a uint, else 0. */
int mgri_request_decode(const uint8_t *p, size_t n, const mgri_limits *lim,
                        mgri_arena *a, mgri_request *out,
                        mgri_decode_error *err);
/* The same over a body whose large string was read elsewhere (hole, see
 * mgri_cbor_decode_hole; NULL: none). */
int mgri_request_decode_hole(const uint8_t *p, size_t n, const mgri_limits *lim,
                             mgri_arena *a, mgri_request *out,
                             mgri_decode_error *err, mgri_hole *hole);
/* Where a request's large string is, from the first `have` bytes of its
 * body of n: true with the payload's offset (*at) and length (*len) when
 * the top-level arguments up to it are heads and short strings all within
 * those bytes and it is text or bytes of at least `min` bytes inside the
 * body. A receiver may then read that payload into a block of its own
 * (which a store can keep as the value: no copy) and decode around it.
 * Only a guide: the decoder still checks everything. */
bool mgri_request_split(const uint8_t *p, size_t have, size_t n, size_t min,
                        size_t *at, size_t *len);
int mgri_reply_decode(const uint8_t *p, size_t n, const mgri_limits *lim,
                      mgri_arena *a, mgri_reply *out, mgri_decode_error *err);

/* Wire error code <-> mgr_err. to_wire(MGR_EKEY) == 40; from_wire of a code
 * not in the table (or a local-only code 1..19) is MGR_EUNKNOWN. */
uint64_t mgri_err_to_wire(int err);
int mgri_err_from_wire(uint64_t code);

/* --- the frame reader (hiredis-style): feed bytes in pieces of any size, take
 * whole frames out. "Need more" is not an error; errors are sticky.
 * The buffer holds at most frame_max + MGRI_FRAME_HEADER + MGRI_READER_SLACK
 * bytes: call next() until it returns 0 after each feed/commit. */
/* Strings at least this long are decoded in place (mgri_limits.borrow_min)
 * by the server's loop and the client: they stay in the frame reader's
 * buffer, which outlives the decoded message. */
#define MGRI_BORROW_MIN 4096u
/* Room for batched reads past a whole frame. */
#define MGRI_READER_SLACK (256u << 10)
/* A reader with nothing pending keeps at most MGRI_IDLE_BUF_MAX bytes
 * (limits.h). */
typedef struct mgri_reader {
  mgri_buf in;        /* unconsumed bytes */
  size_t pos;         /* start of the next frame in in.data */
  uint32_t frame_max; /* largest body accepted */
  uint64_t offset;    /* stream offset of in.data[0], for error messages */
  int err; /* sticky: MGR_ETOOBIG, MGR_EDECODE (zero length), ENOMEM */
  uint64_t err_offset; /* err set: stream offset of the bad length prefix */
  char errmsg[96];
  mgri_mem *mem; /* NULL: plain malloc */
  unsigned cat;
  size_t keep; /* bytes an idle reader keeps (MGRI_IDLE_BUF_MAX unless set) */
} mgri_reader;

/* frame_max 0 means MGRI_FRAME_MAX_DEFAULT; values above MGRI_FRAME_MAX_CEIL
 * are clamped to it. Allocates nothing (the buffer is made on first use). */
void mgri_reader_init(mgri_reader *r, uint32_t frame_max);
void mgri_reader_fini(mgri_reader *r);
/* Counts the buffer in mem/cat from now on (before the first feed). */
void mgri_reader_set_mem(mgri_reader *r, mgri_mem *mem, unsigned cat);
/* Changes the largest body accepted for the frames not yet returned (the
 * server raises it after HELLO). Same clamping as init. */
void mgri_reader_set_max(mgri_reader *r, uint32_t frame_max);
/* Bytes still to come before the next frame is whole: the rest of the
 * header, or of the body once the header is in (0 when a whole frame is
 * buffered, or the header is bad: next() reports it). */
size_t mgri_reader_want(const mgri_reader *r);
/* Copies n bytes in. MGR_OK or the sticky error; MGR_EINVAL (not sticky,
 * nothing copied) when the bytes would not fit the bound above. */
int mgri_reader_feed(mgri_reader *r, const void *p, size_t n);
/* Zero-copy feeding: room for at least `want` bytes at the end of the buffer
 * (*avail gets how many), then commit the n bytes actually written there.
 * want is clamped to the bound (so *avail may be < want). prepare returns
 * NULL on error (r->err set), or with r->err == 0 when the buffer is full of
 * whole frames that next() has not taken yet. */
uint8_t *mgri_reader_prepare(mgri_reader *r, size_t want, size_t *avail);
void mgri_reader_commit(mgri_reader *r, size_t n);
/* After MGR_ENOMEM from prepare or feed (the buffer could not grow; nothing
 * buffered was lost), makes the reader usable again: a client reports the
 * failure and reads on at its next call. Other errors stay sticky. */
void mgri_reader_clear_nomem(mgri_reader *r);
/* 1 and a body (valid until the next feed/prepare/next call) when a whole
 * frame is buffered; 0 when more bytes are needed (with nothing pending the
 * reader then keeps at most MGRI_IDLE_BUF_MAX bytes); a negative error
 * (sticky) for a zero or oversized length. */
int mgri_reader_next(mgri_reader *r, const uint8_t **body, size_t *len);
/* Bytes buffered but not yet returned as frames. */
size_t mgri_reader_pending(const mgri_reader *r);
/* Gives the buffer back when nothing is pending and it holds more than
 * MGRI_IDLE_BUF_MAX (feed and prepare do it too, but only when bytes come):
 * the server calls it once it has taken the frames it read. */
void mgri_reader_shrink(mgri_reader *r);
/* How many bytes an idle reader may keep instead of MGRI_IDLE_BUF_MAX (at
 * least that much): its owner's buffer policy (the server's, spec 14.2.3)
 * lets a peer that keeps sending large frames keep its buffer. */
void mgri_reader_set_keep(mgri_reader *r, size_t keep);
/* Bytes the reader's buffer holds (allocated). */
size_t mgri_reader_held(const mgri_reader *r);
/* The pending bytes (those of the next frame first), without taking them:
 * *n of them at the returned pointer, valid until the next call. */
const uint8_t *mgri_reader_peek(const mgri_reader *r, size_t *n);
/* Takes n pending bytes (n <= pending) that the caller used itself, and
 * counts `past` more bytes of the stream that it read around the reader
 * (a large body received elsewhere): stream offsets stay right. */
void mgri_reader_take(mgri_reader *r, size_t n, size_t past);
/* Cuts bytes at, at + n of the next frame's body out of the stream the
 * reader sees (their receiver reads them elsewhere: mgri_request_split):
 * those already buffered are moved to `to` (how many is returned), the
 * rest must be read around the reader before anything else, and the
 * frame's length becomes N - n; later stream offsets count the n bytes.
 * The frame's header must be buffered,
 * N >= at + n, and its body must not be whole yet. */
size_t mgri_reader_excise(mgri_reader *r, size_t at, size_t n, void *to);

#endif
