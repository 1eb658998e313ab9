/* libFuzzer target, end to end: the input is a bundle (or List), and the
 * program itself (kt_cli_main, what ktrace's main() runs) analyses and
 * renders it through every command that reads one: path (a Service of the
 * bundle and a missing one), check, dataplane, imbalance --once, in text
 * and one more variant (JSON, SARIF, JUnit, --diff, --node) chosen by the
 * input's hash. stdout goes to
 * /dev/null; stderr too while ktrace runs (sanitizer reports still reach
 * the real stderr). Seeds: the bundles and Lists under tests/fixtures. */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <sanitizer/common_interface_defs.h>

#include "cli/cli.h"
#include "ktrace/bundle.h"
#include "ktrace/dataplane.h"
#include "ktrace/xalloc.h"

static int bundle_fd = -1, null_fd = -1, err_fd = -1;
static char bundle_path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	bundle_fd = memfd_create("fuzz-bundle", 0);
	null_fd = open("/dev/null", O_WRONLY);
	err_fd = dup(2);
	if (bundle_fd < 0 || null_fd < 0 || err_fd < 0)
		abort();
	snprintf(bundle_path, sizeof(bundle_path), "/proc/self/fd/%d", bundle_fd);
	dup2(null_fd, 1);
	__sanitizer_set_report_fd((void *)(intptr_t)err_fd);
	/* no kubeconfig: --from needs none, and the user's must not matter */
	unsetenv("KUBECONFIG");
	setenv("HOME", "/nonexistent", 1);
	setenv("NO_COLOR", "1", 1);
	return 0;
}

static void run(const char *const *args)
{
	char *argv[16];
	int argc = 0;
	argv[argc++] = (char *)"ktrace";
	for (; *args && argc < 15; args++)
		argv[argc++] = (char *)*args;
	argv[argc] = NULL;
	dup2(null_fd, 2);
	kt_cli_main(argc, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(err_fd, 2);
}

/* "NS/NAME" of the first Service and the first node with dataplane state,
 * when the bundle loads at all. */
static int pick(const uint8_t *data, size_t size, char *svc, size_t sl, char *node, size_t nl)
{
	struct kt_snapshot *s = NULL;
	struct kt_diag d = {0};
	snprintf(svc, sl, "default/none");
	node[0] = 0;
	if (kt_bundle_load_mem("fuzz", (const char *)data, size, &s, &d) < 0)
		return -1;
	if (s->n_services)
		snprintf(svc, sl, "%s/%s", s->services[0].meta.namespace ? s->services[0].meta.namespace : "default",
			 s->services[0].meta.name);
	if (s->n_dp && s->dp[0].node)
		snprintf(node, nl, "%s", s->dp[0].node);
	kt_snapshot_free(s);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char svc[600], node[300];
	if (ftruncate(bundle_fd, 0) < 0 || pwrite(bundle_fd, data, size, 0) != (ssize_t)size)
		abort();
	const char *f = bundle_path;
	if (pick(data, size, svc, sizeof(svc), node, sizeof(node)) < 0) {
		/* not loadable: every command must fail cleanly the same way */
		run((const char *const[]){"check", "--from", f, NULL});
		return 0;
	}
	run((const char *const[]){"path", svc, "--from", f, NULL});
	run((const char *const[]){"path", "svc/zz-not-there", "--from", f, NULL});
	run((const char *const[]){"check", "-A", "--from", f, NULL});
	run((const char *const[]){"dataplane", "--from", f, NULL});
	run((const char *const[]){"imbalance", "--once", "-A", "--from", f, NULL});
	switch (kt_hash64(KT_HASH_SEED, data, size) % 7) {
	case 0: run((const char *const[]){"path", svc, "-o", "json", "--from", f, NULL}); break;
	case 1: run((const char *const[]){"check", "-o", "json", "--from", f, NULL}); break;
	case 2: run((const char *const[]){"check", "-o", "sarif", "--from", f, NULL}); break;
	case 3: run((const char *const[]){"check", "-o", "junit", "--from", f, NULL}); break;
	case 4: run((const char *const[]){"dataplane", "-o", "json", "--diff", "--from", f, NULL}); break;
	case 5: run((const char *const[]){"imbalance", "--once", "-o", "json", "--from", f, NULL}); break;
	default:
		if (node[0])
			run((const char *const[]){"dataplane", "--node", node, "--diff", "--from", f, NULL});
		else
			run((const char *const[]){"path", svc, "-v", "--from", f, NULL});
		break;
	}
	return 0;
}
