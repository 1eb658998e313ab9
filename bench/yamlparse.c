/*
 * The floor for `ktrace lint` throughput: a bare libyaml event parse of
 * the given files (no tree, no model), as bench/lint.sh compares. Prints
 * "<bytes> <events>" and exits 1 on a parse error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <yaml.h>

int main(int argc, char **argv)
{
	unsigned long long bytes = 0, events = 0;
	for (int i = 1; i < argc; i++) {
		FILE *f = fopen(argv[i], "rb");
		if (!f) {
			perror(argv[i]);
			return 1;
		}
		fseek(f, 0, SEEK_END);
		long n = ftell(f);
		fseek(f, 0, SEEK_SET);
		unsigned char *buf = malloc((size_t)n + 1);
		if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
			fclose(f);
			return 1;
		}
		fclose(f);
		bytes += (unsigned long long)n;
		yaml_parser_t p;
		yaml_event_t e;
		yaml_parser_initialize(&p);
		yaml_parser_set_input_string(&p, buf, (size_t)n);
		for (;;) {
			if (!yaml_parser_parse(&p, &e)) {
				fprintf(stderr, "%s:%zu: %s\n", argv[i], p.problem_mark.line + 1, p.problem);
				return 1;
			}
			events++;
			int done = e.type == YAML_STREAM_END_EVENT;
			yaml_event_delete(&e);
			if (done)
				break;
		}
		yaml_parser_delete(&p);
		free(buf);
	}
	printf("%llu %llu\n", bytes, events);
	return 0;
}
