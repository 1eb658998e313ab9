/*
 * dlopen() of libcurl on first use (see curl_dl.h for why). The library
 * stays loaded until the process exits.
 */
#define KT_CURL_DL_IMPL 1
#include "collectors/kube/curl_dl.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

struct kt_curl_api kt_curl;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static bool loaded;
static char why_buf[320];

static void load(void)
{
	/* the soname ktrace was built against, then Debian's GnuTLS flavour */
	static const char *const names[] = {"libcurl.so.4", "libcurl-gnutls.so.4", "libcurl.so"};
	void *h = NULL;
	const char *err = "not found";
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]) && !h; i++) {
		h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
		if (!h && i == 0) {
			const char *e = dlerror();
			if (e)
				snprintf(why_buf, sizeof(why_buf), "%s", e);
		}
	}
	if (!h) {
		if (!why_buf[0])
			snprintf(why_buf, sizeof(why_buf), "libcurl.so.4: %s", err);
		return;
	}
	void *sym;
#define KT_CURL_SYM(ret, name, params)                                                           \
	sym = dlsym(h, #name);                                                                   \
	if (!sym) {                                                                              \
		snprintf(why_buf, sizeof(why_buf), "libcurl has no %s (libcurl 7.66 or later needed)", \
			 #name);                                                                 \
		return;                                                                          \
	}                                                                                        \
	memcpy(&kt_curl.name, &sym, sizeof(sym));
	KT_CURL_FUNCS(KT_CURL_SYM)
#undef KT_CURL_SYM
	loaded = true;
}

bool kt_curl_load(const char **why)
{
	pthread_once(&once, load);
	if (!loaded && why)
		*why = why_buf;
	return loaded;
}
