/*
 * kube-proxy's metrics endpoint (default http://127.0.0.1:10249): GET
 * /metrics (Prometheus text: last sync and last queued timestamps, the
 * network-programming latency histogram) and GET /proxyMode, over a plain
 * TCP socket with a short timeout (500 ms connect, 1 s total) and a 16 MiB
 * body cap. Unreachable or malformed endpoints become a snapshot gap.
 * Must not: follow redirects, send anything but GET, print, judge.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "collectors/dataplane/dp_internal.h"
#include "ktrace/arena.h"

#define MAX_BODY (16u << 20)
#define BUCKET "kubeproxy_network_programming_duration_seconds_bucket{"

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* GET path from host:port; body malloc'd into *out. 0 or -1 (err filled). */
static int http_get(const char *host, const char *port, const char *path, char **out, size_t *outlen, char *err,
		    size_t el)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST};
	struct addrinfo *ai = NULL;
	if (getaddrinfo(host, port, &hints, &ai) != 0 || !ai) {
		snprintf(err, el, "bad address %s:%s", host, port);
		return -1;
	}
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		snprintf(err, el, "socket: %s", strerror(errno));
		freeaddrinfo(ai);
		return -1;
	}
	int64_t deadline = now_ms() + 1000;
	int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(ai);
	if (rc < 0 && errno != EINPROGRESS) {
		snprintf(err, el, "connect %s:%s: %s", host, port, strerror(errno));
		close(fd);
		return -1;
	}
	struct pollfd pf = {.fd = fd, .events = POLLOUT};
	if (poll(&pf, 1, 500) != 1) {
		snprintf(err, el, "connect %s:%s: timed out", host, port);
		close(fd);
		return -1;
	}
	int soerr = 0;
	socklen_t sl = sizeof(soerr);
	getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
	if (soerr) {
		snprintf(err, el, "connect %s:%s: %s", host, port, strerror(soerr));
		close(fd);
		return -1;
	}
	char req[512];
	int rl = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: %s:%s\r\nAccept: text/plain\r\nConnection: close\r\n\r\n",
			  path, host, port);
	if (send(fd, req, (size_t)rl, MSG_NOSIGNAL) != rl) {
		snprintf(err, el, "send: %s", strerror(errno));
		close(fd);
		return -1;
	}
	size_t cap = 65536, len = 0;
	char *buf = malloc(cap + 1);
	if (!buf)
		abort();
	for (;;) {
		int64_t left = deadline - now_ms();
		if (left <= 0) {
			snprintf(err, el, "read %s:%s%s: timed out", host, port, path);
			free(buf);
			close(fd);
			return -1;
		}
		pf.events = POLLIN;
		if (poll(&pf, 1, (int)left) != 1)
			continue;
		if (len == cap) {
			if (cap >= MAX_BODY) {
				snprintf(err, el, "%s: response larger than %u bytes", path, MAX_BODY);
				free(buf);
				close(fd);
				return -1;
			}
			cap *= 2;
			buf = realloc(buf, cap + 1);
			if (!buf)
				abort();
		}
		ssize_t n = recv(fd, buf + len, cap - len, 0);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = 0;
	if (len < 12 || strncmp(buf, "HTTP/", 5) != 0 || !strstr(buf, " 200")) {
		char *eol = strchr(buf, '\r');
		if (eol)
			*eol = 0;
		snprintf(err, el, "%s: %.80s", path, len ? buf : "empty reply");
		free(buf);
		return -1;
	}
	char *body = strstr(buf, "\r\n\r\n");
	body = body ? body + 4 : buf + len;
	*outlen = len - (size_t)(body - buf);
	memmove(buf, body, *outlen);
	buf[*outlen] = 0;
	*out = buf;
	return 0;
}

int kt_dp_metrics_parse(struct kt_snapshot *snap, struct kt_proxy_metrics *m, const char *buf, size_t len)
{
	double le[64];
	uint64_t cnt[64];
	uint32_t nb = 0;
	size_t off = 0;
	bool any = false;
	while (off < len) {
		const char *nl = memchr(buf + off, '\n', len - off);
		size_t l = nl ? (size_t)(nl - buf - off) : len - off;
		char line[1024];
		if (l < sizeof(line)) {
			memcpy(line, buf + off, l);
			line[l] = 0;
			char *sp = strrchr(line, ' ');
			if (line[0] != '#' && sp) {
				*sp = 0;
				char *end;
				double v = strtod(sp + 1, &end);
				const char *name = line;
				if (strcmp(name, "kubeproxy_sync_proxy_rules_last_timestamp_seconds") == 0) {
					m->last_sync = v;
					any = true;
				} else if (strcmp(name, "kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds") == 0) {
					m->last_queued = v;
					any = true;
				} else if (strcmp(name, "kubeproxy_network_programming_duration_seconds_count") == 0) {
					m->latency_count = (uint64_t)v;
					any = true;
				} else if (strcmp(name, "kubeproxy_network_programming_duration_seconds_sum") == 0) {
					m->latency_sum = v;
				} else if (strncmp(name, BUCKET, sizeof(BUCKET) - 1) == 0 &&
					   nb < 64) {
					const char *lp = strstr(name, "le=\"");
					if (lp) {
						double b = strncmp(lp + 4, "+Inf", 4) == 0 ? 1e300 : strtod(lp + 4, NULL);
						le[nb] = b;
						cnt[nb++] = (uint64_t)v;
					}
				}
			}
		}
		off += l + 1;
	}
	if (nb) {
		m->bucket_le = KT_ANEW(snap->arena, double, nb);
		m->bucket_count = KT_ANEW(snap->arena, uint64_t, nb);
		memcpy(m->bucket_le, le, nb * sizeof(double));
		memcpy(m->bucket_count, cnt, nb * sizeof(uint64_t));
		m->n_buckets = nb;
	}
	if (any)
		m->present = true;
	return any ? 0 : -1;
}

int kt_dp_metrics(struct kt_snapshot *snap, struct kt_dp_node *n, const struct kt_node_opts *o)
{
	char host[256] = "127.0.0.1", port[16] = "10249", err[512];
	if (o->metrics_url) {
		const char *p = o->metrics_url;
		if (strncmp(p, "http://", 7) == 0)
			p += 7;
		const char *c = strrchr(p, ':');
		const char *sl = strchr(p, '/');
		size_t hl = c ? (size_t)(c - p) : sl ? (size_t)(sl - p) : strlen(p);
		if (hl >= sizeof(host))
			hl = sizeof(host) - 1;
		memcpy(host, p, hl);
		host[hl] = 0;
		if (c)
			snprintf(port, sizeof(port), "%.*s", (int)strcspn(c + 1, "/"), c + 1);
	}
	char *body = NULL;
	size_t len = 0;
	if (http_get(host, port, "/metrics", &body, &len, err, sizeof(err)) < 0) {
		kt_snapshot_gap(snap, "kube-proxy metrics", "%s", err);
		return 0;
	}
	if (kt_dp_metrics_parse(snap, &n->metrics, body, len) < 0)
		kt_snapshot_gap(snap, "kube-proxy metrics", "no kubeproxy_* metrics at %s:%s/metrics", host, port);
	free(body);
	if (http_get(host, port, "/proxyMode", &body, &len, err, sizeof(err)) == 0) {
		size_t l = strcspn(body, "\r\n");
		n->metrics.proxy_mode = kt_intern_n(snap->arena, body, l);
		free(body);
	}
	return 0;
}
