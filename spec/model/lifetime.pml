/* spec/model/lifetime.pml — object lifetime as spec/protocol.md §12 states
 * it: ids never reused (§12.1), reference counts = sessions holding the object
 * + refs stored in other objects' values (§12.2), sessions shared by
 * connections and ended by the last close (§12.3, §12.6), names (§12.5),
 * CREATE / OPEN / RELEASE / RETAIN / UNLINK (§9.1), stores that are all or
 * nothing (§12.2), destroyed objects answering NOTFOUND (§12.7).
 * Checked by spec/model/check (see README.md there).
 *
 * Every object here is a var (kind 3) whose value is a list [x, y] of at most
 * two refs (0 = no ref): that is enough for a ref stored twice ([r, r] counts
 * 2), self-references and cycles, replacing a value (its refs dropped) and a
 * destroyed object dropping the refs it holds (cascades). Kinds are not
 * modelled (a store checks only that the ref names a live object). One name.
 * K ids are handed out (ids never reused: after K, CREATE is LIMIT); NSES
 * sessions exist in a run. Each process is one connection: it says HELLO
 * (a new session, or joining a live one), sends requests, closes, and may
 * come back with a new HELLO. Any connection may name any id (§8.3), dead or
 * never created ones too. Each request is one atomic step (§8.2).
 *
 * Properties (tags for the runner):
 *   P_free    an object is destroyed only when nothing holds it: no session,
 *             no stored ref in a live object, no name          §12.2, §12.5
 *   P_leak    an unnamed object nothing holds is destroyed at once (at the
 *             end of the request that dropped its last ref)    §12.2
 *   P_count   the server's count is §12.2's: sessions holding it + stored refs
 *   P_dead    a destroyed id never comes back (NOTFOUND forever) §12.1, §12.7
 *   P_session a session holds exactly what its clients were told it holds
 *             (CREATE/OPEN/RETAIN add, RELEASE removes) until its last
 *             connection closes                                §12.3, §12.6
 *   P_atomic  a failed store changes nothing                   §12.2
 */

#ifndef K
#define K 2          /* object ids 1..K */
#endif
#ifndef NC
#define NC 3         /* connections */
#endif
#ifndef NSES
#define NSES 2       /* sessions 1..NSES */
#endif
#ifndef SLOTS
#define SLOTS 2      /* refs in a value: 2 ([x, y]) or 1 ([x]) */
#endif
#if SLOTS == 2
#define YMAX K
#else
#define YMAX 0
#endif

#define OK       0
#define NOTFOUND 45
#define LIMIT    47

/* ---- the server ---- */
bit  live[K+1];
byte cnt[K+1];          /* the count it keeps (LIST's refs) */
byte val[2*(K+1)];      /* object o's value: [val[2o], val[2o+1]] */
byte nextid = 1;        /* ids handed out in order, never reused */
byte nameobj;           /* the object the one name registers, 0: none */
byte sset[NSES+1];      /* bit o: session s holds object o */
byte sconns[NSES+1];    /* live connections of session s */
byte nextses = 1;
byte cses[NC+1];        /* each connection's session */

/* ---- ghosts ---- */
bit  gone[K+1];         /* destroyed */
byte held[NSES+1];      /* what the session's clients were told it holds */

byte P_free, P_leak, P_count, P_dead, P_session, P_atomic;

/* §12.2's count of object o, computed from scratch into g */
inline gcount(o) {
  g = 0;
  j = 1;
  do
  :: j <= NSES -> if :: sset[j] & (1 << o) -> g++ :: else fi; j++
  :: else -> break
  od;
  j = 1;
  do
  :: j <= K ->
     if
     :: live[j] -> g = g + (val[2*j] == o) + (val[2*j+1] == o)
     :: else
     fi;
     j++
  :: else -> break
  od;
  j = 0
}

inline drop(x) {             /* one ref to x goes */
  if :: x != 0 -> cnt[x]-- :: else fi
}

/* Destroys, at once, every unnamed object whose count is 0, and what that
 * frees in turn (§12.2: destroying an object drops the refs in its value). */
inline collect() {
  do
  :: true ->
     o = 1;
     do
#ifdef MUT_NAME_IGNORED
     :: o <= K && !(live[o] && cnt[o] == 0) -> o++   /* BUG: names ignored */
#else
     :: o <= K && !(live[o] && cnt[o] == 0 && nameobj != o) -> o++
#endif
     :: else -> break
     od;
     if
     :: o > K -> break
     :: else ->
        gcount(o);
        assert(P_free || (g == 0 && nameobj != o));
        live[o] = 0; gone[o] = 1;
        x = val[2*o]; y = val[2*o+1]; val[2*o] = 0; val[2*o+1] = 0;
        drop(x); drop(y)
     fi
  od;
  o = 0; x = 0; y = 0
}

inline inv() {               /* after every request */
  o = 1;
  do
  :: o <= K ->
     gcount(o);
     assert(P_count || !live[o] || cnt[o] == g);
     assert(P_leak || !live[o] || g > 0 || nameobj == o);
     assert(P_dead || !(gone[o] && live[o]));
     o++
  :: else -> break
  od;
  o = 1;
  do
  :: o <= NSES -> assert(P_session || sconns[o] == 0 || sset[o] == held[o]); o++
  :: else -> break
  od;
  o = 0; g = 0
}

inline hold(s, o) {          /* add o to session s: at most once (§12.3) */
  if
  :: sset[s] & (1 << o) ->
#ifdef MUT_RETAIN_TWICE
     cnt[o]++                /* BUG: counted again */
#else
     skip
#endif
  :: else -> sset[s] = sset[s] | (1 << o); cnt[o]++
  fi;
  held[s] = held[s] | (1 << o)
}

#define refok(x) ((x) == 0 || live[x])

/* creates object nextid with value [x, y] (refs already checked) into o */
inline new(x, y) {
  o = nextid; nextid++;
  live[o] = 1; cnt[o] = 0;
  val[2*o] = x; val[2*o+1] = y;
  if :: x != 0 -> cnt[x]++ :: else fi;
  if :: y != 0 -> cnt[y]++ :: else fi
}

active [NC] proctype conn() {
  byte me = _pid + 1;
  byte s, o, x, y, g, j, r;

hello:                       /* HELLO: a new session or a live one (§7, §12.3) */
  atomic {
    select(s : 1 .. NSES);
    if
    :: s == nextses -> nextses++                /* session 0: a new one */
    :: s < nextses && sconns[s] > 0 -> skip     /* joins a live session */
    :: else -> s = 0
    fi;
    if :: s != 0 -> sconns[s]++; cses[me] = s :: else fi
  };
  if :: s == 0 -> goto hello :: else fi;
  do
  :: atomic {                /* CREATE [kind, init = [x, y]] (§9.1) */
       select(x : 0 .. K); select(y : 0 .. YMAX);
       d_step {
       if
       :: !(refok(x) && refok(y)) -> r = NOTFOUND
       :: else ->
          if
          :: nextid > K -> r = LIMIT
          :: else -> new(x, y); hold(s, o); r = OK
          fi
       fi;
       collect(); inv(); x = 0; y = 0; r = 0
     } }
  :: atomic {                /* OPEN [name, kind, init = [x, y], create] */
       select(x : 0 .. K); select(y : 0 .. YMAX); select(r : 0 .. 1);
       d_step {
       if
       :: !(refok(x) && refok(y)) -> r = NOTFOUND   /* init checked anyway */
       :: else ->
          if
          :: nameobj != 0 -> hold(s, nameobj)
          :: nameobj == 0 && r == 0 -> r = NOTFOUND /* create false */
          :: nameobj == 0 && r == 1 && nextid <= K -> new(x, y); nameobj = o; hold(s, o)
          :: nameobj == 0 && r == 1 && nextid > K -> r = LIMIT
          fi
       fi;
       collect(); inv(); x = 0; y = 0; r = 0
     } }
  :: atomic {                /* RELEASE, oid = o */
       select(o : 1 .. K);
       d_step {
       if
       :: sset[s] & (1 << o) ->
          sset[s] = sset[s] & ~(1 << o); held[s] = held[s] & ~(1 << o);
          cnt[o]--
       :: else -> r = NOTFOUND
       fi;
       collect(); inv(); r = 0
     } }
  :: atomic {                /* RETAIN [[x, y]]: all or none */
       select(x : 1 .. K); select(y : 1 .. K);
       d_step {
       if
#ifdef MUT_RETAIN_DEAD
       :: x < nextid && y < nextid ->   /* BUG: any id ever handed out */
          live[x] = 1; live[y] = 1;
          hold(s, x); hold(s, y)
#else
       :: live[x] && live[y] -> hold(s, x); hold(s, y)
#endif
       :: else -> r = NOTFOUND
       fi;
       collect(); inv(); x = 0; y = 0; r = 0
     } }
  :: d_step {                /* UNLINK [name] */
       if
       :: nameobj != 0 -> nameobj = 0
       :: else -> r = NOTFOUND
       fi;
#ifndef MUT_UNLINK_KEEP
       collect();            /* (MUT_UNLINK_KEEP: an unnamed object with
                                count 0 is left alive) */
#endif
       inv(); r = 0
     }
  :: atomic {                /* VAR_SET, oid = o, value [x, y] */
       select(o : 1 .. K); select(x : 0 .. K); select(y : 0 .. YMAX);
       d_step {
       if
       :: !live[o] -> r = NOTFOUND
       :: live[o] && !(refok(x) && refok(y)) ->
          g = val[2*o]; j = val[2*o+1];
#ifdef MUT_PARTIAL_STORE
          if                 /* BUG: the good half stored */
          :: refok(x) -> drop(val[2*o]); val[2*o] = x; if :: x -> cnt[x]++ :: else fi
          :: else
          fi;
#endif
          assert(P_atomic || (val[2*o] == g && val[2*o+1] == j));
          r = NOTFOUND; g = 0; j = 0
       :: else ->
#ifndef MUT_NOSTORECOUNT
          if :: x != 0 -> cnt[x]++ :: else fi;  /* (MUT_NOSTORECOUNT: the
                                                    first ref not counted) */
#endif
          if :: y != 0 -> cnt[y]++ :: else fi;
          g = val[2*o]; j = val[2*o+1];
          val[2*o] = x; val[2*o+1] = y;
          drop(g); drop(j); g = 0; j = 0
       fi;
       collect(); inv(); o = 0; x = 0; y = 0; r = 0
     } }
  :: d_step {                /* the connection closes (§12.6) */
       sconns[s]--;
#ifdef MUT_CLOSE_EARLY
       if :: true ->         /* BUG: the session ends at its first close */
#else
       if :: sconns[s] == 0 ->   /* its last: the session ends (§12.3) */
#endif
          o = 1;
          do
          :: o <= K ->
             if
             :: sset[s] & (1 << o) -> sset[s] = sset[s] & ~(1 << o); cnt[o]--
             :: else
             fi;
             o++
          :: else -> break
          od
       :: else
       fi;
       if :: sconns[s] == 0 -> held[s] = 0 :: else fi;  /* ghost: §12.3 */
       cses[me] = 0; o = 0;
       collect(); inv(); s = 0
     };
     goto hello
  od
}
