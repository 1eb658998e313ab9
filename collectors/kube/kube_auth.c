/*
 * Credentials for the API client, every mode kubectl supports for reading:
 * client certificates (files or data), bearer token / tokenFile (re-read),
 * OIDC id-token, basic auth, impersonation, and exec credential plugins
 * (client.authentication.k8s.io v1 and v1beta1).
 *
 * Every credential and header value is checked before use: a control byte
 * (CR, LF, any C0 or DEL) is refused with KT_EXIT_INPUT naming the field,
 * never the value. Credentials go only to https:// servers.
 *
 * Exec plugins run bounded: their own process group, killed (the whole
 * group) when they outlive the request timeout, always reaped; SIGKILLed by
 * the kernel if ktrace dies first (PR_SET_PDEATHSIG); no ktrace file
 * descriptor reaches them (close_range, close-on-exec); stdin is /dev/null
 * unless they run interactively (interactiveMode IfAvailable/Always with a
 * terminal; Always without one is refused, as kubectl does).
 *
 * Owns the token and plugin output copies in struct kt_kube (wiped on
 * free). Never prints a credential.
 */
#include "collectors/kube/curl_dl.h" /* first: libcurl is dlopen()ed on first use */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "collectors/kube/kube_int.h"
#include "ktrace/xalloc.h"

#define KT_EXEC_MAX_OUT (1u << 20)
#define KT_MAX_TLS_FILE (4u << 20)

static void auth_free_exec(struct kt_kube *k);

/* ---------- files and values ---------- */

static int read_small_file(const char *path, char **out, size_t *len, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char *buf;
	size_t n = 0, sz = 4096;

	if (fd < 0)
		return -errno;
	buf = kt_xmalloc(sz);
	for (;;) {
		ssize_t r;

		if (n + 1 >= sz) {
			if (sz >= cap) {
				free(buf);
				close(fd);
				return -EFBIG;
			}
			sz *= 2;
			buf = kt_xrealloc(buf, sz);
		}
		r = read(fd, buf + n, sz - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;

			free(buf);
			close(fd);
			return -e;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	buf[n] = '\0';
	*out = buf;
	if (len)
		*len = n;
	return 0;
}

/* Load a PEM file into the arena (kubeconfig-referenced files). */
static int load_file_blob(struct kt_kube *k, const char *path, const char *what, const char *owner,
			  struct kt_kc_blob *out, struct kt_diag *d)
{
	char *buf;
	size_t len;
	int rc = read_small_file(path, &buf, &len, KT_MAX_TLS_FILE);

	if (rc < 0) {
		kt_diag_set(d, KT_EXIT_INPUT, "%s: cannot read %s %s: %s", owner, what, path, strerror(-rc));
		kt_diag_hint(d, "relative paths resolve against the kubeconfig file's directory");
		return -KT_EXIT_INPUT;
	}
	out->data = kt_arena_strndup(k->a, buf, len);
	out->len = len;
	free(buf);
	return 0;
}

static void trim(char *s)
{
	size_t n = strlen(s);

	while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
}

/* A credential or header value: no C0 control byte and no DEL. */
static bool value_clean(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; p && *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

static int refuse_value(const char *owner, const char *user, const char *field, struct kt_diag *d)
{
	kt_diag_set(d, KT_EXIT_INPUT, "%s: user '%s': '%s' holds a control character (CR, LF, ...)", owner,
		    user ? user : "", field);
	kt_diag_hint(d, "fix the credential (its value is not shown); header values must be a single line");
	return -KT_EXIT_INPUT;
}

/* Every header value and credential of the resolved user. */
static int check_user_values(const struct kt_kc_user *u, struct kt_diag *d)
{
	const char *owner = u->file ? u->file : "kubeconfig";
	const struct {
		const char *field, *value;
	} v[] = {
		{"token", u->token},         {"username", u->username}, {"password", u->password},
		{"as", u->as},               {"as-uid", u->as_uid},     {"auth-provider.config.id-token", u->oidc_id_token},
	};
	unsigned i, j;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		if (!value_clean(v[i].value))
			return refuse_value(owner, u->name, v[i].field, d);
	for (i = 0; i < u->n_as_groups; i++)
		if (!value_clean(u->as_groups[i]))
			return refuse_value(owner, u->name, "as-groups", d);
	for (i = 0; i < u->n_as_extra; i++) {
		if (!value_clean(u->as_extra[i].key))
			return refuse_value(owner, u->name, "as-user-extra", d);
		for (j = 0; j < u->as_extra[i].n_values; j++)
			if (!value_clean(u->as_extra[i].values[j]))
				return refuse_value(owner, u->name, "as-user-extra", d);
	}
	return 0;
}

/* (Re-)read tokenFile. Keeps the last good value on failure. */
static int reload_token_file(struct kt_kube *k, bool force, struct kt_diag *d)
{
	const struct kt_kc_user *u = k->rc.user;
	char *buf;
	int rc;

	if (!u->token_file || !k->https)
		return 0;
	if (!force && k->token && time(NULL) - k->token_read_at < 60)
		return 0;
	rc = read_small_file(u->token_file, &buf, NULL, 1u << 20);
	if (rc < 0) {
		if (k->token)
			return 0;
		kt_diag_set(d, KT_EXIT_CLUSTER, "cannot read token file %s: %s", u->token_file, strerror(-rc));
		kt_diag_hint(d, "check 'tokenFile' of user '%s' in %s", u->name ? u->name : "",
			     u->file ? u->file : "the kubeconfig");
		return -KT_EXIT_CLUSTER;
	}
	trim(buf);
	if (!value_clean(buf)) {
		memset(buf, 0, strlen(buf));
		free(buf);
		kt_diag_set(d, KT_EXIT_INPUT, "token file %s holds a control character (CR, LF, ...) inside the token",
			    u->token_file);
		kt_diag_hint(d, "a token file holds one token on one line (its value is not shown)");
		return -KT_EXIT_INPUT;
	}
	if (!k->token || strcmp(k->token, buf))
		k->cred_gen++;
	if (k->token) {
		memset(k->token, 0, strlen(k->token));
		free(k->token);
	}
	k->token = buf;
	k->token_read_at = time(NULL);
	return 0;
}

static time_t parse_rfc3339(const char *s)
{
	struct tm tm;
	int y, mo, da, h, mi, se, used = 0;
	const char *p;
	time_t t;

	memset(&tm, 0, sizeof(tm));
	if (!s || sscanf(s, "%d-%d-%dT%d:%d:%d%n", &y, &mo, &da, &h, &mi, &se, &used) != 6 || used <= 0)
		return (time_t)-1;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = da;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	t = timegm(&tm);
	p = s + used;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	if (*p == '+' || *p == '-') {
		int oh = 0, om = 0;

		if (sscanf(p + 1, "%d:%d", &oh, &om) >= 1)
			t += (*p == '+' ? -1 : 1) * (oh * 3600 + om * 60);
	}
	return t;
}

/* ---------- exec credential plugins ---------- */

static char *base64(const char *data, size_t n)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *s = (const unsigned char *)data;
	char *b = kt_xmalloc(n / 3 * 4 + 5);
	size_t i, o = 0;

	for (i = 0; i + 2 < n; i += 3) {
		b[o++] = tab[s[i] >> 2];
		b[o++] = tab[((s[i] & 3) << 4) | (s[i + 1] >> 4)];
		b[o++] = tab[((s[i + 1] & 15) << 2) | (s[i + 2] >> 6)];
		b[o++] = tab[s[i + 2] & 63];
	}
	if (n - i == 1) {
		b[o++] = tab[s[i] >> 2];
		b[o++] = tab[(s[i] & 3) << 4];
		b[o++] = '=';
		b[o++] = '=';
	} else if (n - i == 2) {
		b[o++] = tab[s[i] >> 2];
		b[o++] = tab[((s[i] & 3) << 4) | (s[i + 1] >> 4)];
		b[o++] = tab[(s[i + 1] & 15) << 2];
		b[o++] = '=';
	}
	b[o] = '\0';
	return b;
}

/* KUBERNETES_EXEC_INFO for the plugin. */
static char *exec_info_json(struct kt_kube *k, bool interactive)
{
	const struct kt_kc_exec *e = k->rc.user->exec;
	cJSON *o = cJSON_CreateObject(), *spec;
	char *txt;

	cJSON_AddStringToObject(o, "kind", "ExecCredential");
	cJSON_AddStringToObject(o, "apiVersion", e->api_version);
	spec = cJSON_AddObjectToObject(o, "spec");
	cJSON_AddBoolToObject(spec, "interactive", interactive);
	if (e->provide_cluster_info) {
		const struct kt_kc_cluster *cl = k->rc.cluster;
		cJSON *c = cJSON_AddObjectToObject(spec, "cluster");

		cJSON_AddStringToObject(c, "server", k->server); /* without user:password@ */
		if (cl->tls_server_name)
			cJSON_AddStringToObject(c, "tls-server-name", cl->tls_server_name);
		if (cl->insecure)
			cJSON_AddBoolToObject(c, "insecure-skip-tls-verify", true);
		if (k->ca.data) {
			/* base64 of the PEM, as client-go sends it */
			char *b = base64(k->ca.data, k->ca.len);

			cJSON_AddStringToObject(c, "certificate-authority-data", b);
			free(b);
		}
		if (cl->proxy_url)
			cJSON_AddStringToObject(c, "proxy-url", cl->proxy_url);
		if (cl->disable_compression)
			cJSON_AddBoolToObject(c, "disable-compression", true);
		if (cl->exec_config) {
			cJSON *cfg = cJSON_Parse(cl->exec_config);

			cJSON_AddItemToObject(c, "config", cfg ? cfg : cJSON_CreateObject());
		}
	}
	txt = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!txt)
		kt_oom();
	return txt;
}

static void free_env(char **envp)
{
	char **p;

	for (p = envp; p && *p; p++)
		free(*p);
	free(envp);
}

/* The plugin's environment: ours, plus env[] and KUBERNETES_EXEC_INFO
 * (later entries replace earlier ones of the same name). */
static char **exec_env(const struct kt_kc_exec *e, const char *info)
{
	extern char **environ;
	size_t n = 0, o = 0, i, j;
	char **envp;

	while (environ[n])
		n++;
	envp = kt_xcalloc(n + e->n_env + 2, sizeof(*envp));
	for (i = 0; i < n; i++) {
		size_t kl = strcspn(environ[i], "=");
		bool replaced = kl == 20 && !strncmp(environ[i], "KUBERNETES_EXEC_INFO", 20);

		for (j = 0; j < e->n_env && !replaced; j++)
			replaced = strlen(e->env[j].name) == kl && !strncmp(environ[i], e->env[j].name, kl);
		if (!replaced)
			envp[o++] = kt_xstrdup(environ[i]);
	}
	for (j = 0; j < e->n_env; j++) {
		size_t l = strlen(e->env[j].name) + strlen(e->env[j].value) + 2;

		envp[o] = kt_xmalloc(l);
		snprintf(envp[o++], l, "%s=%s", e->env[j].name, e->env[j].value);
	}
	{
		size_t l = strlen(info) + 32;

		envp[o] = kt_xmalloc(l);
		snprintf(envp[o++], l, "KUBERNETES_EXEC_INFO=%s", info);
	}
	return envp;
}

static const char *owner_of(const struct kt_kube *k)
{
	return k->rc.user->file ? k->rc.user->file : "kubeconfig";
}

/* Is our stdin a terminal we may hand to a plugin (we are its foreground
 * process group)? */
static bool have_terminal(void)
{
	pid_t fg;

	if (!isatty(0))
		return false;
	fg = tcgetpgrp(0);
	return fg >= 0 && fg == getpgrp();
}

/* apiVersion and interactiveMode; *interactive tells how to run it. */
static int exec_check(struct kt_kube *k, bool *interactive, struct kt_diag *d)
{
	const struct kt_kc_exec *e = k->rc.user->exec;
	const char *mode = e->interactive_mode;

	if (!e->api_version || (strcmp(e->api_version, "client.authentication.k8s.io/v1") &&
				strcmp(e->api_version, "client.authentication.k8s.io/v1beta1"))) {
		kt_diag_set(d, KT_EXIT_INPUT, "%s: user '%s': exec plugin apiVersion '%s' is not supported", owner_of(k),
			    k->rc.user->name, e->api_version ? e->api_version : "");
		kt_diag_hint(d, "use client.authentication.k8s.io/v1 or v1beta1");
		return -KT_EXIT_INPUT;
	}
	if (!strcmp(e->api_version, "client.authentication.k8s.io/v1") && !mode) {
		kt_diag_set(d, KT_EXIT_INPUT, "%s: user '%s': exec plugin v1 needs 'interactiveMode'", owner_of(k),
			    k->rc.user->name);
		return -KT_EXIT_INPUT;
	}
	if (!mode)
		mode = "IfAvailable";
	if (strcmp(mode, "Never") && strcmp(mode, "IfAvailable") && strcmp(mode, "Always")) {
		kt_diag_set(d, KT_EXIT_INPUT, "%s: user '%s': exec plugin interactiveMode '%s' is not Never, IfAvailable or Always",
			    owner_of(k), k->rc.user->name, mode);
		return -KT_EXIT_INPUT;
	}
	*interactive = strcmp(mode, "Never") && have_terminal();
	if (!strcmp(mode, "Always") && !*interactive) {
		kt_diag_set(d, KT_EXIT_CLUSTER,
			    "exec credential plugin '%s' needs a terminal (interactiveMode: Always), but standard input is not one",
			    e->command);
		kt_diag_hint(d, "run ktrace from an interactive terminal, or log in once with kubectl so the plugin can "
				"answer without asking");
		return -KT_EXIT_CLUSTER;
	}
	return 0;
}

struct plugin {
	pid_t pid;
	int fd;                  /* read end of its stdout */
	bool interactive;
	char *out;               /* what it printed (malloc; wiped on free) */
	size_t n, cap;
	int status;
	bool timed_out, overflow, reaped;
};

/* In the child, between fork and exec: async-signal-safe calls only. */
static void __attribute__((noreturn))
exec_child(const struct kt_kc_exec *e, const char **argv, char **envp, int out_fd, int null_fd, pid_t parent,
	   bool interactive)
{
	sigset_t none;
	static const int sigs[] = {SIGPIPE, SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGCHLD, SIGTSTP, SIGTTIN, SIGTTOU};

	/* killed with ktrace, even when ktrace is SIGKILLed */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(126);
	setpgid(0, 0);
	if (interactive) {
		signal(SIGTTOU, SIG_IGN);
		tcsetpgrp(0, getpid());
	}
	for (unsigned i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (!interactive && dup2(null_fd, 0) < 0)
		_exit(126);
	if (dup2(out_fd, 1) < 0)
		_exit(126);
	/* nothing of ktrace's beyond stdin/stdout/stderr reaches the plugin */
	if (close_range(3, ~0U, 0) < 0)
		for (int fd = 3; fd < 4096; fd++)
			close(fd);
	execvpe(e->command, (char *const *)argv, envp);
	_exit(errno == ENOENT ? 127 : 126);
}

static int exec_spawn(struct kt_kube *k, struct plugin *p, struct kt_diag *d)
{
	const struct kt_kc_exec *e = k->rc.user->exec;
	char *info = exec_info_json(k, p->interactive), **envp = exec_env(e, info);
	const char **argv = kt_xcalloc(e->n_args + 2, sizeof(*argv));
	int pfd[2] = {-1, -1}, nul = open("/dev/null", O_RDONLY | O_CLOEXEC), rc = 0;
	pid_t parent = getpid();
	unsigned i;

	argv[0] = e->command;
	for (i = 0; i < e->n_args; i++)
		argv[i + 1] = e->args[i];
	if (nul < 0 || pipe2(pfd, O_CLOEXEC) < 0) {
		rc = kt_diag_set(d, KT_EXIT_CLUSTER, "cannot run exec plugin '%s': %s", e->command, strerror(errno));
		goto out;
	}
	fflush(NULL);
	/* everything the child needs is built before fork */
	p->pid = fork();
	if (p->pid < 0) {
		rc = kt_diag_set(d, KT_EXIT_CLUSTER, "cannot run exec plugin '%s': %s", e->command, strerror(errno));
		goto out;
	}
	if (p->pid == 0)
		exec_child(e, argv, envp, pfd[1], nul, parent, p->interactive);
	setpgid(p->pid, p->pid); /* also done by the child: whoever is first */
	if (p->interactive) {
		/* the plugin's group owns the terminal until it is done */
		sigset_t tt, old;
		sigemptyset(&tt);
		sigaddset(&tt, SIGTTOU);
		sigprocmask(SIG_BLOCK, &tt, &old);
		tcsetpgrp(0, p->pid);
		sigprocmask(SIG_SETMASK, &old, NULL);
	}
	p->fd = pfd[0];
	pfd[0] = -1;
	fcntl(p->fd, F_SETFL, fcntl(p->fd, F_GETFL) | O_NONBLOCK);
out:
	if (pfd[0] >= 0)
		close(pfd[0]);
	if (pfd[1] >= 0)
		close(pfd[1]);
	if (nul >= 0)
		close(nul);
	free_env(envp);
	free(argv);
	free(info);
	return rc;
}

/* Read what is available without blocking; false at EOF or error. */
static bool exec_drain(struct plugin *p)
{
	for (;;) {
		ssize_t r;

		if (p->n + 4096 + 1 > p->cap) {
			if (p->cap >= KT_EXEC_MAX_OUT) {
				p->overflow = true;
				return false;
			}
			p->cap = p->cap ? p->cap * 2 : 8192;
			p->out = kt_xrealloc(p->out, p->cap);
		}
		r = read(p->fd, p->out + p->n, p->cap - p->n - 1);
		if (r > 0) {
			p->n += (size_t)r;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		return r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
	}
}

/* Collect output until the plugin exits or the deadline passes; a plugin
 * that outlives it (or floods stdout) is killed with its process group.
 * Always reaps it. */
static void exec_wait(struct plugin *p, long long deadline)
{
	bool open_fd = true;

	for (;;) {
		long long left = deadline - kt_kube_now_ms();
		pid_t w;

		if (open_fd) {
			struct pollfd pf = {.fd = p->fd, .events = POLLIN};

			if (poll(&pf, 1, left <= 0 ? 0 : left > 50 ? 50 : (int)left) > 0)
				open_fd = exec_drain(p);
			if (p->overflow)
				break;
		} else if (left > 0) {
			struct timespec ts = {0, 20 * 1000000L};
			nanosleep(&ts, NULL);
		}
		w = waitpid(p->pid, &p->status, WNOHANG);
		if (w == p->pid) {
			p->reaped = true;
			if (open_fd)
				exec_drain(p); /* what it wrote before exiting */
			break;
		}
		if (kt_kube_now_ms() >= deadline) {
			p->timed_out = true;
			break;
		}
	}
	if (!p->reaped) {
		kill(-p->pid, SIGKILL);
		kill(p->pid, SIGKILL);
		while (waitpid(p->pid, &p->status, 0) < 0 && errno == EINTR)
			;
		p->reaped = true;
	}
	close(p->fd);
	p->fd = -1;
	if (p->interactive) {
		sigset_t tt, old;
		sigemptyset(&tt);
		sigaddset(&tt, SIGTTOU);
		sigprocmask(SIG_BLOCK, &tt, &old);
		tcsetpgrp(0, getpgrp());
		sigprocmask(SIG_SETMASK, &old, NULL);
	}
	if (p->out)
		p->out[p->n] = '\0';
}

static int exec_failed(struct kt_kube *k, const struct plugin *p, struct kt_diag *d)
{
	const struct kt_kc_exec *e = k->rc.user->exec;

	if (p->timed_out) {
		kt_diag_set(d, KT_EXIT_CLUSTER, "exec credential plugin '%s' did not finish within %lds: killed",
			    e->command, k->timeout_s);
		kt_diag_hint(d, "run the plugin by hand to see why it hangs, or raise --request-timeout");
		return -KT_EXIT_CLUSTER;
	}
	if (p->overflow) {
		kt_diag_set(d, KT_EXIT_CLUSTER, "exec credential plugin '%s' printed more than %u KiB: killed",
			    e->command, KT_EXEC_MAX_OUT >> 10);
		return -KT_EXIT_CLUSTER;
	}
	if (WIFEXITED(p->status) && WEXITSTATUS(p->status) == 127) {
		kt_diag_set(d, KT_EXIT_CLUSTER, "exec credential plugin '%s' not found", e->command);
		if (e->install_hint)
			kt_diag_hint(d, "%.900s", e->install_hint);
		return -KT_EXIT_CLUSTER;
	}
	kt_diag_set(d, KT_EXIT_CLUSTER, "exec credential plugin '%s' failed (%s %d)", e->command,
		    WIFEXITED(p->status) ? "exit status" : "signal",
		    WIFEXITED(p->status) ? WEXITSTATUS(p->status) : WTERMSIG(p->status));
	kt_diag_hint(d, "run the plugin by hand to see its error; its stderr is shown above");
	return -KT_EXIT_CLUSTER;
}

/* The ExecCredential the plugin printed -> the credential cache. */
static int exec_take(struct kt_kube *k, const char *out, size_t n, struct kt_diag *d)
{
	const struct kt_kc_exec *e = k->rc.user->exec;
	cJSON *j = out ? cJSON_ParseWithLength(out, n) : NULL, *st, *v;
	const char *av, *tok, *crt, *key;
	int rc = -KT_EXIT_CLUSTER;

	if (!cJSON_IsObject(j)) {
		kt_diag_set(d, KT_EXIT_CLUSTER, "exec credential plugin '%s' printed no ExecCredential JSON", e->command);
		goto out;
	}
	av = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "apiVersion"));
	if (!av || strcmp(av, e->api_version)) {
		kt_diag_set(d, KT_EXIT_CLUSTER, "exec credential plugin '%s' returned apiVersion '%.100s', want '%s'",
			    e->command, av ? av : "", e->api_version);
		goto out;
	}
	st = cJSON_GetObjectItemCaseSensitive(j, "status");
	if (!cJSON_IsObject(st)) {
		kt_diag_set(d, KT_EXIT_CLUSTER, "exec credential plugin '%s' returned no status", e->command);
		goto out;
	}
	tok = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(st, "token"));
	crt = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(st, "clientCertificateData"));
	key = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(st, "clientKeyData"));
	if ((crt && *crt) != (key && *key)) {
		kt_diag_set(d, KT_EXIT_CLUSTER,
			    "exec credential plugin '%s' returned a client certificate without a key (or the reverse)",
			    e->command);
		goto out;
	}
	if (!(tok && *tok) && !(crt && *crt)) {
		kt_diag_set(d, KT_EXIT_CLUSTER, "exec credential plugin '%s' returned neither a token nor a certificate",
			    e->command);
		goto out;
	}
	if (tok && !value_clean(tok)) {
		kt_diag_set(d, KT_EXIT_INPUT, "exec credential plugin '%s' returned a status.token with a control character",
			    e->command);
		kt_diag_hint(d, "a token is sent in an HTTP header and must be a single line (its value is not shown)");
		rc = -KT_EXIT_INPUT;
		goto out;
	}
	v = cJSON_GetObjectItemCaseSensitive(st, "expirationTimestamp");
	k->exec_expiry = 0;
	if (cJSON_IsString(v) && v->valuestring[0]) {
		time_t t = parse_rfc3339(v->valuestring);

		if (t == (time_t)-1) {
			kt_diag_set(d, KT_EXIT_CLUSTER, "exec credential plugin '%s' returned a bad expirationTimestamp",
				    e->command);
			goto out;
		}
		k->exec_expiry = t;
	}
	auth_free_exec(k);
	k->exec_token = tok && *tok ? kt_xstrdup(tok) : NULL;
	k->exec_cert = crt && *crt ? kt_xstrdup(crt) : NULL;
	k->exec_key = key && *key ? kt_xstrdup(key) : NULL;
	k->exec_cert_len = k->exec_cert ? strlen(k->exec_cert) : 0;
	k->exec_key_len = k->exec_key ? strlen(k->exec_key) : 0;
	k->exec_done = true;
	k->cred_gen++;
	kt_log(2, "exec credential plugin %s: ok", e->command);
	rc = 0;
out:
	cJSON_Delete(j);
	return rc;
}

static int run_exec_plugin(struct kt_kube *k, struct kt_diag *d)
{
	struct plugin p;
	int rc;

	if (k->exec_fail.code) {
		/* it failed in this run already: the same answer, not another wait */
		if (!d->code) {
			kt_diag_set(d, k->exec_fail.code, "%s", k->exec_fail.msg);
			kt_diag_hint(d, "%s", k->exec_fail.hint);
		}
		return -k->exec_fail.code;
	}
	memset(&p, 0, sizeof(p));
	p.fd = -1;
	if ((rc = exec_check(k, &p.interactive, d)) < 0 || (rc = exec_spawn(k, &p, d)) < 0)
		return rc;
	exec_wait(&p, kt_kube_now_ms() + k->timeout_s * 1000LL);
	if (p.timed_out || p.overflow || !WIFEXITED(p.status) || WEXITSTATUS(p.status) != 0)
		rc = exec_failed(k, &p, d);
	else
		rc = exec_take(k, p.out, p.n, d);
	if (p.out) {
		memset(p.out, 0, p.cap);
		free(p.out);
	}
	if (rc < 0 && d->code)
		k->exec_fail = *d;
	return rc;
}

/* ---------- the interface ---------- */

int kt_auth_ensure(struct kt_kube *k, struct kt_diag *d)
{
	const struct kt_kc_user *u = k->rc.user;

	if (!k->https)
		return 0;
	if (u->token_file && reload_token_file(k, false, d) < 0)
		return d->code ? -d->code : -KT_EXIT_CLUSTER;
	if (u->exec && !k->token) {
		if (!k->exec_done || (k->exec_expiry && time(NULL) >= k->exec_expiry))
			return run_exec_plugin(k, d);
	}
	return 0;
}

int kt_auth_refresh(struct kt_kube *k, struct kt_diag *d)
{
	const struct kt_kc_user *u = k->rc.user;

	if (!k->https)
		return 0;
	if (u->token_file) {
		unsigned gen = k->cred_gen;

		if (reload_token_file(k, true, d) < 0)
			return d->code ? -d->code : -KT_EXIT_CLUSTER;
		return k->cred_gen != gen;
	}
	if (u->exec && !k->token) {
		int rc = run_exec_plugin(k, d);

		return rc < 0 ? rc : 1;
	}
	return 0;
}

int kt_auth_setup(struct kt_kube *k, struct kt_diag *d)
{
	const struct kt_kc_cluster *cl = k->rc.cluster;
	const struct kt_kc_user *u = k->rc.user;
	const char *owner = u->file ? u->file : "kubeconfig";
	const curl_version_info_data *vi = curl_version_info(CURLVERSION_NOW);

	if (cl->ca_data.data) {
		k->ca = cl->ca_data;
	} else if (cl->ca_file) {
		if (load_file_blob(k, cl->ca_file, "certificate-authority", cl->file ? cl->file : "kubeconfig",
				   &k->ca, d) < 0)
			return -KT_EXIT_INPUT;
	}
	if (check_user_values(u, d) < 0)
		return -KT_EXIT_INPUT;
	if (!k->https)
		return 0;    /* no credentials for http:// servers */
	if (u->cert_data.data)
		k->cert = u->cert_data;
	else if (u->cert_file && load_file_blob(k, u->cert_file, "client-certificate", owner, &k->cert, d) < 0)
		return -KT_EXIT_INPUT;
	if (u->key_data.data)
		k->key = u->key_data;
	else if (u->key_file && load_file_blob(k, u->key_file, "client-key", owner, &k->key, d) < 0)
		return -KT_EXIT_INPUT;
	if ((k->ca.data || k->cert.data || u->exec) &&
	    (!vi || !vi->ssl_version || strncmp(vi->ssl_version, "OpenSSL", 7))) {
		kt_diag_set(d, KT_EXIT_CLUSTER, "libcurl uses %s, which cannot take certificates from memory",
			    vi && vi->ssl_version ? vi->ssl_version : "no TLS library");
		kt_diag_hint(d, "build ktrace against libcurl4-openssl-dev");
		return -KT_EXIT_CLUSTER;
	}
	if (u->token && *u->token)
		k->token = kt_xstrdup(u->token);
	if (u->token_file && reload_token_file(k, true, d) < 0)
		return d->code ? -d->code : -KT_EXIT_CLUSTER;
	if (u->auth_provider) {
		if (!strcmp(u->auth_provider, "oidc") && u->oidc_id_token && !k->token) {
			k->token = kt_xstrdup(u->oidc_id_token);
		} else if (strcmp(u->auth_provider, "oidc")) {
			kt_diag_set(d, KT_EXIT_CLUSTER, "user '%s': the '%s' auth-provider is no longer supported",
				    u->name ? u->name : "", u->auth_provider);
			if (!strcmp(u->auth_provider, "gcp"))
				kt_diag_hint(d, "install gke-gcloud-auth-plugin and re-run 'gcloud container clusters get-credentials'");
			else if (!strcmp(u->auth_provider, "azure"))
				kt_diag_hint(d, "install kubelogin and run 'kubelogin convert-kubeconfig'");
			return -KT_EXIT_CLUSTER;
		}
	}
	return 0;
}

/* "Name: value" (malloc'd), wiped by the caller. */
static void add_header(struct curl_slist **hdrs, const char *name, const char *value)
{
	size_t l = strlen(name) + strlen(value) + 3;
	char *h = kt_xmalloc(l);

	snprintf(h, l, "%s: %s", name, value);
	*hdrs = curl_slist_append(*hdrs, h);
	memset(h, 0, l);
	free(h);
}

/* Impersonate-Extra-<key>: the key percent-encoded as client-go does. */
static void add_extra(struct curl_slist **hdrs, const char *key, const char *value)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(key), o = 0;
	char *name = kt_xmalloc(n * 3 + 32);

	o = (size_t)snprintf(name, 32, "Impersonate-Extra-");
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)key[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("-._~", c)) {
			name[o++] = (char)c;
		} else {
			name[o++] = '%';
			name[o++] = hex[c >> 4];
			name[o++] = hex[c & 15];
		}
	}
	name[o] = '\0';
	add_header(hdrs, name, value);
	free(name);
}

void kt_auth_apply(struct kt_kube *k, CURL *h, struct curl_slist **hdrs)
{
	const struct kt_kc_user *u = k->rc.user;
	const char *bearer = k->token ? k->token : k->exec_token;
	unsigned i, v;

	if (!k->https)
		return;
	if (k->exec_cert || k->cert.data) {
		struct curl_blob c = {k->exec_cert ? (void *)k->exec_cert : (void *)k->cert.data,
				      k->exec_cert ? k->exec_cert_len : k->cert.len, CURL_BLOB_COPY};
		struct curl_blob ky = {k->exec_cert ? (void *)k->exec_key : (void *)k->key.data,
				       k->exec_cert ? k->exec_key_len : k->key.len, CURL_BLOB_COPY};

		curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &c);
		curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
		curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &ky);
		curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
	}
	if (bearer && *bearer) {
		size_t l = strlen(bearer) + 8;
		char *hv = kt_xmalloc(l);

		snprintf(hv, l, "Bearer %s", bearer);
		add_header(hdrs, "Authorization", hv);
		memset(hv, 0, l);
		free(hv);
	} else if (u->username) {
		curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(h, CURLOPT_USERNAME, u->username);
		curl_easy_setopt(h, CURLOPT_PASSWORD, u->password ? u->password : "");
	}
	if (!u->as)
		return;
	add_header(hdrs, "Impersonate-User", u->as);
	if (u->as_uid)
		add_header(hdrs, "Impersonate-Uid", u->as_uid);
	for (i = 0; i < u->n_as_groups; i++)
		add_header(hdrs, "Impersonate-Group", u->as_groups[i]);
	for (i = 0; i < u->n_as_extra; i++)
		for (v = 0; v < u->as_extra[i].n_values; v++)
			add_extra(hdrs, u->as_extra[i].key, u->as_extra[i].values[v]);
}

static void auth_free_exec(struct kt_kube *k)
{
	if (k->exec_token) {
		memset(k->exec_token, 0, strlen(k->exec_token));
		free(k->exec_token);
	}
	if (k->exec_cert) {
		memset(k->exec_cert, 0, k->exec_cert_len);
		free(k->exec_cert);
	}
	if (k->exec_key) {
		memset(k->exec_key, 0, k->exec_key_len);
		free(k->exec_key);
	}
	k->exec_token = k->exec_cert = k->exec_key = NULL;
	k->exec_cert_len = k->exec_key_len = 0;
}

void kt_auth_free(struct kt_kube *k)
{
	if (k->token) {
		memset(k->token, 0, strlen(k->token));
		free(k->token);
		k->token = NULL;
	}
	auth_free_exec(k);
}
