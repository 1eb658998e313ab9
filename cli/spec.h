/* Internal to cli/: the command and global option tables (cli/main.c) for
 * help, completion and man-page generation. */
#ifndef KT_CLI_SPEC_H
#define KT_CLI_SPEC_H

#include <stdio.h>

#include "cli/cli.h"

extern const struct kt_command *const kt_commands[];
extern const struct kt_option kt_global_opts[];
void kt_cli_command_help(FILE *f, const struct kt_command *c);
/* "ktrace", or "kubectl ktrace" when run as the kubectl plugin
 * (argv[0] named kubectl-ktrace). */
const char *kt_cli_prog(void);
/* Write our own help/hint text, naming the program as it was invoked:
 * "ktrace CMD" becomes "kubectl ktrace CMD" for the plugin. */
void kt_cli_put_text(FILE *f, const char *text);
void kt_cli_resolve_color(struct kt_cli *c);
/* End of main: says how many warnings were not shown; frees kt_cv() copies. */
void kt_cli_finish(struct kt_cli *c);
/* Completion (cli/complete.c): `__complete line -- WORD... CUR` and
 * `__complete KIND` (-1: unknown kind). */
int kt_complete_line(struct kt_cli *c, char **words, int n, bool cobra);
int kt_complete_kind(struct kt_cli *c, const char *kind);

#endif
