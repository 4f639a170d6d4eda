#include "baseline.h"
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>

static uint64_t next_random(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static void make_key(unsigned char out[12], uint32_t stream, uint64_t n) {
    for (int i = 0; i < 4; i++) out[i] = (unsigned char)(stream >> (24 - 8 * i));
    for (int i = 0; i < 8; i++) out[4 + i] = (unsigned char)(n >> (56 - 8 * i));
}

int perflog_c_baseline(const char *path, uint64_t events, uint32_t streams, uint32_t retain,
                       uint32_t per_txn, unsigned int env_flags, uint64_t seed, double *seconds) {
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    int rc;
    mkdir(path, 0777);
    uint64_t *appended = calloc(streams, sizeof(uint64_t));
    if (!appended) return 12;
    if ((rc = mdb_env_create(&env))) goto out;
    if ((rc = mdb_env_set_mapsize(env, (size_t)4 << 30))) goto out;
    if ((rc = mdb_env_open(env, path, env_flags, 0664))) goto out;
    if ((rc = mdb_txn_begin(env, NULL, 0, &txn))) goto out;
    if ((rc = mdb_dbi_open(txn, NULL, 0, &dbi))) goto out;
    if ((rc = mdb_txn_commit(txn))) { txn = NULL; goto out; }
    txn = NULL;

    /* An event is about as large as perflog's: times, duration, pid, invocation. */
    unsigned char payload[48];
    memset(payload, 0x5A, sizeof payload);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (uint64_t i = 0; i < events; i++) {
        if (i % per_txn == 0 && (rc = mdb_txn_begin(env, NULL, 0, &txn))) goto out;
        uint32_t s = (uint32_t)(next_random(&seed) % streams);
        unsigned char key[12];
        MDB_val k = {sizeof key, key}, v;
        if (appended[s] >= retain) {
            make_key(key, s, appended[s] - retain);
            if ((rc = mdb_get(txn, dbi, &k, &v))) goto out;
            if ((rc = mdb_del(txn, dbi, &k, NULL))) goto out;
        }
        make_key(key, s, appended[s]++);
        memcpy(payload, &i, sizeof i);
        v.mv_size = sizeof payload;
        v.mv_data = payload;
        if ((rc = mdb_put(txn, dbi, &k, &v, 0))) goto out;
        if ((i + 1) % per_txn == 0 || i + 1 == events) {
            rc = mdb_txn_commit(txn);
            txn = NULL;
            if (rc) goto out;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    *seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
out:
    if (txn) mdb_txn_abort(txn);
    if (env) mdb_env_close(env);
    free(appended);
    return rc;
}
