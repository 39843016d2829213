#!/usr/bin/env bats
# I/O errors: EIO and ENOSPC injected at the steps of the write paths
# (DOS_FAULT=eio:N, enospc:N, see dos(7)): each failure gives a message
# with the system's reason.
load helper

@test "init: a failed rename of config.json is reported with its reason" {
	DOS_FAULT_LOG=points dos init -q probe
	n=$(grep -m1 ' after config-rename$' points | cut -d' ' -f1)
	run -128 env DOS_FAULT=eio:$n dos init c
	[ "$output" = "dos-init: fatal: unable to create container 'c': Input/output error" ]
}
