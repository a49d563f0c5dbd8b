/* spec/model/semaphore.pml — Semaphore (kind 11) and, with -DBOUNDED,
 * BoundedSemaphore (kind 12), as spec/protocol.md §9.12 states them, with the
 * waiting ops of §9.7 (FIFO, deadlines, connection close) and the parked
 * requests of §8.4. Checked by spec/model/check.
 *
 * A counter starting at INIT; SEM_ACQUIRE takes one when it is > 0, else
 * answers false at once (blocking false / timeout 0), or parks (FIFO) until
 * a release gives it a unit or its deadline (a nondeterministic event)
 * answers false. SEM_RELEASE n adds n and wakes up to n waiters, one unit
 * each. A BoundedSemaphore refuses (VALUE, counter unchanged) a release that
 * would take the counter above INIT. No owner: any connection may release.
 *
 * Clients: N connections, each request one atomic step (§8.2). A client
 * acquires up to two units and gives back what it holds (one, or both in one
 * SEM_RELEASE 2). With BOUNDED a client may also release what it does not
 * hold. A parked client's peer may hang up: its connection is then
 * "closing" (replies to it cannot be sent) until the server processes the
 * close (§12.6), which drops the parked request. A unit handed to a closing
 * connection is taken back (as a Queue's item, §9.8, and a lock's grant,
 * §13.3) — see the report of this model in README.md.
 *
 * Properties (tags for the runner):
 *   P_units  no unit is made or lost: counter + units the clients were told
 *            they got == INIT + the units released by non-holders  §9.12
 *   P_fifo   waiters are served in FIFO order                     §9.12, §9.7
 *   P_free   the counter is never > 0 while a waiter is parked (release n
 *            wakes up to n waiters)                               §9.12
 *   P_bound  BOUNDED: the counter never exceeds INIT; a release over it is
 *            VALUE                                                §9.12
 *   P_once   a parked request gets at most one answer             §8.2
 *   ltl live no lost wake-up: a waiter without deadline is eventually served
 */

#ifndef N
#define N 3
#endif
#ifndef INIT
#define INIT 1
#endif
#ifndef MAXDEATH
#define MAXDEATH 1
#endif
#define HOLDMAX 2
#define NONE  9
#define VALUE 7

mtype = { TRY, TIMED, INF };

byte value = INIT;
byte q[N]; byte qn;
bit  dl[N+1], closing[N+1];
byte reply[N+1];
byte deaths;

byte hd[N+1];           /* units each client was told it got and holds */
byte extra;             /* units released by non-holders (BOUNDED) */
bit  parked[N+1], pinf[N+1];
byte bef[N+1];

byte P_units, P_fifo, P_free, P_bound, P_once;

inline qremove(c) {
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

inline unpark(c) {
  parked[c] = 0; pinf[c] = 0; dl[c] = 0; bef[c] = 0;
  i = 1;
  do
  :: i <= N -> bef[i] = bef[i] & ~(1 << c); i++
  :: else -> break
  od;
  i = 0
}

inline inv() {
  assert(P_free || value == 0 || qn == 0);
  k = value; i = 1;
  do
  :: i <= N -> k = k + hd[i]; i++
  :: else -> break
  od;
  i = 0;
  assert(P_units || k == INIT + extra);
  k = 0;
  assert(P_bound || value <= INIT)
}

/* gives units to the first waiters while the counter is > 0 (§9.12) */
inline serve() {
  do
  :: value > 0 && qn > 0 ->
#ifdef MUT_FIFO
     w = q[qn-1];
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
     value--;
     if
     :: closing[w] ->
#ifdef MUT_NOTAKEBACK
        skip             /* BUG: the unit goes to a connection that cannot know */
#else
        value++          /* undeliverable: the unit is taken back */
#endif
     :: else -> hd[w]++; reply[w] = 1
     fi;
     w = 0
#ifdef MUT_WAKE_ONE
     ; break             /* BUG: one waiter served whatever n */
#endif
  :: else -> break
  od
}

inline release(c, n) {   /* SEM_RELEASE [n] */
  if
#ifdef BOUNDED
#ifndef MUT_UNBOUNDED
  :: value + n > INIT -> r = VALUE
#endif
#endif
  :: else -> value = value + n; r = 0; serve()
  fi
}

active [N] proctype client() {
  byte me = _pid + 1;
  byte i, w, r;
  int k;
  bit ex;                /* this hold has tried for a second unit */
  mtype m;

idle:
  if
  :: hd[me] == 0 || (hd[me] == 1 && !ex) ->
     if
     :: hd[me] == 0 -> if :: m = TRY :: m = TIMED :: m = INF fi
     :: else -> ex = 1; if :: m = TRY :: m = TIMED fi  /* a second unit: never
                            without deadline, or two holders could wait for
                            each other's unit for ever (their bug, not ours) */
     fi;
     atomic {
       if
#ifdef MUT_TRY_NEG
       :: value > 0 || m == TRY -> value--; hd[me]++; r = 1   /* BUG */
#else
       :: value > 0 -> value--; hd[me]++; r = 1
#endif
       :: else ->
          if
          :: m == TRY -> r = 0
          :: else ->
#ifndef MUT_LOST
             q[qn] = me; qn++;
#endif
             i = 1;
             do
             :: i <= N -> if :: parked[i] -> bef[i] = bef[i] | (1 << me) :: else fi; i++
             :: else -> break
             od;
             i = 0;
             parked[me] = 1; reply[me] = NONE;
             dl[me] = (m == TIMED); pinf[me] = (m == INF); r = NONE
          fi
       fi;
       m = TRY; inv()
     };
     if :: r == NONE -> goto waiting :: else -> goto idle fi
  :: hd[me] > 0 -> atomic { hd[me]--; release(me, 1);
       if :: r == VALUE -> hd[me]++ :: else fi;   /* refused: still held */
       if :: hd[me] == 0 -> ex = 0 :: else fi; r = 0; inv() }; goto idle
  :: hd[me] == 2 -> atomic { hd[me] = 0; ex = 0; release(me, 2);
       if :: r == VALUE -> hd[me] = 2 :: else fi; r = 0; inv() }; goto idle
#ifdef BOUNDED
  :: hd[me] == 0 -> atomic {           /* a release by a non-holder */
       release(me, 1);
       if :: r == 0 -> extra++ :: else fi;
       assert(P_bound || value <= INIT);
       r = 0; inv() }; goto idle
#endif
  fi;

waiting:
  if
  :: atomic { reply[me] != NONE -> reply[me] = NONE; r = 0 }; goto idle
  :: atomic { parked[me] && dl[me] && !closing[me] ->
#ifndef MUT_TWICE
       qremove(me);
#endif
       unpark(me); r = 0; inv() }; goto idle
  :: atomic { parked[me] && !closing[me] && hd[me] == 0 && deaths < MAXDEATH ->
       closing[me] = 1; deaths++ };
     atomic {            /* the close is processed (§12.6) */
       if :: parked[me] -> qremove(me); unpark(me) :: else fi;
       closing[me] = 0; reply[me] = NONE; inv() };
     goto idle
  fi
}

/* No lost wake-up, under weak fairness (pan -a -f): every waiter without a
 * deadline is eventually served (each holder here gives its units back
 * within a bounded number of its own steps). */
ltl live {
  [] ((pinf[1] -> <> !pinf[1]) && (pinf[2] -> <> !pinf[2])
#if N >= 3
      && (pinf[3] -> <> !pinf[3])
#endif
     )
}
