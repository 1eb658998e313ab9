/*
 * kubeconfig loading as kubectl does it: --kubeconfig (one file, missing
 * is an error), else $KUBECONFIG (colon list, first definition wins, whole
 * entries, missing files skipped), else ~/.kube/config; in-cluster service
 * account config when none exists. YAML is read with libyaml's document
 * API so every error names file:line:col. Relative paths resolve against
 * the defining file's directory; *-data fields are base64-decoded.
 * Owns nothing outside the caller's arena; never prints, never touches the
 * network, never logs credential values.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#include "collectors/kube/kubeconfig.h"
#include "ktrace/env.h"

#define KC_MAX_FILE (16u << 20)  /* kubeconfig files above 16 MiB are refused */
#define KC_MAX_ENTRIES 4096

struct kc_ctx {
	struct kt_arena *a;
	yaml_document_t *doc;
	const char *name;            /* file name for errors */
	const char *dir;             /* its directory, for relative paths */
	struct kt_diag *d;
};

static int kc_err(struct kc_ctx *c, const yaml_node_t *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int kc_err(struct kc_ctx *c, const yaml_node_t *n, const char *fmt, ...)
{
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (n)
		return kt_diag_set(c->d, KT_EXIT_INPUT, "%s:%lu:%lu: invalid kubeconfig: %s", c->name,
				   (unsigned long)n->start_mark.line + 1, (unsigned long)n->start_mark.column + 1,
				   what);
	return kt_diag_set(c->d, KT_EXIT_INPUT, "%s: invalid kubeconfig: %s", c->name, what);
}

static yaml_node_t *node(struct kc_ctx *c, int ix)
{
	return yaml_document_get_node(c->doc, ix);
}

static yaml_node_t *map_get(struct kc_ctx *c, const yaml_node_t *m, const char *key)
{
	yaml_node_pair_t *p;

	if (!m || m->type != YAML_MAPPING_NODE)
		return NULL;
	for (p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node(c, p->key);

		if (k && k->type == YAML_SCALAR_NODE && strcmp((const char *)k->data.scalar.value, key) == 0)
			return node(c, p->value);
	}
	return NULL;
}

static bool is_null(const yaml_node_t *n)
{
	if (!n)
		return true;
	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	return n->data.scalar.length == 0 || strcmp((const char *)n->data.scalar.value, "null") == 0 ||
	       strcmp((const char *)n->data.scalar.value, "~") == 0;
}

/* A scalar string field; NULL when absent or null. */
static int get_str(struct kc_ctx *c, const yaml_node_t *m, const char *key, const char **out)
{
	yaml_node_t *n = map_get(c, m, key);

	*out = NULL;
	if (is_null(n))
		return 0;
	if (n->type != YAML_SCALAR_NODE)
		return kc_err(c, n, "'%s' must be a string", key);
	*out = kt_arena_strndup(c->a, (const char *)n->data.scalar.value, n->data.scalar.length);
	return 0;
}

/* A bool field as kubectl reads it (YAML 1.1 via sigs.k8s.io/yaml into a
 * Go bool): only a plain (unquoted) true/false, yes/no, on/off, y/n in
 * their lower, Capitalised or UPPER forms; a quoted "true" is a string and
 * an error, as it is for kubectl. */
static int get_bool(struct kc_ctx *c, const yaml_node_t *m, const char *key, bool *out)
{
	static const char *const yes[] = {"y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON", NULL};
	static const char *const no[] = {"n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF", NULL};
	yaml_node_t *n = map_get(c, m, key);
	const char *v;

	*out = false;
	if (is_null(n))
		return 0;
	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return kc_err(c, n, "'%s' must be true or false (unquoted)", key);
	v = (const char *)n->data.scalar.value;
	for (int i = 0; yes[i]; i++)
		if (!strcmp(v, yes[i])) {
			*out = true;
			return 0;
		}
	for (int i = 0; no[i]; i++)
		if (!strcmp(v, no[i]))
			return 0;
	return kc_err(c, n, "'%s' must be true or false (unquoted)", key);
}

/* Resolve a path against the defining file's directory. */
static const char *rel_path(struct kc_ctx *c, const char *p)
{
	if (!p || !*p || p[0] == '/' || !c->dir)
		return p;
	return kt_arena_printf(c->a, "%s/%s", c->dir, p);
}

int kt_base64_decode(struct kt_arena *a, const char *in, size_t n, struct kt_kc_blob *out)
{
	char *buf = kt_arena_alloc(a, n / 4 * 3 + 4);
	size_t o = 0, i;
	unsigned acc = 0, bits = 0;
	bool pad = false;

	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)in[i];
		int v;

		if (ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t')
			continue;
		if (ch == '=') {
			pad = true;
			continue;
		}
		if (pad)
			return -1;
		if (ch >= 'A' && ch <= 'Z')
			v = ch - 'A';
		else if (ch >= 'a' && ch <= 'z')
			v = ch - 'a' + 26;
		else if (ch >= '0' && ch <= '9')
			v = ch - '0' + 52;
		else if (ch == '+' || ch == '-')
			v = 62;
		else if (ch == '/' || ch == '_')
			v = 63;
		else
			return -1;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf[o++] = (char)((acc >> bits) & 0xff);
		}
	}
	buf[o] = '\0';
	out->data = buf;
	out->len = o;
	return 0;
}

static int get_b64(struct kc_ctx *c, const yaml_node_t *m, const char *key, struct kt_kc_blob *out)
{
	const char *s;
	yaml_node_t *n = map_get(c, m, key);

	memset(out, 0, sizeof(*out));
	if (get_str(c, m, key, &s) < 0)
		return -KT_EXIT_INPUT;
	if (!s || !*s)
		return 0;
	if (kt_base64_decode(c->a, s, strlen(s), out) < 0)
		return kc_err(c, n, "'%s' is not valid base64", key);
	return 0;
}

static int get_str_list(struct kc_ctx *c, const yaml_node_t *m, const char *key, const char ***out,
			unsigned *n_out)
{
	yaml_node_t *n = map_get(c, m, key);
	yaml_node_item_t *it;
	unsigned k = 0;

	*out = NULL;
	*n_out = 0;
	if (is_null(n))
		return 0;
	if (n->type != YAML_SEQUENCE_NODE)
		return kc_err(c, n, "'%s' must be a list", key);
	*out = KT_ANEW(c->a, const char *, n->data.sequence.items.top - n->data.sequence.items.start + 1);
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
		yaml_node_t *v = node(c, *it);

		if (!v || v->type != YAML_SCALAR_NODE)
			return kc_err(c, v ? v : n, "'%s' entries must be strings", key);
		(*out)[k++] = kt_arena_strndup(c->a, (const char *)v->data.scalar.value, v->data.scalar.length);
	}
	*n_out = k;
	return 0;
}

static int parse_exec(struct kc_ctx *c, const yaml_node_t *m, struct kt_kc_exec **out)
{
	struct kt_kc_exec *e;
	yaml_node_t *env;

	if (m->type != YAML_MAPPING_NODE)
		return kc_err(c, m, "'exec' must be a mapping");
	e = KT_ANEW(c->a, struct kt_kc_exec, 1);
	if (get_str(c, m, "command", &e->command) < 0 || get_str(c, m, "apiVersion", &e->api_version) < 0 ||
	    get_str(c, m, "installHint", &e->install_hint) < 0 ||
	    get_str(c, m, "interactiveMode", &e->interactive_mode) < 0 ||
	    get_bool(c, m, "provideClusterInfo", &e->provide_cluster_info) < 0 ||
	    get_str_list(c, m, "args", &e->args, &e->n_args) < 0)
		return -KT_EXIT_INPUT;
	if (!e->command || !*e->command)
		return kc_err(c, m, "exec plugin has no 'command'");
	if (strchr(e->command, '/'))
		e->command = rel_path(c, e->command);
	env = map_get(c, m, "env");
	if (!is_null(env)) {
		yaml_node_item_t *it;

		if (env->type != YAML_SEQUENCE_NODE)
			return kc_err(c, env, "'env' must be a list");
		e->env = KT_ANEW(c->a, struct kt_kc_env, env->data.sequence.items.top - env->data.sequence.items.start + 1);
		for (it = env->data.sequence.items.start; it < env->data.sequence.items.top; it++) {
			yaml_node_t *v = node(c, *it);
			struct kt_kc_env *ev = &e->env[e->n_env];

			if (!v || v->type != YAML_MAPPING_NODE)
				return kc_err(c, v ? v : env, "'env' entries must be {name, value}");
			if (get_str(c, v, "name", &ev->name) < 0 || get_str(c, v, "value", &ev->value) < 0)
				return -KT_EXIT_INPUT;
			if (!ev->name || !*ev->name)
				return kc_err(c, v, "'env' entry without a name");
			if (!ev->value)
				ev->value = "";
			e->n_env++;
		}
	}
	*out = e;
	return 0;
}

static int parse_cluster(struct kc_ctx *c, const yaml_node_t *m, struct kt_kc_cluster *cl)
{
	yaml_node_t *ext;

	if (m->type != YAML_MAPPING_NODE)
		return kc_err(c, m, "'cluster' must be a mapping");
	if (get_str(c, m, "server", &cl->server) < 0 || get_str(c, m, "certificate-authority", &cl->ca_file) < 0 ||
	    get_b64(c, m, "certificate-authority-data", &cl->ca_data) < 0 ||
	    get_bool(c, m, "insecure-skip-tls-verify", &cl->insecure) < 0 ||
	    get_str(c, m, "tls-server-name", &cl->tls_server_name) < 0 ||
	    get_str(c, m, "proxy-url", &cl->proxy_url) < 0 ||
	    get_bool(c, m, "disable-compression", &cl->disable_compression) < 0)
		return -KT_EXIT_INPUT;
	cl->ca_file = rel_path(c, cl->ca_file);
	ext = map_get(c, m, "extensions");
	if (ext && ext->type == YAML_SEQUENCE_NODE) {
		yaml_node_item_t *it;

		/* Only note that the exec extension exists; its value is passed
		 * to plugins as an empty object (full conversion not needed). */
		for (it = ext->data.sequence.items.start; it < ext->data.sequence.items.top; it++) {
			const char *nm = NULL;
			yaml_node_t *v = node(c, *it);

			if (v && v->type == YAML_MAPPING_NODE && get_str(c, v, "name", &nm) == 0 && nm &&
			    strcmp(nm, "client.authentication.k8s.io/exec") == 0) {
				yaml_node_t *x = map_get(c, v, "extension");

				if (x && x->type == YAML_SCALAR_NODE)
					cl->exec_config = kt_arena_strdup(c->a, (const char *)x->data.scalar.value);
				else
					cl->exec_config = "{}";
			}
		}
	}
	return 0;
}

static int parse_user(struct kc_ctx *c, const yaml_node_t *m, struct kt_kc_user *u)
{
	yaml_node_t *x;

	if (m->type != YAML_MAPPING_NODE)
		return kc_err(c, m, "'user' must be a mapping");
	if (get_str(c, m, "client-certificate", &u->cert_file) < 0 ||
	    get_str(c, m, "client-key", &u->key_file) < 0 ||
	    get_b64(c, m, "client-certificate-data", &u->cert_data) < 0 ||
	    get_b64(c, m, "client-key-data", &u->key_data) < 0 || get_str(c, m, "token", &u->token) < 0 ||
	    get_str(c, m, "tokenFile", &u->token_file) < 0 || get_str(c, m, "username", &u->username) < 0 ||
	    get_str(c, m, "password", &u->password) < 0 || get_str(c, m, "as", &u->as) < 0 ||
	    get_str(c, m, "as-uid", &u->as_uid) < 0 ||
	    get_str_list(c, m, "as-groups", &u->as_groups, &u->n_as_groups) < 0)
		return -KT_EXIT_INPUT;
	u->cert_file = rel_path(c, u->cert_file);
	u->key_file = rel_path(c, u->key_file);
	u->token_file = rel_path(c, u->token_file);
	x = map_get(c, m, "as-user-extra");
	if (!is_null(x)) {
		yaml_node_pair_t *p;

		if (x->type != YAML_MAPPING_NODE)
			return kc_err(c, x, "'as-user-extra' must be a mapping");
		u->as_extra = KT_ANEW(c->a, struct kt_kc_extra, x->data.mapping.pairs.top - x->data.mapping.pairs.start + 1);
		for (p = x->data.mapping.pairs.start; p < x->data.mapping.pairs.top; p++) {
			yaml_node_t *k = node(c, p->key);
			struct kt_kc_extra *e = &u->as_extra[u->n_as_extra];

			if (!k || k->type != YAML_SCALAR_NODE)
				return kc_err(c, x, "'as-user-extra' keys must be strings");
			e->key = kt_arena_strdup(c->a, (const char *)k->data.scalar.value);
			if (get_str_list(c, x, e->key, &e->values, &e->n_values) < 0)
				return -KT_EXIT_INPUT;
			u->n_as_extra++;
		}
	}
	x = map_get(c, m, "exec");
	if (!is_null(x) && parse_exec(c, x, &u->exec) < 0)
		return -KT_EXIT_INPUT;
	x = map_get(c, m, "auth-provider");
	if (!is_null(x)) {
		yaml_node_t *cfg;

		if (x->type != YAML_MAPPING_NODE)
			return kc_err(c, x, "'auth-provider' must be a mapping");
		if (get_str(c, x, "name", &u->auth_provider) < 0)
			return -KT_EXIT_INPUT;
		if (!u->auth_provider)
			u->auth_provider = "";
		cfg = map_get(c, x, "config");
		if (cfg && cfg->type == YAML_MAPPING_NODE && get_str(c, cfg, "id-token", &u->oidc_id_token) < 0)
			return -KT_EXIT_INPUT;
	}
	return 0;
}

static int parse_context(struct kc_ctx *c, const yaml_node_t *m, struct kt_kc_context *x)
{
	if (m->type != YAML_MAPPING_NODE)
		return kc_err(c, m, "'context' must be a mapping");
	if (get_str(c, m, "cluster", &x->cluster) < 0 || get_str(c, m, "user", &x->user) < 0 ||
	    get_str(c, m, "namespace", &x->ns) < 0)
		return -KT_EXIT_INPUT;
	return 0;
}

enum kc_list { KC_CLUSTERS, KC_USERS, KC_CONTEXTS };

static int parse_list(struct kc_ctx *c, const yaml_node_t *root, enum kc_list which, struct kt_kubeconfig *out)
{
	static const char *const keys[] = { "clusters", "users", "contexts" };
	static const char *const payload[] = { "cluster", "user", "context" };
	yaml_node_t *l = map_get(c, root, keys[which]);
	yaml_node_item_t *it;
	size_t n;

	if (is_null(l))
		return 0;
	if (l->type != YAML_SEQUENCE_NODE)
		return kc_err(c, l, "'%s' must be a list", keys[which]);
	n = (size_t)(l->data.sequence.items.top - l->data.sequence.items.start);
	if (n > KC_MAX_ENTRIES)
		return kc_err(c, l, "too many '%s' entries", keys[which]);
	if (which == KC_CLUSTERS)
		out->clusters = KT_ANEW(c->a, struct kt_kc_cluster, n + 1);
	else if (which == KC_USERS)
		out->users = KT_ANEW(c->a, struct kt_kc_user, n + 1);
	else
		out->contexts = KT_ANEW(c->a, struct kt_kc_context, n + 1);
	for (it = l->data.sequence.items.start; it < l->data.sequence.items.top; it++) {
		yaml_node_t *e = node(c, *it), *p;
		const char *name;
		int rc;

		if (!e || e->type != YAML_MAPPING_NODE)
			return kc_err(c, e ? e : l, "'%s' entries must be mappings", keys[which]);
		if (get_str(c, e, "name", &name) < 0)
			return -KT_EXIT_INPUT;
		if (!name || !*name)
			return kc_err(c, e, "'%s' entry without a name", keys[which]);
		p = map_get(c, e, payload[which]);
		if (is_null(p)) {
			/* an entry with no payload is valid and empty */
			static yaml_node_t empty = { .type = YAML_MAPPING_NODE };

			p = &empty;
		}
		if (which == KC_CLUSTERS) {
			struct kt_kc_cluster *cl = &out->clusters[out->n_clusters++];

			cl->name = name;
			cl->file = c->name;
			rc = parse_cluster(c, p, cl);
		} else if (which == KC_USERS) {
			struct kt_kc_user *u = &out->users[out->n_users++];

			u->name = name;
			u->file = c->name;
			rc = parse_user(c, p, u);
		} else {
			struct kt_kc_context *x = &out->contexts[out->n_contexts++];

			x->name = name;
			rc = parse_context(c, p, x);
		}
		if (rc < 0)
			return rc;
	}
	return 0;
}

int kt_kubeconfig_parse(struct kt_arena *a, const char *name, const char *buf, size_t len,
			struct kt_kubeconfig *out, struct kt_diag *d)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	struct kc_ctx c = { .a = a, .doc = &doc, .name = name, .d = d };
	yaml_node_t *root;
	const char *slash;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	slash = name ? strrchr(name, '/') : NULL;
	if (slash)
		c.dir = slash == name ? "" : kt_arena_strndup(a, name, (size_t)(slash - name));
	if (!yaml_parser_initialize(&parser))
		return kt_diag_set(d, KT_EXIT_INPUT, "%s: cannot initialise the YAML parser", name);
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	if (!yaml_parser_load(&parser, &doc)) {
		const yaml_mark_t *mk = parser.problem ? &parser.problem_mark : &parser.context_mark;

		rc = kt_diag_set(d, KT_EXIT_INPUT, "%s:%lu:%lu: invalid kubeconfig: %s%s%s", name,
				 (unsigned long)mk->line + 1, (unsigned long)mk->column + 1,
				 parser.problem ? parser.problem : "YAML error", parser.context ? " " : "",
				 parser.context ? parser.context : "");
		kt_diag_hint(d, "fix the YAML syntax at that position (kubectl config view shows the merged result)");
		yaml_parser_delete(&parser);
		return rc;
	}
	yaml_parser_delete(&parser);
	root = yaml_document_get_root_node(&doc);
	if (!root || is_null(root))
		goto out;            /* empty file: empty config */
	if (root->type != YAML_MAPPING_NODE) {
		rc = kc_err(&c, root, "the top level must be a mapping");
		goto out;
	}
	if ((rc = parse_list(&c, root, KC_CLUSTERS, out)) < 0 || (rc = parse_list(&c, root, KC_USERS, out)) < 0 ||
	    (rc = parse_list(&c, root, KC_CONTEXTS, out)) < 0 ||
	    (rc = get_str(&c, root, "current-context", &out->current_context)) < 0)
		goto out;
	if (out->current_context && !*out->current_context)
		out->current_context = NULL;
out:
	yaml_document_delete(&doc);
	return rc;
}

void kt_kubeconfig_merge(struct kt_arena *a, struct kt_kubeconfig *dst, const struct kt_kubeconfig *src)
{
	unsigned i, j;
	struct kt_kc_cluster *cl;
	struct kt_kc_user *us;
	struct kt_kc_context *cx;

	if (!dst->current_context)
		dst->current_context = src->current_context;
	cl = KT_ANEW(a, struct kt_kc_cluster, dst->n_clusters + src->n_clusters + 1);
	if (dst->n_clusters)
		memcpy(cl, dst->clusters, sizeof(*cl) * dst->n_clusters);
	for (i = 0; i < src->n_clusters; i++) {
		for (j = 0; j < dst->n_clusters && strcmp(cl[j].name, src->clusters[i].name); j++)
			;
		if (j == dst->n_clusters)
			cl[dst->n_clusters++] = src->clusters[i];
	}
	dst->clusters = cl;
	us = KT_ANEW(a, struct kt_kc_user, dst->n_users + src->n_users + 1);
	if (dst->n_users)
		memcpy(us, dst->users, sizeof(*us) * dst->n_users);
	for (i = 0; i < src->n_users; i++) {
		for (j = 0; j < dst->n_users && strcmp(us[j].name, src->users[i].name); j++)
			;
		if (j == dst->n_users)
			us[dst->n_users++] = src->users[i];
	}
	dst->users = us;
	cx = KT_ANEW(a, struct kt_kc_context, dst->n_contexts + src->n_contexts + 1);
	if (dst->n_contexts)
		memcpy(cx, dst->contexts, sizeof(*cx) * dst->n_contexts);
	for (i = 0; i < src->n_contexts; i++) {
		for (j = 0; j < dst->n_contexts && strcmp(cx[j].name, src->contexts[i].name); j++)
			;
		if (j == dst->n_contexts)
			cx[dst->n_contexts++] = src->contexts[i];
	}
	dst->contexts = cx;
}

/* Read a whole file into the arena. Returns 0, or -errno. */
static int read_file(struct kt_arena *a, const char *path, char **buf, size_t *len, size_t cap)
{
	FILE *f = fopen(path, "rbe");
	struct stat st;
	size_t n;

	if (!f)
		return -errno;
	if (fstat(fileno(f), &st) < 0 || S_ISDIR(st.st_mode)) {
		fclose(f);
		return -EISDIR;
	}
	if ((size_t)st.st_size > cap) {
		fclose(f);
		return -EFBIG;
	}
	*buf = kt_arena_alloc(a, (size_t)st.st_size + 1);
	n = fread(*buf, 1, (size_t)st.st_size, f);
	if (ferror(f)) {
		fclose(f);
		return -EIO;
	}
	fclose(f);
	(*buf)[n] = '\0';
	*len = n;
	return 0;
}

static int load_one(struct kt_arena *a, const char *path, struct kt_kubeconfig *merged, bool must_exist,
		    bool *found, struct kt_diag *d)
{
	struct kt_kubeconfig one;
	char *buf;
	size_t len;
	int rc = read_file(a, path, &buf, &len, KC_MAX_FILE);

	if (rc == -ENOENT && !must_exist)
		return 0;
	if (rc < 0) {
		kt_diag_set(d, rc == -ENOENT ? KT_EXIT_INPUT : KT_EXIT_INPUT, "cannot read kubeconfig %s: %s", path,
			    rc == -EFBIG ? "file too large" : strerror(-rc));
		if (rc == -ENOENT)
			kt_diag_hint(d, "check the --kubeconfig path");
		return -KT_EXIT_INPUT;
	}
	if ((rc = kt_kubeconfig_parse(a, kt_arena_strdup(a, path), buf, len, &one, d)) < 0)
		return rc;
	*found = true;
	{
		const char **f = KT_ANEW(a, const char *, merged->n_files + 2);

		if (merged->n_files)
			memcpy(f, merged->files, sizeof(*f) * merged->n_files);
		f[merged->n_files++] = kt_arena_strdup(a, path);
		merged->files = f;
	}
	kt_kubeconfig_merge(a, merged, &one);
	return 0;
}

int kt_kubeconfig_load(struct kt_arena *a, const char *explicit_path, struct kt_kubeconfig *out,
		       bool *found, struct kt_diag *d)
{
	const char *env = getenv("KUBECONFIG");
	int rc;

	memset(out, 0, sizeof(*out));
	*found = false;
	if (explicit_path && *explicit_path)
		return load_one(a, explicit_path, out, true, found, d);
	if (env && *env) {
		char *list = kt_arena_strdup(a, env), *p = list, *next;
		const char *seen[256];
		unsigned n_seen = 0, i;

		for (; p; p = next) {
			next = strchr(p, ':');
			if (next)
				*next++ = '\0';
			if (!*p)
				continue;
			for (i = 0; i < n_seen && strcmp(seen[i], p); i++)
				;
			if (i < n_seen)
				continue;
			if (n_seen < 256)
				seen[n_seen++] = p;
			if ((rc = load_one(a, p, out, false, found, d)) < 0)
				return rc;
		}
		return 0;
	}
	{
		const char *home = getenv("HOME");

		if (home && *home)
			return load_one(a, kt_arena_printf(a, "%s/.kube/config", home), out, false, found, d);
	}
	return 0;
}

static const struct kt_kc_cluster *find_cluster(const struct kt_kubeconfig *kc, const char *n)
{
	unsigned i;

	for (i = 0; n && i < kc->n_clusters; i++)
		if (!strcmp(kc->clusters[i].name, n))
			return &kc->clusters[i];
	return NULL;
}

static const struct kt_kc_user *find_user(const struct kt_kubeconfig *kc, const char *n)
{
	unsigned i;

	for (i = 0; n && i < kc->n_users; i++)
		if (!strcmp(kc->users[i].name, n))
			return &kc->users[i];
	return NULL;
}

int kt_kubeconfig_resolve(struct kt_arena *a, const struct kt_kubeconfig *kc, const char *ctx,
			  struct kt_kc_resolved *out, struct kt_diag *d)
{
	const struct kt_kc_context *x = NULL;
	const char *want = ctx && *ctx ? ctx : kc->current_context;
	const struct kt_kc_cluster *cl;
	const struct kt_kc_user *u;
	unsigned i;

	memset(out, 0, sizeof(*out));
	if (!want) {
		kt_diag_set(d, KT_EXIT_CLUSTER, "no current context in the kubeconfig (%s)",
			    kc->n_files ? kc->files[0] : "none found");
		kt_diag_hint(d, "pass --context NAME or run 'kubectl config use-context NAME'");
		return -KT_EXIT_CLUSTER;
	}
	for (i = 0; i < kc->n_contexts; i++)
		if (!strcmp(kc->contexts[i].name, want))
			x = &kc->contexts[i];
	if (!x) {
		kt_diag_set(d, KT_EXIT_CLUSTER, "context '%s' not found in the kubeconfig", want);
		if (kc->n_contexts)
			kt_diag_hint(d, "known contexts include '%s' ('kubectl config get-contexts' lists them)",
				     kc->contexts[0].name);
		return -KT_EXIT_CLUSTER;
	}
	cl = find_cluster(kc, x->cluster);
	if (!cl || !cl->server || !*cl->server) {
		kt_diag_set(d, KT_EXIT_CLUSTER, "context '%s': cluster '%s' %s", want, x->cluster ? x->cluster : "",
			    cl ? "has no server" : "not found in the kubeconfig");
		kt_diag_hint(d, "check the 'clusters' section of the kubeconfig");
		return -KT_EXIT_CLUSTER;
	}
	u = find_user(kc, x->user);
	if (!u)
		u = KT_ANEW(a, struct kt_kc_user, 1);
	if (cl->insecure && (cl->ca_file || cl->ca_data.data)) {
		kt_diag_set(d, KT_EXIT_INPUT,
			    "%s: cluster '%s': certificate-authority cannot be combined with insecure-skip-tls-verify",
			    cl->file ? cl->file : "kubeconfig", cl->name);
		kt_diag_hint(d, "remove one of the two settings");
		return -KT_EXIT_INPUT;
	}
	if ((u->cert_file || u->cert_data.data) != (u->key_file || u->key_data.data)) {
		kt_diag_set(d, KT_EXIT_INPUT, "%s: user '%s': client certificate and key must be given together",
			    u->file ? u->file : "kubeconfig", u->name ? u->name : "");
		return -KT_EXIT_INPUT;
	}
	if ((u->as_uid || u->n_as_groups || u->n_as_extra) && !u->as) {
		kt_diag_set(d, KT_EXIT_INPUT, "%s: user '%s': impersonation needs 'as' with as-uid/as-groups/as-user-extra",
			    u->file ? u->file : "kubeconfig", u->name ? u->name : "");
		return -KT_EXIT_INPUT;
	}
	if (u->token && u->token[0] && u->username) {
		kt_diag_set(d, KT_EXIT_INPUT, "%s: user '%s': token and basic auth cannot be combined",
			    u->file ? u->file : "kubeconfig", u->name ? u->name : "");
		return -KT_EXIT_INPUT;
	}
	if (u->exec && u->auth_provider) {
		kt_diag_set(d, KT_EXIT_INPUT, "%s: user '%s': exec and auth-provider cannot be combined",
			    u->file ? u->file : "kubeconfig", u->name ? u->name : "");
		return -KT_EXIT_INPUT;
	}
	out->context = x->name;
	out->ns = x->ns && *x->ns ? x->ns : "default";
	out->cluster = cl;
	out->user = u;
	return 0;
}

int kt_kubeconfig_in_cluster(struct kt_arena *a, struct kt_kc_resolved *out)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	const char *dir = kt_env_get(KT_ENV_SA_DIR);
	struct kt_kc_cluster *cl;
	struct kt_kc_user *u;
	const char *tok, *ns = getenv("POD_NAMESPACE");
	struct stat st;

	memset(out, 0, sizeof(*out));
	if (!host || !*host || !port || !*port)
		return 0;
	if (!dir || !*dir)
		dir = "/var/run/secrets/kubernetes.io/serviceaccount";
	tok = kt_arena_printf(a, "%s/token", dir);
	if (stat(tok, &st) < 0 || !S_ISREG(st.st_mode))
		return 0;
	cl = KT_ANEW(a, struct kt_kc_cluster, 1);
	u = KT_ANEW(a, struct kt_kc_user, 1);
	cl->name = "in-cluster";
	cl->file = dir;
	cl->server = strchr(host, ':') ? kt_arena_printf(a, "https://[%s]:%s", host, port)
				       : kt_arena_printf(a, "https://%s:%s", host, port);
	cl->ca_file = kt_arena_printf(a, "%s/ca.crt", dir);
	if (stat(cl->ca_file, &st) < 0)
		cl->ca_file = NULL;
	u->name = "in-cluster";
	u->token_file = tok;
	u->file = dir;
	if (!ns || !*ns) {
		char *buf;
		size_t len;

		ns = NULL;
		if (read_file(a, kt_arena_printf(a, "%s/namespace", dir), &buf, &len, 4096) == 0) {
			while (len && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
				buf[--len] = '\0';
			if (len)
				ns = buf;
		}
	}
	out->ns = ns ? ns : "default";
	out->cluster = cl;
	out->user = u;
	out->in_cluster = true;
	return 1;
}
