/* version.h — the release version of fedpep. Protocol and schema versions live with their
 * contracts (messages/, storage/). */
#ifndef FEDPEP_COMMON_VERSION_H
#define FEDPEP_COMMON_VERSION_H
#define FEDPEP_VERSION "0.1.0"
#endif
