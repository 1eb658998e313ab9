/* deploy/ktrace-agent.yaml and deploy/ktrace-users.yaml, embedded so that
 * `ktrace agent manifest` prints exactly what deploy/ holds. Read by
 * cli/agent/manifest.c. */
	.section .rodata
	.global kt_ag_manifest_agent
	.global kt_ag_manifest_agent_end
	.global kt_ag_manifest_users
	.global kt_ag_manifest_users_end
	.balign 16
kt_ag_manifest_agent:
	.incbin "deploy/ktrace-agent.yaml"
kt_ag_manifest_agent_end:
	.byte 0
	.balign 16
kt_ag_manifest_users:
	.incbin "deploy/ktrace-users.yaml"
kt_ag_manifest_users_end:
	.byte 0
	.section .note.GNU-stack,"",@progbits
