/*
 * Internal to collectors/: kubeconfig loading, merging and resolution.
 * Everything lives in the caller's arena. Paths are already resolved
 * against the directory of the file that defined them; *-data fields are
 * base64-decoded. Nothing here talks to the network.
 */
#ifndef KT_COLLECTORS_KUBECONFIG_H
#define KT_COLLECTORS_KUBECONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "ktrace/arena.h"
#include "ktrace/diag.h"

struct kt_kc_blob {
	const char *data;        /* NUL-terminated copy (PEM text or token) */
	size_t len;
};

struct kt_kc_cluster {
	const char *name;
	const char *server;
	const char *ca_file;
	struct kt_kc_blob ca_data;
	bool insecure;
	const char *tls_server_name;
	const char *proxy_url;
	bool disable_compression;
	const char *exec_config;     /* JSON of extensions[client.authentication.k8s.io/exec].extension */
	const char *file;            /* defining file */
};

struct kt_kc_env {
	const char *name, *value;
};

struct kt_kc_exec {
	const char *command;
	const char **args;
	unsigned n_args;
	struct kt_kc_env *env;
	unsigned n_env;
	const char *api_version;
	const char *install_hint;
	const char *interactive_mode;
	bool provide_cluster_info;
};

struct kt_kc_extra {
	const char *key;
	const char **values;
	unsigned n_values;
};

struct kt_kc_user {
	const char *name;
	const char *cert_file, *key_file;
	struct kt_kc_blob cert_data, key_data;
	const char *token;
	const char *token_file;
	const char *username, *password;
	const char *as, *as_uid;
	const char **as_groups;
	unsigned n_as_groups;
	struct kt_kc_extra *as_extra;
	unsigned n_as_extra;
	struct kt_kc_exec *exec;     /* NULL when absent */
	const char *auth_provider;   /* name, when an auth-provider is set */
	const char *oidc_id_token;
	const char *file;
};

struct kt_kc_context {
	const char *name, *cluster, *user, *ns;
};

struct kt_kubeconfig {
	struct kt_kc_cluster *clusters;
	unsigned n_clusters;
	struct kt_kc_user *users;
	unsigned n_users;
	struct kt_kc_context *contexts;
	unsigned n_contexts;
	const char *current_context;
	const char **files;          /* files actually read */
	unsigned n_files;
};

/* Parse one kubeconfig document from memory. name is used in errors
 * (file:line:col) and its directory resolves relative paths. An empty
 * document is an empty config. Errors: KT_EXIT_INPUT. */
int kt_kubeconfig_parse(struct kt_arena *a, const char *name, const char *buf, size_t len,
			struct kt_kubeconfig *out, struct kt_diag *d);

/* Merge src into dst: the first definition of each named entry and of
 * current-context wins; entries are kept whole. */
void kt_kubeconfig_merge(struct kt_arena *a, struct kt_kubeconfig *dst, const struct kt_kubeconfig *src);

/* Load as kubectl does: explicit (one file, missing = error), else
 * $KUBECONFIG (colon list, missing files skipped), else ~/.kube/config.
 * *found is false when no file at all was found (not an error). */
int kt_kubeconfig_load(struct kt_arena *a, const char *explicit_path, struct kt_kubeconfig *out,
		       bool *found, struct kt_diag *d);

/* The effective connection: a context resolved to its cluster and user. */
struct kt_kc_resolved {
	const char *context;         /* NULL in-cluster */
	const char *ns;              /* context namespace or "default" */
	const struct kt_kc_cluster *cluster;
	const struct kt_kc_user *user;   /* never NULL (empty user when none) */
	bool in_cluster;
};

/* Pick context (ctx or current-context) and validate it.
 * Errors: KT_EXIT_CLUSTER (no context / unknown cluster), KT_EXIT_INPUT
 * (invalid combinations: CA with insecure, cert without key, ...). */
int kt_kubeconfig_resolve(struct kt_arena *a, const struct kt_kubeconfig *kc, const char *ctx,
			  struct kt_kc_resolved *out, struct kt_diag *d);

/* In-cluster config from KUBERNETES_SERVICE_HOST/PORT and the service
 * account directory ($KTRACE_SA_DIR or /var/run/secrets/kubernetes.io/
 * serviceaccount). Returns 1 when available, 0 when not. */
int kt_kubeconfig_in_cluster(struct kt_arena *a, struct kt_kc_resolved *out);

/* Decode base64 (standard alphabet, padding and whitespace tolerated).
 * Returns 0 or -1 on invalid input. */
int kt_base64_decode(struct kt_arena *a, const char *in, size_t n, struct kt_kc_blob *out);

#endif
