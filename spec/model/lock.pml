/* spec/model/lock.pml — Lock (kind 4) and, with -DRLOCK, RLock (kind 5),
 * as spec/protocol.md states them: §13 (owner, LOCK_ACQUIRE, LOCK_RELEASE,
 * owner death), the parked requests of §8.4 and the connection close of
 * §12.6. Checked by spec/model/check (see README.md there).
 *
 * The server runs each request atomically (§8.2): every server step below is
 * one atomic block. Each client process is one connection that sends one
 * request at a time (no pipelining). Timeouts are nondeterministic events: a
 * parked request with a deadline may be answered 0 at any moment (§13.2,
 * §13.3 "waiters whose deadline has passed are answered 0 and removed").
 * A connection may die: first its peer hangs up (the connection is
 * "closing": replies to it cannot be sent), later the server processes the
 * close (§12.6). A connection that dies comes back as a fresh connection of
 * the same index (its old state gone: ids are not reused by the server,
 * §12.1, and nothing of the old connection survives, so this is sound).
 *
 * Not modelled: a Lock released by a connection that does not own it (allowed
 * by §13.3, as Python's threading.Lock — it breaks mutual exclusion by
 * design, so the clients here release only what they hold), pipelining.
 *
 * Properties (names = the tags the runner matches):
 *   P_mutex  at most one connection is told it holds the lock        §13.1
 *   P_fifo   a grant goes to the oldest parked waiter                §13.2, §13.3
 *   P_free   the lock is never free while a waiter is parked (the release
 *            passes it directly, "no other request can take it")   §13.3
 *   P_owner  the server's owner and depth are what the clients were told
 *            (an RLock is released wholly when its owner dies)     §13.2, §12.6
 *   P_death  a grant answers 2 exactly when a connection died holding the
 *            lock since the last grant (result 0 does not clear it)  §13.4
 *   P_once   every parked request gets at most one answer           §8.2, §8.4
 *   ltl live no lost wake-up: under weak fairness every waiter without a
 *            deadline is eventually granted (or its connection dies)
 * Mutants (-D switches), each breaking one property: see README.md.
 */

#ifndef N
#define N 3
#endif
#ifndef MAXDEATH
#define MAXDEATH 2      /* connections that may die in one run */
#endif

#define NONE   9        /* no answer yet */
#define RSTATE 3        /* the STATE error */

mtype = { TRY, TIMED, INF };   /* blocking false or timeout 0; a finite
                                  timeout; no timeout (§13.2) */

/* ---- the server's state of the lock ---- */
byte owner;             /* 0 free, else the owning connection (§13.1) */
byte depth;             /* recursion count; 1 for a held Lock (§13.2) */
bit  died;              /* the "owner died" mark (§13.4) */
byte q[N];              /* the FIFO of parked LOCK_ACQUIREs, oldest first */
byte qn;
bit  dl[N+1];           /* parked with a deadline */
bit  closing[N+1];      /* peer hung up, close not processed yet */
byte reply[N+1];        /* answer to the parked request, NONE until sent */
byte deaths;

/* ---- ghosts: what the clients were told ---- */
byte hd[N+1];           /* depth each connection was granted and holds */
bit  parked[N+1];       /* it has a parked request */
bit  pinf[N+1];         /* ... without a deadline */
byte bef[N+1];          /* bit j of bef[i]: i parked before j, both parked */
bit  gdied;             /* a connection died holding it; no grant since */

hidden byte P_mutex, P_fifo, P_free, P_owner, P_death, P_once;

inline qremove(c) {     /* takes c out of the FIFO, wherever it is */
  i = 0;
  do
  :: i < qn && q[i] != c -> i++
  :: i < qn && q[i] == c ->
     do
     :: i + 1 < qn -> q[i] = q[i+1]; i++
     :: else -> break
     od;
     qn--; q[qn] = 0; break
  :: else -> break
  od;
  i = 0
}

inline unpark(c) {      /* ghost bookkeeping when c's request leaves */
  parked[c] = 0; pinf[c] = 0; dl[c] = 0; bef[c] = 0;
  i = 1;
  do
  :: i <= N -> bef[i] = bef[i] & ~(1 << c); i++
  :: else -> break
  od;
  i = 0
}

inline inv() {          /* checked after every server step */
  assert(P_free || owner != 0 || qn == 0);
  i = 1;
  do
  :: i <= N -> assert(P_owner || (owner == i) == (hd[i] > 0)); i++
  :: else -> break
  od;
  i = 0;
  assert(P_owner || owner == 0 || depth == hd[owner])
}

/* The lock is free: c becomes its owner, r its result (§13.2, §13.4). */
inline take(c) {
  owner = c; depth = 1;
  if
  :: died -> r = 2
  :: else -> r = 1
  fi;
#ifndef MUT_DEATH_KEPT
  died = 0
#endif
}

/* The grant reached c: the ghost checks of a grant. */
inline told(c) {
  i = 1;
  do
  :: i <= N -> assert(P_mutex || i == c || hd[i] == 0); i++
  :: else -> break
  od;
  i = 0;
  assert(P_death || (r == 2) == gdied);
  gdied = 0;
  hd[c] = 1
}

/* §13.3: the lock is free; it passes directly to the first waiter in FIFO
 * order. A waiter whose connection is closing cannot be told: its grant is
 * not made and the lock goes on to the next (the mark kept). */
inline pass_on() {
  do
  :: qn == 0 -> break
  :: qn > 0 ->
#ifdef MUT_FIFO
     w = q[qn-1];          /* BUG: the newest waiter */
#else
     w = q[0];
#endif
     assert(P_once || (parked[w] && reply[w] == NONE));
     i = 1;
     do
     :: i <= N -> assert(P_fifo || !(parked[i] && (bef[i] & (1 << w)))); i++
     :: else -> break
     od;
     i = 0;
     qremove(w); unpark(w);
     if
     :: closing[w] ->
#ifdef MUT_NOTAKEBACK
        take(w);           /* BUG: granted to a connection that cannot know */
        w = 0; break
#else
        skip
#endif
     :: else -> take(w); told(w); reply[w] = r; w = 0; break
     fi
  od;
  w = 0
}

inline park(c, m) {
#ifndef MUT_LOST
  q[qn] = c; qn++;        /* (the BUG of MUT_LOST: the waiter is not queued) */
#endif
  i = 1;
  do
  :: i <= N -> if :: parked[i] -> bef[i] = bef[i] | (1 << c) :: else fi; i++
  :: else -> break
  od;
  i = 0;
  parked[c] = 1; reply[c] = NONE;
  dl[c] = (m == TIMED); pinf[c] = (m == INF)
}

/* LOCK_ACQUIRE (§13.2); r = the immediate result, or NONE when parked. */
inline acquire(c, m) {
  if
#ifdef MUT_MUTEX
  :: owner == 0 || (m == TRY && owner != c) -> take(c); told(c) /* BUG */
#else
  :: owner == 0 -> take(c); told(c)
#endif
#ifdef RLOCK
  :: owner == c -> depth++; hd[c]++; r = 1
#endif
  :: else ->
     if
     :: m == TRY -> r = 0
#ifndef RLOCK
     :: owner == c && m == INF -> r = RSTATE     /* self-deadlock */
#endif
     :: else -> park(c, m); r = NONE
     fi
  fi
}

/* LOCK_RELEASE (§13.3) by a connection that holds the lock. */
inline release(c) {
#ifdef RLOCK
  assert(P_owner || owner == c);
  depth--; hd[c]--;
  if
  :: depth == 0 -> owner = 0;
#ifndef MUT_BARGE
     pass_on()
#endif
  :: else
  fi
#else
  assert(P_owner || owner != 0);
  owner = 0; depth = 0; hd[c] = 0;
#ifndef MUT_BARGE
  pass_on()                /* (MUT_BARGE: the lock is left free) */
#endif
#endif
}

/* §12.6: the close of connection c is processed: its parked request is
 * dropped without a reply, then every lock it owns is released (an RLock
 * wholly) and marked (§13.4). */
inline close(c) {
  if
  :: parked[c] -> qremove(c); unpark(c)
  :: else
  fi;
  if
  :: hd[c] > 0 -> gdied = 1; hd[c] = 0  /* ghost: it was told it holds it */
  :: else
  fi;
  if
  :: owner == c ->
#ifdef MUT_PARTIAL
     depth--;                    /* BUG: one level only */
     if
     :: depth == 0 -> owner = 0; died = 1; pass_on()
     :: else
     fi
#else
#ifndef MUT_NODEATH
     died = 1;                   /* (MUT_NODEATH: not marked) */
#endif
     owner = 0; depth = 0; pass_on()
#endif
  :: else
  fi;
  closing[c] = 0; reply[c] = NONE
}

active [N] proctype client() {
  byte me = _pid + 1;
  byte i, w, r;
  bit extra;               /* the one extra op of this hold is done */
  mtype m;

start:                     /* holds nothing, nothing parked */
  if :: m = TRY :: m = TIMED :: m = INF fi;
  if
  :: atomic { acquire(me, m); inv() }
     if
     :: r == NONE -> goto waiting
     :: r == 0 -> m = TRY; goto start
     :: else -> m = TRY; goto holding
     fi
#ifdef RLOCK
  :: atomic {              /* a release without holding it: STATE */
       assert(P_owner || owner != me);
       r = RSTATE; m = TRY
     }
     goto start
#endif
  fi;

waiting:                   /* a request is parked */
  if
  :: atomic { reply[me] != NONE -> r = reply[me]; reply[me] = NONE; m = TRY }
     if
     :: r == 0 -> goto start
     :: else -> goto holding
     fi
  :: atomic { parked[me] && dl[me] && !closing[me] ->   /* its deadline */
#ifndef MUT_TWICE
       qremove(me);        /* (MUT_TWICE: left in the FIFO, answered again) */
#endif
       unpark(me); r = 0; m = TRY; inv() }
     if
     :: hd[me] > 0 -> goto holding
     :: else -> goto start
     fi
  :: atomic { parked[me] && !closing[me] && deaths < MAXDEATH ->
       closing[me] = 1; deaths++ }       /* the peer hangs up */
     atomic { close(me); extra = 0; r = 0; m = TRY; inv() }
     goto start
  fi;

holding:                   /* hd[me] >= 1 */
  if
  :: !extra -> extra = 1;
     if :: m = TRY :: m = TIMED :: m = INF fi;
     atomic { acquire(me, m); inv() }   /* RLock: recursion; Lock: STATE,
                                           0, or parked until its deadline */
     if
     :: r == NONE -> goto waiting
     :: else -> m = TRY; goto holding
     fi
  :: atomic { release(me); inv() }
     if
     :: hd[me] == 0 -> extra = 0; goto start
     :: else -> goto holding
     fi
  :: atomic { deaths < MAXDEATH -> deaths++; close(me); extra = 0; m = TRY; inv() }
     goto start
  fi
}

/* No lost wake-up: a waiter without deadline is eventually answered. Checked
 * with weak fairness (pan -a -f). */
ltl live {
  [] ((pinf[1] -> <> !pinf[1]) && (pinf[2] -> <> !pinf[2])
#if N >= 3
      && (pinf[3] -> <> !pinf[3])
#endif
#if N >= 4
      && (pinf[4] -> <> !pinf[4])
#endif
     )
}
