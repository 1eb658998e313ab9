/*
 * The scratch namespaces of `ktrace trace`: a node namespace that gets the
 * rule set, the node's addresses on its loopback device, a veth "Pod
 * network" holding the default route, and a veth to a client namespace
 * that sends the probes (or, for a hostNetwork client, no client at all:
 * the probes leave the node namespace itself). Names carry the process id
 * (ktrace-trace-PID-node / -client). Everything is made in-process: the
 * namespaces as `ip netns add` makes them (unshare, then a bind mount of
 * the namespace onto /run/netns/NAME), the links, addresses and routes
 * with libnl-route messages through the netlink layer, the sysctls by
 * writing /proc/sys from a thread inside the namespace; both namespaces
 * are removed by kt_lab_destroy() on every path (the caller calls it on
 * success, error and interrupt), and those of an earlier ktrace that was
 * killed (its PID is gone) are removed by the next one.
 *
 * Also the one way this module runs a tool: kt_lab_exec() enters a
 * namespace (setns, this thread only), spawns iptables-restore / nft with
 * the given stdin (posix_spawn: no copy of this process's page tables),
 * and collects stdout and stderr (bounded). Nothing runs in the host's
 * namespace but the read-only dumps of kt_trace_host_rules(). Must not:
 * touch the host's rules or interfaces, print.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/if_addr.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>

#include "collectors/netlink/nl.h"
#include "collectors/trace/trace_lab.h"
#include "ktrace/xalloc.h"

#define OUT_MAX (256u << 20) /* stdout of a tool (a big nft listing) */
#define ERR_MAX 4096u
#define NETNS_DIR "/run/netns"

extern char **environ;

static void cbuf_add(struct kt_lab_buf *b, const char *p, size_t n, size_t max)
{
	if (b->n + n > max) {
		b->cut = true;
		n = max > b->n ? max - b->n : 0;
	}
	if (!n)
		return;
	if (b->n + n + 1 > b->cap) {
		b->cap = (b->n + n + 1) * 2;
		b->p = kt_xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->n, p, n);
	b->n += n;
	b->p[b->n] = 0;
}

void kt_lab_buf_free(struct kt_lab_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/* Start argv in this thread's namespace with the pipes as 0, 1, 2. */
static int spawn(const char *const argv[], int in, int out, int errfd, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t def, none;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in, 0);
	posix_spawn_file_actions_adddup2(&fa, out, 1);
	posix_spawn_file_actions_adddup2(&fa, errfd, 2);
	posix_spawnattr_init(&at);
	sigemptyset(&none);
	sigemptyset(&def);
	sigaddset(&def, SIGINT);
	sigaddset(&def, SIGTERM);
	sigaddset(&def, SIGHUP);
	sigaddset(&def, SIGPIPE);
	posix_spawnattr_setsigdefault(&at, &def);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
	int rc = posix_spawnp(pid, argv[0], &fa, &at, (char *const *)argv, environ);
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
	return rc;
}

/* Feed in, collect stdout into out and stderr into eb until both close. */
static void pump(int pin, int pout, int perr, const char *in, size_t inlen, struct kt_lab_buf *out,
		 struct kt_lab_buf *eb)
{
	size_t off = 0;
	if (!in || !inlen) {
		close(pin);
		pin = -1;
	} else {
		fcntl(pin, F_SETFL, O_NONBLOCK);
	}
	int open_fds = 2;
	while (open_fds > 0 || pin >= 0) {
		struct pollfd pf[3] = {{.fd = pout, .events = POLLIN}, {.fd = perr, .events = POLLIN},
				       {.fd = pin, .events = POLLOUT}};
		if (poll(pf, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		char buf[65536];
		for (int i = 0; i < 2; i++) {
			if (pf[i].fd < 0 || !(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			ssize_t n = read(pf[i].fd, buf, sizeof(buf));
			if (n > 0) {
				cbuf_add(i ? eb : out, buf, (size_t)n, i ? ERR_MAX : OUT_MAX);
			} else if (n == 0 || errno != EINTR) {
				close(pf[i].fd);
				if (i)
					perr = -1;
				else
					pout = -1;
				open_fds--;
			}
		}
		if (pin >= 0 && (pf[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
			ssize_t n = write(pin, in + off, inlen - off);
			if (n > 0)
				off += (size_t)n;
			if ((n < 0 && errno != EINTR && errno != EAGAIN) || off == inlen) {
				close(pin);
				pin = -1;
			}
		}
	}
	if (pout >= 0)
		close(pout);
	if (perr >= 0)
		close(perr);
	if (pin >= 0)
		close(pin);
}

int kt_lab_exec(int nsfd, const char *const argv[], const char *in, size_t inlen, struct kt_lab_buf *out,
		char *err, size_t errlen)
{
	int p[6] = {-1, -1, -1, -1, -1, -1}; /* stdin r/w, stdout r/w, stderr r/w */
	int self = -1, e = 0;
	if (pipe2(p, O_CLOEXEC) < 0 || pipe2(p + 2, O_CLOEXEC) < 0 || pipe2(p + 4, O_CLOEXEC) < 0) {
		e = errno;
		goto fail;
	}
	if (nsfd >= 0) {
		self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
		if (self < 0 || setns(nsfd, CLONE_NEWNET) < 0) {
			e = errno;
			goto fail;
		}
	}
	pid_t pid;
	int src = spawn(argv, p[0], p[3], p[5], &pid);
	if (self >= 0) {
		setns(self, CLONE_NEWNET);
		close(self);
		self = -1;
	}
	if (src) {
		for (int i = 0; i < 6; i++)
			close(p[i]);
		if (src == ENOENT) {
			snprintf(err, errlen, "%s: not installed", argv[0]);
			return 127;
		}
		snprintf(err, errlen, "%s: %s", argv[0], strerror(src));
		return -1;
	}
	close(p[0]);
	close(p[3]);
	close(p[5]);
	signal(SIGPIPE, SIG_IGN);
	struct kt_lab_buf eb = {0}, tmp = {0};
	pump(p[1], p[2], p[4], in, inlen, out ? out : &tmp, &eb);
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	int rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	if (rc && err && errlen) {
		char *m = eb.p ? eb.p : (char *)"";
		size_t l = strlen(m);
		while (l && (m[l - 1] == '\n' || m[l - 1] == ' '))
			m[--l] = 0;
		char *nl = strrchr(m, '\n'); /* the last line says most */
		if (rc == 127)
			snprintf(err, errlen, "%s: not installed", argv[0]);
		else
			snprintf(err, errlen, "%s: %s", argv[0], l ? (nl && nl[1] ? nl + 1 : m) : "failed");
	}
	kt_lab_buf_free(&eb);
	kt_lab_buf_free(&tmp);
	return rc;
fail:
	for (int i = 0; i < 6; i++)
		if (p[i] >= 0)
			close(p[i]);
	if (self >= 0) {
		setns(self, CLONE_NEWNET);
		close(self);
	}
	snprintf(err, errlen, "%s: %s", argv[0], strerror(e));
	return -1;
}

/* ---- namespaces ------------------------------------------------------ */

/* /run/netns as `ip netns add` prepares it: a shared mount point, so that
 * the bind mounts of namespaces propagate between mount namespaces (done
 * under an flock on the directory, as iproute2 does). */
static int netns_dir(char *err, size_t errlen)
{
	if (mkdir(NETNS_DIR, 0755) < 0 && errno != EEXIST) {
		snprintf(err, errlen, NETNS_DIR ": %s", strerror(errno));
		return -1;
	}
	int lock = open(NETNS_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (lock >= 0)
		flock(lock, LOCK_EX);
	int rc = 0;
	bool made = false;
	while (mount("", NETNS_DIR, "none", MS_SHARED | MS_REC, NULL) < 0) {
		if (errno != EINVAL || made ||
		    mount(NETNS_DIR, NETNS_DIR, "none", MS_BIND | MS_REC, NULL) < 0) {
			snprintf(err, errlen, "mount " NETNS_DIR ": %s", strerror(errno));
			rc = -1;
			break;
		}
		made = true;
	}
	if (lock >= 0)
		close(lock); /* releases the lock */
	return rc;
}

/* A new named network namespace; *fd refers to it. This thread is back in
 * fd_self's namespace on return. */
static int ns_add(const char *name, int fd_self, int *fd, char *err, size_t errlen)
{
	char path[128];
	snprintf(path, sizeof(path), NETNS_DIR "/%s", name);
	int f = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
	if (f < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	close(f);
	if (unshare(CLONE_NEWNET) < 0) {
		snprintf(err, errlen, "unshare(CLONE_NEWNET): %s", strerror(errno));
		unlink(path);
		return -1;
	}
	int rc = 0;
	*fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (*fd < 0 || mount("/proc/thread-self/ns/net", path, "none", MS_BIND, NULL) < 0) {
		snprintf(err, errlen, "bind mount %s: %s", path, strerror(errno));
		unlink(path);
		rc = -1;
	}
	if (setns(fd_self, CLONE_NEWNET) < 0 && !rc) {
		snprintf(err, errlen, "setns: %s", strerror(errno));
		rc = -1;
	}
	if (rc < 0 && *fd >= 0) {
		close(*fd);
		*fd = -1;
	}
	return rc;
}

/* What `ip netns del` does: detach the bind mount, remove the file. The
 * namespace dies with its last reference (our fds are closed first). */
static void ns_del(const char *name)
{
	char path[sizeof(NETNS_DIR) + 256 + 1];
	snprintf(path, sizeof(path), NETNS_DIR "/%s", name);
	umount2(path, MNT_DETACH);
	unlink(path);
}

/* Namespaces an earlier ktrace left behind when it was killed (SIGKILL
 * leaves no chance to clean up): ktrace-trace-PID-node|client whose PID
 * no longer exists. A live process's namespaces are never touched. */
static void sweep_stale(void)
{
	DIR *dir = opendir(NETNS_DIR);
	if (!dir)
		return;
	struct dirent *e;
	while ((e = readdir(dir)) != NULL) {
		int pid = 0, end = 0;
		char role[16];
		if (sscanf(e->d_name, "ktrace-trace-%d-%15[a-z]%n", &pid, role, &end) != 2 || e->d_name[end] || pid <= 0 ||
		    (strcmp(role, "node") && strcmp(role, "client")))
			continue;
		if (kill(pid, 0) == 0 || errno != ESRCH)
			continue;
		ns_del(e->d_name);
	}
	closedir(dir);
}

int kt_lab_enter(struct kt_lab *l, int which)
{
	return setns(which == KT_LAB_NODE ? l->fd_node : which == KT_LAB_CLIENT ? l->fd_cli : l->fd_self,
		     CLONE_NEWNET);
}

/* ---- links, addresses, routes (rtnetlink through the netlink layer) -- */

struct rt {
	struct kt_nl *nl;
	char *err;
	size_t errlen;
};

/* Send one libnl-built request, wait for its ACK; frees m. */
static int rt_send(struct rt *r, struct nl_msg *m, int build_rc, const char *what)
{
	if (build_rc < 0 || !m) {
		snprintf(r->err, r->errlen, "%s: %s", what, nl_geterror(build_rc));
		if (m)
			nlmsg_free(m);
		return -1;
	}
	nlmsg_hdr(m)->nlmsg_flags |= NLM_F_ACK;
	char e[256] = "";
	int rc = kt_nl_request(r->nl, m, NULL, NULL, NULL, e, sizeof(e));
	nlmsg_free(m);
	if (rc < 0) {
		snprintf(r->err, r->errlen, "%s: %s", what, e);
		return -1;
	}
	return 0;
}

/* Link index (this thread's namespace) up, with extra flags (IFF_NOARP). */
static int link_up(struct rt *r, const char *name, unsigned extra)
{
	int ix = (int)if_nametoindex(name);
	if (!ix) {
		snprintf(r->err, r->errlen, "link %s: %s", name, strerror(errno));
		return -1;
	}
	struct rtnl_link *l = rtnl_link_alloc();
	if (!l)
		kt_oom();
	rtnl_link_set_ifindex(l, ix);
	rtnl_link_set_flags(l, IFF_UP | extra);
	struct nl_msg *m = NULL;
	int b = rtnl_link_build_add_request(l, 0, &m);
	rtnl_link_put(l);
	char what[64];
	snprintf(what, sizeof(what), "set %s up", name);
	return rt_send(r, m, b, what);
}

/* A veth pair: name here, peer in namespace peer_ns (fd) as peer_name. */
static int veth(struct rt *r, const char *name, const char *peer_name, int peer_ns)
{
	struct rtnl_link *l = rtnl_link_veth_alloc();
	if (!l)
		kt_oom();
	rtnl_link_set_name(l, name);
	struct rtnl_link *peer = rtnl_link_veth_get_peer(l);
	rtnl_link_set_name(peer, peer_name);
	rtnl_link_set_ns_fd(peer, peer_ns);
	rtnl_link_put(peer);
	struct nl_msg *m = NULL;
	int b = rtnl_link_build_add_request(l, NLM_F_CREATE | NLM_F_EXCL, &m);
	rtnl_link_veth_release(l);
	char what[64];
	snprintf(what, sizeof(what), "veth %s", name);
	return rt_send(r, m, b, what);
}

static struct nl_addr *addr_of(const char *ip, int plen)
{
	int fam = strchr(ip, ':') ? AF_INET6 : AF_INET;
	unsigned char raw[16];
	if (inet_pton(fam, ip, raw) != 1)
		return NULL;
	struct nl_addr *a = nl_addr_build(fam, raw, fam == AF_INET ? 4 : 16);
	if (!a)
		kt_oom();
	nl_addr_set_prefixlen(a, plen < 0 ? (fam == AF_INET ? 32 : 128) : plen);
	return a;
}

/* ip addr add IP/32 (/128, nodad) dev NAME */
static int addr_add(struct rt *r, const char *ip, const char *dev)
{
	struct nl_addr *a = addr_of(ip, -1);
	if (!a) {
		snprintf(r->err, r->errlen, "address '%s' is not IPv4 or IPv6", ip);
		return -1;
	}
	struct rtnl_addr *ra = rtnl_addr_alloc();
	if (!ra)
		kt_oom();
	rtnl_addr_set_ifindex(ra, (int)if_nametoindex(dev));
	rtnl_addr_set_family(ra, nl_addr_get_family(a));
	rtnl_addr_set_local(ra, a);
	if (nl_addr_get_family(a) == AF_INET6)
		rtnl_addr_set_flags(ra, IFA_F_NODAD); /* usable at once, no duplicate detection */
	nl_addr_put(a);
	struct nl_msg *m = NULL;
	int b = rtnl_addr_build_add_request(ra, NLM_F_CREATE | NLM_F_EXCL, &m);
	rtnl_addr_put(ra);
	char what[128];
	snprintf(what, sizeof(what), "address %s on %s", ip, dev);
	return rt_send(r, m, b, what);
}

/* ip route add DST (NULL: default of family fam) [via GW] dev NAME */
static int route_add(struct rt *r, int fam, const char *dst, const char *gw, const char *dev)
{
	struct rtnl_route *rr = rtnl_route_alloc();
	struct rtnl_nexthop *nh = rtnl_route_nh_alloc();
	if (!rr || !nh)
		kt_oom();
	struct nl_addr *d = dst ? addr_of(dst, -1) : NULL;
	if (!d) {
		unsigned char zero[16] = {0};
		d = nl_addr_build(fam, zero, fam == AF_INET ? 4 : 16);
		if (!d)
			kt_oom();
		nl_addr_set_prefixlen(d, 0);
	}
	rtnl_route_set_family(rr, (uint8_t)fam);
	rtnl_route_set_dst(rr, d);
	nl_addr_put(d);
	rtnl_route_set_table(rr, RT_TABLE_MAIN);
	rtnl_route_set_protocol(rr, RTPROT_BOOT);
	rtnl_route_set_scope(rr, gw ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK);
	rtnl_route_nh_set_ifindex(nh, (int)if_nametoindex(dev));
	if (gw) {
		struct nl_addr *g = addr_of(gw, -1);
		if (g) {
			rtnl_route_nh_set_gateway(nh, g);
			nl_addr_put(g);
		}
	}
	rtnl_route_add_nexthop(rr, nh);
	struct nl_msg *m = NULL;
	int b = rtnl_route_build_add_request(rr, NLM_F_CREATE | NLM_F_EXCL, &m);
	rtnl_route_put(rr);
	char what[160];
	snprintf(what, sizeof(what), "route %s%s%s dev %s", dst ? dst : "default", gw ? " via " : "", gw ? gw : "", dev);
	return rt_send(r, m, b, what);
}

static int put_sysctl(const char *path, const char *v)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = write(fd, v, strlen(v));
	close(fd);
	return n == (ssize_t)strlen(v) ? 0 : -1;
}

static bool is_v6(const char *ip)
{
	return strchr(ip, ':') != NULL;
}

/* The node namespace (this thread is in it): loopback with the node's
 * addresses, the veth to the client, the Pod network veth (the default
 * route; ARP off: what goes there needs no neighbour), forwarding on,
 * reverse-path filtering off (as a node routes Pod traffic). */
static int node_side(struct kt_lab *l, const struct kt_lab_cfg *c, struct rt *r)
{
	bool v6 = is_v6(c->src);
	int fam = v6 ? AF_INET6 : AF_INET;
	if (link_up(r, "lo", 0) < 0 || veth(r, KT_LAB_IF_PODS, "pods", l->fd_cli) < 0 ||
	    link_up(r, KT_LAB_IF_PODS, IFF_NOARP) < 0)
		return -1;
	if (!c->src_on_node && (veth(r, KT_LAB_IF_CLI, "eth0", l->fd_cli) < 0 || link_up(r, KT_LAB_IF_CLI, 0) < 0 ||
				addr_add(r, v6 ? KT_LAB_GW6 : KT_LAB_GW, KT_LAB_IF_CLI) < 0))
		return -1;
	for (unsigned i = 0; i < c->n_addrs; i++)
		if (addr_add(r, c->addrs[i], "lo") < 0)
			return -1;
	if (!c->src_on_node && route_add(r, fam, c->src, NULL, KT_LAB_IF_CLI) < 0)
		return -1;
	if (route_add(r, fam, NULL, NULL, KT_LAB_IF_PODS) < 0)
		return -1;
	int bad = v6 ? put_sysctl("/proc/sys/net/ipv6/conf/all/forwarding", "1")
		     : put_sysctl("/proc/sys/net/ipv4/ip_forward", "1");
	put_sysctl("/proc/sys/net/ipv4/conf/all/rp_filter", "0");
	put_sysctl("/proc/sys/net/ipv4/conf/" KT_LAB_IF_CLI "/rp_filter", "0");
	if (bad) {
		snprintf(r->err, r->errlen, "cannot enable forwarding in the scratch namespace: %s", strerror(errno));
		return -1;
	}
	l->if_pods = if_nametoindex(KT_LAB_IF_PODS);
	l->if_cli = c->src_on_node ? 0 : if_nametoindex(KT_LAB_IF_CLI);
	l->if_node = if_nametoindex("lo");
	return 0;
}

/* The client namespace: the probe's source on eth0, the node as gateway;
 * the Pod network's far end sits here unaddressed (forwarding off: what
 * arrives is dropped). */
static int client_side(const struct kt_lab_cfg *c, struct rt *r)
{
	bool v6 = is_v6(c->src);
	int fam = v6 ? AF_INET6 : AF_INET;
	const char *gw = v6 ? KT_LAB_GW6 : KT_LAB_GW;
	if (link_up(r, "lo", 0) < 0 || link_up(r, "pods", IFF_NOARP) < 0)
		return -1;
	if (c->src_on_node)
		return 0;
	if (link_up(r, "eth0", 0) < 0 || addr_add(r, c->src, "eth0") < 0 || route_add(r, fam, gw, NULL, "eth0") < 0 ||
	    route_add(r, fam, NULL, gw, "eth0") < 0)
		return -1;
	return 0;
}

/* Open an rtnetlink socket in namespace which and run fn there. */
static int in_ns(struct kt_lab *l, int which, const struct kt_lab_cfg *c, char *err, size_t errlen,
		 int (*fn)(struct kt_lab *, const struct kt_lab_cfg *, struct rt *))
{
	if (kt_lab_enter(l, which) < 0) {
		snprintf(err, errlen, "setns: %s", strerror(errno));
		return -1;
	}
	struct rt r = {.err = err, .errlen = errlen};
	struct kt_nl_opts o = {.timeout_ms = 5000, .rcvbuf = 1 << 20};
	r.nl = kt_nl_open(NETLINK_ROUTE, &o, err, errlen);
	int rc = r.nl ? fn(l, c, &r) : -1;
	kt_nl_close(r.nl);
	if (kt_lab_enter(l, KT_LAB_SELF) < 0 && !rc) {
		snprintf(err, errlen, "setns back: %s", strerror(errno));
		rc = -1;
	}
	return rc;
}

static int client_fn(struct kt_lab *l, const struct kt_lab_cfg *c, struct rt *r)
{
	(void)l;
	return client_side(c, r);
}

int kt_lab_create(struct kt_lab *l, const struct kt_lab_cfg *c, char *err, size_t errlen)
{
	memset(l, 0, sizeof(*l));
	l->fd_node = l->fd_cli = -1;
	l->fd_self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (l->fd_self < 0) {
		snprintf(err, errlen, "/proc/thread-self/ns/net: %s", strerror(errno));
		return -1;
	}
	snprintf(l->ns_node, sizeof(l->ns_node), "ktrace-trace-%d-node", (int)getpid());
	snprintf(l->ns_cli, sizeof(l->ns_cli), "ktrace-trace-%d-client", (int)getpid());
	if (netns_dir(err, errlen) < 0)
		return -1;
	sweep_stale();
	if (ns_add(l->ns_node, l->fd_self, &l->fd_node, err, errlen) < 0)
		return -1;
	l->made_node = true;
	if (ns_add(l->ns_cli, l->fd_self, &l->fd_cli, err, errlen) < 0)
		return -1;
	l->made_cli = true;
	if (in_ns(l, KT_LAB_NODE, c, err, errlen, node_side) < 0)
		return -1;
	return in_ns(l, KT_LAB_CLIENT, c, err, errlen, client_fn);
}

void kt_lab_destroy(struct kt_lab *l)
{
	if (l->fd_self >= 0)
		setns(l->fd_self, CLONE_NEWNET);
	if (l->fd_node >= 0)
		close(l->fd_node);
	if (l->fd_cli >= 0)
		close(l->fd_cli);
	if (l->fd_self >= 0)
		close(l->fd_self);
	l->fd_node = l->fd_cli = l->fd_self = -1;
	if (l->made_cli)
		ns_del(l->ns_cli);
	if (l->made_node)
		ns_del(l->ns_node);
	l->made_cli = l->made_node = false;
}
