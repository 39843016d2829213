# bash completion for dos(1), installed by `make install` as
# share/bash-completion/completions/dos.
#
# Commands and options are read from the programs' own usage (`dos -h`,
# `dos <command> -h`), so the completion knows every command and option
# the installed dos has, and never falls behind it.  Object ids are
# completed from `dos ls` for the commands that take them.

# The dos of the command line with its global options (-d <dir>,
# --dir=<dir>, --exec-path=<dir>), so that ids come from the container
# the command will use.
_dos_run()
{
	dos "${_dos_global[@]}" "$@" 2>/dev/null
}

_dos_commands()
{
	_dos_run -h | sed -n \
	    '/^The dos commands are:$/,/^$/s/^   \([a-z][a-z0-9-]*\) .*/\1/p'
}

# One option a line, as the usage of command $1 spells it: -q, --quiet,
# --compress=(keep | auto); "--[no-]x" is both --x and --no-x.
_dos_usage_options()
{
	dos "${_dos_global[@]}" "$1" -h 2>&1 | awk '
	{
		s = $0
		while (match(s, /(^|[[(| ])--?(\[no-\])?[a-zA-Z][a-zA-Z0-9-]*(=\([^)]*\)|=)?/)) {
			o = substr(s, RSTART, RLENGTH)
			s = substr(s, RSTART + RLENGTH)
			sub(/^[[(| ]/, "", o)
			if (o ~ /^--\[no-\]/) {
				sub(/\[no-\]/, "", o)
				print o
				sub(/^--/, "--no-", o)
			}
			print o
		}
	}' | LC_ALL=C sort -u
}

_dos_complete()
{
	local cur=${COMP_WORDS[COMP_CWORD]} i=1 cmd= w opts
	local -a _dos_global=()

	while [ "$i" -lt "$COMP_CWORD" ]; do
		w=${COMP_WORDS[i]}
		case $w in
		-d|--dir)
			_dos_global+=("$w" "${COMP_WORDS[i + 1]}")
			i=$((i + 1))
			;;
		--dir=*|--exec-path=*)
			_dos_global+=("$w")
			;;
		-*)
			;;
		*)
			cmd=$w
			break
			;;
		esac
		i=$((i + 1))
	done

	if [ -z "$cmd" ]; then
		case ${COMP_WORDS[COMP_CWORD - 1]} in
		-d|--dir)
			COMPREPLY=($(compgen -d -- "$cur"))
			return
			;;
		esac
		case $cur in
		-*)
			COMPREPLY=($(compgen -W '-d --dir= --exec-path= -h --help
			    --version' -- "$cur"))
			;;
		*)
			COMPREPLY=($(compgen -W "$(_dos_commands) help" -- "$cur"))
			;;
		esac
		return
	fi

	opts=$(_dos_usage_options "$cmd")
	case $cur in
	--*=*)
		# The choices a usage gives in parentheses: --compress=(a | b);
		# a placeholder such as <codec>:<level> is none.
		w=$(printf '%s\n' "$opts" | sed -n "s/^${cur%%=*}=(\(.*\))\$/\1/p" |
		    tr -d ' ' | tr '|' '\n' | grep -v '^<')
		COMPREPLY=($(compgen -W "$w" -- "${cur#*=}"))
		return
		;;
	-*)
		COMPREPLY=($(compgen -W "$(printf '%s\n' "$opts" |
		    sed 's/=.*/=/')" -- "$cur"))
		# An option that takes a value gets no space after its '='.
		[ "${COMPREPLY[0]%=}" != "${COMPREPLY[0]}" ] &&
		    compopt -o nospace 2>/dev/null
		return
		;;
	esac

	case $cmd in
	cat-object|rm)
		# Ids have no spaces; "dos ls" of a big container takes a moment,
		# so only a started id is looked up.
		[ -n "$cur" ] &&
		    COMPREPLY=($(_dos_run ls | grep -- "^$cur" | head -n 100))
		;;
	help)
		COMPREPLY=($(compgen -W "$(_dos_commands) dos" -- "$cur"))
		;;
	config)
		COMPREPLY=($(compgen -W "$(_dos_run config -l |
		    sed 's/=.*//')" -- "$cur"))
		;;
	*)
		COMPREPLY=($(compgen -f -- "$cur"))
		;;
	esac
}

complete -F _dos_complete dos
