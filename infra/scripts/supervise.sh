#!/usr/bin/env bash
# Sourced by start.sh and start-stack.sh: the processes they start end with the command that
# started them. Each script starts its processes in sessions of their own (`setsid`, so a Ctrl-C at
# the terminal reaches only the script, which forwards it once: the services treat a second signal
# as "exit now"), records them in `children`, then calls `supervise_traps` and `supervise_watchdog`.
# - INT, TERM and HUP to the script are forwarded to them (HUP as TERM); the script waits for them
#   (15 s at most, then SIGKILL) and exits.
# - The watchdog, checking every second, covers what reaches the start command but not the script:
#   `pnpm` answers SIGTERM by killing its `sh -c` child only, and a SIGKILL reaches nobody. When the
#   script's parent, or any `sh -c` wrapper above it, or the command above those (pnpm, npm, an
#   interactive shell) is gone, it sends the script SIGTERM. Should the script itself be killed
#   outright, the watchdog stops the processes itself.

declare -A children=() # pid -> name
# A file holding the pids of `children`, for a script that starts them again (supervise_record):
# the watchdog reads the current ones from it. Unset: the ones at supervise_watchdog.
supervise_pidfile=''
supervise_detach=()
if command -v setsid >/dev/null; then supervise_detach=(setsid); fi

# The parent pid of process $1, or nothing once it is gone (a zombie counts as gone).
_supervise_parent() {
  if [ -r "/proc/$1/stat" ]; then
    local stat
    stat=$(<"/proc/$1/stat") 2>/dev/null || return 0
    # After "pid (command) ": state ppid ... (the command may hold spaces and parentheses).
    read -r -a stat <<<"${stat##*) }"
    if [ "${stat[0]}" != Z ]; then echo "${stat[1]}"; fi
  else
    ps -o stat=,ppid= -p "$1" 2>/dev/null | awk '$1 !~ /^Z/ { print $2 }'
  fi
}

_supervise_args() {
  if [ -r "/proc/$1/cmdline" ]; then tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null; else ps -o args= -p "$1" 2>/dev/null; fi
}

# The processes whose end ends ours: the parent, up through `sh -c` wrappers, and the one above.
_supervise_ancestors() {
  local pid=$PPID
  while [ -n "$pid" ] && [ "$pid" -gt 1 ]; do
    echo "$pid"
    case "$(_supervise_args "$pid")" in
      *sh\ -c\ *) pid=$(_supervise_parent "$pid") ;;
      *) return 0 ;;
    esac
  done
}

# Pids of `children` still running.
_supervise_alive() {
  local pid
  for pid in "$@"; do
    if [ -n "$(_supervise_parent "$pid")" ]; then echo "$pid"; fi
  done
}

# signal status: forwards `signal` to every child, waits for them (SIGKILL after 15 s), exits.
supervise_stop() {
  # A second signal now is "exit now": forwarded too, and the wait goes on.
  trap 'kill -s INT "${!children[@]}" 2>/dev/null || true' INT
  trap 'kill -s TERM "${!children[@]}" 2>/dev/null || true' TERM HUP
  if [ -n "${supervise_watchdog_pid:-}" ]; then kill "$supervise_watchdog_pid" 2>/dev/null || true; fi
  kill -s "$1" "${!children[@]}" 2>/dev/null || true
  local deadline=$((SECONDS + 15)) alive
  while :; do
    mapfile -t alive < <(_supervise_alive "${!children[@]}")
    if [ "${#alive[@]}" -eq 0 ]; then break; fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "[supervise] still running after 15 s, killing: ${alive[*]}" >&2
      kill -s KILL "${alive[@]}" 2>/dev/null || true
      break
    fi
    sleep 0.2
  done
  wait "${!children[@]}" 2>/dev/null || true
  if [ -n "$supervise_pidfile" ]; then rm -f "$supervise_pidfile"; fi
  exit "$2"
}

# Writes the current `children` pids to supervise_pidfile (after every start and exit).
supervise_record() {
  if [ -n "$supervise_pidfile" ]; then printf '%s\n' "${!children[@]}" >"$supervise_pidfile"; fi
}

# The pids the watchdog stops: the recorded ones, else those given.
_supervise_current() {
  if [ -n "$supervise_pidfile" ] && [ -s "$supervise_pidfile" ]; then cat "$supervise_pidfile"; else printf '%s\n' "$@"; fi
}

supervise_traps() {
  trap 'supervise_stop INT 130' INT
  trap 'supervise_stop TERM 143' TERM
  trap 'supervise_stop TERM 129' HUP
}

supervise_watchdog() {
  local script=$$ parent=$PPID ancestors pids=("${!children[@]}")
  mapfile -t ancestors < <(_supervise_ancestors)
  (
    # Ctrl-C and a hang-up reach this process group too: the script decides what they mean.
    trap '' INT HUP
    while :; do
      sleep 1 || true
      if [ -z "$(_supervise_parent "$script")" ]; then
        # The script was killed outright (SIGKILL): stop what it started, then make sure.
        mapfile -t pids < <(_supervise_current "${pids[@]}")
        kill -s TERM "${pids[@]}" 2>/dev/null || true
        for _ in $(seq 30); do
          if [ -z "$(_supervise_alive "${pids[@]}")" ]; then exit 0; fi
          sleep 0.5 || true
        done
        kill -s KILL "${pids[@]}" 2>/dev/null || true
        exit 0
      fi
      gone=''
      if [ "$(_supervise_parent "$script")" != "$parent" ]; then gone=$parent; fi
      for pid in "${ancestors[@]}"; do
        if [ -z "$(_supervise_parent "$pid")" ]; then gone=$pid; fi
      done
      if [ -n "$gone" ]; then
        echo "[supervise] the start command is gone (pid $gone): stopping" >&2
        kill -s TERM "$script" 2>/dev/null || true
        exit 0
      fi
    done
  ) &
  supervise_watchdog_pid=$!
}
