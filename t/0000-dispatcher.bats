#!/usr/bin/env bats
# The dos dispatcher: exec path, help, version, unknown commands.
load helper

@test "dos --version prints the version" {
	run -0 dos --version
	[ "$output" = "dos version 0.1.0" ]
}

@test "dos runs dos-<command>" {
	run -0 --separate-stderr dos hash-object --stdin <<<''
	[ "$output" = "01ba4719c80b6fe911b091a7c05124b64eeece964e09c058ef8f9805daca546b" ]
}

@test "an unknown command is exit 1 with a clear message" {
	run -1 dos no-such-command
	[ "$output" = "dos: 'no-such-command' is not a dos command. See 'dos --help'." ]
}
