#!/bin/sh
# t0016-serve-concurrency: 2 request VMs, 16 HTTP clients on keep-alive connections, 20,000
# requests, every answer the one its client asked for; then the same load mixed with crashing
# requests. The clients are Python threads (http.client), bounded in count and time.
ROOT=${ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$ROOT/tests/lib/tap.sh"
serve_given_tmp=${TMP:-}
. "$ROOT/tests/cli/common.sh"
. "$ROOT/tests/cli/serve_common.sh"

cat >"$TMP/clients.py" <<'PY'
import http.client, sys, threading, time
url, clients, per_client, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
host, port = url.split("//")[1].rstrip("/").split(":")
bad, errors, done = [0], [0], [0]
lock = threading.Lock()
deadline = time.time() + 120
def client(n):
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    for i in range(per_client):
        if time.time() > deadline:
            with lock: errors[0] += 1
            return
        crash = mode == "crash" and (i + n) % 5 == 0
        path = "/null" if crash else ("/ok" if mode == "crash" else "/c%d-%d" % (n, i))
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            body = response.read()
        except Exception:
            with lock: errors[0] += 1
            connection = http.client.HTTPConnection(host, int(port), timeout=10)
            continue
        if mode == "hello":
            ok = response.status == 200 and body == ("Hello from tkvm: %s\n" % path).encode()
        else:
            ok = response.status == 500 if crash else (response.status == 200 and body == b"fine\n")
        with lock:
            done[0] += 1
            if not ok: bad[0] += 1
threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
for t in threads: t.start()
for t in threads: t.join()
print("done=%d bad=%d errors=%d" % (done[0], bad[0], errors[0]))
PY

for lib in glibc musl; do
	G=$GUESTS/$lib
	check "$lib: serve hello with 2 VMs starts" serve_start hello-$lib --quiet --set concurrency=2 "$G/hello"
	check "$lib: 16 clients x 1250 requests, every answer its own" \
		sh -c "python3 '$TMP/clients.py' '$URL' 16 1250 hello | tee '$TMP/h.out' | grep -qx 'done=20000 bad=0 errors=0'"
	check "$lib: the stats count 20,000 invocations on 2 request VMs" \
		sh -c "curl -s '${URL}_tkvm/stats' | python3 -c 'import json, sys; s = json.load(sys.stdin)[\"hello\"]; sys.exit(not (s[\"invocations\"] == 20000 and s[\"request_vms\"] == 2 and s[\"status_2xx\"] == 20000))'"
	kill "$PID"; wait_exit "$PID" 10 >/dev/null
	check "$lib: serve crash with 2 VMs starts" serve_start crash-$lib --quiet --set concurrency=2 "$G/crash"
	check "$lib: 16 clients, crashes among good requests: only the crashes fail" \
		sh -c "python3 '$TMP/clients.py' '$URL' 16 200 crash | grep -qx 'done=3200 bad=0 errors=0'"
	kill "$PID"; wait_exit "$PID" 10 >/dev/null
done
exit $tap_failed
