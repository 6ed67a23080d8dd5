/* peers.h — open connections per client address, for the API server's
 * per-address connection limit (mts serve --max-conns-per-ip). A table
 * indexed by socket descriptor: an accepted connection is counted against its
 * address (IPv4, or the /64 prefix of an IPv6 address; an IPv4-mapped IPv6
 * address counts as the IPv4 one), bound to the connection object the server
 * knows it by (its struct lws), and released when that object goes away.
 * Counting scans the descriptors in use (at most the highest one seen), so
 * nothing is allocated after mts_peers_new. Needs libc and sockets only.
 * Not thread safe (the service thread owns it). */
#ifndef MTS_API_PEERS_H
#define MTS_API_PEERS_H

#include <sys/socket.h>

typedef struct mts_peers mts_peers_t;

/* Descriptors 0 .. max_fd-1 can be tracked. NULL on ENOMEM or max_fd < 1. */
mts_peers_t *mts_peers_new(int max_fd);
void mts_peers_free(mts_peers_t *p);   /* accepts NULL */
/* A connection accepted on fd from sa. Returns the connections its address
 * had before this one; when that is >= limit (limit > 0) the connection is not
 * counted (the caller refuses it), else it is. A descriptor still counted
 * from a connection that was never released is released first. An fd out of
 * range, or an address of another family, is not counted and returns 0. */
int  mts_peers_accept(mts_peers_t *p, int fd, const struct sockaddr *sa, socklen_t len, int limit);
/* The connection counted last (mts_peers_accept returned under the limit) is
 * known from now on as conn. */
void mts_peers_bind(mts_peers_t *p, const void *conn);
/* conn went away: its address has one connection less. Unknown conn: nothing. */
void mts_peers_release(mts_peers_t *p, const void *conn);
/* Connections counted for sa's address (tests, logs). */
int  mts_peers_count(const mts_peers_t *p, const struct sockaddr *sa, socklen_t len);

#endif
