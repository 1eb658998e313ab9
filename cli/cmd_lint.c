/* Placeholder until the lint command lands; replaced by its owner. */
#include "cli/cli.h"

static int run(struct kt_cli *c)
{
	return kt_cli_error(c, KT_EXIT_USAGE, NULL, "'lint' is not built yet");
}

static const struct kt_option opts[] = {{0}};

const struct kt_command kt_cmd_lint = {
	.name = "lint", .run = run, .opts = opts, .summary = "(not built yet)",
};
