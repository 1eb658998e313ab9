/* The built-in demo cluster (tests/fixtures/demo/demo-bundle.json), embedded
 * so `--from demo` needs no file. Read by lib/bundle.c. */
	.section .rodata
	.global kt_demo_bundle
	.global kt_demo_bundle_end
	.balign 16
kt_demo_bundle:
	.incbin "tests/fixtures/demo/demo-bundle.json"
kt_demo_bundle_end:
	.byte 0
	.section .note.GNU-stack,"",@progbits
