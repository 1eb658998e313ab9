/* `ktrace help [COMMAND]`: the same text as `ktrace COMMAND --help`. */
#include <string.h>

#include "cli/cli.h"
#include "cli/spec.h"

static int run(struct kt_cli *c)
{
	if (c->argc == 0) {
		printf("usage: %s help COMMAND\n\nCommands:\n", kt_cli_prog());
		for (int i = 0; kt_commands[i]; i++)
			if (!(kt_commands[i]->flags & KT_CMD_HIDDEN))
				printf("  %-12s %s\n", kt_commands[i]->name, kt_commands[i]->summary);
		return 0;
	}
	for (int i = 0; kt_commands[i]; i++)
		if (!strcmp(kt_commands[i]->name, c->argv[0])) {
			kt_cli_command_help(stdout, kt_commands[i]);
			return 0;
		}
	return kt_cli_error(c, KT_EXIT_USAGE, "see 'ktrace --help' for the commands", "unknown command '%s'", c->argv[0]);
}

static const struct kt_option opts[] = {{0}};

const struct kt_command kt_cmd_help = {
	.name = "help",
	.run = run,
	.opts = opts,
	.flags = KT_CMD_NO_GLOBALS,
	.man = "ktrace(1)",
	.args = "command",
	.usage = "[COMMAND]",
	.summary = "show help for a command (same as 'ktrace COMMAND --help')",
	.outputs = "text",
};
