#ifndef PERFLOG_CLMDB_SHIM_H
#define PERFLOG_CLMDB_SHIM_H
#include <lmdb.h>
#endif
