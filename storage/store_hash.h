/* store_hash.h — the checksum the store keeps beside every blob it holds (checkpoints, client
 * state), so that damage inside blob bytes, which SQLite itself cannot see, is reported on load
 * instead of silently resuming a run from wrong numbers. Not a cryptographic hash: it detects
 * accidents, not attacks. The value is part of the file format: it must never change. */
#ifndef FEDPEP_STORAGE_STORE_HASH_H
#define FEDPEP_STORAGE_STORE_HASH_H

#include <stddef.h>
#include <stdint.h>

/* A 64-bit hash of n bytes continuing from h (start with 0; chain blobs by passing the previous
 * result). The same on every machine (bytes are read little-endian explicitly). */
uint64_t store_hash64(uint64_t h, const void *data, size_t n);

#endif
