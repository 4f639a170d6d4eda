/* c-one-shot DIR: the floor under `perflog record`, for perflog-bench's
 * c-one-shot case. As a new process it opens an LMDB environment in DIR (creating it),
 * appends one event to a stream's ring of 100 (deleting the event that falls out),
 * commits with MDB_NOMETASYNC (perflog's default durability) and exits: the work
 * `perflog record` does, with nothing else. Exit status 0, or 1 with liblmdb's message. */
#include <lmdb.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define RETAIN 100

struct ring { uint64_t appended, slots[RETAIN]; };
struct event { int64_t wall_ns; uint64_t duration_ns, invocation; int32_t pid, outcome; };

static int fail(const char *what, int rc) {
    fprintf(stderr, "c-one-shot: %s: %s\n", what, mdb_strerror(rc));
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: c-one-shot DIR\n"); return 64; }
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi streams, events;
    MDB_cursor *cursor;
    int rc;
    mkdir(argv[1], 0700);
    if ((rc = mdb_env_create(&env))) return fail("create", rc);
    mdb_env_set_maxdbs(env, 2);
    mdb_env_set_mapsize(env, (size_t)1 << 30);
    if ((rc = mdb_env_open(env, argv[1], MDB_NOMETASYNC, 0600))) return fail("open", rc);
    if ((rc = mdb_txn_begin(env, NULL, 0, &txn))) return fail("begin", rc);
    if ((rc = mdb_dbi_open(txn, "streams", MDB_CREATE, &streams))) return fail("streams", rc);
    if ((rc = mdb_dbi_open(txn, "events", MDB_CREATE | MDB_INTEGERKEY, &events))) return fail("events", rc);

    /* The next seq follows the newest event. */
    uint64_t seq = 1;
    MDB_val k, v;
    if ((rc = mdb_cursor_open(txn, events, &cursor))) return fail("cursor", rc);
    if (mdb_cursor_get(cursor, &k, &v, MDB_LAST) == 0) { memcpy(&seq, k.mv_data, sizeof seq); seq++; }
    mdb_cursor_close(cursor);

    char name[] = "planner\0claude";
    struct ring ring = {0};
    MDB_val sk = {sizeof name, name};
    if (mdb_get(txn, streams, &sk, &v) == 0 && v.mv_size == sizeof ring) memcpy(&ring, v.mv_data, sizeof ring);
    uint64_t slot = ring.appended % RETAIN;
    if (ring.appended >= RETAIN) {
        MDB_val old = {sizeof(uint64_t), &ring.slots[slot]};
        if ((rc = mdb_del(txn, events, &old, NULL))) return fail("delete", rc);
    }
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct event e = {(int64_t)now.tv_sec * 1000000000 + now.tv_nsec, 812400000, 0, (int32_t)getpid(), 0};
    if (getrandom(&e.invocation, sizeof e.invocation, 0) != sizeof e.invocation) e.invocation = (uint64_t)e.wall_ns;
    k.mv_size = sizeof seq; k.mv_data = &seq;
    v.mv_size = sizeof e; v.mv_data = &e;
    if ((rc = mdb_put(txn, events, &k, &v, MDB_APPEND))) return fail("put", rc);
    ring.slots[slot] = seq;
    ring.appended++;
    v.mv_size = sizeof ring; v.mv_data = &ring;
    if ((rc = mdb_put(txn, streams, &sk, &v, 0))) return fail("put stream", rc);
    if ((rc = mdb_txn_commit(txn))) return fail("commit", rc);
    mdb_env_close(env);
    return 0;
}
