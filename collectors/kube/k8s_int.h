/*
 * Internal to collectors/kube/k8s_*.c: the conversion context and the
 * JSON field readers the per-kind converters share (k8s_read.c), and the
 * ingress-layer converters (k8s_ingress.c) the dispatcher in k8s_obj.c
 * calls. The short reader names (jget, jstr, ...) are kept readable at the
 * call sites and mapped to kt_k8s_* symbols here.
 */
#ifndef KT_COLLECTORS_K8S_INT_H
#define KT_COLLECTORS_K8S_INT_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#include "collectors/kube/k8s_obj.h"

#define KT_MAX_SLICE_ROWS 100000 /* endpoint rows from one EndpointSlice */

struct ctx {
	struct kt_snapshot *s;
	struct kt_arena *a;
	const struct kt_posmap *pm;
	const char *default_ns;       /* for namespaced objects without one (bundles, Lists) */
	struct kt_fieldpos *fields;   /* malloc'd while converting one object */
	uint32_t n_fields, cap_fields;
};

/* Iterate an array's elements; anything else (an object where Kubernetes
 * expects a list, a scalar) iterates nothing. Sizes are computed with the
 * same test, so malformed input can never index past an allocation. */
#define KT_EACH(e, arr) cJSON_ArrayForEach(e, (cJSON_IsArray(arr) ? (arr) : NULL))

#define clamp32 kt_k8s_clamp32
#define ctrl_configmap kt_k8s_ctrl_configmap
#define dbl_to_i64 kt_k8s_dbl_to_i64
#define do_gateway kt_k8s_do_gateway
#define do_gateway_class kt_k8s_do_gateway_class
#define do_ingress kt_k8s_do_ingress
#define do_ingress_class kt_k8s_do_ingress_class
#define do_route kt_k8s_do_route
#define jbool kt_k8s_jbool
#define jget kt_k8s_jget
#define jint kt_k8s_jint
#define jkv kt_k8s_jkv
#define jpath kt_k8s_jpath
#define jport kt_k8s_jport
#define jportnum kt_k8s_jportnum
#define jstr kt_k8s_jstr
#define jstrs kt_k8s_jstrs
#define jtime kt_k8s_jtime
#define kpath kt_k8s_kpath
#define kv_cmp kt_k8s_kv_cmp
#define meta_finish kt_k8s_meta_finish
#define note kt_k8s_note
#define note_at kt_k8s_note_at
#define notek kt_k8s_notek
#define obj_namespace kt_k8s_obj_namespace
#define parse_time_ms kt_k8s_parse_time_ms
#define read_lb_ingress kt_k8s_read_lb_ingress
#define read_meta kt_k8s_read_meta
#define read_podspec kt_k8s_read_podspec
#define read_selector kt_k8s_read_selector

int32_t clamp32(int64_t v);
void ctrl_configmap(struct ctx *c, const cJSON *o, const cJSON *data);
int64_t dbl_to_i64(double x);
void do_gateway(struct ctx *c, const cJSON *o);
void do_gateway_class(struct ctx *c, const cJSON *o);
void do_ingress(struct ctx *c, const cJSON *o);
void do_ingress_class(struct ctx *c, const cJSON *o);
void do_route(struct ctx *c, const cJSON *o, bool grpc);
bool jbool(const cJSON *o, const char *k, bool def);
const cJSON *jget(const cJSON *o, const char *k);
int64_t jint(const cJSON *o, const char *k, int64_t def);
struct kt_kvlist jkv(struct ctx *c, const cJSON *o);
const cJSON *jpath(const cJSON *o, const char *p1, const char *p2);
struct kt_portref jport(struct ctx *c, const cJSON *v);
int32_t jportnum(const cJSON *o, const char *k);
const char *jstr(struct ctx *c, const cJSON *o, const char *k);
const char **jstrs(struct ctx *c, const cJSON *arr, uint32_t *n);
int64_t jtime(const cJSON *o, const char *k);
size_t kpath(char *buf, size_t cap, const char *a, const char *b, int i);
int kv_cmp(const void *a, const void *b);
void meta_finish(struct ctx *c, struct kt_meta *m);
void note(struct ctx *c, const cJSON *node, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void note_at(struct ctx *c, const cJSON *node, const char *path, size_t len);
const cJSON *notek(struct ctx *c, const cJSON *o, const char *key, const char *prefix);
const char *obj_namespace(struct ctx *c, const cJSON *md, const char *kind);
int64_t parse_time_ms(const char *t);
void read_lb_ingress(struct ctx *c, const cJSON *arr, struct kt_lb_ingress **out, uint32_t *n);
void read_meta(struct ctx *c, const cJSON *obj, const char *kind, struct kt_meta *m);
void read_podspec(struct ctx *c, const cJSON *spec, struct kt_podspec *ps, const char *fpath);
struct kt_selector read_selector(struct ctx *c, const cJSON *sel);

#endif
