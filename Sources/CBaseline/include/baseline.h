#ifndef PERFLOG_CBASELINE_H
#define PERFLOG_CBASELINE_H
#include <stdint.h>

/// The baseline a plain C program on liblmdb reaches: for each event, one get (the
/// stream's oldest key), one put (the new event) and, once the stream holds `retain`
/// events, one delete; `per_txn` events per transaction. Streams are chosen at random.
/// Returns 0 and sets *seconds on success, an LMDB/errno code otherwise.
int perflog_c_baseline(const char *path, uint64_t events, uint32_t streams, uint32_t retain,
                       uint32_t per_txn, unsigned int env_flags, uint64_t seed, double *seconds);
#endif
