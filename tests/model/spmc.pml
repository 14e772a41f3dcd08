/*
 * spmc.pml -- Promela model of que's headless SPMC seqlock ring (the producer
 * never waits and overwrites the oldest slot; consumers detect being lapped).
 *
 * Slot i: seq[i] and two payload words pl0[i], pl1[i].
 *   seq == 0        never written
 *   seq == 2*x + 1  producer is writing index x
 *   seq == 2*x + 2  slot holds the complete message with index x
 * Every payload word of message x carries x, so a torn copy (words from two
 * different messages) is detectable.
 *
 * Producer, push of index w into slot s = w % N:
 *   seq[s] = 2w+1; pl0[s] = w; pl1[s] = w; seq[s] = 2w+2;
 *   then "periodically" (nondeterministically, and always after the last push)
 *   publish write = w+1.
 * Consumer (stride k, offset o, next index r, r == o mod k):
 *   READ_BEHIND only (slots of a line or more; the producer then publishes
 *   write after every push): if r >= cw (the last write index it saw),
 *   cw = write (acquire); still r >= cw -> empty, without loading seq
 *   q1 = seq[r%N] (acquire)
 *   q1 == 2r+2 : copy pl0, pl1 one word per step; q2 = seq[r%N];
 *                q2 == q1 -> accept (received++, r += k)  else -> lapped
 *   q1 <  2r+2 : (i.e. q1 <= 2r+1) not available yet -> empty
 *   q1 >  2r+2 : lapped
 *   lapped     : W = write; r' = smallest index >= max(r+k, W-N+1+HEADROOM)
 *                with r' == o mod k; missed += (r'-r)/k; r = r'
 * Close (the end of the stream): after its last push the producer publishes
 * write = P (flush), then closed = true. A consumer that finds nothing
 * ("empty") loads closed; once it has seen it set, the next "empty" is the
 * end: status::closed. It terminates only that way.
 * Each shared access is one atomic step; local arithmetic is folded into it.
 * Promela is sequentially consistent: the model checks the protocol logic;
 * the implementation must still order the payload loads before the re-load of
 * seq (acquire fence) and the payload stores after the odd store (release
 * fence / store-store ordering), which is what the BROKEN_PAYLOAD_BEFORE_ODD
 * variant shows is necessary.
 *
 * Properties (assertions):
 *  - an accepted message is never torn: both words equal r, the index the
 *    consumer expected;
 *  - accepted indices strictly increase, and are == o mod k;
 *  - if the producer had finished before the consumer's seq load and the
 *    consumer sees "empty", then r >= produced (nothing left behind);
 *  - a consumer reports closed only once drained: closed_at >= P;
 *  - at the end: received + missed == #{ x < P : x == o mod k } per consumer;
 *  - LTL all_drained: <> (cdone == NCONS)   (check with pan -a -f).
 *
 * Configuration (spin -DNAME=value):
 *   N ring size (2), P messages produced (5), HEADROOM (0, must be < N),
 *   CONS consumer set: 1 = one consumer (k=1,o=0);
 *                      2 = two broadcast consumers (k=1,o=0) x2;
 *                      3 = two sharded consumers (k=2,o=0) and (k=2,o=1).
 * Broken variants (spin must report an assertion violation):
 *   -DBROKEN_NO_RECHECK          consumer accepts without re-checking seq
 *   -DBROKEN_PAYLOAD_BEFORE_ODD  producer writes payload before marking odd
 *   -DBROKEN_MISSED_COUNT        lapped consumer adds 1 to missed instead of
 *                                (new_r - r)/k (end-of-run accounting must fail)
 *   -DBROKEN_STALE_GATE          (with READ_BEHIND) the consumer never re-reads
 *                                write: it reports empty with messages left
 *   -DBROKEN_LAZY_PUBLISH        (with READ_BEHIND) the producer publishes write
 *                                only now and then, as without read-behind: a
 *                                consumer reports empty with messages left
 *                                after the last push returned
 *   -DBROKEN_CLOSED_NO_RELOOK    the consumer reports closed as soon as it sees
 *                                the flag after an empty look, without looking
 *                                again: the last messages can be pushed between
 *                                that look and the close
 */

#ifndef N
#define N 2
#endif
#ifndef P
#define P 5
#endif
#ifndef HEADROOM
#define HEADROOM 0
#endif
#ifndef CONS
#define CONS 1
#endif

#if CONS == 1
#define NCONS 1
#else
#define NCONS 2
#endif

byte seq[N];
byte pl0[N];
byte pl1[N];
byte write = 0;          /* published write index (may lag) */
bool pdone = false;
bool closed = false;     /* producer_block::closed */
byte cdone = 0;
#ifdef READ_BEHIND
byte pushed = 0;         /* ghost: pushes that have returned */
#endif

active proctype producer()
{
  byte w = 0, s;

  do
  :: w == P -> break
  :: else ->
     s = w % N;
#ifdef BROKEN_PAYLOAD_BEFORE_ODD
     pl0[s] = w;                 /* BUG: payload before the odd marker */
     pl1[s] = w;
     seq[s] = 2 * w + 1;
#else
     seq[s] = 2 * w + 1;         /* slot is being written */
     pl0[s] = w;
     pl1[s] = w;
#endif
     seq[s] = 2 * w + 2;         /* slot holds complete message w */
     w++;
#if defined(READ_BEHIND) && !defined(BROKEN_LAZY_PUBLISH)
     write = w;                  /* every push: consumers read only below it */
#else
     if
     :: write = w                /* periodic publication of the write index */
     :: skip
     fi;
#endif
#ifdef READ_BEHIND
     pushed = w                  /* ghost: push() returns */
#else
     skip
#endif
  od;
  write = P;              /* close(): flush ... */
  closed = true;          /* ... then closed (release) */
  pdone = true
}

proctype consumer(byte k; byte o)
{
  short r = o;                   /* next index this consumer wants */
  short last = -1;               /* last accepted index */
  short target;
  byte q1, q2, c0, c1, W;
  byte received = 0, missed = 0;
  bool done_before;
  bool saw_closed = false;       /* loaded closed (acquire) after an empty look */
  short closed_at;               /* r when it reported status::closed */
#ifdef READ_BEHIND
  byte cw = 0;                   /* last published write index seen */
  byte seen = 0;                 /* ghost: pushes returned before our load of write */
#endif

  do
  ::
#ifdef READ_BEHIND
     if
     :: r >= cw ->
        atomic {
          done_before = pdone;   /* ghost, as below */
          seen = pushed;         /* ghost */
#ifndef BROKEN_STALE_GATE
          cw = write             /* load_acquire(write) */
#else
          skip                   /* BUG: never re-reads write */
#endif
        };
        if
        :: r >= cw ->            /* nothing published at r: empty */
           /* a message is visible once its push returned */
           assert(r >= seen);
           if
           :: done_before ->
              assert(r >= P)     /* drained: nothing left behind */
           :: else -> skip
           fi;
           goto nothing
        :: else -> done_before = false; seen = 0
        fi
     :: else -> skip
     fi;
#endif
     atomic {
       done_before = pdone;      /* ghost: producer finished before our seq load? */
       q1 = seq[r % N]           /* load_acquire(seq) */
     };
     if
     :: q1 == 2 * r + 2 ->
        c0 = pl0[r % N];         /* copy payload word by word */
        c1 = pl1[r % N];
#ifndef BROKEN_NO_RECHECK
        q2 = seq[r % N];         /* re-check the sequence */
#else
        q2 = q1;                 /* BUG: no re-check */
#endif
        if
        :: q2 == q1 ->
           atomic {              /* accept */
             assert(c0 == r && c1 == r);      /* not torn, the expected index */
             assert(r > last && r % k == o);  /* strictly increasing, own shard */
             last = r;
             received++;
             r = r + k;
             q1 = 0; q2 = 0; c0 = 0; c1 = 0; done_before = false
           }
        :: else -> goto lapped
        fi
     :: q1 < 2 * r + 2 ->        /* q1 <= 2r+1: not available yet */
        if
        :: done_before ->
           assert(r >= P)        /* drained: nothing left behind */
        :: else -> skip
        fi;
        q1 = 0; done_before = false;
        goto nothing             /* try_pop returns empty */
     :: q1 > 2 * r + 2 ->
lapped:
        atomic {
          W = write;             /* load_acquire(write) */
          /* the implementation's addition: the seq value that proved the lap
             (q2 when the re-check failed, else q1) shows the producer reached
             index (q-1)/2; newest = max(write, that) */
          if
          :: q2 > q1 -> if :: (q2 - 1) / 2 > W -> W = (q2 - 1) / 2 :: else fi
          :: else -> if :: (q1 - 1) / 2 > W -> W = (q1 - 1) / 2 :: else fi
          fi;
          target = W - N + 1 + HEADROOM;
          if :: target < r + k -> target = r + k :: else fi;
          target = target + (o + k - target % k) % k;   /* round up to == o mod k */
          assert(target % k == o && target > r);
#ifndef BROKEN_MISSED_COUNT
          missed = missed + (target - r) / k;
#else
          missed = missed + 1;     /* BUG: counts one loss per lap, not per index */
#endif
          r = target;
          W = 0; target = 0; q1 = 0; q2 = 0; c0 = 0; c1 = 0; done_before = false
        }
     fi;
     goto next;
nothing:                         /* pop's probe found nothing */
     if
     :: saw_closed ->            /* nothing after seeing closed: status::closed */
        closed_at = r;
        assert(closed_at >= P);  /* only once drained */
        break
     :: else ->
#ifndef BROKEN_CLOSED_NO_RELOOK
        saw_closed = closed      /* load_acquire(closed); if set, look once more */
#else
        if                       /* BUG: closed at once, no second look */
        :: closed -> closed_at = r; assert(closed_at >= P); break
        :: else -> skip
        fi
#endif
     fi;
next: skip
  od;
  /* every index == o (mod k) below P was either received or counted missed */
  assert(received + missed == (P - o + k - 1) / k);
  cdone++
}

init
{
  atomic {
#if CONS == 1
    run consumer(1, 0);
#elif CONS == 2
    run consumer(1, 0);
    run consumer(1, 0);
#else
    run consumer(2, 0);
    run consumer(2, 1);
#endif
  }
}

ltl all_drained { <> (cdone == NCONS) }
