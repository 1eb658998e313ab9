/*
 * `ktrace agent manifest`: deploy/ktrace-agent.yaml and
 * deploy/ktrace-users.yaml as embedded at build time (manifest_blob.S),
 * joined by "---", with the image reference and the namespace replaced.
 * Replacement is by exact text (the image as written in deploy/, the
 * "namespace: ktrace" fields, the Namespace's name and the kubectl hints
 * in comments), so with the defaults the output is byte for byte deploy/;
 * tests/integration/agent_deploy.sh checks both directions.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/agent/agent.h"
#include "ktrace/xalloc.h"

extern const char kt_ag_manifest_agent[], kt_ag_manifest_agent_end[];
extern const char kt_ag_manifest_users[], kt_ag_manifest_users_end[];

const char kt_ag_default_image[] = "localhost/ktrace:" KT_VERSION;

struct sb {
	char *p;
	size_t n, cap;
};

static void add(struct sb *b, const char *s, size_t len)
{
	if (b->n + len + 1 > b->cap) {
		size_t nc = b->cap ? b->cap * 2 : 16384;
		while (nc < b->n + len + 1)
			nc *= 2;
		b->p = kt_xrealloc(b->p, nc);
		b->cap = nc;
	}
	memcpy(b->p + b->n, s, len);
	b->n += len;
	b->p[b->n] = 0;
}

/* Copy text[0..len) into b, replacing every from[i] by to[i]. */
static void subst(struct sb *b, const char *text, size_t len, const char *const *from, const char *const *to,
		  int n)
{
	size_t i = 0;
	while (i < len) {
		int hit = -1;
		for (int k = 0; k < n && hit < 0; k++) {
			size_t fl = strlen(from[k]);
			if (fl <= len - i && memcmp(text + i, from[k], fl) == 0)
				hit = k;
		}
		if (hit >= 0) {
			add(b, to[hit], strlen(to[hit]));
			i += strlen(from[hit]);
		} else {
			add(b, text + i, 1);
			i++;
		}
	}
}

char *kt_ag_manifest(const char *image, const char *ns)
{
	char ns_field[128], ns_name[160], ns_flag[128];
	snprintf(ns_field, sizeof(ns_field), "namespace: %s\n", ns);
	snprintf(ns_name, sizeof(ns_name), "kind: Namespace\nmetadata:\n  name: %s\n", ns);
	snprintf(ns_flag, sizeof(ns_flag), "kubectl -n %s ", ns);
	const char *from[] = {kt_ag_default_image, "namespace: " KT_AGENT_NAMESPACE "\n",
			      "kind: Namespace\nmetadata:\n  name: " KT_AGENT_NAMESPACE "\n",
			      "kubectl -n " KT_AGENT_NAMESPACE " "};
	const char *to[] = {image, ns_field, ns_name, ns_flag};
	struct sb b = {0};
	subst(&b, kt_ag_manifest_agent, (size_t)(kt_ag_manifest_agent_end - kt_ag_manifest_agent), from, to, 4);
	add(&b, "---\n", 4);
	subst(&b, kt_ag_manifest_users, (size_t)(kt_ag_manifest_users_end - kt_ag_manifest_users), from, to, 4);
	return b.p;
}
