/*
 * Internal to cli/: rendering the ingress layer of `ktrace path`
 * (cli/render_ingress.c).
 */
#ifndef KT_CLI_RENDER_INGRESS_H
#define KT_CLI_RENDER_INGRESS_H

#include "cli/cli.h"
#include "ktrace/path.h"

struct kt_jw;

/* `path svc/NAME`: the Ingresses and routes sending traffic to it. */
void kt_render_ingress_section_text(struct kt_cli *c, const struct kt_snapshot *s, const struct kt_ing_result *r);
void kt_render_ingress_section_json(struct kt_jw *w, const struct kt_snapshot *s, const struct kt_ing_result *r);
/* `path ingress/NAME` and the route kinds: the whole way in. */
int kt_render_ingress_path_text(struct kt_cli *c, const struct kt_snapshot *s, const struct kt_ing_result *r);
int kt_render_ingress_path_json(struct kt_cli *c, const struct kt_snapshot *s, const struct kt_ing_result *r);

#endif
