/*
 * The scratch namespaces of `ktrace trace`: a node namespace that gets the
 * rule set, a dummy interface with the node's addresses, a dummy "Pod
 * network" interface holding the default route, and a veth to a client
 * namespace that sends the probes. Names carry the process id
 * (ktrace-trace-PID-node / -client); both are removed by kt_lab_destroy()
 * on every path (the caller calls it on success, error and interrupt).
 *
 * Also the one way this module runs a tool: kt_lab_exec() forks, enters a
 * namespace (setns), and execs iproute2 / iptables-restore / nft with the
 * given stdin, collecting stdout and stderr (bounded). Nothing runs in the
 * host's namespace but `ip netns add/del` and the read-only dumps of
 * kt_trace_host_rules(). Must not: touch the host's rules or interfaces,
 * print.
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "collectors/trace/trace_lab.h"
#include "ktrace/xalloc.h"

#define OUT_MAX (256u << 20) /* stdout of a tool (a big nft listing) */
#define ERR_MAX 4096u

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

int kt_lab_exec(int nsfd, const char *const argv[], const char *in, size_t inlen, struct kt_lab_buf *out,
		char *err, size_t errlen)
{
	int pin[2], pout[2], perr[2];
	if (pipe2(pin, O_CLOEXEC) < 0)
		goto fail;
	if (pipe2(pout, O_CLOEXEC) < 0) {
		close(pin[0]), close(pin[1]);
		goto fail;
	}
	if (pipe2(perr, O_CLOEXEC) < 0) {
		close(pin[0]), close(pin[1]), close(pout[0]), close(pout[1]);
		goto fail;
	}
	pid_t pid = fork();
	if (pid < 0) {
		close(pin[0]), close(pin[1]), close(pout[0]), close(pout[1]), close(perr[0]), close(perr[1]);
		goto fail;
	}
	if (pid == 0) {
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGPIPE, SIG_DFL);
		if (nsfd >= 0 && setns(nsfd, CLONE_NEWNET) < 0)
			_exit(126);
		dup2(pin[0], 0);
		dup2(pout[1], 1);
		dup2(perr[1], 2);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(pin[0]);
	close(pout[1]);
	close(perr[1]);
	struct kt_lab_buf eb = {0}, tmp = {0};
	if (!out)
		out = &tmp;
	size_t off = 0;
	if (!in || !inlen) {
		close(pin[1]);
		pin[1] = -1;
	} else {
		fcntl(pin[1], F_SETFL, O_NONBLOCK);
	}
	signal(SIGPIPE, SIG_IGN);
	int open_fds = 2;
	while (open_fds > 0 || pin[1] >= 0) {
		struct pollfd pf[3] = {{.fd = pout[0], .events = POLLIN}, {.fd = perr[0], .events = POLLIN},
				       {.fd = pin[1], .events = POLLOUT}};
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
				cbuf_add(i ? &eb : out, buf, (size_t)n, i ? ERR_MAX : OUT_MAX);
			} else if (n == 0 || errno != EINTR) {
				close(pf[i].fd);
				if (i)
					perr[0] = -1;
				else
					pout[0] = -1;
				open_fds--;
			}
		}
		if (pin[1] >= 0 && (pf[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
			ssize_t n = write(pin[1], in + off, inlen - off);
			if (n > 0)
				off += (size_t)n;
			if ((n < 0 && errno != EINTR && errno != EAGAIN) || off == inlen) {
				close(pin[1]);
				pin[1] = -1;
			}
		}
	}
	if (pout[0] >= 0)
		close(pout[0]);
	if (perr[0] >= 0)
		close(perr[0]);
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	int rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	if (rc && err && errlen) {
		char *e = eb.p ? eb.p : (char *)"";
		size_t l = strlen(e);
		while (l && (e[l - 1] == '\n' || e[l - 1] == ' '))
			e[--l] = 0;
		char *nl = strrchr(e, '\n'); /* the last line says most */
		if (rc == 127)
			snprintf(err, errlen, "%s: not installed", argv[0]);
		else
			snprintf(err, errlen, "%s: %s", argv[0], l ? (nl && nl[1] ? nl + 1 : e) : "failed");
	}
	kt_lab_buf_free(&eb);
	kt_lab_buf_free(&tmp);
	return rc;
fail:
	snprintf(err, errlen, "%s: %s", argv[0], strerror(errno));
	return -1;
}

/* ---- namespaces ------------------------------------------------------ */

static int ns_add(const char *name, int *fd, char *err, size_t errlen)
{
	const char *argv[] = {"ip", "netns", "add", name, NULL};
	if (kt_lab_exec(-1, argv, NULL, 0, NULL, err, errlen) != 0)
		return -1;
	char path[128];
	snprintf(path, sizeof(path), "/run/netns/%s", name);
	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* What `ip netns del` does: detach the bind mount, remove the file. The
 * namespace dies with its last reference (our fds are closed first). */
static void ns_del(const char *name)
{
	char path[128];
	snprintf(path, sizeof(path), "/run/netns/%s", name);
	umount2(path, MNT_DETACH);
	unlink(path);
}

static int batch(int nsfd, const char *script, char *err, size_t errlen)
{
	const char *argv[] = {"ip", "-batch", "-", NULL};
	return kt_lab_exec(nsfd, argv, script, strlen(script), NULL, err, errlen) == 0 ? 0 : -1;
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

int kt_lab_enter(struct kt_lab *l, int which)
{
	return setns(which == KT_LAB_NODE ? l->fd_node : which == KT_LAB_CLIENT ? l->fd_cli : l->fd_self,
		     CLONE_NEWNET);
}

int kt_lab_create(struct kt_lab *l, const char *src, const char *const *addrs, unsigned n_addrs, char *err,
		  size_t errlen)
{
	memset(l, 0, sizeof(*l));
	l->fd_node = l->fd_cli = -1;
	l->fd_self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (l->fd_self < 0) {
		snprintf(err, errlen, "/proc/self/ns/net: %s", strerror(errno));
		return -1;
	}
	snprintf(l->ns_node, sizeof(l->ns_node), "ktrace-trace-%d-node", (int)getpid());
	snprintf(l->ns_cli, sizeof(l->ns_cli), "ktrace-trace-%d-client", (int)getpid());
	if (ns_add(l->ns_node, &l->fd_node, err, errlen) < 0)
		return -1;
	l->made_node = true;
	if (ns_add(l->ns_cli, &l->fd_cli, err, errlen) < 0)
		return -1;
	l->made_cli = true;
	char *s = NULL;
	size_t sn = 0;
	FILE *f = open_memstream(&s, &sn);
	if (!f)
		kt_oom();
	/* this kernel may lack the dummy driver: the node's addresses go on lo,
	 * the Pod network is a veth whose peer sits unaddressed in the client
	 * namespace (forwarding off there: what arrives is dropped) */
	fprintf(f, "link set lo up\n"
		   "link add " KT_LAB_IF_CLI " type veth peer name eth0 netns %s\n"
		   "link add " KT_LAB_IF_PODS " type veth peer name pods netns %s\n"
		   "link set " KT_LAB_IF_PODS " arp off\n"
		   "addr add " KT_LAB_GW "/32 dev " KT_LAB_IF_CLI "\n",
		l->ns_cli, l->ns_cli);
	for (unsigned i = 0; i < n_addrs; i++)
		fprintf(f, "addr add %s/32 dev lo\n", addrs[i]);
	fprintf(f, "link set " KT_LAB_IF_CLI " up\nlink set " KT_LAB_IF_PODS " up\n"
		   "route add %s/32 dev " KT_LAB_IF_CLI "\n"
		   "route add default dev " KT_LAB_IF_PODS "\n",
		src);
	fclose(f);
	int rc = batch(l->fd_node, s, err, errlen);
	free(s);
	if (rc < 0)
		return -1;
	char cli[512];
	snprintf(cli, sizeof(cli),
		 "link set lo up\naddr add %s/32 dev eth0\nlink set eth0 up\nlink set pods arp off\nlink set pods up\n"
		 "route add " KT_LAB_GW "/32 dev eth0\nroute add default via " KT_LAB_GW " dev eth0\n",
		 src);
	if (batch(l->fd_cli, cli, err, errlen) < 0)
		return -1;
	/* forwarding on, reverse-path filter off: as a node routes Pod traffic */
	if (kt_lab_enter(l, KT_LAB_NODE) < 0) {
		snprintf(err, errlen, "setns: %s", strerror(errno));
		return -1;
	}
	int bad = put_sysctl("/proc/sys/net/ipv4/ip_forward", "1");
	put_sysctl("/proc/sys/net/ipv4/conf/all/rp_filter", "0");
	put_sysctl("/proc/sys/net/ipv4/conf/" KT_LAB_IF_CLI "/rp_filter", "0");
	l->if_pods = if_nametoindex(KT_LAB_IF_PODS);
	l->if_cli = if_nametoindex(KT_LAB_IF_CLI);
	l->if_node = if_nametoindex("lo");
	kt_lab_enter(l, KT_LAB_SELF);
	if (bad) {
		snprintf(err, errlen, "cannot enable forwarding in the scratch namespace: %s", strerror(errno));
		return -1;
	}
	return 0;
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
