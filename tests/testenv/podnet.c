/*
 * podnet: an LD_PRELOAD shim that gives a pod run as a local process by the testenv node
 * agent the network view it would have on a real cluster, without network namespaces.
 *
 * - bind() to the wildcard address binds the pod's own loopback address instead, so two
 *   pods can both listen on, say, port 29500 (torch's TCPStore binds the wildcard).
 *   AF_INET6 dual-stack sockets get the v4-mapped pod address; IPV6_V6ONLY sockets get ::1
 *   because Linux has no other loopback address for IPv6.
 * - getaddrinfo() resolves the cluster DNS names of pods behind headless Services from a
 *   hosts file the agent rewrites (atomically) as pods come and go, applying the pod's
 *   search domains like resolv.conf in a pod would. This must live in C: torch's c10d
 *   store resolves names from C++ through glibc, where a Python patch cannot reach.
 * - gethostname() returns the pod's hostname, which resolves to the pod's address.
 *
 * Settings come from the environment the agent gives the pod:
 *   TESTENV_POD_IP    the pod's IPv4 address (127.0.x.y)
 *   TESTENV_HOSTNAME  the pod's hostname
 *   TESTENV_HOSTS     path of the hosts file ("<ip> <name> <name>..." per line)
 *   TESTENV_SEARCH    space-separated search domains
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define NDOTS 5

static int (*real_bind)(int, const struct sockaddr *, socklen_t);
static int (*real_getaddrinfo)(const char *, const char *, const struct addrinfo *,
                               struct addrinfo **);

static void load_real(void) {
    if (!real_bind) real_bind = dlsym(RTLD_NEXT, "bind");
    if (!real_getaddrinfo) real_getaddrinfo = dlsym(RTLD_NEXT, "getaddrinfo");
}

static int pod_ip(struct in_addr *out) {
    const char *ip = getenv("TESTENV_POD_IP");
    return ip && inet_pton(AF_INET, ip, out) == 1;
}

int bind(int fd, const struct sockaddr *addr, socklen_t len) {
    load_real();
    struct in_addr ip;
    if (addr && pod_ip(&ip)) {
        if (addr->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
            struct sockaddr_in a = *(const struct sockaddr_in *)addr;
            if (a.sin_addr.s_addr == htonl(INADDR_ANY)) {
                a.sin_addr = ip;
                return real_bind(fd, (struct sockaddr *)&a, sizeof a);
            }
        } else if (addr->sa_family == AF_INET6 &&
                   len >= (socklen_t)sizeof(struct sockaddr_in6)) {
            struct sockaddr_in6 a = *(const struct sockaddr_in6 *)addr;
            if (IN6_IS_ADDR_UNSPECIFIED(&a.sin6_addr)) {
                int v6only = 0;
                socklen_t optlen = sizeof v6only;
                getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &optlen);
                if (v6only) {
                    a.sin6_addr = in6addr_loopback;
                } else {
                    memset(&a.sin6_addr, 0, sizeof a.sin6_addr);
                    a.sin6_addr.s6_addr[10] = 0xff;
                    a.sin6_addr.s6_addr[11] = 0xff;
                    memcpy(&a.sin6_addr.s6_addr[12], &ip, 4);
                }
                return real_bind(fd, (struct sockaddr *)&a, sizeof a);
            }
        }
    }
    return real_bind(fd, addr, len);
}

/* Looks `name` up in the hosts file; writes the address into `out` (INET_ADDRSTRLEN). */
static int lookup_exact(const char *name, char *out) {
    const char *self = getenv("TESTENV_HOSTNAME");
    const char *ip = getenv("TESTENV_POD_IP");
    if (self && ip && strcasecmp(name, self) == 0) {
        snprintf(out, INET_ADDRSTRLEN, "%s", ip);
        return 1;
    }
    const char *path = getenv("TESTENV_HOSTS");
    if (!path) return 0;
    FILE *f = fopen(path, "re");
    if (!f) return 0;
    char line[4096];
    int found = 0;
    while (!found && fgets(line, sizeof line, f)) {
        char *save = NULL;
        char *addr = strtok_r(line, " \t\r\n", &save);
        if (!addr || addr[0] == '#') continue;
        for (char *tok; (tok = strtok_r(NULL, " \t\r\n", &save));) {
            if (strcasecmp(tok, name) == 0) {
                snprintf(out, INET_ADDRSTRLEN, "%s", addr);
                found = 1;
                break;
            }
        }
    }
    fclose(f);
    return found;
}

static int lookup(const char *node, char *out) {
    char name[NI_MAXHOST];
    snprintf(name, sizeof name, "%s", node);
    size_t n = strlen(name);
    if (n && name[n - 1] == '.') {
        name[n - 1] = '\0';
        return lookup_exact(name, out);
    }
    int dots = 0;
    for (const char *p = name; *p; p++) dots += *p == '.';
    if (dots >= NDOTS && lookup_exact(name, out)) return 1;
    const char *search = getenv("TESTENV_SEARCH");
    if (search) {
        char domains[1024];
        snprintf(domains, sizeof domains, "%s", search);
        char *save = NULL;
        for (char *d = strtok_r(domains, " ", &save); d; d = strtok_r(NULL, " ", &save)) {
            char full[NI_MAXHOST + 1024];
            snprintf(full, sizeof full, "%s.%s", name, d);
            if (lookup_exact(full, out)) return 1;
        }
    }
    return dots < NDOTS && lookup_exact(name, out);
}

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                struct addrinfo **res) {
    load_real();
    char ip[INET_ADDRSTRLEN];
    struct in_addr probe;
    if (!node || inet_pton(AF_INET, node, &probe) == 1 || strchr(node, ':') ||
        !lookup(node, ip))
        return real_getaddrinfo(node, service, hints, res);
    struct addrinfo h = {0};
    if (hints) h = *hints;
    h.ai_flags |= AI_NUMERICHOST;
    if (h.ai_family == AF_INET6) {
        char mapped[INET6_ADDRSTRLEN];
        snprintf(mapped, sizeof mapped, "::ffff:%s", ip);
        return real_getaddrinfo(mapped, service, &h, res);
    }
    h.ai_family = AF_INET;
    return real_getaddrinfo(ip, service, &h, res);
}

int gethostname(char *name, size_t len) {
    const char *self = getenv("TESTENV_HOSTNAME");
    if (!self) {
        static int (*real_gethostname)(char *, size_t);
        if (!real_gethostname) real_gethostname = dlsym(RTLD_NEXT, "gethostname");
        return real_gethostname(name, len);
    }
    if (strlen(self) >= len) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(name, self);
    return 0;
}
