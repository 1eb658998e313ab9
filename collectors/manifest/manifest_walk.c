/*
 * Walking manifest paths: a file, or a directory walked recursively in
 * name order (*.yaml, *.yml, *.json; dot-files skipped; each directory
 * once, so symlink loops end), handing every file's bytes or every error
 * to a sink: the sequential loader here, or the threaded loaders of
 * manifest_par.c. A dangling symlink named like a manifest is an error, as
 * kubectl reports it. Small files are read into the heap, big ones mapped.
 * Directory entries are classified by d_type, so a plain file costs
 * open/fstat/read/close and no stat. Never prints.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "collectors/manifest/manifest_int.h"
#include "ktrace/xalloc.h"

#define KT_DIR_MAX_DEPTH 64
#define KT_READ_MAX (96u << 10) /* smaller files are read, larger ones mapped */

static bool seen_dir(struct kt_msink *k, const struct stat *st)
{
	for (size_t i = 0; i < k->n_seen; i++)
		if (k->seen[i].dev == st->st_dev && k->seen[i].ino == st->st_ino)
			return true;
	if (k->n_seen == k->cap_seen) {
		k->cap_seen = k->cap_seen ? k->cap_seen * 2 : 16;
		k->seen = kt_xreallocarray(k->seen, k->cap_seen, sizeof(*k->seen));
	}
	k->seen[k->n_seen++] = (struct kt_mdirid){st->st_dev, st->st_ino};
	return false;
}

static void sink_error(struct kt_msink *k, const char *path, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void sink_error(struct kt_msink *k, const char *path, const char *fmt, ...)
{
	char m[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(m, sizeof(m), fmt, ap);
	va_end(ap);
	k->error(k, path, m);
	k->rc = -KT_EXIT_INPUT;
}

static int read_all(int fd, char *b, size_t n, size_t *got)
{
	*got = 0;
	while (*got < n) {
		ssize_t r = read(fd, b + *got, n - *got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		*got += (size_t)r;
	}
	return 0;
}

int kt_mmap_file(const struct kt_manifest_opts *o, const char *path, const char **buf, size_t *len, char *msg,
		 size_t msz)
{
	*buf = NULL;
	*len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(msg, msz, "cannot open: %s", strerror(errno));
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		snprintf(msg, msz, "%s", "not a regular file");
		return -1;
	}
	if ((uint64_t)st.st_size > o->max_file_bytes) {
		close(fd);
		snprintf(msg, msz, "file is larger than the %llu MiB input limit",
			 (unsigned long long)(o->max_file_bytes >> 20));
		return -1;
	}
	size_t n = (size_t)st.st_size;
	if (n == 0) {
		close(fd);
		return 0;
	}
	if (n <= KT_READ_MAX) {
		/* a copy into the heap is cheaper than mapping a small file
		 * (no page faults, no munmap) */
		char *b = kt_xmalloc(n);
		size_t got;
		int rc = read_all(fd, b, n, &got);
		int e = errno;
		close(fd);
		if (rc < 0) {
			snprintf(msg, msz, "cannot read: %s", strerror(e));
			free(b);
			return -1;
		}
		if (!got)
			free(b);
		else
			*buf = b;
		*len = got;
		return 0;
	}
	void *map = mmap(NULL, n, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED) {
		snprintf(msg, msz, "cannot map: %s", strerror(errno));
		return -1;
	}
	madvise(map, n, MADV_SEQUENTIAL);
	*buf = map;
	*len = n;
	return 0;
}

void kt_munmap_file(const char *buf, size_t len)
{
	if (buf && len <= KT_READ_MAX)
		free((void *)buf);
	else if (buf)
		munmap((void *)buf, len);
}

static void walk_file(struct kt_msink *k, const char *path)
{
	if (k->path) { /* collecting: read later */
		k->path(k, path);
		return;
	}
	const char *buf;
	size_t len;
	char msg[256];
	if (kt_mmap_file(k->o, path, &buf, &len, msg, sizeof(msg)) < 0) {
		sink_error(k, path, "%s", msg);
		return;
	}
	k->file(k, path, buf, len);
	kt_munmap_file(buf, len);
}

static bool manifest_name(const char *n)
{
	size_t l = strlen(n);
	return (l > 5 && !strcmp(n + l - 5, ".yaml")) || (l > 4 && !strcmp(n + l - 4, ".yml")) ||
	       (l > 5 && !strcmp(n + l - 5, ".json"));
}

struct dent {
	char *name;
	unsigned char type;      /* d_type */
};

static int dent_cmp(const void *a, const void *b)
{
	return strcmp(((const struct dent *)a)->name, ((const struct dent *)b)->name);
}

/* The entries of path worth a look (sorted): directories, manifest files
 * and whatever needs a stat (symlinks, unknown types). */
static struct dent *read_dir(struct kt_msink *k, const char *path, size_t *n_out)
{
	DIR *d = opendir(path);
	*n_out = 0;
	if (!d) {
		sink_error(k, path, "cannot open directory: %s", strerror(errno));
		return NULL;
	}
	struct dent *v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (de->d_type == DT_REG && !manifest_name(de->d_name))
			continue;
		if (de->d_type != DT_REG && de->d_type != DT_DIR && de->d_type != DT_LNK && de->d_type != DT_UNKNOWN)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			v = kt_xreallocarray(v, cap, sizeof(*v));
		}
		v[n].name = kt_xstrdup(de->d_name);
		v[n].type = de->d_type;
		n++;
	}
	closedir(d);
	if (n > 1)
		qsort(v, n, sizeof(*v), dent_cmp);
	*n_out = n;
	return v;
}

static void walk_dir(struct kt_msink *k, const char *path, unsigned depth);

static void walk_entry(struct kt_msink *k, const char *full, const struct dent *e, unsigned depth)
{
	if (e->type == DT_REG) {
		walk_file(k, full);
		return;
	}
	if (e->type == DT_DIR) {
		walk_dir(k, full, depth + 1);
		return;
	}
	struct stat st;
	if (stat(full, &st) < 0) {
		/* kubectl fails on a manifest it cannot read, a dangling
		 * symlink included; anything else is not ours to judge */
		if (manifest_name(e->name))
			sink_error(k, full, "cannot read: %s%s", strerror(errno),
				   e->type == DT_LNK ? " (dangling symlink)" : "");
		return;
	}
	if (S_ISDIR(st.st_mode))
		walk_dir(k, full, depth + 1);
	else if (S_ISREG(st.st_mode) && manifest_name(e->name))
		walk_file(k, full);
}

static void walk_dir(struct kt_msink *k, const char *path, unsigned depth)
{
	if (depth > KT_DIR_MAX_DEPTH) {
		sink_error(k, path, "%s", "directory nesting too deep (symlink loop?)");
		return;
	}
	struct stat dst;
	if (stat(path, &dst) == 0 && seen_dir(k, &dst))
		return; /* a symlink back into the tree */
	size_t n;
	struct dent *v = read_dir(k, path, &n);
	size_t pl = strlen(path);
	while (pl > 1 && path[pl - 1] == '/')
		pl--;
	char *full = NULL;
	size_t full_cap = 0;
	for (size_t i = 0; i < n; i++) {
		size_t need = pl + strlen(v[i].name) + 2;
		if (need > full_cap) {
			full_cap = need + 64;
			full = kt_xrealloc(full, full_cap);
		}
		memcpy(full, path, pl);
		full[pl] = '/';
		memcpy(full + pl + 1, v[i].name, need - pl - 1);
		walk_entry(k, full, &v[i], depth);
		free(v[i].name);
	}
	free(full);
	free(v);
}

void kt_mwalk(struct kt_msink *k, const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0) {
		sink_error(k, path, "cannot read: %s", strerror(errno));
		return;
	}
	if (S_ISDIR(st.st_mode))
		walk_dir(k, path, 0);
	else
		walk_file(k, path);
}

/* ---- sequential: parse and ingest in this thread ------------------------- */

struct seq_sink {
	struct kt_msink k;
	struct kt_mload *L;
};

static void seq_file(struct kt_msink *k, const char *path, const char *buf, size_t len)
{
	struct seq_sink *q = (struct seq_sink *)k;
	if (!buf) {
		struct kt_mfile F;
		kt_mfile_begin(&F, q->L, path, 0);
		return;
	}
	if (kt_mload_buf(q->L, path, buf, len, false) < 0)
		k->rc = -KT_EXIT_INPUT;
}

static void seq_error(struct kt_msink *k, const char *path, const char *msg)
{
	kt_mload_error(((struct seq_sink *)k)->L, path, 0, 0, msg);
}

int kt_mload_sequential(struct kt_mload *L, const char *const *paths, unsigned n)
{
	struct seq_sink q = {{.file = seq_file, .error = seq_error, .o = L->o}, L};
	for (unsigned i = 0; i < n; i++)
		kt_mwalk(&q.k, paths[i]);
	free(q.k.seen);
	return q.k.rc;
}
