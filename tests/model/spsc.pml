/*
 * spsc.pml -- Promela model of que's lossless SPSC ring (Lamport ring with
 * monotonic indices and cached opposite index), incl. batch claim/commit and
 * peek/release.
 *
 * Shared state:   write (published by the producer, store_release)
 *                 read  (published by the consumer, store_release)
 *                 slot[N]
 * Producer local: w (own index), cr (cached read)
 * Consumer local: r (own index), cw (cached write)
 *
 * Single-op form (BATCH == 1) is exactly:
 *   try_push(v): if w - cr == N { cr = load_acquire(read); if w - cr == N fail }
 *                slot[w % N] = v; w++; store_release(write, w)
 *   try_pop():   if r == cw { cw = load_acquire(write); if r == cw fail }
 *                v = slot[r % N]; r++; store_release(read, r)
 * Batch form (BATCH > 1): each round the thread nondeterministically asks for
 * 1..BATCH elements (this also covers commit(k)/release(k) with k smaller than
 * the claimed span), refreshes the cached index if the cached view is too
 * small, gets min(available, wanted, contiguous-to-end-of-ring) slots, accesses
 * them one slot per step and publishes its index ONCE for the whole batch.
 *
 * Every access to a shared variable is its own atomic step (local bookkeeping
 * is folded into the same step), so all interleavings between "slot access"
 * and "index publication" are explored.  Promela is sequentially consistent;
 * the BROKEN_PUBLISH_BEFORE_WRITE variant is exactly what a missing
 * release/acquire pair would permit on a weakly ordered machine.
 *
 * Properties:
 *  - ghost bit occupied[i]: asserted clear when the producer writes slot i, asserted
 *    set when the consumer reads it (no overwrite-before-read, no read of an
 *    unwritten / stale slot);
 *  - the consumer receives exactly 0,1,2,...,M-1 in order (no loss,
 *    duplication, reordering);
 *  - invariant 0 <= write - read <= N in every reachable state (monitor);
 *  - at the end: sent == received == write == read == M, every slot empty;
 *  - LTL all_delivered: <> (received == M)   (check with pan -a -f).
 *
 * Batched release (GROUP > 1, single-op form only, as que's single pops do):
 * the consumer stores `read` only once it holds GROUP read-but-unreturned
 * slots, or when the pop took the last message its cached `write` showed
 * (the ring looked drained); otherwise it keeps r ahead of `read`.
 *
 * Configuration (spin -DNAME=value): N ring size, M messages, BATCH max batch,
 * GROUP release group of single pops (1: every pop publishes).
 * Broken variants (spin must report an assertion violation):
 *   -DBROKEN_PUBLISH_BEFORE_WRITE   producer publishes write before the slot store
 *   -DBROKEN_RELEASE_BEFORE_READ    consumer publishes read before copying out
 *   -DBROKEN_NO_RELEASE_ON_DRAIN    (with GROUP > 1) the consumer returns slots
 *                                   only in full groups, never when drained: the
 *                                   last messages' slots are never returned
 *                                   (the end-of-run check `read == M` fails)
 * Broken liveness variant (pan -a -f must report an acceptance cycle):
 *   -DBROKEN_STALE_CACHE            producer never refreshes its cached read
 *                                   index: no safety violation, but it spins
 *                                   forever once the ring looks full.
 */

#ifndef N
#define N 2
#endif
#ifndef M
#define M 5
#endif
#ifndef BATCH
#define BATCH 1
#endif
#ifndef GROUP
#define GROUP 1
#endif

byte slot[N];
bool occupied[N];            /* ghost: slot holds a value not yet consumed */
byte write = 0;          /* published producer index */
byte read = 0;           /* published consumer index */
byte sent = 0;           /* ghost */
byte received = 0;       /* ghost */
bool pdone = false;
bool cdone = false;

active proctype producer()
{
  byte w = 0, cr = 0, want, avail, got, j;

  do
  :: w == M -> break
  :: else ->
     /* choose how many elements to claim this round: 1..min(BATCH, M - w) */
     want = 1;
     do
     :: want < BATCH && want < M - w -> want++
     :: break
     od;
     atomic {
       avail = N - (w - cr);
       if
       :: avail < want ->
#ifndef BROKEN_STALE_CACHE
          cr = read;                        /* load_acquire(read): one step */
#else
          skip;                             /* BUG: never refresh cached read */
#endif
          avail = N - (w - cr)
       :: else
       fi;
       got = want;
       if :: got > avail -> got = avail :: else fi;
       if :: got > N - (w % N) -> got = N - (w % N) :: else fi   /* contiguous span */
     }
     if
     :: got == 0 -> skip                    /* full: try_push fails, retry */
     :: else ->
#ifdef BROKEN_PUBLISH_BEFORE_WRITE
        write = w + got;                    /* BUG: publish before the data */
#endif
        j = 0;
        do
        :: j == got -> break
        :: else ->
           atomic {                         /* slot[(w+j) % N] = w+j */
             assert(!occupied[(w + j) % N]);    /* never overwrite an unread slot */
             slot[(w + j) % N] = w + j;
             occupied[(w + j) % N] = true;
             sent++;
             j++
           }
        od;
#ifndef BROKEN_PUBLISH_BEFORE_WRITE
        atomic { write = w + got; w = w + got }   /* store_release(write) once */
#else
        w = w + got
#endif
     fi
  od;
  pdone = true
}

active proctype consumer()
{
  byte r = 0, cw = 0, rel = 0, want, avail, got, j, v;

  do
  :: r == M -> break
  :: else ->
     want = 1;
     do
     :: want < BATCH && want < M - r -> want++
     :: break
     od;
     atomic {
       avail = cw - r;
       if
       :: avail < want ->
          cw = write;                       /* load_acquire(write): one step */
          avail = cw - r
       :: else
       fi;
       got = want;
       if :: got > avail -> got = avail :: else fi;
       if :: got > N - (r % N) -> got = N - (r % N) :: else fi
     }
     if
     :: got == 0 -> skip                    /* empty: try_pop fails, retry */
     :: else ->
#ifdef BROKEN_RELEASE_BEFORE_READ
        read = r + got;                     /* BUG: release before copying out */
#endif
        j = 0;
        do
        :: j == got -> break
        :: else ->
           atomic {                         /* v = slot[(r+j) % N] */
             assert(occupied[(r + j) % N]);     /* never read an unwritten slot */
             v = slot[(r + j) % N];
             occupied[(r + j) % N] = false;
             assert(v == received);         /* exactly 0,1,2,... in order */
             received++;
             j++
           }
        od;
#ifndef BROKEN_RELEASE_BEFORE_READ
        r = r + got;
        if
        :: BATCH > 1 || r - rel >= GROUP -> atomic { read = r; rel = r }   /* store_release(read) once */
#ifndef BROKEN_NO_RELEASE_ON_DRAIN
        :: else -> if
                   :: r == cw -> atomic { read = r; rel = r }   /* drained what we saw: return all */
                   :: else -> skip                              /* hold back: rel < r */
                   fi
#else
        :: else -> skip
#endif
        fi
#else
        r = r + got
#endif
     fi
  od;
  cdone = true
}

/* global invariant, checked in every reachable state */
active proctype monitor()
{
  assert(read <= write && write - read <= N)
}

/* end-of-run accounting */
active proctype finale()
{
  byte i;
  (pdone && cdone);
  assert(sent == M && received == M && write == M && read == M);
  for (i : 0 .. N - 1) {
    assert(!occupied[i])
  }
}

ltl all_delivered { <> (received == M) }
