/* spec/model/barrier.pml — Barrier (kind 13) as spec/protocol.md §9.13
 * states it: BARRIER_WAIT parks until the parties-th wait of the generation
 * arrives, then every waiter of that generation is answered at once with its
 * arrival index and the next generation starts; a wait's deadline breaks the
 * barrier (that waiter and every other get BROKEN); BARRIER_ABORT breaks it
 * (every waiter and every later wait get BROKEN until a reset);
 * BARRIER_RESET answers every current waiter BROKEN and restores the
 * initial, unbroken state; a waiter whose connection closes breaks it
 * (§9.7, §12.6). Parked requests: §8.4. Checked by spec/model/check.
 *
 * Clients: N connections, each request one atomic step (§8.2), for ever:
 * wait (with or without a deadline: a nondeterministic event), abort, reset,
 * or close (MAXDEATH times in all; the connection then comes back as a new
 * one, so that parties can still be found).
 *
 * Properties (tags for the runner):
 *   P_all    a generation trips only with `parties` waiters, all answered
 *            with their arrival indices 0 .. parties-1            §9.13
 *   P_broken a broken barrier has no waiter: breaking answers every waiter
 *            BROKEN (all released or all broken, never part)     §9.13
 *   P_abort  after an abort every wait is BROKEN until a reset    §9.13
 *   P_reset  a reset answers every current waiter BROKEN         §9.13
 *   P_close  a waiter whose connection closes breaks the barrier: no
 *            other waiter is left waiting for its party     §9.13, §9.7
 *   ltl live no lost wake-up: under weak fairness every waiter without a
 *            deadline is eventually answered (a closing waiter breaks the
 *            barrier, so the others do not hang)                  §9.13, §9.7
 */

#ifndef N
#define N 3
#endif
#ifndef PARTIES
#define PARTIES 3
#endif
#ifndef MAXDEATH
#define MAXDEATH 1
#endif

#define NONE   9
#define BROKEN 8
#define IDX    16      /* a release answers IDX + index */

mtype = { TIMED, INF };

/* ---- the server ---- */
byte w[N]; byte wn;    /* the waiters of this generation, in arrival order */
bit  broken;
bit  dl[N+1];
byte reply[N+1];
byte deaths;

/* ---- ghosts ---- */
bit  parked[N+1], pinf[N+1];
bit  gabort;           /* aborted, not reset since */
bit  mustbreak[N+1];   /* a reset found it waiting: BROKEN is its answer */
byte idx[N+1];         /* its arrival index in its generation */

byte P_all, P_broken, P_abort, P_reset, P_close;

inline answer(c, v) {
  assert(parked[c] && reply[c] == NONE);
  reply[c] = v; parked[c] = 0; pinf[c] = 0; dl[c] = 0
}

/* breaks the barrier: every waiter gets BROKEN */
inline break_all() {
  broken = 1;
  do
  :: wn > 0 ->
     wn--;
     answer(w[wn], BROKEN);
     mustbreak[w[wn]] = 0;
     w[wn] = 0
#ifdef MUT_BREAK_ONE
     ; break           /* BUG: the others keep waiting */
#endif
  :: else -> break
  od
}

inline inv() {
  assert(P_broken || !broken || wn == 0)
}

inline wait(c, m) {    /* BARRIER_WAIT [timeout?] */
  if
  :: broken -> r = BROKEN
  :: else ->
     assert(P_abort || !gabort);
     w[wn] = c; idx[c] = wn; wn++;
     parked[c] = 1; pinf[c] = (m == INF); dl[c] = (m == TIMED);
     reply[c] = NONE; r = NONE;
#ifdef MUT_PARTIAL
     if :: wn == PARTIES - 1 -> wn = PARTIES :: else fi;   /* BUG */
#endif
     if
     :: wn == PARTIES ->                  /* the generation trips */
        i = 0;
        do
        :: i < wn ->
           assert(P_all || (w[i] != 0 && idx[w[i]] == i));
           assert(P_reset || !mustbreak[w[i]]);
           answer(w[i], IDX + i);
           w[i] = 0; i++
        :: else -> break
        od;
        i = 0; wn = 0
     :: else
     fi
  fi
}

inline remove(c) {     /* takes c out of the waiters */
  i = 0;
  do
  :: i < wn && w[i] != c -> i++
  :: i < wn && w[i] == c ->
     do :: i + 1 < wn -> w[i] = w[i+1]; idx[w[i]] = i; i++ :: else -> break od;
     wn--; w[wn] = 0; break
  :: else -> break
  od;
  i = 0
}

active [N] proctype client() {
  byte me = _pid + 1;
  byte i, r;
  mtype m;

idle:
  if
  :: if :: m = TIMED :: m = INF fi;
     atomic { wait(me, m); inv() };
     if :: r == NONE -> goto waiting :: else -> r = 0; m = INF; goto idle fi
  :: atomic {          /* BARRIER_ABORT */
#ifdef MUT_ABORT_ONCE
       break_all(); broken = 0;   /* BUG: the barrier is not left broken */
#else
       break_all();
#endif
       gabort = 1; inv() }; goto idle
  :: atomic {          /* BARRIER_RESET */
       i = 0;
       do :: i < wn -> mustbreak[w[i]] = 1; i++ :: else -> break od;
       i = 0;
#ifndef MUT_RESET_KEEP
       break_all();    /* (MUT_RESET_KEEP: the waiters are left waiting) */
#endif
       broken = 0; gabort = 0; inv() }; goto idle
  fi;

waiting:
  if
  :: atomic { reply[me] != NONE -> r = reply[me]; reply[me] = NONE;
       assert(P_reset || !mustbreak[me]); mustbreak[me] = 0; r = 0; m = INF };
     goto idle
  :: atomic { parked[me] && dl[me] ->     /* its deadline: breaks it */
       remove(me); answer(me, BROKEN);
       break_all(); reply[me] = NONE; mustbreak[me] = 0; inv() };
     goto idle
  :: atomic { parked[me] && deaths < MAXDEATH ->   /* its connection closes */
       deaths++;
       remove(me); parked[me] = 0; pinf[me] = 0; dl[me] = 0; mustbreak[me] = 0;
#ifndef MUT_CLOSE_NOBREAK
       break_all();    /* §9.13 Decision: the others get BROKEN */
#endif
       assert(P_close || wn == 0);   /* no one left waiting for its party */
       reply[me] = NONE; inv() };
     goto idle         /* back as a new connection */
  fi
}

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
