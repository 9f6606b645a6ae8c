package store

/*
#include <malloc.h>
#include <stdlib.h>

// wotchain_limit_malloc_arenas caps glibc's malloc arenas at two, unless
// MALLOC_ARENA_MAX says otherwise. It runs as a constructor, before the Go
// runtime starts its threads: a thread that has allocated once keeps the
// arena it got, so a cap set later (from Go) comes too late for them. Where
// the C library has no such setting it does nothing.
__attribute__((constructor)) static void wotchain_limit_malloc_arenas(void) {
#ifdef M_ARENA_MAX
	if (getenv("MALLOC_ARENA_MAX") == NULL) {
		mallopt(M_ARENA_MAX, 2);
	}
#endif
}
*/
import "C"

// Why cap malloc arenas: glibc gives each thread that allocates its own
// arena (up to 8 per core). RocksDB's memtables, flushes and compactions
// allocate and free large blocks from many threads (its own, and the Go
// threads that call into it), so freed memory stayed spread over arenas and
// resident memory crept up by 5-10 MiB a minute under 10,000 points a
// second while RocksDB's own accounting stayed flat. With two arenas it
// stays flat (docs/BENCHMARKS.md, Memory). The cap applies to any program
// that links this package; MALLOC_ARENA_MAX in the environment wins.
