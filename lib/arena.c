/*
 * Arena allocator: bump allocation out of chained blocks, plus an
 * open-addressing intern table for strings. Owns all of its memory; frees
 * it at once in kt_arena_free(). Must not be shared between threads.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ktrace/arena.h"
#include "ktrace/xalloc.h"

#define KT_BLOCK_MIN (64 * 1024)

struct kt_block {
	struct kt_block *next;
	size_t size;
	size_t used;
	unsigned char data[];
};

struct kt_arena {
	struct kt_block *head;
	size_t reserved;
	const char **itab;       /* intern table */
	size_t icap, ilen;
};

static void *xmalloc_or_die(size_t n)
{
	return kt_xmalloc(n);
}

struct kt_arena *kt_arena_new(void)
{
	return kt_xcalloc(1, sizeof(struct kt_arena));
}

void kt_arena_free(struct kt_arena *a)
{
	if (!a)
		return;
	for (struct kt_block *b = a->head, *n; b; b = n) {
		n = b->next;
		free(b);
	}
	free(a->itab);
	free(a);
}

void *kt_arena_alloc(struct kt_arena *a, size_t size)
{
	size = (size + 15) & ~(size_t)15;
	if (size == 0)
		size = 16;
	struct kt_block *b = a->head;
	if (!b || b->size - b->used < size) {
		size_t bs = size > KT_BLOCK_MIN / 4 ? size : KT_BLOCK_MIN;
		if (size <= KT_BLOCK_MIN / 4 && a->reserved > 8 * KT_BLOCK_MIN)
			bs = 4 * KT_BLOCK_MIN;
		struct kt_block *nb = xmalloc_or_die(sizeof(*nb) + bs);
		nb->size = bs;
		nb->used = 0;
		a->reserved += bs;
		if (b && size > KT_BLOCK_MIN / 4) {
			/* big allocation: put it behind the current block so the
			 * current block keeps serving small allocations */
			nb->next = b->next;
			b->next = nb;
		} else {
			nb->next = b;
			a->head = nb;
		}
		b = nb;
	}
	void *p = b->data + b->used;
	b->used += size;
	memset(p, 0, size);
	return p;
}

char *kt_arena_strndup(struct kt_arena *a, const char *s, size_t n)
{
	if (!s)
		return NULL;
	char *p = kt_arena_alloc(a, n + 1);
	memcpy(p, s, n);
	p[n] = 0;
	return p;
}

char *kt_arena_strdup(struct kt_arena *a, const char *s)
{
	return s ? kt_arena_strndup(a, s, strlen(s)) : NULL;
}

char *kt_arena_vprintf(struct kt_arena *a, const char *fmt, va_list ap)
{
	va_list cp;
	va_copy(cp, ap);
	int n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0)
		n = 0;
	char *p = kt_arena_alloc(a, (size_t)n + 1);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	return p;
}

char *kt_arena_printf(struct kt_arena *a, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *p = kt_arena_vprintf(a, fmt, ap);
	va_end(ap);
	return p;
}

static uint64_t hash_n(const char *s, size_t n)
{
	return kt_hash64(KT_HASH_SEED, s, n);
}

const char *kt_intern_n(struct kt_arena *a, const char *s, size_t n)
{
	if (!s)
		return NULL;
	if (a->ilen * 2 >= a->icap) {
		size_t ncap = a->icap ? a->icap * 2 : 1024;
		const char **nt = kt_xcalloc(ncap, sizeof(*nt));
		for (size_t i = 0; i < a->icap; i++) {
			const char *e = a->itab[i];
			if (!e)
				continue;
			size_t j = hash_n(e, strlen(e)) & (ncap - 1);
			while (nt[j])
				j = (j + 1) & (ncap - 1);
			nt[j] = e;
		}
		free(a->itab);
		a->itab = nt;
		a->icap = ncap;
	}
	size_t j = hash_n(s, n) & (a->icap - 1);
	while (a->itab[j]) {
		const char *e = a->itab[j];
		if (strncmp(e, s, n) == 0 && e[n] == 0)
			return e;
		j = (j + 1) & (a->icap - 1);
	}
	const char *c = kt_arena_strndup(a, s, n);
	a->itab[j] = c;
	a->ilen++;
	return c;
}

const char *kt_intern(struct kt_arena *a, const char *s)
{
	return s ? kt_intern_n(a, s, strlen(s)) : NULL;
}

size_t kt_arena_bytes(const struct kt_arena *a)
{
	return a->reserved;
}
