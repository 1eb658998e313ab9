/*
 * The threaded manifest loaders. A second thread works ahead of the
 * calling thread, which ingests documents into the snapshot in input
 * order, so the snapshot (and every output) equals a sequential load's.
 *  - Many files: a worker thread reads the files (in walk order, while the
 *    walk is still listing them) ahead of the loader, which parses and
 *    ingests each as soon as its bytes are there, and reads a file itself
 *    when the worker has not reached it yet.
 *  - One file, when two threads are forced (by default one file loads in
 *    one thread): a parser thread streams its documents (in batches) to
 *    the loader through a bounded queue, overlapping parsing with
 *    ingesting.
 *    Document shells (tree, positions, strings) are recycled to the
 *    parser thread, which frees their trees when it reuses them: freeing
 *    into another thread's malloc arena is slow.
 * Owns the threads, queues, buffers and pools it creates; never prints.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

/* ---- many files: a reader thread ahead of the loader --------------------
 * On a directory of small files the loader spends as long reading each
 * file (open, fstat, read, close: system calls) as parsing and ingesting
 * it. The worker walks the paths, then reads the files in walk order ahead
 * of the loader, which parses and ingests each file in order as soon as it
 * is listed (the parse runs in the thread that ingests, on hot caches:
 * trees handed between threads cost more to read cold than they save). A
 * file the worker has not read yet (or is reading right then) the loader
 * reads itself, so it starts with the first file listed and never waits
 * for the worker, even one that lost its CPU on a busy machine. The
 * threads meet per file only on an uncontended mutex: the worker sleeps
 * when its window is full and is woken once the loader has moved
 * KT_PAR_WAKE files on. */

#define KT_PAR_AHEAD 256         /* files read ahead of the loader at most */
#define KT_PAR_AHEAD_BYTES (4u << 20) /* and their bytes */
#define KT_PAR_WAKE 32

enum pstate {
	P_FREE,                  /* listed only */
	P_READING,               /* the worker reads it */
	P_READ,                  /* buf holds its bytes, or err is set */
	P_TAKEN,                 /* the loader has it */
};

struct pfile {
	char *path;              /* malloc'd */
	char *err;               /* malloc'd: the walker's error, or why it cannot be read */
	bool walk_err;
	enum pstate state;
	bool stolen;             /* the loader read it too while the worker was at it */
	const char *buf;         /* P_READ: kt_mmap_file's; NULL for an empty file */
	size_t len;
};

struct par {
	struct kt_msink k;       /* collecting sink (the worker walks) */
	const char *const *paths;
	unsigned n_paths;
	struct pfile **f;        /* grows during the walk: index it under mu */
	size_t n, cap;
	bool walked, done;
	pthread_mutex_t mu;
	pthread_cond_t wake_worker, wake_main;
	bool worker_sleeps, main_sleeps;
	size_t rd;               /* worker: the next file to read */
	size_t main_pos;         /* loader: the file it is at */
	size_t sleep_pos;        /* main_pos when the worker went to sleep */
	uint64_t ahead;          /* bytes read and not taken by the loader */
};

/* A file (or the walker's error about a path) in walk order. */
static void par_add(struct par *p, const char *path, const char *err)
{
	struct pfile *f = kt_xcalloc(1, sizeof(*f));
	f->path = kt_xstrdup(path);
	if (err) {
		f->err = kt_xstrdup(err);
		f->walk_err = true;
	}
	pthread_mutex_lock(&p->mu);
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 64;
		p->f = kt_xreallocarray(p->f, p->cap, sizeof(*p->f));
	}
	p->f[p->n++] = f;
	if (p->main_sleeps)
		pthread_cond_signal(&p->wake_main);
	pthread_mutex_unlock(&p->mu);
}

static void par_path(struct kt_msink *k, const char *path)
{
	par_add((struct par *)k, path, NULL);
}

static void par_walk_error(struct kt_msink *k, const char *path, const char *msg)
{
	par_add((struct par *)k, path, msg);
}

static void par_walk(struct par *p)
{
	for (unsigned i = 0; i < p->n_paths; i++)
		kt_mwalk(&p->k, p->paths[i]);
	free(p->k.seen);
	p->k.seen = NULL;
	pthread_mutex_lock(&p->mu);
	p->walked = true;
	if (p->main_sleeps)
		pthread_cond_signal(&p->wake_main);
	pthread_mutex_unlock(&p->mu);
}

static void par_read(struct par *p, const char *path, const char **buf, size_t *len, char **err)
{
	char msg[256];
	if (kt_mmap_file(p->k.o, path, buf, len, msg, sizeof(msg)) < 0)
		*err = kt_xstrdup(msg);
}

static void *par_main(void *arg)
{
	struct par *p = arg;
	par_walk(p);
	pthread_mutex_lock(&p->mu);
	while (!p->done) {
		while (p->rd < p->n && (p->f[p->rd]->walk_err || p->f[p->rd]->state != P_FREE))
			p->rd++;
		if (p->rd >= p->n || p->rd >= p->main_pos + KT_PAR_AHEAD || p->ahead >= KT_PAR_AHEAD_BYTES) {
			p->worker_sleeps = true;
			p->sleep_pos = p->main_pos;
			pthread_cond_wait(&p->wake_worker, &p->mu);
			p->worker_sleeps = false;
			continue;
		}
		struct pfile *f = p->f[p->rd++];
		f->state = P_READING;
		pthread_mutex_unlock(&p->mu);
		const char *buf = NULL;
		size_t len = 0;
		char *err = NULL;
		par_read(p, f->path, &buf, &len, &err);
		pthread_mutex_lock(&p->mu);
		if (f->stolen) { /* the loader has its own copy */
			kt_munmap_file(buf, len);
			free(err);
			continue;
		}
		f->buf = buf;
		f->len = len;
		f->err = err;
		f->state = P_READ;
		p->ahead += len;
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* File i once the walk has listed it (NULL: the walk ended before); with
 * wait_two, not before the walk has told whether the paths hold one file
 * or more (one may go to the pipeline). Called with mu held. */
static struct pfile *par_listed(struct par *p, size_t i, bool wait_two)
{
	while (!p->walked && (i >= p->n || (wait_two && p->n < 2))) {
		p->main_sleeps = true;
		pthread_cond_wait(&p->wake_main, &p->mu);
		p->main_sleeps = false;
	}
	return i < p->n ? p->f[i] : NULL;
}

/* Load file f (the i-th) in order: read it here unless the worker has
 * (a file the worker is reading right now is read here too: the worker
 * may have lost its CPU), then parse and ingest it. Called with mu held;
 * returns with it released. */
static int par_load(struct par *p, size_t i, struct pfile *f, struct kt_mload *L)
{
	p->main_pos = i;
	if (p->worker_sleeps && p->rd < p->n && i >= p->sleep_pos + KT_PAR_WAKE)
		pthread_cond_signal(&p->wake_worker);
	enum pstate st = f->state;
	if (st == P_READ)
		p->ahead -= f->len;
	if (st == P_READING)
		f->stolen = true; /* the worker drops its copy */
	else
		f->state = P_TAKEN;
	pthread_mutex_unlock(&p->mu);
	const char *buf = f->buf, *err;
	size_t len = f->len;
	char *own_err = NULL;
	if (st != P_READ)
		par_read(p, f->path, &buf, &len, &own_err);
	err = st == P_READ ? f->err : own_err;
	int rc = 0;
	if (err) {
		kt_mload_error(L, f->path, 0, 0, err);
		rc = -KT_EXIT_INPUT;
	} else if (!buf) {
		struct kt_mfile F;
		kt_mfile_begin(&F, L, f->path, 0);
	} else {
		rc = kt_mload_buf(L, f->path, buf, len, false) < 0 ? -KT_EXIT_INPUT : 0;
		kt_munmap_file(buf, len);
	}
	free(own_err);
	if (st == P_READ)
		f->buf = NULL; /* freed above; f is the loader's now */
	return rc;
}

static void par_free(struct par *p)
{
	for (size_t i = 0; i < p->n; i++) {
		struct pfile *f = p->f[i];
		free(f->path);
		free(f->err);
		kt_munmap_file(f->buf, f->len);
		free(f);
	}
	free(p->f);
	free(p->k.seen);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->wake_worker);
	pthread_cond_destroy(&p->wake_main);
}

int kt_mload_parallel(struct kt_mload *L, const char *const *paths, unsigned n)
{
	struct stat st;
	if (n == 1 && stat(paths[0], &st) == 0 && !S_ISDIR(st.st_mode)) {
		/* One file: its documents can be parsed on the second thread
		 * while the loader ingests them, but reading trees the other
		 * core built (and handing their memory back) costs more than
		 * the parse saves on the 2-vCPU machines measured (a 34 MiB
		 * stream: 0.87x the libyaml floor's wall time against 0.54x in
		 * one thread): only when two threads are forced. */
		if (!L->o->threads)
			return kt_mload_sequential(L, paths, 1);
		return load_pipelined(L, paths, 1);
	}
	struct par p;
	memset(&p, 0, sizeof(p));
	p.k = (struct kt_msink){.error = par_walk_error, .path = par_path, .o = L->o};
	p.paths = paths;
	p.n_paths = n;
	pthread_mutex_init(&p.mu, NULL);
	pthread_cond_init(&p.wake_worker, NULL);
	pthread_cond_init(&p.wake_main, NULL);
	pthread_t th;
	bool started = pthread_create(&th, NULL, par_main, &p) == 0;
	if (!started)
		par_walk(&p); /* and read every file in this thread */
	int rc = 0;
	pthread_mutex_lock(&p.mu);
	for (size_t i = 0;; i++) {
		struct pfile *f = par_listed(&p, i, i == 0);
		if (!f)
			break;
		if (f->walk_err) {
			pthread_mutex_unlock(&p.mu);
			kt_mload_error(L, f->path, 0, 0, f->err);
			rc = -KT_EXIT_INPUT;
		} else if (p.walked && p.n == 1 && f->state == P_FREE && L->o->threads) {
			/* a directory holding one file (as above) */
			f->state = P_TAKEN;
			pthread_mutex_unlock(&p.mu);
			if (load_pipelined(L, (const char *const *)&f->path, 1) < 0)
				rc = -KT_EXIT_INPUT;
		} else if (par_load(&p, i, f, L) < 0) {
			rc = -KT_EXIT_INPUT;
		}
		pthread_mutex_lock(&p.mu);
	}
	p.done = true;
	if (p.worker_sleeps)
		pthread_cond_signal(&p.wake_worker);
	pthread_mutex_unlock(&p.mu);
	if (started)
		pthread_join(th, NULL);
	par_free(&p);
	return rc;
}
