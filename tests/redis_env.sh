# Sourced by the test runners (and make bench): makes sure a real redis-server is listening on
# 127.0.0.1 and exports MTS_TEST_REDIS_URL=redis://127.0.0.1:PORT for the
# suites. If the variable is already set (run_all.sh started one for all three
# runners) nothing happens; otherwise a throwaway server (no persistence) is
# started on a free port and stopped when the sourcing shell exits.
# redis-server comes from `make deps`; without it the suites that need Redis fail.
mts_redis_start() {
  [ -n "${MTS_TEST_REDIS_URL:-}" ] && return 0
  if ! command -v redis-server >/dev/null 2>&1; then
    echo "tests: redis-server not found (run make deps)" >&2
    return 1
  fi
  local port dir
  port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  dir=$(mktemp -d)
  redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
    --dir "$dir" --daemonize no --loglevel warning >"$dir/redis.log" 2>&1 &
  MTS_REDIS_PID=$!
  MTS_REDIS_DIR=$dir
  local i
  for i in $(seq 1 100); do
    if /usr/bin/python3 -c "import socket,sys; s=socket.create_connection(('127.0.0.1',$port),0.2); s.sendall(b'PING\r\n'); sys.exit(0 if s.recv(16).startswith(b'+PONG') else 1)" 2>/dev/null; then
      export MTS_TEST_REDIS_URL="redis://127.0.0.1:$port"
      trap mts_test_cleanup EXIT
      return 0
    fi
    sleep 0.05
  done
  echo "tests: redis-server did not start; its log:" >&2; cat "$dir/redis.log" >&2
  return 1
}
mts_redis_stop() {
  if [ -n "${MTS_REDIS_PID:-}" ]; then
    kill "$MTS_REDIS_PID" 2>/dev/null; wait "$MTS_REDIS_PID" 2>/dev/null
    rm -rf "$MTS_REDIS_DIR"; MTS_REDIS_PID=
  fi
}
# The bar cache (docs/store.md) of the suites' databases: a directory of this
# run's, not the machine's /dev/shm; removed at exit by the runner that made it
# (run_all.sh for the three suites, or a runner started alone).
if [ -z "${MTS_CACHE_DIR:-}" ]; then
  MTS_CACHE_DIR=$(mktemp -d /tmp/mts-test-cache-XXXXXX); export MTS_CACHE_DIR
  MTS_CACHE_DIR_OWNED=1
  trap mts_test_cleanup EXIT
fi
mts_test_cleanup() {
  mts_redis_stop
  if [ -n "${MTS_CACHE_DIR_OWNED:-}" ]; then rm -rf "$MTS_CACHE_DIR"; MTS_CACHE_DIR_OWNED=; fi
}
