/*
 * The threaded manifest loaders. Files are parsed on two threads while
 * documents are ingested into the snapshot in the calling thread, in input
 * order, so the snapshot (and every output) equals a sequential load's.
 *  - Many files: the file list is collected first; a worker thread claims
 *    the next unclaimed file (at most KT_PAR_AHEAD ahead of the loader)
 *    and parses it into a document list; the loader ingests files in
 *    order and parses any file nobody claimed yet itself while it would
 *    otherwise wait.
 *  - One file: a parser thread streams its documents (in batches) to the
 *    loader through a bounded queue, overlapping parsing with ingesting.
 * Document shells (tree, positions, strings) are recycled to the thread
 * that parsed them, which frees their trees when it reuses them: freeing
 * into another thread's malloc arena is slow. Owns the threads, queues and
 * pools it creates; never prints.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collectors/manifest/manifest_int.h"
#include "ktrace/xalloc.h"

/* ---- one file: a parser thread streams documents to the loader ---------- */

enum qtype { Q_FILE, Q_DOC, Q_ERR, Q_END };

struct qitem {
	enum qtype type;
	char *file;              /* Q_FILE, Q_ERR (malloc'd) */
	uint64_t bytes;          /* Q_FILE */
	struct ydoc *doc;        /* Q_DOC: a chain through ->next */
	struct kt_yerr err;      /* Q_ERR; line 0 = no position */
	struct qitem *next;
};

struct pipe {
	struct kt_msink k;       /* the parser thread's sink */
	pthread_mutex_t mu;
	pthread_cond_t not_empty, not_full;
	struct qitem *head, *tail;
	unsigned count;
	struct ydoc *pool;       /* used shells, trees still attached */
	unsigned pooled;
	struct ydoc *batch, *batch_tail; /* parser thread: documents not queued yet */
	unsigned batch_n;
	const char *const *paths;
	unsigned n_paths;
};

#define KT_PIPE_DEPTH 256
#define KT_PIPE_BATCH 16 /* documents per queue item (fewer wake-ups) */
#define KT_PIPE_POOL 64

static void q_push(struct pipe *p, struct qitem *it)
{
	pthread_mutex_lock(&p->mu);
	while (p->count >= KT_PIPE_DEPTH)
		pthread_cond_wait(&p->not_full, &p->mu);
	it->next = NULL;
	if (p->tail)
		p->tail->next = it;
	else
		p->head = it;
	p->tail = it;
	p->count++;
	pthread_cond_signal(&p->not_empty);
	pthread_mutex_unlock(&p->mu);
}

static struct qitem *q_pop(struct pipe *p)
{
	pthread_mutex_lock(&p->mu);
	while (!p->head)
		pthread_cond_wait(&p->not_empty, &p->mu);
	struct qitem *it = p->head;
	p->head = it->next;
	if (!p->head)
		p->tail = NULL;
	p->count--;
	pthread_cond_signal(&p->not_full);
	pthread_mutex_unlock(&p->mu);
	return it;
}

static struct qitem *qnew(enum qtype t, const char *file)
{
	struct qitem *it = kt_xcalloc(1, sizeof(*it));
	it->type = t;
	it->file = file ? kt_xstrdup(file) : NULL;
	return it;
}

static void pipe_flush(struct pipe *p)
{
	if (!p->batch)
		return;
	struct qitem *it = qnew(Q_DOC, NULL);
	it->doc = p->batch;
	p->batch = p->batch_tail = NULL;
	p->batch_n = 0;
	q_push(p, it);
}

static struct ydoc *pipe_take(void *ctx, struct ydoc *d)
{
	struct pipe *p = ctx;
	d->next = NULL;
	if (p->batch_tail)
		p->batch_tail->next = d;
	else
		p->batch = d;
	p->batch_tail = d;
	if (++p->batch_n >= KT_PIPE_BATCH)
		pipe_flush(p);
	pthread_mutex_lock(&p->mu);
	struct ydoc *shell = p->pool;
	if (shell) {
		p->pool = shell->next;
		p->pooled--;
	}
	pthread_mutex_unlock(&p->mu);
	if (shell)
		kt_ydoc_release(shell);
	return shell;
}

static void pipe_recycle(struct pipe *p, struct ydoc *d)
{
	pthread_mutex_lock(&p->mu);
	if (p->pooled < KT_PIPE_POOL) {
		d->next = p->pool;
		p->pool = d;
		p->pooled++;
		d = NULL;
	}
	pthread_mutex_unlock(&p->mu);
	kt_ydoc_free(d);
}

static void pipe_file(struct kt_msink *k, const char *path, const char *buf, size_t len)
{
	struct pipe *p = (struct pipe *)k;
	struct qitem *it = qnew(Q_FILE, path);
	it->bytes = len;
	q_push(p, it);
	if (!buf)
		return;
	struct kt_yerrs errs = {0};
	unsigned delivered = 0;
	int rc = kt_yparse(buf, len, k->o->max_depth, 0, NULL, pipe_take, p, &errs, &delivered, NULL);
	cJSON *root = rc < 0 && delivered == 0 ? kt_mjson_fallback(path, buf, len) : NULL;
	if (root) {
		kt_ydoc_free(pipe_take(p, kt_ydoc_json(root)));
		errs.n = 0;
	}
	pipe_flush(p);
	for (unsigned i = 0; i < errs.n; i++) {
		it = qnew(Q_ERR, path);
		it->err = errs.v[i];
		q_push(p, it);
	}
	kt_yerrs_free(&errs);
}

static void pipe_error(struct kt_msink *k, const char *path, const char *msg)
{
	struct qitem *it = qnew(Q_ERR, path);
	snprintf(it->err.msg, sizeof(it->err.msg), "%s", msg);
	q_push((struct pipe *)k, it);
}

static void *pipe_main(void *arg)
{
	struct pipe *p = arg;
	for (unsigned i = 0; i < p->n_paths; i++)
		kt_mwalk(&p->k, p->paths[i]);
	q_push(p, qnew(Q_END, NULL));
	return NULL;
}

/* Ingest what the parser thread queues until it ends. */
static int pipe_drain(struct pipe *p, struct kt_mload *L)
{
	struct kt_mfile F = {0};
	int rc = 0;
	for (;;) {
		struct qitem *it = q_pop(p);
		enum qtype t = it->type;
		switch (t) {
		case Q_FILE:
			kt_mfile_begin(&F, L, it->file, it->bytes);
			break;
		case Q_DOC:
			for (struct ydoc *d = it->doc, *next; d; d = next) {
				next = d->next;
				kt_mfile_doc(&F, d->root, &d->pos, d->first_line);
				pipe_recycle(p, d);
			}
			break;
		case Q_ERR:
			kt_mload_error(L, it->file, it->err.line, it->err.col, it->err.msg);
			rc = -KT_EXIT_INPUT;
			break;
		case Q_END:
			break;
		}
		free(it->file);
		free(it);
		if (t == Q_END)
			return rc;
	}
}

/* Load paths (no "-") with the parser in a second thread. Falls back to
 * sequential loading when no thread can be started. */
static int load_pipelined(struct kt_mload *L, const char *const *paths, unsigned n)
{
	struct pipe p;
	memset(&p, 0, sizeof(p));
	p.k = (struct kt_msink){.file = pipe_file, .error = pipe_error, .o = L->o};
	p.paths = paths;
	p.n_paths = n;
	pthread_mutex_init(&p.mu, NULL);
	pthread_cond_init(&p.not_empty, NULL);
	pthread_cond_init(&p.not_full, NULL);
	pthread_t th;
	int rc;
	if (pthread_create(&th, NULL, pipe_main, &p) != 0) {
		rc = kt_mload_sequential(L, paths, n);
	} else {
		rc = pipe_drain(&p, L);
		pthread_join(th, NULL);
		free(p.k.seen);
		while (p.pool) {
			struct ydoc *d = p.pool;
			p.pool = d->next;
			kt_ydoc_free(d);
		}
	}
	pthread_mutex_destroy(&p.mu);
	pthread_cond_destroy(&p.not_empty);
	pthread_cond_destroy(&p.not_full);
	return rc;
}

/* ---- many files: two threads parse, this one ingests in order ----------- */

#define KT_PAR_AHEAD 4
/* used document shells kept per parsing thread */
#define KT_PAR_POOL (4 * KT_PAR_AHEAD)
/* files larger than this are not parsed ahead (see par_parse) */
#define KT_PAR_BIG (256u << 10)

enum pstate { P_FREE, P_WORKER, P_MAIN, P_DONE };

struct pfile {
	char *path;              /* malloc'd */
	char *walk_err;          /* malloc'd; the walker's error (no file) */
	enum pstate state;
	struct ydoc *docs, *tail;
	bool parsed;             /* docs/errs/bytes are filled */
	bool defer;              /* the loader parses and ingests it itself, streaming */
	bool map_failed;
	char map_err[256];
	struct kt_yerrs errs;    /* parse errors */
	uint64_t bytes;
};

struct par {
	struct kt_msink k;       /* collecting sink */
	struct pfile *f;
	size_t n, cap;
	size_t claim, main_pos;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct ydoc *pool[2];    /* used shells per parsing thread (0 loader, 1 worker) */
	unsigned pooled[2];
};

struct par_cur {                 /* take callback context: one per parse */
	struct par *p;
	struct pfile *f;
	unsigned who;            /* 0 loader, 1 worker */
};

static struct pfile *par_add(struct par *p, const char *path)
{
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 64;
		p->f = kt_xreallocarray(p->f, p->cap, sizeof(*p->f));
	}
	struct pfile *f = &p->f[p->n++];
	memset(f, 0, sizeof(*f));
	f->path = kt_xstrdup(path);
	return f;
}

static void par_path(struct kt_msink *k, const char *path)
{
	par_add((struct par *)k, path);
}

static void par_walk_error(struct kt_msink *k, const char *path, const char *msg)
{
	par_add((struct par *)k, path)->walk_err = kt_xstrdup(msg);
}

static struct ydoc *par_take(void *ctx, struct ydoc *d)
{
	struct par_cur *c = ctx;
	struct par *p = c->p;
	struct pfile *f = c->f;
	d->next = NULL;
	d->owner = c->who;
	if (f->tail)
		f->tail->next = d;
	else
		f->docs = d;
	f->tail = d;
	pthread_mutex_lock(&p->mu);
	struct ydoc *shell = p->pool[c->who];
	if (shell) {
		p->pool[c->who] = shell->next;
		p->pooled[c->who]--;
	}
	pthread_mutex_unlock(&p->mu);
	if (shell)
		kt_ydoc_release(shell);
	return shell;
}

static void par_recycle(struct par *p, struct ydoc *d)
{
	unsigned w = d->owner & 1;
	pthread_mutex_lock(&p->mu);
	if (p->pooled[w] < KT_PAR_POOL) {
		d->next = p->pool[w];
		p->pool[w] = d;
		p->pooled[w]++;
		d = NULL;
	}
	pthread_mutex_unlock(&p->mu);
	kt_ydoc_free(d);
}

/* Parse f into its document list (with the JSON fallback). */
static void par_parse(struct par *p, struct pfile *f, unsigned who)
{
	const char *buf;
	size_t len;
	f->parsed = true;
	if (kt_mmap_file(p->k.o, f->path, &buf, &len, f->map_err, sizeof(f->map_err)) < 0) {
		f->map_failed = true;
		return;
	}
	f->bytes = len;
	if (!buf)
		return;
	if (len > KT_PAR_BIG) {
		/* its documents would all be held at once: leave it to the
		 * loader, which ingests each as it is parsed */
		kt_munmap_file(buf, len);
		f->defer = true;
		return;
	}
	unsigned delivered = 0;
	struct par_cur cur = {p, f, who};
	if (kt_yparse(buf, len, p->k.o->max_depth, 0, NULL, par_take, &cur, &f->errs, &delivered, NULL) < 0) {
		cJSON *root = delivered == 0 ? kt_mjson_fallback(f->path, buf, len) : NULL;
		if (root) {
			kt_ydoc_free(par_take(&cur, kt_ydoc_json(root)));
			f->errs.n = 0;
		}
	}
	kt_munmap_file(buf, len);
}

static void *par_main(void *arg)
{
	struct par *p = arg;
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (p->claim < p->n && (p->f[p->claim].walk_err || p->f[p->claim].state != P_FREE))
			p->claim++;
		if (p->claim >= p->n)
			break;
		if (p->claim > p->main_pos + KT_PAR_AHEAD) {
			pthread_cond_wait(&p->cv, &p->mu);
			continue;
		}
		struct pfile *f = &p->f[p->claim++];
		f->state = P_WORKER;
		pthread_mutex_unlock(&p->mu);
		par_parse(p, f, 1);
		pthread_mutex_lock(&p->mu);
		f->state = P_DONE;
		pthread_cond_broadcast(&p->cv);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* A file the loader reads itself: parse and ingest document by document. */
static int par_self(struct par *p, struct pfile *f, struct kt_mload *L)
{
	const char *buf;
	size_t len;
	char msg[256];
	if (kt_mmap_file(p->k.o, f->path, &buf, &len, msg, sizeof(msg)) < 0) {
		kt_mload_error(L, f->path, 0, 0, msg);
		return -KT_EXIT_INPUT;
	}
	if (!buf) {
		struct kt_mfile F;
		kt_mfile_begin(&F, L, f->path, 0);
		return 0;
	}
	int rc = kt_mload_buf(L, f->path, buf, len, false);
	kt_munmap_file(buf, len);
	return rc < 0 ? -KT_EXIT_INPUT : 0;
}

/* Ingest a parsed file: what kt_mload_buf does in one thread. */
static int par_ingest(struct par *p, struct pfile *f, struct kt_mload *L)
{
	if (f->defer)
		return par_self(p, f, L);
	if (f->map_failed) {
		kt_mload_error(L, f->path, 0, 0, f->map_err);
		return -KT_EXIT_INPUT;
	}
	struct kt_mfile F;
	kt_mfile_begin(&F, L, f->path, f->bytes);
	while (f->docs) {
		struct ydoc *d = f->docs;
		f->docs = d->next;
		kt_mfile_doc(&F, d->root, &d->pos, d->first_line);
		par_recycle(p, d);
	}
	f->tail = NULL;
	for (unsigned i = 0; i < f->errs.n; i++)
		kt_mload_error(L, f->path, f->errs.v[i].line, f->errs.v[i].col, f->errs.v[i].msg);
	return f->errs.n ? -KT_EXIT_INPUT : 0;
}

/* Wait until file i is parsed; meanwhile parse a later free file instead
 * of idling. Called and returns with p->mu held. */
static void par_wait(struct par *p, size_t i)
{
	struct pfile *f = &p->f[i];
	p->main_pos = i;
	pthread_cond_broadcast(&p->cv);
	for (;;) {
		if (f->state == P_FREE) { /* nobody parsed it ahead: stream it */
			f->state = P_DONE;
			f->defer = true;
			return;
		}
		if (f->state == P_DONE)
			return;
		size_t j = i + 1;
		while (j < p->n && j <= i + KT_PAR_AHEAD && (p->f[j].walk_err || p->f[j].state != P_FREE))
			j++;
		if (j < p->n && j <= i + KT_PAR_AHEAD) {
			p->f[j].state = P_MAIN;
			pthread_mutex_unlock(&p->mu);
			par_parse(p, &p->f[j], 0);
			pthread_mutex_lock(&p->mu);
			p->f[j].state = P_DONE;
			continue;
		}
		pthread_cond_wait(&p->cv, &p->mu);
	}
}

static void par_free(struct par *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->f[i].path);
		free(p->f[i].walk_err);
		kt_yerrs_free(&p->f[i].errs);
		while (p->f[i].docs) {
			struct ydoc *d = p->f[i].docs;
			p->f[i].docs = d->next;
			kt_ydoc_free(d);
		}
	}
	free(p->f);
	for (unsigned w = 0; w < 2; w++)
		while (p->pool[w]) {
			struct ydoc *d = p->pool[w];
			p->pool[w] = d->next;
			kt_ydoc_free(d);
		}
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
}

int kt_mload_parallel(struct kt_mload *L, const char *const *paths, unsigned n)
{
	struct par p;
	memset(&p, 0, sizeof(p));
	p.k = (struct kt_msink){.error = par_walk_error, .path = par_path, .o = L->o};
	for (unsigned i = 0; i < n; i++)
		kt_mwalk(&p.k, paths[i]);
	free(p.k.seen);
	pthread_mutex_init(&p.mu, NULL);
	pthread_cond_init(&p.cv, NULL);
	int rc = 0;
	size_t files = 0;
	for (size_t i = 0; i < p.n; i++)
		files += !p.f[i].walk_err;
	pthread_t th;
	bool started = files >= 2 && pthread_create(&th, NULL, par_main, &p) == 0;
	for (size_t i = 0; i < p.n; i++) {
		struct pfile *f = &p.f[i];
		if (f->walk_err) {
			kt_mload_error(L, f->path, 0, 0, f->walk_err);
			rc = -KT_EXIT_INPUT;
			continue;
		}
		if (!started && files < 2) {
			/* one file: overlap its parse with ingesting instead */
			if (load_pipelined(L, (const char *const *)&f->path, 1) < 0)
				rc = -KT_EXIT_INPUT;
			continue;
		}
		pthread_mutex_lock(&p.mu);
		par_wait(&p, i);
		pthread_mutex_unlock(&p.mu);
		if (par_ingest(&p, f, L) < 0)
			rc = -KT_EXIT_INPUT;
	}
	if (started)
		pthread_join(th, NULL);
	par_free(&p);
	return rc;
}
