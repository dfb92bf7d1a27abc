// A hint to the CPU to start loading the cache line holding `p` (read, kept in every cache level). Swift has no
// prefetch of its own; the price pass uses this when it solves some buckets only, so that the next customers'
// entries are on their way while this one is solved (docs/optimizer.md, "Passes that leave buckets out").
#ifndef NEXTBEST_PREFETCH_H
#define NEXTBEST_PREFETCH_H

static inline void nextbest_prefetch(const void *p) { __builtin_prefetch(p, 0, 3); }

#endif
