/* spec/model/queue.pml — Queue (kind 6) as spec/protocol.md §9.8 states it:
 * a FIFO of at most MAXSIZE items; QUEUE_PUT waits for room, QUEUE_GET for an
 * item (or answer FULL / EMPTY at once or at their deadline); waiting
 * putters and getters are served in FIFO order: a get that frees a slot
 * lets the oldest waiting put store its item, a put into an empty queue with
 * waiting getters hands its item to the oldest getter; an item handed to a
 * getter whose connection is closing goes back to the head of the queue
 * (and, read with §9.7's "as if it had never waited", on to the next waiting
 * getter). Waiting ops: §9.7; parked requests: §8.4; close: §12.6.
 * Checked by spec/model/check.
 *
 * Clients: NP putters and NG getters, one connection each, one request at a
 * time, each request one atomic step (§8.2). The putters put NG distinct
 * items in all, the getters get one each. Each op starts in a mode chosen
 * among: non-blocking, with a deadline (a nondeterministic event), without;
 * a failed try is retried without deadline. A waiting getter's peer may
 * hang up ("closing": replies to it cannot be sent) before the server
 * processes the close (§12.6); a putter does not (the getters would wait for
 * ever, rightly).
 *
 * Properties (tags for the runner):
 *   P_once   an item is delivered at most once                    §9.8
 *   P_lost   an item whose put succeeded is, at every moment, either in the
 *            queue (once) or delivered to a live getter: never lost  §9.8
 *   P_order  items are delivered in the order they were stored    §9.8
 *   P_gfifo  getters are served in FIFO order                     §9.8, §9.7
 *   P_pfifo  waiting putters store their items in FIFO order      §9.8, §9.7
 *   P_wait   no getter waits while an item is queued, no putter while there
 *            is room                                              §9.8
 *   P_size   the queue never holds more than MAXSIZE items        §9.8
 *   ltl live no lost wake-up: under weak fairness every client finishes
 */

#ifndef NP
#define NP 1                  /* putters */
#endif
#ifndef NG
#define NG 2                  /* getters */
#endif
#define N (NP + NG)           /* connections */
#ifndef PER
#define PER (NG / NP)         /* items per putter: as many items as gets
                                 (more: the putters may wait for ever, so
                                 only the assertions are checked, pan -E) */
#endif
#define NI (NP * PER)
#ifndef MAXSIZE
#define MAXSIZE 1
#endif
#ifndef MAXDEATH
#define MAXDEATH 1
#endif

#define NONE  9
#define FULL  50
#define EMPTY 51

mtype = { TRY, TIMED, INF };

/* ---- the server ---- */
byte qi[NI+1]; byte qn;       /* the items, head first */
byte gq[N]; byte gqn;         /* waiting getters */
byte pq[N]; byte pqn;         /* waiting putters */
byte pitem[N+1];              /* the item of a waiting putter */
bit  gdl[N+1], pdl[N+1];      /* with a deadline */
bit  closing[N+1];
byte reply[N+1];              /* an item (1..NI), FULL, EMPTY, or 0: put done */
byte deaths;

/* ---- ghosts ---- */
bit  accepted[NI+1];          /* its put succeeded (stored or handed) */
bit  delivered[NI+1];
byte sorder[NI]; byte ns, nd; /* items in the order stored; delivered so far */
bit  ing[N+1], inp[N+1];      /* in the getters' / putters' FIFO */
byte gbef[N+1], pbef[N+1];
bit  fin[N+1];

byte P_once, P_lost, P_order, P_gfifo, P_pfifo, P_wait, P_size;

inline rmg(c) {
  i = 0;
  do
  :: i < gqn && gq[i] != c -> i++
  :: i < gqn && gq[i] == c ->
     do :: i + 1 < gqn -> gq[i] = gq[i+1]; i++ :: else -> break od;
     gqn--; gq[gqn] = 0; break
  :: else -> break
  od;
  ing[c] = 0; gbef[c] = 0; gdl[c] = 0;
  i = 1;
  do :: i <= N -> gbef[i] = gbef[i] & ~(1 << c); i++ :: else -> break od;
  i = 0
}

inline rmp(c) {
  i = 0;
  do
  :: i < pqn && pq[i] != c -> i++
  :: i < pqn && pq[i] == c ->
     do :: i + 1 < pqn -> pq[i] = pq[i+1]; i++ :: else -> break od;
     pqn--; pq[pqn] = 0; break
  :: else -> break
  od;
  inp[c] = 0; pbef[c] = 0; pdl[c] = 0;
  i = 1;
  do :: i <= N -> pbef[i] = pbef[i] & ~(1 << c); i++ :: else -> break od;
  i = 0
}

inline inv() {
  x = 1;
  do
  :: x <= NI ->
     k = 0; i = 0;
     do :: i < qn -> k = k + (qi[i] == x); i++ :: else -> break od;
     i = 0;
     assert(P_lost || !accepted[x] || (k + delivered[x] == 1));
     assert(P_lost || accepted[x] || k == 0);
     x++
  :: else -> break
  od;
  x = 0; k = 0;
  assert(P_wait || gqn == 0 || qn == 0);
  assert(P_wait || pqn == 0 || qn >= MAXSIZE);
  assert(P_size || qn <= MAXSIZE)
}

inline store(it) {            /* at the tail (ghost: its place in the order) */
  qi[qn] = it; qn++;
  accepted[it] = 1; sorder[ns] = it; ns++
}

inline deliver(g, it) {       /* the reply reaches getter g */
  assert(P_once || !delivered[it]);
  assert(P_order || sorder[nd] == it);
  delivered[it] = 1; nd++;
  reply[g] = it
}

/* item it goes to the oldest waiting getter that can be told, else to the
 * head of the queue (§9.8) */
inline hand(it) {
  do
  :: gqn == 0 -> qi[qn] = it; qn++;       /* (queue empty, or taken back) */
     if
     :: qn > 1 ->                          /* back at the head */
        i = qn - 1;
        do :: i > 0 -> qi[i] = qi[i-1]; i-- :: else -> break od;
        qi[0] = it
     :: else
     fi;
     break
  :: gqn > 0 ->
#ifdef MUT_GFIFO
     g = gq[gqn-1];
#else
     g = gq[0];
#endif
     i = 1;
     do
     :: i <= N -> assert(P_gfifo || !(ing[i] && (gbef[i] & (1 << g)))); i++
     :: else -> break
     od;
     i = 0;
     rmg(g);
     if
     :: closing[g] ->                      /* undeliverable: taken back */
#if defined(MUT_DROP)
        break                              /* BUG: the item is lost */
#elif defined(MUT_DUP)
        qi[qn] = it; qn++;                 /* BUG: back, and also counted */
        delivered[it] = 1; nd++; break     /* as delivered */
#elif defined(MUT_NOREHAND)
        qi[qn] = it; qn++; break           /* BUG (the literal reading):
                                              back at the head, not offered
                                              to the next waiting getter */
#else
        skip                               /* on to the next getter */
#endif
     :: else -> deliver(g, it); break
     fi
  od;
  g = 0
}

/* a slot is free: the oldest waiting putter that can be told stores its
 * item (a closing one is dropped, as if it had never waited, §9.7) */
inline admit() {
  do
  :: pqn > 0 && qn < MAXSIZE ->
#ifdef MUT_PFIFO
     g = pq[pqn-1];
#else
     g = pq[0];
#endif
     i = 1;
     do
     :: i <= N -> assert(P_pfifo || !(inp[i] && (pbef[i] & (1 << g)))); i++
     :: else -> break
     od;
     i = 0;
     rmp(g);
     if
     :: closing[g] -> skip
     :: else -> store(pitem[g]); reply[g] = 0
     fi;
     pitem[g] = 0;
     g = 0
  :: else -> break
  od
}

inline put(c, it, m) {        /* QUEUE_PUT [item, block, timeout] */
  if
  :: gqn > 0 -> accepted[it] = 1; sorder[ns] = it; ns++; hand(it); r = 0
#ifdef MUT_OVERFILL
  :: gqn == 0 && qn <= MAXSIZE -> store(it); r = 0  /* BUG: one too many */
#else
  :: gqn == 0 && qn < MAXSIZE -> store(it); r = 0
#endif
  :: else ->
     if
     :: m == TRY -> r = FULL
     :: else ->
        pq[pqn] = c; pqn++;
        i = 1;
        do :: i <= N -> if :: inp[i] -> pbef[i] = pbef[i] | (1 << c) :: else fi; i++
           :: else -> break od;
        i = 0; inp[c] = 1; pdl[c] = (m == TIMED); reply[c] = NONE; r = NONE;
        pitem[c] = it
     fi
  fi
}

inline get(c, m) {            /* QUEUE_GET [block, timeout] */
  if
  :: qn > 0 ->
#ifdef MUT_LIFO
     x = qi[qn-1];            /* BUG: the tail */
#else
     x = qi[0];
     i = 0;
     do :: i + 1 < qn -> qi[i] = qi[i+1]; i++ :: else -> break od;
#endif
     qn--; qi[qn] = 0; i = 0;
     deliver(c, x); r = x; x = 0;
     admit()
  :: else ->
     if
     :: m == TRY -> r = EMPTY
     :: else ->
#ifndef MUT_LOSTWAKE
        gq[gqn] = c; gqn++;   /* (MUT_LOSTWAKE: the getter is not queued) */
#endif
        i = 1;
        do :: i <= N -> if :: ing[i] -> gbef[i] = gbef[i] | (1 << c) :: else fi; i++
           :: else -> break od;
        i = 0; ing[c] = 1; gdl[c] = (m == TIMED); reply[c] = NONE; r = NONE
     fi
  fi
}

/* waits for the parked request's answer into r; its deadline may come; the
 * peer may hang up (then the process ends: its close is processed) */
inline await(c, candie) {
  do
  :: atomic { reply[c] != NONE -> r = reply[c]; reply[c] = NONE; break }
  :: atomic { ing[c] && gdl[c] && !closing[c] -> rmg(c); r = EMPTY; inv(); break }
  :: atomic { inp[c] && pdl[c] && !closing[c] -> rmp(c); pitem[c] = 0; r = FULL; inv(); break }
  :: atomic { candie && (ing[c] || inp[c]) && !closing[c] && deaths < MAXDEATH ->
       closing[c] = 1; deaths++ };
     atomic {                  /* §12.6: parked requests dropped */
       if :: ing[c] -> rmg(c) :: else fi;
       if :: inp[c] -> rmp(c) :: else fi;
       closing[c] = 0; reply[c] = NONE; fin[c] = 1; inv() };
     goto end
  od
}

/* a putter: puts items first .. first + cnt - 1 */
proctype putter(byte me; byte first; byte cnt) {
  byte i, g, x, r, k, it;
  mtype m;

  it = first;
  do
  :: it == first + cnt -> break
  :: else ->
     if :: m = TRY :: m = TIMED :: m = INF fi;
again:
     atomic { put(me, it, m); inv() };
     if :: r == NONE -> await(me, 0) :: else fi;
     if
     :: r == FULL -> m = INF; goto again      /* retried, without deadline */
     :: else -> it++
     fi;
     r = 0; m = TRY
  od;
  fin[me] = 1;
end:
  skip
}

/* a getter: gets one item; its peer may hang up while it waits */
proctype getter(byte me) {
  byte i, g, x, r, k;
  mtype m;

  if :: m = TRY :: m = TIMED :: m = INF fi;
again:
  atomic { get(me, m); inv() };
  if :: r == NONE -> await(me, 1) :: else fi;
  if
  :: r == EMPTY -> m = INF; goto again
  :: else
  fi;
  fin[me] = 1;
end:
  skip
}

init {
  byte c = 1;
  atomic {
    do                        /* putters 1..NP, item ids 1..NP*PER */
    :: c <= NP -> run putter(c, (c - 1) * PER + 1, PER); c++
    :: else -> break
    od;
    do                        /* getters NP+1..N, one item each */
    :: c <= N -> run getter(c); c++
    :: else -> break
    od
  }
}

ltl live { <> (fin[1] && fin[2]
#if N >= 3
               && fin[3]
#endif
#if N >= 4
               && fin[4]
#endif
#if N >= 5
               && fin[5]
#endif
  ) }
