/* spec/model/condition.pml — Condition (kind 10) over its own RLock, as
 * spec/protocol.md §9.11 states it: COND_WAIT atomically releases the lock
 * wholly (remembering the recursion count), parks on the condition's FIFO
 * and grants the lock to its next waiter; COND_NOTIFY(n) / NOTIFY_ALL move
 * the n oldest waiters to the tail of the lock's FIFO; a waiter whose
 * deadline comes moves there too; the request is answered only when the lock
 * is granted back to it, with its count restored (bit 0: notified, bit 1:
 * the lock's previous owner died, §13.4). Lock rules: §13; parked requests:
 * §8.4, §9.7; connection close: §12.6. Checked by spec/model/check.
 *
 * Clients: NCONS consumers and one producer, each a connection sending one
 * request at a time, each request one atomic step (§8.2). A consumer
 * acquires the condition (maybe twice: an RLock), waits while `items` is 0
 * (COND_WAIT, with or without a timeout: deadlines are nondeterministic
 * events), takes an item and releases. The producer makes NCONS items, one
 * or several per hold, and notifies as many (NOTIFY n, or NOTIFY_ALL). With
 * MAXDEATH > 0 consumers' connections may also close at any moment (the
 * producer's does not: the others would wait for ever, rightly).
 *
 * Properties (tags for the runner):
 *   P_mutex  one holder at a time                                §13.1
 *   P_reacq  a COND_WAIT is answered only once the lock is granted back to
 *            its caller, with its recursion count restored         §9.11
 *   P_bit    bit 0 of the answer is 1 exactly when it was notified §9.11
 *   P_cfifo  NOTIFY moves the oldest waiters of the condition     §9.11, §9.7
 *   P_fifo   the lock is granted in FIFO order, a moved waiter at the tail
 *                                                                  §9.11, §13.3
 *   P_death  bit 1 / result 2 exactly when an owner died since the last
 *            grant                                                 §13.4
 *   P_state  COND_WAIT / COND_NOTIFY without owning the lock: STATE §9.11
 *            (R-9.11-a: the caller of COND_WAIT owns the lock)
 *   ltl live no lost wake-up: under weak fairness every client finishes
 *            (atomic release–park: a notify cannot fall between them)
 */

#ifndef NCONS
#define NCONS 2
#endif
#define N (NCONS + 1)        /* connections: consumers 1..NCONS, producer N */
#ifndef MAXDEATH
#define MAXDEATH 0
#endif

#define NONE   9
#define RSTATE 8

mtype = { TIMED, INF };

/* ---- the server ---- */
byte owner, depth;
bit  died;
byte lq[N]; byte lqn;        /* the lock's FIFO */
bit  lcw[N+1];               /* that waiter is a COND_WAIT reacquiring */
byte sdep[N+1];              /* its remembered recursion count */
bit  notif[N+1];             /* it was notified (else: its deadline) */
byte cq[N]; byte cqn;        /* the condition's FIFO */
bit  cdl[N+1];               /* a condition waiter with a deadline */
byte reply[N+1];
byte deaths;

/* ---- the clients' shared data (guarded by the condition's lock) ---- */
byte items, produced;

/* ---- ghosts ---- */
byte hd[N+1];                /* depth each one was told it holds */
byte lbef[N+1], cbef[N+1];   /* bit j of xbef[i]: i queued before j */
bit  inl[N+1], inc[N+1];     /* in the lock's / the condition's FIFO */
bit  moved[N+1];             /* moved by a notify */
bit  gdied;
bit  fin[N+1];

byte P_mutex, P_reacq, P_bit, P_cfifo, P_fifo, P_death, P_state;

/* The FIFO operations, once for the lock's FIFO (l...) and once for the
 * condition's (c...): Promela's inlines take no arrays. */
inline lrm(c) {        /* takes c out of FIFO */
  i = 0;
  do
  :: i < lqn && lq[i] != c -> i++
  :: i < lqn && lq[i] == c ->
     do
     :: i + 1 < lqn -> lq[i] = lq[i+1]; i++
     :: else -> break
     od;
     lqn--; lq[lqn] = 0; break
  :: else -> break
  od;
  i = 0
}

inline lenq(c) {   /* c at the tail of FIFO */
  lq[lqn] = c; lqn++;
  i = 1;
  do
  :: i <= N -> if :: inl[i] -> lbef[i] = lbef[i] | (1 << c) :: else fi; i++
  :: else -> break
  od;
  i = 0; inl[c] = 1
}

inline ldeq(c) {     /* ghost: c left that FIFO */
  inl[c] = 0; lbef[c] = 0;
  i = 1;
  do
  :: i <= N -> lbef[i] = lbef[i] & ~(1 << c); i++
  :: else -> break
  od;
  i = 0
}

inline loldest(w, tag) {  /* no one still queued came before w */
  i = 1;
  do
  :: i <= N -> assert(tag || !(inl[i] && (lbef[i] & (1 << w)))); i++
  :: else -> break
  od;
  i = 0
}

inline crm(c) {        /* takes c out of FIFO */
  i = 0;
  do
  :: i < cqn && cq[i] != c -> i++
  :: i < cqn && cq[i] == c ->
     do
     :: i + 1 < cqn -> cq[i] = cq[i+1]; i++
     :: else -> break
     od;
     cqn--; cq[cqn] = 0; break
  :: else -> break
  od;
  i = 0
}

inline cenq(c) {   /* c at the tail of FIFO */
  cq[cqn] = c; cqn++;
  i = 1;
  do
  :: i <= N -> if :: inc[i] -> cbef[i] = cbef[i] | (1 << c) :: else fi; i++
  :: else -> break
  od;
  i = 0; inc[c] = 1
}

inline cdeq(c) {     /* ghost: c left that FIFO */
  inc[c] = 0; cbef[c] = 0;
  i = 1;
  do
  :: i <= N -> cbef[i] = cbef[i] & ~(1 << c); i++
  :: else -> break
  od;
  i = 0
}

inline coldest(w, tag) {  /* no one still queued came before w */
  i = 1;
  do
  :: i <= N -> assert(tag || !(inc[i] && (cbef[i] & (1 << w)))); i++
  :: else -> break
  od;
  i = 0
}

inline granted(c, d) {       /* the grant reaches c: ghost checks */
  i = 1;
  do
  :: i <= N -> assert(P_mutex || i == c || hd[i] == 0); i++
  :: else -> break
  od;
  i = 0;
  assert(P_death || ((r & 2) != 0) == gdied);
  gdied = 0; hd[c] = d
}

/* The lock is free: it passes to the first waiter of its FIFO (§13.3). */
inline pass_on() {
  if
  :: lqn > 0 ->
     w = lq[0];
     loldest(w, P_fifo);
     lrm(w); ldeq(w);
     owner = w;
     if
     :: lcw[w] ->                          /* a COND_WAIT: §9.11 */
        depth = sdep[w];
        r = notif[w] | (died -> 2 : 0);
        lcw[w] = 0; sdep[w] = 0; notif[w] = 0
     :: else ->
        depth = 1;
        r = (died -> 2 : 1)
     fi;
     died = 0;
     granted(w, depth);
     reply[w] = r; w = 0; r = 0
  :: else
  fi
}

inline park_cond(c, m) {
  cenq(c);
  cdl[c] = (m == TIMED)
}

/* A condition waiter becomes a waiter of the lock (notify or deadline). */
inline to_lock(c, why) {
  crm(c); cdeq(c); cdl[c] = 0;
  lcw[c] = 1; notif[c] = why; moved[c] = why;
#ifdef MUT_HEAD
  /* BUG: jumps to the head of the lock's FIFO */
  i = lqn;
  do
  :: i > 0 -> lq[i] = lq[i-1]; i--
  :: else -> break
  od;
  lq[0] = c; lqn++;
  i = 1;                     /* (the ghost: it came last) */
  do
  :: i <= N -> if :: inl[i] -> lbef[i] = lbef[i] | (1 << c) :: else fi; i++
  :: else -> break
  od;
  i = 0; inl[c] = 1
#else
  lenq(c)
#endif
}

/* COND_NOTIFY [n] (n = 0: NOTIFY_ALL) by connection c. */
inline notify(c, n) {
  if
#ifdef MUT_NOTIFY_UNOWNED
  :: false -> r = RSTATE     /* BUG: no owner check */
#else
  :: owner != c -> r = RSTATE
#endif
  :: else ->
     k = 0;
#ifdef MUT_NOTIFY_FEWER
     if :: n > 1 -> k = 1 :: else fi;   /* BUG: one short */
#endif
     do
     :: cqn > 0 && (n == 0 || k < n) ->
#ifdef MUT_NEWEST
        w = cq[cqn-1];                   /* BUG: the newest */
#else
        w = cq[0];
#endif
#ifdef MUT_NOREACQ
        /* BUG: answered at once, without the lock */
        coldest(w, P_cfifo);
        crm(w); cdeq(w); cdl[w] = 0; moved[w] = 1;
        hd[w] = sdep[w]; reply[w] = 1; sdep[w] = 0;
#else
        coldest(w, P_cfifo);
        to_lock(w, 1);
#endif
        k++; w = 0
     :: else -> break
     od;
     k = 0; r = 0
  fi
}

inline close(c) {            /* §12.6 */
  if :: inl[c] -> lrm(c); ldeq(c) :: else fi;
  if :: inc[c] -> crm(c); cdeq(c) :: else fi;
  lcw[c] = 0; sdep[c] = 0; notif[c] = 0; cdl[c] = 0; moved[c] = 0;
  if :: hd[c] > 0 -> gdied = 1; hd[c] = 0 :: else fi;
  if
  :: owner == c ->
#ifndef MUT_NODEATH
     died = 1;
#endif
     owner = 0; depth = 0; pass_on()
  :: else
  fi;
  reply[c] = NONE; fin[c] = 1
}

/* waits for the answer to c's parked request into r; a condition waiter's
 * deadline may come meanwhile; the connection may close (then: end). */
inline await(c, candie) {
  do
  :: atomic { reply[c] != NONE -> r = reply[c]; reply[c] = NONE; break }
  :: atomic { inc[c] && cdl[c] ->         /* its deadline (§9.11) */
#ifdef MUT_TIMEOUT_NOREACQ
       /* BUG: answered at once */
       crm(c); cdeq(c); cdl[c] = 0; hd[c] = sdep[c];
       sdep[c] = 0; reply[c] = 0;
#else
#ifdef MUT_BIT
       to_lock(c, 1);                      /* BUG: reported as notified */
       moved[c] = 0;
#else
       to_lock(c, 0);
#endif
       if :: owner == 0 -> pass_on() :: else fi
#endif
     }
  :: atomic { candie && deaths < MAXDEATH -> deaths++; close(c); goto end }
  od
}

proctype consumer(byte me) {
  byte i, w, r, k, d;
  mtype m;

  atomic {                   /* COND_ACQUIRE [true, nil] */
    if
    :: owner == 0 -> owner = me; depth = 1; r = (died -> 2 : 1); died = 0;
       granted(me, 1); r = 0; reply[me] = NONE
    :: else -> lenq(me); reply[me] = NONE; r = NONE
    fi
  };
  if :: r == NONE -> await(me, 1) :: else fi;
  if                         /* an RLock: maybe once more */
  :: atomic { depth++; hd[me]++ }
  :: skip
  fi;
  d = hd[me];
  do
  :: atomic { items > 0 -> items--; break }
  :: atomic { items == 0 ->              /* COND_WAIT [timeout?] */
       assert(P_state || owner == me);
       if :: m = TIMED :: m = INF fi;
       moved[me] = 0;
       sdep[me] = depth;
#ifdef MUT_DEPTH
       sdep[me] = 1;                     /* BUG: the count not kept */
#endif
       owner = 0; depth = 0; hd[me] = 0; reply[me] = NONE;
#ifdef MUT_NONATOMIC
     }                                   /* BUG: released, then parked in a
                                            separate step */
     atomic {
       pass_on();
       park_cond(me, m)
#else
       park_cond(me, m);
       pass_on()
#endif
     };
     await(me, 1);
     assert(P_reacq || (owner == me && depth == d && hd[me] == d));
     assert(P_bit || (r & 1) == moved[me]);
     moved[me] = 0; r = 0; m = INF
  :: atomic { deaths < MAXDEATH -> deaths++; close(me); goto end }
  od;
  do                         /* COND_RELEASE until free */
  :: atomic { hd[me] > 0 -> depth--; hd[me]--;
       if :: depth == 0 -> owner = 0; pass_on() :: else fi }
  :: atomic { hd[me] == 0 -> break }
  :: atomic { deaths < MAXDEATH -> deaths++; close(me); goto end }
  od;
  fin[me] = 1;
end:
  skip
}

proctype producer(byte me) {
  byte i, w, r, k, n;

  if                         /* a notify without the lock: STATE */
  :: atomic { notify(me, 1); assert(P_state || r == RSTATE); r = 0 }
  :: skip
  fi;
  do
  :: produced == NCONS -> break
  :: produced < NCONS ->
     atomic {
       if
       :: owner == 0 -> owner = me; depth = 1; r = (died -> 2 : 1); died = 0;
          granted(me, 1); r = 0; reply[me] = NONE
       :: else -> lenq(me); reply[me] = NONE; r = NONE
       fi
     };
     if :: r == NONE -> await(me, 0) :: else fi;   /* it does not die */
     atomic {
       if
       :: n = 1
       :: produced + 2 <= NCONS -> n = 2
       fi;
       items = items + n; produced = produced + n;
       if
       :: notify(me, n)
       :: n > 1 -> notify(me, 0)          /* NOTIFY_ALL */
       fi;
       n = 0
     };
     atomic { depth = 0; owner = 0; hd[me] = 0; pass_on() }
  od;
  fin[me] = 1;
end:
  skip
}

init {
  byte c = 1;
  atomic {
    do
    :: c <= NCONS -> run consumer(c); c++
    :: else -> break
    od;
    run producer(N)
  }
}

ltl live { <> (fin[1] && fin[2]
#if NCONS >= 3
               && fin[3]
#endif
#if NCONS >= 4
               && fin[4]
#endif
               && fin[N]) }
