/*
 * Bundle writer. Streams a header, then one sanitised API object per line
 * as collectors hand them over, then node dataplane state, flow samples and
 * gaps from the finished snapshot; gzip (zlib) when the name ends in ".gz".
 *
 * The bundle is written to a new temporary file beside the target (O_EXCL,
 * mode 0600, close-on-exec) and renamed over the target only when complete,
 * so a failure (API unreachable, disk full) leaves the target as it was and
 * removes only the temporary file. The target must be a regular file or not
 * exist ("-" writes to stdout): ktrace never writes through a symbolic
 * link, to a device or FIFO, and never removes a path the user named.
 * Owns the files it creates; prints nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "ktrace/bundle.h"
#include "ktrace/fleet.h"
#include "ktrace/jsonw.h"
#include "ktrace/xalloc.h"
#include "collectors/codec/codec.h"

struct kt_bundle_writer {
	FILE *fp;                /* plain output (or stdout) */
	gzFile gz;               /* compressed output */
	int fd;                  /* the temporary file; -1 for stdout */
	char *path;              /* target as named; NULL for stdout */
	char *tmp;               /* temporary file beside it */
	bool err;
	int err_no;              /* errno of the first failed write */
	unsigned long n_objects;
};

static int bw_write(void *ctx, const char *buf, size_t len)
{
	struct kt_bundle_writer *bw = ctx;
	if (bw->err)
		return -1;
	if (bw->gz) {
		while (len) {
			unsigned chunk = len > (1u << 30) ? (1u << 30) : (unsigned)len;
			if (gzwrite(bw->gz, buf, chunk) != (int)chunk) {
				int ze;
				gzerror(bw->gz, &ze);
				bw->err_no = ze == Z_ERRNO && errno ? errno : EIO;
				bw->err = true;
				return -1;
			}
			buf += chunk;
			len -= chunk;
		}
		return 0;
	}
	if (fwrite(buf, 1, len, bw->fp) != len) {
		bw->err_no = errno ? errno : EIO;
		bw->err = true;
		return -1;
	}
	return 0;
}

static bool ends_with(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);
	return a >= b && !strcmp(s + a - b, suf);
}

static void fmt_time(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void bw_free(struct kt_bundle_writer *bw)
{
	free(bw->path);
	free(bw->tmp);
	free(bw);
}

/* The target must be absent or a regular file. */
int kt_bundle_check_target(const char *path, struct kt_diag *d)
{
	if (!strcmp(path, "-"))
		return 0;
	struct stat st;
	if (lstat(path, &st) < 0)
		return 0; /* absent (or unreadable dir: creating the temp file reports it) */
	if (S_ISREG(st.st_mode))
		return 0;
	const char *what = S_ISLNK(st.st_mode)	? "a symbolic link"
			   : S_ISDIR(st.st_mode) ? "a directory"
			   : S_ISCHR(st.st_mode) ? "a character device"
			   : S_ISBLK(st.st_mode) ? "a block device"
			   : S_ISFIFO(st.st_mode) ? "a FIFO"
			   : S_ISSOCK(st.st_mode) ? "a socket"
						  : "not a regular file";
	kt_diag_set(d, KT_EXIT_USAGE, "refusing to write bundle '%s': it is %s", path, what);
	kt_diag_hint(d, "name a new or regular file (the bundle replaces it when complete), or '-' for stdout");
	return -KT_EXIT_USAGE;
}

/* Create the temporary file "<dir>/.<name>.XXXXXX" (O_EXCL, 0600). */
static int open_temp(struct kt_bundle_writer *bw, struct kt_diag *d)
{
	const char *slash = strrchr(bw->path, '/');
	size_t dl = slash ? (size_t)(slash - bw->path) + 1 : 0;
	const char *base = slash ? slash + 1 : bw->path;
	size_t n = dl + strlen(base) + 16;
	bw->tmp = kt_xmalloc(n);
	snprintf(bw->tmp, n, "%.*s.%s.XXXXXX", (int)dl, bw->path, base);
	bw->fd = mkostemp(bw->tmp, O_CLOEXEC);
	if (bw->fd < 0) {
		int e = errno;
		free(bw->tmp);
		bw->tmp = NULL; /* nothing was created: nothing to remove */
		kt_diag_set(d, KT_EXIT_INPUT, "cannot write bundle '%s': cannot create a file in its directory: %s",
			    bw->path, strerror(e));
		kt_diag_hint(d, "check that the directory exists and is writable");
		return -KT_EXIT_INPUT;
	}
	fchmod(bw->fd, 0600);
	if (ends_with(bw->path, ".gz")) {
		int fd2 = fcntl(bw->fd, F_DUPFD_CLOEXEC, 0);
		bw->gz = fd2 >= 0 ? gzdopen(fd2, "wb6") : NULL;
		if (!bw->gz) {
			if (fd2 >= 0)
				close(fd2);
			return kt_diag_set(d, KT_EXIT_INPUT, "cannot start gzip stream for '%s'", bw->path);
		}
	} else {
		bw->fp = fdopen(bw->fd, "wb");
		if (!bw->fp)
			return kt_diag_set(d, KT_EXIT_INPUT, "cannot write bundle '%s': %s", bw->path, strerror(errno));
		bw->fd = -1; /* owned by fp now */
	}
	return 0;
}

static void write_header(struct kt_bundle_writer *bw, const struct kt_snapshot *meta)
{
	struct kt_jw *w = kt_jw_new_sink(bw_write, bw, false);
	char ts[40];
	fmt_time(meta && meta->taken ? meta->taken : (int64_t)time(NULL), ts, sizeof(ts));
	/* header without closing brace: written by hand around the writer */
	bw_write(bw, "{", 1);
	kt_jw_kstr(w, "kind", "KtraceBundle");
	kt_jw_free(w);
	w = kt_jw_new_sink(bw_write, bw, false);
	char hdr[64];
	int n = snprintf(hdr, sizeof(hdr), ",\"version\":%d,\"created\":", KT_BUNDLE_VERSION);
	bw_write(bw, hdr, (size_t)n);
	kt_jw_str(w, ts);
	kt_jw_free(w);
	bw_write(bw, ",\"source\":", 10);
	w = kt_jw_new_sink(bw_write, bw, false);
	kt_jw_obj(w);
	kt_jw_kstr(w, "generator", "ktrace " KT_VERSION);
	if (meta) {
		kt_jw_kstr(w, "context", meta->context);
		kt_jw_kstr(w, "server", meta->origin);
		kt_jw_kstr(w, "clusterVersion", meta->cluster_version);
	}
	kt_jw_obj_end(w);
	kt_jw_free(w);
	bw_write(bw, ",\n\"objects\":[", 13);
}

int kt_bundle_create(const char *path, const struct kt_snapshot *meta, struct kt_bundle_writer **out,
		     struct kt_diag *d)
{
	struct kt_bundle_writer *bw = kt_xcalloc(1, sizeof(*bw));
	bw->fd = -1;
	if (!strcmp(path, "-")) {
		bw->fp = stdout;
	} else {
		int rc = kt_bundle_check_target(path, d);
		bw->path = kt_xstrdup(path);
		if (rc == 0)
			rc = open_temp(bw, d);
		if (rc < 0) {
			kt_bundle_abort(bw);
			return rc;
		}
	}
	write_header(bw, meta);
	if (bw->err) {
		int e = bw->err_no;
		kt_bundle_abort(bw);
		return kt_diag_set(d, KT_EXIT_INPUT, "cannot write bundle '%s': %s", path, strerror(e));
	}
	*out = bw;
	return 0;
}

int kt_bundle_add_raw(struct kt_bundle_writer *bw, const char *json, size_t n)
{
	if (bw->n_objects++)
		bw_write(bw, ",\n", 2);
	else
		bw_write(bw, "\n", 1);
	bw_write(bw, json, n);
	return bw->err ? -1 : 0;
}

int kt_bundle_errno(const struct kt_bundle_writer *bw)
{
	return bw && bw->err ? (bw->err_no ? bw->err_no : EIO) : 0;
}

/* Flush and close; the data is on disk when this returns 0. */
static int bw_close(struct kt_bundle_writer *bw)
{
	int rc = bw->err ? -1 : 0;
	if (bw->gz) {
		int zr = gzclose(bw->gz);
		if (zr != Z_OK && !bw->err) {
			bw->err_no = zr == Z_ERRNO && errno ? errno : EIO;
			rc = -1;
		}
	} else if (bw->fp) {
		if (fflush(bw->fp) != 0 && !bw->err) {
			bw->err_no = errno ? errno : EIO;
			rc = -1;
		}
		if (bw->fp != stdout) {
			if (rc == 0 && fsync(fileno(bw->fp)) < 0) {
				bw->err_no = errno;
				rc = -1;
			}
			if (fclose(bw->fp) != 0 && rc == 0) {
				bw->err_no = errno ? errno : EIO;
				rc = -1;
			}
		}
	}
	if (bw->fd >= 0) {
		if (rc == 0 && fsync(bw->fd) < 0) {
			bw->err_no = errno;
			rc = -1;
		}
		close(bw->fd);
	}
	bw->gz = NULL;
	bw->fp = NULL;
	bw->fd = -1;
	return rc;
}

/* --nodes: the majority node state once, then per node its deviations
 * (ktrace-bundle(5) "fleetMajority", "fleetNodes"). */
static void write_fleet(struct kt_bundle_writer *bw, const struct kt_fleet *f)
{
	bw_write(bw, ",\n\"fleetMajority\":", strlen(",\n\"fleetMajority\":"));
	struct kt_jw *w = kt_jw_new_sink(bw_write, bw, false);
	struct kt_dp_node m = f->majority;
	m.node = "(majority)";
	kt_jw_obj(w);
	kt_jw_kstr(w, "agentNamespace", f->agent_namespace);
	kt_jw_kint(w, "services", f->n_keys);
	kt_jw_kint(w, "deviating", f->n_deviating);
	kt_jw_kint(w, "nodesAsked", f->n_asked);
	kt_jw_key(w, "state");
	kt_dp_node_to_json(w, &m, NULL);
	kt_jw_obj_end(w);
	kt_jw_free(w);
	bw_write(bw, ",\n\"fleetNodes\":", strlen(",\n\"fleetNodes\":"));
	w = kt_jw_new_sink(bw_write, bw, false);
	kt_jw_arr(w);
	for (uint32_t i = 0; i < f->n_nodes; i++) {
		const struct kt_fleet_node *n = &f->nodes[i];
		kt_jw_obj(w);
		kt_jw_kstr(w, "node", n->node);
		kt_jw_kstr(w, "pod", n->pod);
		kt_jw_kstr(w, "stateId", n->state_id);
		kt_jw_kstr(w, "agentVersion", n->agent_version);
		kt_jw_kint(w, "takenMs", n->taken_ms);
		kt_jw_key(w, "absent");
		kt_jw_arr(w);
		for (uint32_t k = 0; k < n->n_absent; k++)
			kt_jw_str(w, n->absent[k]);
		kt_jw_arr_end(w);
		kt_jw_key(w, "state");
		kt_dp_node_to_json(w, &n->dev, NULL);
		kt_jw_obj_end(w);
	}
	kt_jw_arr_end(w);
	kt_jw_free(w);
}

static void write_trailer(struct kt_bundle_writer *bw, const struct kt_snapshot *snap)
{
	bw_write(bw, "\n],\n\"nodes\":", 12);
	struct kt_jw *w = kt_jw_new_sink(bw_write, bw, false);
	kt_jw_arr(w);
	for (uint32_t i = 0; snap && i < snap->n_dp; i++)
		kt_dp_node_to_json(w, &snap->dp[i], NULL);
	kt_jw_arr_end(w);
	kt_jw_free(w);
	bw_write(bw, ",\n\"flows\":", 10);
	w = kt_jw_new_sink(bw_write, bw, false);
	kt_jw_arr(w);
	for (uint32_t i = 0; snap && i < snap->n_flows; i++)
		kt_flow_sample_to_json(w, &snap->flows[i]);
	kt_jw_arr_end(w);
	kt_jw_free(w);
	bw_write(bw, ",\n\"gaps\":", 9);
	w = kt_jw_new_sink(bw_write, bw, false);
	kt_gaps_to_json(w, snap ? snap->gaps : NULL, snap ? snap->n_gaps : 0);
	kt_jw_free(w);
	/* the kinds listed completely: their absence is evidence */
	static const char *const kinds[] = {"Service", "EndpointSlice", "Pod", "Node", "Deployment",
					    "HorizontalPodAutoscaler", "PodDisruptionBudget", "Ingress",
					    "IngressClass", "Gateway", "GatewayClass", "HTTPRoute"};
	bw_write(bw, ",\n\"listed\":", 11);
	w = kt_jw_new_sink(bw_write, bw, false);
	kt_jw_arr(w);
	for (size_t i = 0; snap && i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (snap->listed & kt_listed_bit(kinds[i]))
			kt_jw_str(w, kinds[i]);
	kt_jw_arr_end(w);
	kt_jw_free(w);
	if (snap && snap->fleet)
		write_fleet(bw, snap->fleet);
	bw_write(bw, "}\n", 2);
}

int kt_bundle_finish(struct kt_bundle_writer *bw, const struct kt_snapshot *snap, struct kt_diag *d)
{
	write_trailer(bw, snap);
	const char *path = bw->path ? bw->path : "-";
	int rc = bw_close(bw);
	if (rc == 0 && bw->tmp && rename(bw->tmp, bw->path) < 0) {
		bw->err_no = errno;
		rc = -1;
	}
	if (rc < 0) {
		kt_diag_set(d, KT_EXIT_INPUT, "cannot write bundle '%s': %s", path, strerror(bw->err_no ? bw->err_no : EIO));
		if (bw->path)
			kt_diag_hint(d, "'%s' was left as it was", path);
		if (bw->tmp)
			unlink(bw->tmp);
	}
	bw_free(bw);
	return rc < 0 ? -KT_EXIT_INPUT : 0;
}

void kt_bundle_abort(struct kt_bundle_writer *bw)
{
	if (!bw)
		return;
	bw_close(bw);
	if (bw->tmp)
		unlink(bw->tmp);
	bw_free(bw);
}
