/* libFuzzer target: the bundle loader and, through it, the Kubernetes
 * object converter (every kind) and the node-state/flow readers. Each
 * input is read twice: from memory, and streamed from a file (memfd) a few
 * bytes at a time so the reader's window moves inside every element; both
 * must agree on success and on what was read. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ktrace/bundle.h"
#include "collectors/codec/codec.h"

static int fd = -1;
static char path[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kt_snapshot *s = NULL, *f = NULL;
	struct kt_diag d = {0}, d2 = {0};
	if (fd < 0) {
		fd = memfd_create("fuzz-bundle", 0);
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	int rm = kt_bundle_load_mem("fuzz", (const char *)data, size, &s, &d);
	if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	kt_bundle_test_step = 1 + size % 13;
	int rf = kt_bundle_load(path, &f, &d2);
	kt_bundle_test_step = 0;
	if ((rm == 0) != (rf == 0)) {
		fprintf(stderr, "memory and stream disagree: %d (%s) vs %d (%s)\n", rm, d.msg, rf, d2.msg);
		abort();
	}
	if (rm == 0 && (s->n_services != f->n_services || s->n_endpoints != f->n_endpoints || s->n_pods != f->n_pods ||
			s->n_dp != f->n_dp || s->n_flows != f->n_flows)) {
		fprintf(stderr, "memory and stream read different objects\n");
		abort();
	}
	if (rm == 0)
		kt_snapshot_free(s);
	if (rf == 0)
		kt_snapshot_free(f);
	return 0;
}
