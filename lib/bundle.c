/*
 * Bundle I/O. The writer streams: a header, then one sanitised API object
 * per line as collectors hand them over, then node dataplane state, flow
 * samples and gaps from the finished snapshot. gzip (zlib) when the file
 * name ends in ".gz".
 *
 * The loader never builds a cJSON tree of the whole document: it scans the
 * top-level object, and parses the elements of "objects" one at a time,
 * converting each into the model and freeing it at once. It also accepts a
 * plain Kubernetes List (`kubectl get ... -o json` output).
 * Owns the files it opens; prints nothing.
 */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include <cjson/cJSON.h>

#include "collectors/kube/k8s_obj.h"
#include "ktrace/bundle.h"
#include "ktrace/dataplane.h"
#include "ktrace/flows.h"
#include "ktrace/jsonw.h"
#include "lib/bundle_parts.h"

#define KT_BUNDLE_MAX (4ull << 30) /* refuse inputs above 4 GiB */

struct kt_bundle_writer {
	FILE *fp;
	gzFile gz;
	char *path;
	bool is_stdout;
	bool err;
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
				bw->err = true;
				return -1;
			}
			buf += chunk;
			len -= chunk;
		}
		return 0;
	}
	if (fwrite(buf, 1, len, bw->fp) != len) {
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

int kt_bundle_create(const char *path, const struct kt_snapshot *meta, struct kt_bundle_writer **out,
		     struct kt_diag *d)
{
	struct kt_bundle_writer *bw = calloc(1, sizeof(*bw));
	if (!bw)
		abort();
	if (!strcmp(path, "-")) {
		bw->fp = stdout;
		bw->is_stdout = true;
	} else {
		bw->path = strdup(path);
		bw->fp = fopen(path, "wb");
		if (!bw->fp) {
			int e = errno;
			free(bw->path);
			free(bw);
			kt_diag_set(d, KT_EXIT_INPUT, "cannot write bundle '%s': %s", path, strerror(e));
			kt_diag_hint(d, "check that the directory exists and is writable");
			return -KT_EXIT_INPUT;
		}
		if (ends_with(path, ".gz")) {
			int fd = dup(fileno(bw->fp));
			fclose(bw->fp);
			bw->fp = NULL;
			bw->gz = gzdopen(fd, "wb6");
			if (!bw->gz) {
				close(fd);
				free(bw->path);
				free(bw);
				return kt_diag_set(d, KT_EXIT_INPUT, "cannot start gzip stream for '%s'", path);
			}
		}
	}
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
	if (bw->err) {
		kt_bundle_abort(bw);
		return kt_diag_set(d, KT_EXIT_INPUT, "cannot write bundle '%s'", path);
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

static int bw_close(struct kt_bundle_writer *bw)
{
	int rc = bw->err ? -1 : 0;
	if (bw->gz) {
		if (gzclose(bw->gz) != Z_OK)
			rc = -1;
	} else if (bw->fp) {
		if (fflush(bw->fp) != 0)
			rc = -1;
		if (!bw->is_stdout && fclose(bw->fp) != 0)
			rc = -1;
	}
	bw->gz = NULL;
	bw->fp = NULL;
	return rc;
}

int kt_bundle_finish(struct kt_bundle_writer *bw, const struct kt_snapshot *snap, struct kt_diag *d)
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
	kt_jw_arr(w);
	for (uint32_t i = 0; snap && i < snap->n_gaps; i++) {
		kt_jw_obj(w);
		kt_jw_kstr(w, "what", snap->gaps[i].what);
		kt_jw_kstr(w, "why", snap->gaps[i].why);
		kt_jw_obj_end(w);
	}
	kt_jw_arr_end(w);
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
	bw_write(bw, "}\n", 2);
	const char *path = bw->path ? bw->path : "-";
	int rc = bw_close(bw);
	if (rc < 0) {
		kt_diag_set(d, KT_EXIT_INPUT, "cannot write bundle '%s': %s", path, strerror(errno ? errno : EIO));
		if (bw->path)
			unlink(bw->path);
	}
	free(bw->path);
	free(bw);
	return rc < 0 ? -KT_EXIT_INPUT : 0;
}

void kt_bundle_abort(struct kt_bundle_writer *bw)
{
	if (!bw)
		return;
	bw_close(bw);
	if (bw->path)
		unlink(bw->path);
	free(bw->path);
	free(bw);
}

/* ---- loading ----------------------------------------------------------- */

struct scan {
	const char *name;
	const char *buf;
	size_t len;
	size_t pos;
};

static unsigned line_of(const struct scan *s, size_t off, unsigned *col)
{
	unsigned line = 1, c = 1;
	for (size_t i = 0; i < off && i < s->len; i++) {
		if (s->buf[i] == '\n') {
			line++;
			c = 1;
		} else {
			c++;
		}
	}
	if (col)
		*col = c;
	return line;
}

static int bad(struct scan *s, size_t off, struct kt_diag *d, const char *what)
{
	unsigned col;
	unsigned line = line_of(s, off, &col);
	kt_diag_set(d, KT_EXIT_INPUT, "%s:%u:%u: invalid bundle: %s", s->name, line, col, what);
	kt_diag_hint(d, "write bundles with 'ktrace collect -f FILE'; any 'kubectl get ... -o json' List also works");
	return -KT_EXIT_INPUT;
}

static void ws(struct scan *s)
{
	while (s->pos < s->len && (s->buf[s->pos] == ' ' || s->buf[s->pos] == '\n' || s->buf[s->pos] == '\r' ||
				   s->buf[s->pos] == '\t'))
		s->pos++;
}

/* Extent of the JSON value at s->pos: sets *end past it. -1 when malformed. */
static int value_end(const struct scan *s, size_t start, size_t *end)
{
	size_t i = start;
	int depth = 0;
	bool in_str = false;
	if (i >= s->len)
		return -1;
	char c0 = s->buf[i];
	if (c0 != '{' && c0 != '[' && c0 != '"') {
		/* scalar */
		while (i < s->len && s->buf[i] != ',' && s->buf[i] != '}' && s->buf[i] != ']' && s->buf[i] != '\n')
			i++;
		*end = i;
		return 0;
	}
	for (; i < s->len; i++) {
		char c = s->buf[i];
		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"') {
				in_str = false;
				if (depth == 0) {
					*end = i + 1;
					return 0;
				}
			}
			continue;
		}
		if (c == '"')
			in_str = true;
		else if (c == '{' || c == '[')
			depth++;
		else if (c == '}' || c == ']') {
			if (--depth == 0) {
				*end = i + 1;
				return 0;
			}
			if (depth < 0)
				return -1;
		}
	}
	return -1;
}

static int parse_at(struct scan *s, size_t start, size_t end, cJSON **out, struct kt_diag *d)
{
	*out = cJSON_ParseWithLength(s->buf + start, end - start);
	if (!*out) {
		const char *ep = cJSON_GetErrorPtr();
		size_t off = start;
		if (ep && ep >= s->buf + start && ep <= s->buf + end)
			off = (size_t)(ep - s->buf);
		return bad(s, off, d, "malformed JSON");
	}
	return 0;
}

static int read_key(struct scan *s, char *key, size_t klen, struct kt_diag *d)
{
	ws(s);
	if (s->pos >= s->len || s->buf[s->pos] != '"')
		return bad(s, s->pos, d, "expected a key");
	size_t end;
	if (value_end(s, s->pos, &end) < 0)
		return bad(s, s->pos, d, "unterminated key");
	size_t n = end - s->pos - 2;
	if (n >= klen)
		n = klen - 1;
	memcpy(key, s->buf + s->pos + 1, n);
	key[n] = 0;
	s->pos = end;
	ws(s);
	if (s->pos >= s->len || s->buf[s->pos] != ':')
		return bad(s, s->pos, d, "expected ':'");
	s->pos++;
	ws(s);
	return 0;
}

/* Iterate the elements of the array at s->pos, calling fn on each parsed
 * element. */
static int each_element(struct scan *s, struct kt_snapshot *snap, const char *kind_hint,
			int (*fn)(struct kt_snapshot *, const cJSON *, const char *, struct kt_diag *),
			struct kt_diag *d)
{
	if (s->pos >= s->len || s->buf[s->pos] != '[')
		return bad(s, s->pos, d, "expected an array");
	s->pos++;
	for (;;) {
		ws(s);
		if (s->pos < s->len && s->buf[s->pos] == ']') {
			s->pos++;
			return 0;
		}
		size_t end;
		size_t start = s->pos;
		if (value_end(s, start, &end) < 0)
			return bad(s, start, d, "truncated array element");
		cJSON *e;
		int rc = parse_at(s, start, end, &e, d);
		if (rc < 0)
			return rc;
		rc = fn(snap, e, kind_hint, d);
		cJSON_Delete(e);
		if (rc < 0) {
			char msg[sizeof(d->msg)];
			memcpy(msg, d->msg, sizeof(msg));
			kt_diag_reset(d);
			return bad(s, start, d, msg);
		}
		s->pos = end;
		ws(s);
		if (s->pos < s->len && s->buf[s->pos] == ',') {
			s->pos++;
			continue;
		}
		if (s->pos < s->len && s->buf[s->pos] == ']') {
			s->pos++;
			return 0;
		}
		return bad(s, s->pos, d, "expected ',' or ']' in array");
	}
}

static int ingest_obj(struct kt_snapshot *snap, const cJSON *o, const char *hint, struct kt_diag *d)
{
	return kt_obj_ingest(snap, o, hint, NULL, d);
}

static int ingest_node(struct kt_snapshot *snap, const cJSON *o, const char *hint, struct kt_diag *d)
{
	return kt_dp_node_from_json(snap, o, d);
}

static int ingest_flow(struct kt_snapshot *snap, const cJSON *o, const char *hint, struct kt_diag *d)
{
	return kt_flow_sample_from_json(snap, o, d);
}

static int ingest_gap(struct kt_snapshot *snap, const cJSON *o, const char *hint, struct kt_diag *d)
{
	const cJSON *w = cJSON_GetObjectItemCaseSensitive(o, "what");
	const cJSON *y = cJSON_GetObjectItemCaseSensitive(o, "why");
	if (cJSON_IsString(w) && cJSON_IsString(y))
		kt_snapshot_gap(snap, w->valuestring, "%s", y->valuestring);
	return 0;
}

static int load_buf(const char *name, const char *buf, size_t len, struct kt_snapshot *snap, struct kt_diag *d)
{
	struct scan s = {.name = name, .buf = buf, .len = len};
	ws(&s);
	if (s.pos >= s.len)
		return bad(&s, 0, d, "empty file");
	if (s.buf[s.pos] != '{')
		return bad(&s, s.pos, d, "not a JSON object");
	s.pos++;
	char kind[128] = "";
	long version = -1;
	bool is_bundle = false, saw_items = false;
	size_t items_at = 0;
	for (;;) {
		ws(&s);
		if (s.pos < s.len && s.buf[s.pos] == '}')
			break;
		char key[64];
		int rc = read_key(&s, key, sizeof(key), d);
		if (rc < 0)
			return rc;
		size_t start = s.pos, end;
		if (!strcmp(key, "objects")) {
			if (!is_bundle || version < 0)
				return bad(&s, start, d, "\"kind\": \"KtraceBundle\" and \"version\" must come before \"objects\"");
			rc = each_element(&s, snap, NULL, ingest_obj, d);
		} else if (!strcmp(key, "items")) {
			/* kubectl writes "items" before "kind": read them at the end */
			if (value_end(&s, start, &end) < 0)
				return bad(&s, start, d, "truncated \"items\"");
			items_at = start;
			saw_items = true;
			s.pos = end;
		} else if (!strcmp(key, "nodes") && is_bundle) {
			rc = each_element(&s, snap, NULL, ingest_node, d);
		} else if (!strcmp(key, "flows") && is_bundle) {
			rc = each_element(&s, snap, NULL, ingest_flow, d);
		} else if (!strcmp(key, "gaps") && is_bundle) {
			rc = each_element(&s, snap, NULL, ingest_gap, d);
		} else {
			if (value_end(&s, start, &end) < 0)
				return bad(&s, start, d, "truncated value");
			cJSON *v;
			rc = parse_at(&s, start, end, &v, d);
			if (rc < 0)
				return rc;
			if (!strcmp(key, "kind") && cJSON_IsString(v)) {
				snprintf(kind, sizeof(kind), "%s", v->valuestring);
				is_bundle = !strcmp(kind, "KtraceBundle");
				if (!is_bundle && strcmp(kind, "List") && !(strlen(kind) > 4 && ends_with(kind, "List"))) {
					cJSON_Delete(v);
					return bad(&s, start, d, "kind is neither KtraceBundle nor a Kubernetes List");
				}
			} else if (!strcmp(key, "version")) {
				if (!cJSON_IsNumber(v)) {
					cJSON_Delete(v);
					return bad(&s, start, d, "\"version\" is not a number");
				}
				version = v->valuedouble >= 0 && v->valuedouble < 1e9 ? (long)v->valuedouble : 999999999;
				if (version != KT_BUNDLE_VERSION) {
					cJSON_Delete(v);
					unsigned col;
					unsigned line = line_of(&s, start, &col);
					kt_diag_set(d, KT_EXIT_INPUT,
						    "%s:%u:%u: bundle version %ld is not supported (this ktrace reads version %d)",
						    name, line, col, version, KT_BUNDLE_VERSION);
					kt_diag_hint(d, "collect the bundle again with this ktrace version");
					return -KT_EXIT_INPUT;
				}
			} else if (!strcmp(key, "listed") && cJSON_IsArray(v)) {
				const cJSON *e;
				cJSON_ArrayForEach(e, v)
				{
					if (cJSON_IsString(e))
						snap->listed |= kt_listed_bit(e->valuestring);
				}
			} else if (!strcmp(key, "created") && cJSON_IsString(v)) {
				struct tm tm;
				memset(&tm, 0, sizeof(tm));
				if (strptime(v->valuestring, "%Y-%m-%dT%H:%M:%S", &tm))
					snap->taken = (int64_t)timegm(&tm);
			} else if (!strcmp(key, "source") && cJSON_IsObject(v)) {
				const cJSON *x = cJSON_GetObjectItemCaseSensitive(v, "context");
				if (cJSON_IsString(x))
					snap->context = kt_intern(snap->arena, x->valuestring);
				x = cJSON_GetObjectItemCaseSensitive(v, "server");
				if (cJSON_IsString(x))
					snap->origin = kt_intern(snap->arena, x->valuestring);
				x = cJSON_GetObjectItemCaseSensitive(v, "clusterVersion");
				if (cJSON_IsString(x))
					snap->cluster_version = kt_intern(snap->arena, x->valuestring);
			}
			cJSON_Delete(v);
			s.pos = end;
		}
		if (rc < 0)
			return rc;
		ws(&s);
		if (s.pos < s.len && s.buf[s.pos] == ',') {
			s.pos++;
			continue;
		}
		if (s.pos < s.len && s.buf[s.pos] == '}')
			break;
		return bad(&s, s.pos, d, s.pos >= s.len ? "truncated (unexpected end of file)" : "expected ',' or '}'");
	}
	if (!kind[0])
		return bad(&s, 0, d, "no \"kind\" (expected KtraceBundle or a Kubernetes List)");
	if (is_bundle && version < 0)
		return bad(&s, 0, d, "no \"version\"");
	if (!saw_items && !is_bundle)
		return bad(&s, 0, d, "a List without \"items\"");
	if (saw_items) {
		char hintbuf[128];
		const char *hint = kt_kind_from_list(kind, hintbuf, sizeof(hintbuf));
		/* a typed list (PodList) holds every object of its kind that was
		 * asked for; a plain List only what someone put in it */
		if (hint && *hint)
			snap->listed |= kt_listed_bit(hint);
		s.pos = items_at;
		return each_element(&s, snap, hint && *hint ? hint : NULL, ingest_obj, d);
	}
	return 0;
}

int kt_bundle_load_mem(const char *name, const char *buf, size_t len, struct kt_snapshot **out, struct kt_diag *d)
{
	struct kt_snapshot *snap = kt_snapshot_new();
	snap->source = kt_intern(snap->arena, "bundle");
	snap->origin = kt_intern(snap->arena, name);
	int rc = load_buf(name, buf, len, snap, d);
	if (rc < 0) {
		kt_snapshot_free(snap);
		return rc;
	}
	kt_snapshot_finish(snap);
	*out = snap;
	return 0;
}

extern const char kt_demo_bundle[];
extern const char kt_demo_bundle_end[];

/* Read a whole (possibly gzip'd) file; gzread handles plain files too. */
static int slurp(const char *from, char **buf, size_t *len, struct kt_diag *d)
{
	gzFile gz;
	int fd = -1;
	if (!strcmp(from, "-"))
		fd = dup(0);
	else
		fd = open(from, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		kt_diag_set(d, e == ENOENT ? KT_EXIT_NOTFOUND : KT_EXIT_INPUT, "cannot read bundle '%s': %s", from,
			    strerror(e));
		kt_diag_hint(d, "write one with 'ktrace collect -f FILE', or use '--from demo'");
		return -d->code;
	}
	gz = gzdopen(fd, "rb");
	if (!gz) {
		close(fd);
		return kt_diag_set(d, KT_EXIT_INPUT, "cannot read bundle '%s'", from);
	}
	size_t cap = 1 << 20, n = 0;
	char *b = malloc(cap);
	if (!b)
		abort();
	for (;;) {
		if (cap - n < (1 << 16)) {
			if (cap >= KT_BUNDLE_MAX) {
				free(b);
				gzclose(gz);
				return kt_diag_set(d, KT_EXIT_INPUT, "bundle '%s' is larger than 4 GiB", from);
			}
			cap *= 2;
			char *nb = realloc(b, cap);
			if (!nb)
				abort();
			b = nb;
		}
		int r = gzread(gz, b + n, (unsigned)(cap - n - 1));
		if (r < 0) {
			int ze;
			const char *msg = gzerror(gz, &ze);
			kt_diag_set(d, KT_EXIT_INPUT, "%s: cannot decompress: %s", from, msg ? msg : "error");
			free(b);
			gzclose(gz);
			return -KT_EXIT_INPUT;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	gzclose(gz);
	b[n] = 0;
	*buf = b;
	*len = n;
	return 0;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A directory of bundles and/or Kubernetes List files (*.json, *.json.gz),
 * merged into one snapshot in name order: the fixture-cluster layout. */
static int load_dir(const char *dir, struct kt_snapshot **out, struct kt_diag *d)
{
	DIR *dh = opendir(dir);
	if (!dh)
		return kt_diag_set(d, KT_EXIT_INPUT, "cannot read directory '%s': %s", dir, strerror(errno));
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	while ((de = readdir(dh))) {
		if (!ends_with(de->d_name, ".json") && !ends_with(de->d_name, ".json.gz"))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			char **nn = realloc(names, cap * sizeof(*nn));
			if (!nn)
				abort();
			names = nn;
		}
		names[n++] = strdup(de->d_name);
	}
	closedir(dh);
	if (n > 1)
		qsort(names, n, sizeof(*names), name_cmp);
	struct kt_snapshot *snap = kt_snapshot_new();
	snap->source = kt_intern(snap->arena, "bundle");
	snap->origin = kt_intern(snap->arena, dir);
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		char *buf = NULL;
		size_t len = 0;
		rc = slurp(path, &buf, &len, d);
		if (rc == 0)
			rc = load_buf(path, buf, len, snap, d);
		free(buf);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	if (rc == 0 && n == 0)
		rc = kt_diag_set(d, KT_EXIT_INPUT, "directory '%s' has no *.json bundle or List files", dir);
	if (rc < 0) {
		kt_snapshot_free(snap);
		return rc;
	}
	kt_snapshot_finish(snap);
	*out = snap;
	return 0;
}

int kt_bundle_load(const char *from, struct kt_snapshot **out, struct kt_diag *d)
{
	if (!strcmp(from, "demo")) {
		int rc = kt_bundle_load_mem("demo", kt_demo_bundle, (size_t)(kt_demo_bundle_end - kt_demo_bundle),
					    out, d);
		if (rc == 0)
			(*out)->source = kt_intern((*out)->arena, "demo");
		return rc;
	}
	struct stat st;
	if (strcmp(from, "-") && stat(from, &st) == 0 && S_ISDIR(st.st_mode))
		return load_dir(from, out, d);
	char *buf = NULL;
	size_t len = 0;
	int rc = slurp(from, &buf, &len, d);
	if (rc < 0)
		return rc;
	rc = kt_bundle_load_mem(from, buf, len, out, d);
	free(buf);
	return rc;
}
