/*
 * Manifest loader: the entry points of include/ktrace/manifest.h. Turns
 * each parsed document (collectors/manifest/yaml_parse.c) into the
 * snapshot through kt_obj_ingest(), with its file and field positions;
 * names documents after Helm's "# Source:" comments on stdin; records
 * errors and warnings per file; picks sequential or threaded loading
 * (manifest_walk.c, manifest_par.c); and resolves objects defined more
 * than once (manifest_dups.c). Never prints and never judges.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collectors/kube/k8s_obj.h"
#include "collectors/manifest/manifest_int.h"
#include "ktrace/xalloc.h"

static void add_msg(struct kt_manifest_error **v, uint32_t *n, uint32_t *cap, struct kt_snapshot *snap,
		    const char *file, uint32_t line, uint32_t col, const char *msg)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 8;
		*v = kt_xreallocarray(*v, *cap, sizeof(**v));
	}
	struct kt_manifest_error *e = &(*v)[(*n)++];
	e->file = kt_intern(snap->arena, file);
	e->line = line;
	e->col = col;
	e->msg = kt_arena_strdup(snap->arena, msg);
}

void kt_mload_error(struct kt_mload *L, const char *file, uint32_t line, uint32_t col, const char *msg)
{
	add_msg(&L->r->errors, &L->r->n_errors, &L->r->cap_errors, L->snap, file, line, col, msg);
}

void kt_manifest_warn(struct kt_snapshot *snap, struct kt_manifest_result *r, const char *file, uint32_t line,
		      uint32_t col, const char *msg)
{
	add_msg(&r->warnings, &r->n_warnings, &r->cap_warnings, snap, file, line, col, msg);
}

/* snap->files index of name, added when new (hash on the interned pointer). */
static uint32_t file_index(struct kt_mload *L, const char *name)
{
	struct kt_snapshot *snap = L->snap;
	const char *in = kt_intern(snap->arena, name);
	if ((L->fn + 1) * 2 > L->fcap) {
		size_t nc = L->fcap ? L->fcap * 2 : 64;
		uint32_t *nt = kt_xmalloc(nc * sizeof(*nt));
		memset(nt, 0xff, nc * sizeof(*nt));
		for (uint32_t i = 0; i < snap->n_files; i++) {
			size_t h = (size_t)kt_hash64(KT_HASH_SEED, &snap->files[i], sizeof(char *)) & (nc - 1);
			while (nt[h] != KT_NONE)
				h = (h + 1) & (nc - 1);
			nt[h] = i;
		}
		free(L->fix);
		L->fix = nt;
		L->fcap = nc;
	}
	size_t h = (size_t)kt_hash64(KT_HASH_SEED, &in, sizeof(char *)) & (L->fcap - 1);
	while (L->fix[h] != KT_NONE) {
		if (snap->files[L->fix[h]] == in)
			return L->fix[h];
		h = (h + 1) & (L->fcap - 1);
	}
	const char **slot = KT_SNAP_PUSH(snap, files);
	*slot = in;
	L->fix[h] = snap->n_files - 1;
	L->fn++;
	return snap->n_files - 1;
}

void kt_mfile_begin(struct kt_mfile *F, struct kt_mload *L, const char *name, uint64_t bytes)
{
	memset(F, 0, sizeof(*F));
	F->L = L;
	F->name = kt_intern(L->snap->arena, name);
	F->file = file_index(L, name);
	L->r->files++;
	L->r->bytes += bytes;
}

/* Duplicate-key warnings of a document, at its (Helm-adjusted) lines. */
static void doc_warnings(struct kt_mfile *F, uint32_t file, struct kt_ypos *pos, int32_t adjust)
{
	const struct kt_yerr *w;
	unsigned n = kt_ypos_warnings(pos, &w);
	for (unsigned i = 0; i < n; i++) {
		char m[400];
		int64_t l = (int64_t)w[i].line - adjust, l2 = (int64_t)w[i].line2 - adjust;
		snprintf(m, sizeof(m), "%s: this value replaces the one at line %lld (kubectl keeps the last)", w[i].msg,
			 (long long)(l2 >= 1 ? l2 : 1));
		kt_manifest_warn(F->L->snap, F->L->r, F->L->snap->files[file], l >= 1 ? (uint32_t)l : 1, w[i].col, m);
	}
}

int kt_mfile_doc(void *ctx, cJSON *root, struct kt_ypos *pos, uint32_t first_line)
{
	struct kt_mfile *F = ctx;
	struct kt_mload *L = F->L;
	L->r->documents++;
	uint32_t file = F->file;
	int32_t adjust = 0;
	/* Helm: the last "# Source:" between the previous document and this one */
	for (size_t i = F->n_srcs; i-- > 0;) {
		if (F->srcs[i].line < first_line && F->srcs[i].line >= F->prev_doc_line) {
			file = file_index(L, F->srcs[i].name);
			adjust = (int32_t)F->srcs[i].line;
			break;
		}
	}
	pos->line_adjust = adjust;
	F->prev_doc_line = first_line;
	doc_warnings(F, file, pos, adjust);
	if (!cJSON_IsObject(root)) {
		kt_log(1, "%s:%u: skipping a document that is not a mapping", F->name, first_line);
		return 0;
	}
	const cJSON *kind = cJSON_GetObjectItemCaseSensitive(root, "kind");
	if (!cJSON_IsString(kind) || !cJSON_GetObjectItemCaseSensitive(root, "apiVersion")) {
		kt_log(1, "%s:%u: skipping a document without kind/apiVersion", F->name, first_line);
		return 0;
	}
	L->r->objects++;
	struct kt_posmap pm = {.lookup = kt_ypos_lookup, .ctx = pos, .file = file};
	struct kt_diag d = {0};
	if (kt_obj_ingest(L->snap, root, NULL, &pm, &d) < 0) {
		uint32_t l = 0, c = 0;
		kt_ypos_lookup(pos, root, &l, &c);
		kt_mload_error(L, L->snap->files[file], l, c, d.msg[0] ? d.msg : "invalid object");
	}
	return 0;
}

/* Helm's `# Source: chart/templates/x.yaml` comments (stdin only). */
static void scan_sources(struct kt_mfile *F, const char *buf, size_t len)
{
	static const char tag[] = "# Source: ";
	size_t cap = 0;
	uint32_t line = 1;
	const char *p = buf, *end = buf + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		if ((size_t)(le - p) > sizeof(tag) - 1 && !memcmp(p, tag, sizeof(tag) - 1)) {
			if (F->n_srcs == cap) {
				cap = cap ? cap * 2 : 16;
				F->srcs = kt_xreallocarray(F->srcs, cap, sizeof(*F->srcs));
			}
			const char *s = p + sizeof(tag) - 1;
			size_t n = (size_t)(le - s);
			while (n && (s[n - 1] == '\r' || s[n - 1] == ' '))
				n--;
			F->srcs[F->n_srcs].line = line;
			F->srcs[F->n_srcs].name = kt_intern_n(F->L->snap->arena, s, n);
			F->n_srcs++;
		}
		line++;
		p = nl ? nl + 1 : end;
	}
}

cJSON *kt_mjson_fallback(const char *name, const char *buf, size_t len)
{
	size_t n = strlen(name);
	bool json = n > 5 && !strcmp(name + n - 5, ".json");
	for (size_t i = 0; !json && i < len; i++) {
		if (isspace((unsigned char)buf[i]))
			continue;
		json = buf[i] == '{' || buf[i] == '[';
		break;
	}
	return json ? cJSON_ParseWithLength(buf, len) : NULL;
}

int kt_mload_buf(struct kt_mload *L, const char *name, const char *buf, size_t len, bool is_stdin)
{
	struct kt_mfile F;
	kt_mfile_begin(&F, L, name, len);
	if (is_stdin && L->o->helm_source)
		scan_sources(&F, buf, len);
	struct kt_yerrs errs = {0};
	uint32_t docs_before = L->r->documents;
	int rc = kt_yparse(buf, len, L->o->max_depth, 0, kt_mfile_doc, NULL, &F, &errs, NULL, NULL);
	free(F.srcs);
	if (rc < 0 && L->r->documents == docs_before) {
		cJSON *root = kt_mjson_fallback(name, buf, len);
		if (root) {
			struct ydoc *d = kt_ydoc_json(root);
			F.srcs = NULL;
			F.n_srcs = 0;
			kt_mfile_doc(&F, d->root, &d->pos, 1);
			kt_ydoc_free(d);
			errs.n = 0;
			rc = 0;
		}
	}
	for (unsigned i = 0; i < errs.n; i++)
		kt_mload_error(L, name, errs.v[i].line, errs.v[i].col, errs.v[i].msg);
	kt_yerrs_free(&errs);
	return rc < 0 ? -KT_EXIT_INPUT : 0;
}

static const struct kt_manifest_opts *opts_or_default(const struct kt_manifest_opts *o,
						      struct kt_manifest_opts *tmp)
{
	if (o) {
		*tmp = *o;
	} else {
		memset(tmp, 0, sizeof(*tmp));
		tmp->helm_source = true;
	}
	if (!tmp->max_file_bytes)
		tmp->max_file_bytes = 1ull << 30;
	if (!tmp->max_depth)
		tmp->max_depth = 128;
	return tmp;
}

static int load_stdin(struct kt_mload *L)
{
	size_t cap = 1 << 16, len = 0;
	char *buf = kt_xmalloc(cap);
	for (;;) {
		if (len == cap) {
			if (cap >= L->o->max_file_bytes) {
				free(buf);
				kt_mload_error(L, "-", 0, 0, "standard input is larger than the input size limit");
				return -KT_EXIT_INPUT;
			}
			cap *= 2;
			buf = kt_xrealloc(buf, cap);
		}
		ssize_t n = read(STDIN_FILENO, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			char m[160];
			snprintf(m, sizeof(m), "cannot read standard input: %s", strerror(errno));
			free(buf);
			kt_mload_error(L, "-", 0, 0, m);
			return -KT_EXIT_INPUT;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	int rc = kt_mload_buf(L, "-", buf, len, true);
	free(buf);
	return rc;
}

/* Threads for loading files: o->threads, or when 0 two if a CPU is idle
 * right now (about one spare CPU: a second thread pays only then). */
static unsigned pick_threads(const struct kt_manifest_opts *o)
{
	if (o->threads)
		return o->threads;
	return kt_spare_cpus() >= 1.25 ? 2 : 1;
}

int kt_manifest_load_mem(struct kt_snapshot *snap, const char *name, const char *buf, size_t len,
			 const struct kt_manifest_opts *o, struct kt_manifest_result *r)
{
	struct kt_manifest_opts tmp;
	struct kt_mload L = {.snap = snap, .r = r, .o = opts_or_default(o, &tmp)};
	int rc = kt_mload_buf(&L, name, buf, len, false);
	free(L.fix);
	kt_manifest_resolve_duplicates(snap, r);
	return rc;
}

int kt_manifest_load_paths(struct kt_snapshot *snap, const char *const *paths, unsigned n,
			   const struct kt_manifest_opts *o, struct kt_manifest_result *r)
{
	struct kt_manifest_opts tmp;
	struct kt_mload L = {.snap = snap, .r = r, .o = opts_or_default(o, &tmp)};
	int rc = 0;
	bool stdin_done = false;
	unsigned threads = pick_threads(L.o);
	for (unsigned i = 0; i < n;) {
		if (!strcmp(paths[i], "-")) {
			if (!stdin_done && load_stdin(&L) < 0)
				rc = -KT_EXIT_INPUT;
			stdin_done = true;
			i++;
			continue;
		}
		unsigned j = i;
		while (j < n && strcmp(paths[j], "-"))
			j++;
		int r1 = threads >= 2 ? kt_mload_parallel(&L, paths + i, j - i)
				      : kt_mload_sequential(&L, paths + i, j - i);
		if (r1 < 0)
			rc = r1;
		i = j;
	}
	free(L.fix);
	kt_manifest_resolve_duplicates(snap, r);
	return rc;
}

int kt_manifest_load(struct kt_snapshot *snap, const char *path, const struct kt_manifest_opts *o,
		     struct kt_manifest_result *r)
{
	return kt_manifest_load_paths(snap, &path, 1, o, r);
}

void kt_manifest_result_free(struct kt_manifest_result *r)
{
	free(r->errors);
	free(r->warnings);
	memset(r, 0, sizeof(*r));
}
