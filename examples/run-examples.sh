#!/usr/bin/env bash
# run-examples.sh — runs every example in BUILDDIR/examples and checks what
# it prints; exits non-zero if any output differs. Builds nothing.
#
#   bash examples/run-examples.sh BUILDDIR
#
# The echo client is `nc` (netcat-openbsd) when installed, else bash's own
# /dev/tcp. Only lower bounds on time are checked, never upper ones.
set -u

B=${1:?usage: run-examples.sh BUILDDIR}
X=$B/examples
TMP=$(mktemp -d)
PIDS=() # background examples we started, killed on any early exit
pass=0
fail=0

cleanup() {
  local p
  for p in "${PIDS[@]}"; do
    kill -KILL "$p" 2>/dev/null
  done
  rm -rf "$TMP"
}
trap cleanup EXIT

ok() {
  echo "ok   $1"
  pass=$((pass + 1))
}
bad() {
  echo "FAIL $1: $2"
  fail=$((fail + 1))
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# wait_line FILE REGEX SECONDS: waits until FILE has a line matching REGEX.
wait_line() {
  local i
  for ((i = 0; i < $3 * 20; i++)); do
    grep -Eq "$2" "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}

# wait_exit PID SECONDS: reaps PID; its status in $rc, 124 if it hung.
wait_exit() {
  local i
  for ((i = 0; i < $2 * 20; i++)); do
    if ! kill -0 "$1" 2>/dev/null; then
      wait "$1"
      rc=$?
      return 0
    fi
    sleep 0.05
  done
  kill -KILL "$1" 2>/dev/null
  wait "$1" 2>/dev/null
  rc=124
  return 1
}

need() {
  if [ ! -x "$X/$1" ]; then
    bad "$1" "$X/$1 is not built (run make examples)"
    return 1
  fi
}

# ---------------------------------------------------------------- hello_world
t_hello() {
  need hello_world || return
  local t0 t1 out
  t0=$(now_ms)
  out=$(timeout 20 "$X/hello_world" 2>"$TMP/hello.err")
  local rc=$?
  t1=$(now_ms)
  if [ $rc -ne 0 ]; then
    bad hello_world "exit status $rc: $(cat "$TMP/hello.err")"
  elif [ "$out" != $'Hello\nWorld' ]; then
    bad hello_world "expected 'Hello' then 'World', got: $out"
  elif [ $((t1 - t0)) -lt 950 ]; then
    bad hello_world "expected to wait ~1 s between the lines, took $((t1 - t0)) ms"
  else
    ok "hello_world (Hello ... World after $((t1 - t0)) ms)"
  fi
  # A program learns why its loop was refused: the loader's own reason.
  local bad_so=$B/fixtures/bad_IMPL.so
  [ -f "$bad_so" ] || return
  EVL_BACKEND=$bad_so timeout 20 "$X/hello_world" >/dev/null 2>"$TMP/hello.err"
  rc=$?
  if [ $rc -eq 0 ] || ! grep -q 'missing symbol evl_backend_plugin' "$TMP/hello.err"; then
    bad hello_world "EVL_BACKEND=bad_IMPL.so: expected exit 1 and 'missing symbol evl_backend_plugin', got $rc: $(cat "$TMP/hello.err")"
  else
    ok "hello_world (EVL_BACKEND=bad_IMPL.so: $(cat "$TMP/hello.err"))"
  fi
}

# ---------------------------------------------------------------- echo_server
t_echo() {
  need echo_server || return
  local out=$TMP/echo.out err=$TMP/echo.err port pid
  "$X/echo_server" 0 >"$out" 2>"$err" &
  pid=$!
  PIDS+=("$pid")
  if ! wait_line "$out" '^listening on 127\.0\.0\.1:[0-9]+$' 10; then
    bad echo_server "no 'listening on' line: $(cat "$out" "$err")"
    kill -KILL "$pid" 2>/dev/null
    return
  fi
  port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$out")

  # A line, and a payload big enough to fill the socket buffers (the
  # server's back-pressure path), must come back byte for byte.
  local client="bash /dev/tcp"
  if command -v nc >/dev/null 2>&1 && nc -h 2>&1 | grep -Eq -- '^[[:space:]]+-N[[:space:]]'; then
    client="nc"
    printf 'hello, evl\n' >"$TMP/line"
    head -c 262144 /dev/urandom >"$TMP/big"
    timeout 20 nc -N -w 10 127.0.0.1 "$port" <"$TMP/line" >"$TMP/line.back"
    timeout 20 nc -N -w 10 127.0.0.1 "$port" <"$TMP/big" >"$TMP/big.back"
    if ! cmp -s "$TMP/line" "$TMP/line.back"; then
      bad echo_server "nc: sent 'hello, evl', got '$(cat "$TMP/line.back")'"
    elif ! cmp -s "$TMP/big" "$TMP/big.back"; then
      bad echo_server "nc: 256 KiB sent, $(wc -c <"$TMP/big.back") bytes back or different"
    fi
  else
    local line=""
    if exec 3<>"/dev/tcp/127.0.0.1/$port"; then
      printf 'hello, evl\n' >&3
      read -r -t 10 line <&3
      exec 3<&- 3>&-
    fi
    [ "$line" = "hello, evl" ] ||
      bad echo_server "/dev/tcp: sent 'hello, evl', got '$line'"
  fi

  kill -TERM "$pid"
  wait_exit "$pid" 10
  if [ $rc -ne 0 ]; then
    bad echo_server "after SIGTERM: exit status $rc: $(cat "$err")"
  elif ! grep -q '^echo_server: SIGTERM, shutting down$' "$out" ||
    ! grep -q 'bye$' "$out"; then
    bad echo_server "no clean shutdown on SIGTERM: $(cat "$out")"
  else
    ok "echo_server (echoed over loopback with $client, stopped by SIGTERM)"
  fi
}

# -------------------------------------------------------------- executor_demo
t_executor() {
  need executor_demo || return
  local out=$TMP/ex.out err=$TMP/ex.err
  timeout 60 "$X/executor_demo" >"$out" 2>"$err"
  local rc=$?
  if [ $rc -ne 0 ]; then
    bad executor_demo "exit status $rc: $(cat "$err")"
  elif ! grep -q '^job started on the executor$' "$out" ||
    ! grep -q '^job done: ' "$out"; then
    bad executor_demo "expected 'job started' and 'job done': $(cat "$out")"
  elif ! grep -q '(job running)$' "$out"; then
    bad executor_demo "the timer did not tick while the job ran: $(cat "$out")"
  elif grep -q 'slow callback' "$err"; then
    bad executor_demo "a slow callback was reported: $(cat "$err")"
  else
    ok "executor_demo ($(grep -c '(job running)$' "$out") ticks during the job)"
  fi

  timeout 60 "$X/executor_demo" --inline >"$out" 2>"$err"
  rc=$?
  if [ $rc -ne 0 ]; then
    bad "executor_demo --inline" "exit status $rc: $(cat "$err")"
  elif ! grep -q '^job done: .* 0 ticks while it ran$' "$out"; then
    bad "executor_demo --inline" "expected no tick during the job: $(cat "$out")"
  elif ! grep -q '^evl: slow callback: ' "$err"; then
    bad "executor_demo --inline" "expected the slow-callback report on stderr, got: $(cat "$err")"
  else
    ok "executor_demo --inline (ticks stalled; $(grep -o 'slow callback.*' "$err" | head -1))"
  fi
}

# ---------------------------------------------------------- graceful_shutdown
t_shutdown() {
  need graceful_shutdown || return
  local sig out=$TMP/gs.out err=$TMP/gs.err pid
  for sig in INT TERM; do
    "$X/graceful_shutdown" >"$out" 2>"$err" &
    pid=$!
    PIDS+=("$pid")
    if ! wait_line "$out" '^running as pid' 10; then
      bad "graceful_shutdown SIG$sig" "did not start: $(cat "$out" "$err")"
      kill -KILL "$pid" 2>/dev/null
      continue
    fi
    sleep 0.3 # a few heartbeats
    kill -s "$sig" "$pid"
    wait_exit "$pid" 20
    if [ $rc -ne 0 ]; then
      bad "graceful_shutdown SIG$sig" "exit status $rc: $(cat "$err")"
    elif ! grep -q "^received SIG$sig after" "$out" ||
      ! grep -q '^background job finished' "$out" ||
      ! grep -q '^removed 2 signal handlers' "$out" ||
      ! grep -q '^closed the loop; bye$' "$out"; then
      bad "graceful_shutdown SIG$sig" "incomplete shutdown: $(cat "$out")"
    else
      ok "graceful_shutdown SIG$sig ($(grep -c . "$out") lines, clean exit)"
    fi
  done
}

# ------------------------------------------------------------------ task_hello
# The same binary on every implementation, chosen at run time by EVL_IMPL.
t_task_hello() {
  need task_hello || return
  local impl t0 t1 out rc impls=ref
  for impl in native-libuv native-libev native-libevent; do
    [ -f "$B/modules/evl-$impl.so" ] && impls="$impls $impl"
  done
  for impl in $impls; do
    t0=$(now_ms)
    if [ "$impl" = ref ]; then
      out=$(timeout 20 "$X/task_hello" 2>"$TMP/th.err")
    else
      out=$(EVL_MODULE_DIR="$B/modules" EVL_IMPL=$impl timeout 20 "$X/task_hello" 2>"$TMP/th.err")
    fi
    rc=$?
    t1=$(now_ms)
    if [ $rc -ne 0 ]; then
      bad "task_hello [$impl]" "exit status $rc: $(cat "$TMP/th.err")"
    elif [ "$out" != $'Hello\nWorld' ]; then
      bad "task_hello [$impl]" "expected 'Hello' then 'World', got: $out"
    elif [ $((t1 - t0)) -lt 950 ]; then
      bad "task_hello [$impl]" "expected to sleep ~1 s between the lines, took $((t1 - t0)) ms"
    else
      ok "task_hello [$impl] (Hello ... World after $((t1 - t0)) ms)"
    fi
  done
}

# --------------------------------------------------------------- task_get_data
t_task_get_data() {
  need task_get_data || return
  local out
  out=$(timeout 20 "$X/task_get_data" 2>"$TMP/gd.err")
  local rc=$?
  if [ $rc -ne 0 ]; then
    bad task_get_data "exit status $rc: $(cat "$TMP/gd.err")"
  elif [ "$out" != "got: data from the task" ]; then
    bad task_get_data "expected 'got: data from the task', got: $out"
  else
    ok "task_get_data ($out)"
  fi
}

# --------------------------------------------------------------- task_executor
t_task_executor() {
  need task_executor || return
  local out=$TMP/tx.out
  timeout 60 "$X/task_executor" >"$out" 2>"$TMP/tx.err"
  local rc=$?
  if [ $rc -ne 0 ]; then
    bad task_executor "exit status $rc: $(cat "$TMP/tx.err")"
  elif ! grep -q '^job done: 17984 primes below 200000' "$out"; then
    bad task_executor "expected 'job done: 17984 primes': $(cat "$out")"
  elif [ "$(grep -c '(job running)$' "$out")" -lt 2 ]; then
    bad task_executor "the ticker did not keep running during the job: $(cat "$out")"
  else
    ok "task_executor ($(grep -c '(job running)$' "$out") ticks during the job)"
  fi
}

# ------------------------------------------------------------------- task_echo
t_task_echo() {
  need task_echo || return
  local out=$TMP/tech.out err=$TMP/tech.err port pid i
  "$X/task_echo" 0 >"$out" 2>"$err" &
  pid=$!
  PIDS+=("$pid")
  if ! wait_line "$out" '^listening on 127\.0\.0\.1:[0-9]+$' 10; then
    bad task_echo "no 'listening on' line: $(cat "$out" "$err")"
    kill -KILL "$pid" 2>/dev/null
    return
  fi
  port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$out")
  # Three connections at once, each served by its own task.
  local lines=()
  for i in 1 2 3; do
    exec {fd}<>"/dev/tcp/127.0.0.1/$port" || break
    lines+=("$fd")
  done
  local got=0 line
  for i in "${!lines[@]}"; do
    printf 'hello %d\n' "$i" >&"${lines[$i]}"
  done
  for i in "${!lines[@]}"; do
    line=""
    read -r -t 10 line <&"${lines[$i]}"
    [ "$line" = "hello $i" ] && got=$((got + 1))
    exec {lines[$i]}<&-
  done
  kill -TERM "$pid"
  wait_exit "$pid" 10
  if [ "$got" -ne 3 ]; then
    bad task_echo "expected 3 lines echoed on 3 connections, got $got"
  elif [ $rc -ne 0 ]; then
    bad task_echo "after SIGTERM: exit status $rc: $(cat "$err")"
  elif ! grep -q '^task_echo: SIGTERM after 3 connections, bye$' "$out"; then
    bad task_echo "no clean shutdown on SIGTERM: $(cat "$out")"
  else
    ok "task_echo (3 connections, a task each, stopped by SIGTERM)"
  fi
}

t_hello
t_echo
t_executor
t_shutdown
t_task_hello
t_task_get_data
t_task_executor
t_task_echo
echo "examples: $pass passed, $fail failed"
[ $fail -eq 0 ]
