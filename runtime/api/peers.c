/* peers.c — open connections per client address (see peers.h). */
#include "api/peers.h"
#include "mts.h"

#include <netinet/in.h>
#include <string.h>

typedef struct peer {
    unsigned char key[9];      /* family tag, then 4 (IPv4) or 8 (IPv6 /64) address bytes */
    unsigned char used;
    const void *conn;
} peer_t;

struct mts_peers {
    peer_t *e;
    int n;                     /* descriptors tracked */
    int hi;                    /* 1 + the highest descriptor in use */
    int pending;               /* the fd counted last, waiting for its conn; -1 none */
};

mts_peers_t *mts_peers_new(int max_fd) {
    if (max_fd < 1) return NULL;
    mts_peers_t *p = mts_calloc(1, sizeof *p);
    if (!p) return NULL;
    p->e = mts_calloc((size_t)max_fd, sizeof *p->e);
    if (!p->e) { mts_free(p); return NULL; }
    p->n = max_fd;
    p->pending = -1;
    return p;
}

void mts_peers_free(mts_peers_t *p) {
    if (!p) return;
    mts_free(p->e);
    mts_free(p);
}

/* The address key of sa; 0, or -1 for a family that is not counted. */
static int key_of(const struct sockaddr *sa, socklen_t len, unsigned char key[9]) {
    memset(key, 0, 9);
    if (!sa) return -1;
    if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        key[0] = 4;
        memcpy(key + 1, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return 0;
    }
    if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const unsigned char *a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (!memcmp(a, mapped, 12)) {
            key[0] = 4;
            memcpy(key + 1, a + 12, 4);
        } else {
            key[0] = 6;
            memcpy(key + 1, a, 8);
        }
        return 0;
    }
    return -1;
}

static int count_key(const mts_peers_t *p, const unsigned char key[9]) {
    int n = 0;
    for (int i = 0; i < p->hi; i++)
        if (p->e[i].used && !memcmp(p->e[i].key, key, 9)) n++;
    return n;
}

static void drop(mts_peers_t *p, int fd) {
    memset(&p->e[fd], 0, sizeof p->e[fd]);
    while (p->hi > 0 && !p->e[p->hi - 1].used) p->hi--;
}

int mts_peers_accept(mts_peers_t *p, int fd, const struct sockaddr *sa, socklen_t len, int limit) {
    p->pending = -1;
    unsigned char key[9];
    if (fd < 0 || fd >= p->n || key_of(sa, len, key) != 0) return 0;
    if (p->e[fd].used) drop(p, fd);   /* its connection went away unseen; the fd is new */
    int held = count_key(p, key);
    if (limit > 0 && held >= limit) return held;
    memcpy(p->e[fd].key, key, 9);
    p->e[fd].used = 1;
    p->e[fd].conn = NULL;
    if (fd + 1 > p->hi) p->hi = fd + 1;
    p->pending = fd;
    return held;
}

void mts_peers_bind(mts_peers_t *p, const void *conn) {
    if (p->pending < 0) return;
    p->e[p->pending].conn = conn;
    p->pending = -1;
}

void mts_peers_release(mts_peers_t *p, const void *conn) {
    if (!conn) return;
    for (int i = 0; i < p->hi; i++)
        if (p->e[i].used && p->e[i].conn == conn) {
            drop(p, i);
            return;
        }
}

int mts_peers_count(const mts_peers_t *p, const struct sockaddr *sa, socklen_t len) {
    unsigned char key[9];
    return key_of(sa, len, key) == 0 ? count_key(p, key) : 0;
}
