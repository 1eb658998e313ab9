/*
 * libcurl, loaded when ktrace first talks HTTP instead of at every start.
 *
 * libcurl brings some thirty shared libraries (TLS, Kerberos, LDAP, SSH,
 * IDN, ...) whose loading and relocation cost each process 15-25 ms of CPU
 * on the project's VM: most of the run time of `ktrace lint` on a small
 * input, and the largest fixed cost of lint on any input
 * (BENCHMARKS.md). ktrace is therefore not linked against libcurl;
 * kt_curl_load() dlopen()s it (libcurl.so.4, then libcurl-gnutls.so.4)
 * the first time a command needs it, and the curl_* names used by this
 * file's includers resolve to the loaded functions.
 *
 * Include this instead of <curl/curl.h>, before any other header that
 * includes it. Collector internal: no curl type leaves collectors/kube/.
 */
#ifndef KT_COLLECTORS_CURL_DL_H
#define KT_COLLECTORS_CURL_DL_H

#define CURL_DISABLE_TYPECHECK 1 /* its macros would shadow the names below */
#include <curl/curl.h>
#include <stdbool.h>

/* Every libcurl function ktrace calls: (return type, name, parameters). */
#define KT_CURL_FUNCS(X)                                                                     \
	X(CURLcode, curl_global_init, (long flags))                                          \
	X(curl_version_info_data *, curl_version_info, (CURLversion age))                   \
	X(CURL *, curl_easy_init, (void))                                                    \
	X(CURLcode, curl_easy_setopt, (CURL * h, CURLoption opt, ...))                       \
	X(CURLcode, curl_easy_getinfo, (CURL * h, CURLINFO info, ...))                       \
	X(void, curl_easy_cleanup, (CURL * h))                                               \
	X(void, curl_easy_reset, (CURL * h))                                                 \
	X(const char *, curl_easy_strerror, (CURLcode c))                                    \
	X(char *, curl_easy_escape, (CURL * h, const char *s, int len))                      \
	X(void, curl_free, (void *p))                                                        \
	X(struct curl_slist *, curl_slist_append, (struct curl_slist * l, const char *s))   \
	X(void, curl_slist_free_all, (struct curl_slist * l))                                \
	X(CURLM *, curl_multi_init, (void))                                                  \
	X(CURLMcode, curl_multi_setopt, (CURLM * m, CURLMoption opt, ...))                   \
	X(CURLMcode, curl_multi_add_handle, (CURLM * m, CURL * h))                           \
	X(CURLMcode, curl_multi_remove_handle, (CURLM * m, CURL * h))                        \
	X(CURLMcode, curl_multi_perform, (CURLM * m, int *running))                          \
	X(CURLMcode, curl_multi_poll,                                                        \
	  (CURLM * m, struct curl_waitfd * extra, unsigned n, int timeout_ms, int *numfds)) \
	X(CURLMsg *, curl_multi_info_read, (CURLM * m, int *left))                           \
	X(CURLMcode, curl_multi_cleanup, (CURLM * m))                                        \
	X(CURLU *, curl_url, (void))                                                         \
	X(CURLUcode, curl_url_set, (CURLU * u, CURLUPart what, const char *part, unsigned flags)) \
	X(CURLUcode, curl_url_get, (const CURLU *u, CURLUPart what, char **part, unsigned flags)) \
	X(void, curl_url_cleanup, (CURLU * u))

struct kt_curl_api {
#define KT_CURL_PTR(ret, name, params) ret(*name) params;
	KT_CURL_FUNCS(KT_CURL_PTR)
#undef KT_CURL_PTR
};
extern struct kt_curl_api kt_curl;

/* Load libcurl once (thread-safe). Returns true when every function above
 * is available; else false with *why set to a static message (the dlopen
 * or dlsym error). */
bool kt_curl_load(const char **why);

#ifndef KT_CURL_DL_IMPL
#undef curl_easy_setopt  /* curl.h's three-argument checks */
#undef curl_easy_getinfo
#undef curl_multi_setopt
#define curl_global_init kt_curl.curl_global_init
#define curl_version_info kt_curl.curl_version_info
#define curl_easy_init kt_curl.curl_easy_init
#define curl_easy_setopt kt_curl.curl_easy_setopt
#define curl_easy_getinfo kt_curl.curl_easy_getinfo
#define curl_easy_cleanup kt_curl.curl_easy_cleanup
#define curl_easy_reset kt_curl.curl_easy_reset
#define curl_easy_strerror kt_curl.curl_easy_strerror
#define curl_easy_escape kt_curl.curl_easy_escape
#define curl_free kt_curl.curl_free
#define curl_slist_append kt_curl.curl_slist_append
#define curl_slist_free_all kt_curl.curl_slist_free_all
#define curl_multi_init kt_curl.curl_multi_init
#define curl_multi_setopt kt_curl.curl_multi_setopt
#define curl_multi_add_handle kt_curl.curl_multi_add_handle
#define curl_multi_remove_handle kt_curl.curl_multi_remove_handle
#define curl_multi_perform kt_curl.curl_multi_perform
#define curl_multi_poll kt_curl.curl_multi_poll
#define curl_multi_info_read kt_curl.curl_multi_info_read
#define curl_multi_cleanup kt_curl.curl_multi_cleanup
#define curl_url kt_curl.curl_url
#define curl_url_set kt_curl.curl_url_set
#define curl_url_get kt_curl.curl_url_get
#define curl_url_cleanup kt_curl.curl_url_cleanup
#endif

#endif
