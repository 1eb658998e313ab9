/*
 * The ktrace binary's main(): everything else, including kt_cli_main(),
 * lives in libktrace.a so that tests and fuzz targets run the same program.
 */
#include "cli/cli.h"

int main(int argc, char **argv)
{
	return kt_cli_main(argc, argv);
}
