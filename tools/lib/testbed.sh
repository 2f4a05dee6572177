# tools/lib/testbed.sh -- helpers for scripts that use the test bed (tools/demo, tests/netns).
# Source it (bash): . "$REPO/tools/lib/testbed.sh"; then tg_load_env FILE.
#
#   tg_load_env FILE        source a testbed.env (see docs/testbed.md)
#   tg_cx / tg_gx / tg_bx   run a command in the client / gateway / backend namespace
#   tg_metrics              print the gateway's /metrics (scraped inside the gw namespace)
#   tg_metric_sum TEXT NAME [LABEL=VALUE ...]
#                           sum of the samples of NAME (all lcores) in a scrape TEXT whose
#                           labels include every LABEL="VALUE" given; 0 when none
#   tg_metric_label TEXT NAME LABEL [LABEL=VALUE ...]
#                           the value of LABEL on the first matching sample (e.g. a port's mac)
#   tg_check DESC CMD...    run CMD (its output to the log), print "PASS|FAIL: DESC", count
#   tg_pass / tg_fail DESC  record a result computed by the caller
#   tg_summary              print "N passed, N failed" and return non-zero on failures
#   tg_need_root_netns      exit 77 (meson: skipped) unless root with a working `ip netns`
# shellcheck shell=bash

TG_PASSED=${TG_PASSED:-0}
TG_FAILED=${TG_FAILED:-0}
TG_FAILURES=()

tg_load_env() {
    [ -r "$1" ] || { echo "testbed env $1 not readable" >&2; return 1; }
    # shellcheck disable=SC1090
    . "$1"
}

tg_cx() { ip netns exec "$TG_NS_CLIENT" "$@"; }
tg_gx() { ip netns exec "$TG_NS_GW" "$@"; }
tg_bx() { ip netns exec "$TG_NS_BACKEND" "$@"; }

tg_metrics() { tg_gx curl -fsS --max-time 5 "$TG_METRICS_URL"; }

# Sample lines look like: name{a="x",lcore="1"} 42   (or: name 42). Labels are matched
# as the literal text a="x" inside the braces.
tg_metric_sum() {
    local text=$1 name=$2; shift 2
    printf '%s\n' "$text" | awk -v name="$name" -v filters="$*" '
        BEGIN { n = split(filters, f, " ") }
        /^#/ { next }
        {
            metric = $1; sub(/\{.*/, "", metric)
            if (metric != name) next
            labels = ""
            if (index($0, "{") > 0) { labels = $0; sub(/^[^{]*\{/, "", labels); sub(/\}.*/, "", labels) }
            for (i = 1; i <= n; i++) {
                split(f[i], kv, "="); want = kv[1] "=\"" substr(f[i], length(kv[1]) + 2) "\""
                if (index("," labels ",", "," want ",") == 0) next
            }
            sum += $NF
        }
        END { printf "%.0f\n", sum + 0 }'
}

tg_metric_label() {
    local text=$1 name=$2 label=$3; shift 3
    printf '%s\n' "$text" | awk -v name="$name" -v label="$label" -v filters="$*" '
        BEGIN { n = split(filters, f, " ") }
        /^#/ { next }
        {
            metric = $1; sub(/\{.*/, "", metric)
            if (metric != name || index($0, "{") == 0) next
            labels = $0; sub(/^[^{]*\{/, "", labels); sub(/\}.*/, "", labels)
            for (i = 1; i <= n; i++) {
                split(f[i], kv, "="); want = kv[1] "=\"" substr(f[i], length(kv[1]) + 2) "\""
                if (index("," labels ",", "," want ",") == 0) next
            }
            m = split(labels, l, ",")
            for (i = 1; i <= m; i++) {
                if (index(l[i], label "=\"") == 1 && !found) {
                    # No early exit: the writer of a long text would die of SIGPIPE.
                    v = substr(l[i], length(label) + 3); sub(/"$/, "", v); print v; found = 1
                }
            }
        }'
}

tg_pass() { TG_PASSED=$((TG_PASSED + 1)); echo "PASS: $*"; }
tg_fail() { TG_FAILED=$((TG_FAILED + 1)); TG_FAILURES+=("$*"); echo "FAIL: $*"; }

tg_check() {
    local desc=$1; shift
    local out rc=0
    out=$("$@" 2>&1) || rc=$?
    [ -n "$out" ] && printf '%s\n' "$out" | sed 's/^/    | /'
    if [ $rc -eq 0 ]; then tg_pass "$desc"; else tg_fail "$desc (exit $rc)"; fi
    return 0
}

tg_summary() {
    local f
    for f in "${TG_FAILURES[@]}"; do echo "  failed: $f"; done
    echo "$TG_PASSED passed, $TG_FAILED failed"
    [ "$TG_FAILED" -eq 0 ]
}

tg_need_root_netns() {
    if [ "$(id -u)" -ne 0 ]; then echo "SKIP: needs root"; exit 77; fi
    if ! ip netns list > /dev/null 2>&1; then echo "SKIP: ip netns unavailable"; exit 77; fi
    local probe="tgprobe$$"
    if ! ip netns add "$probe" > /dev/null 2>&1; then echo "SKIP: cannot create a network namespace"; exit 77; fi
    ip netns del "$probe"
}

# ---------------------------------------------------------------- integration-test frame
#   tg_test_init PREFIX     skip (77) unless root + netns + built binaries; pick a run id
#   tg_testbed_up           tools/testbed up with that id, load its env, trap down on exit
#                           (on failure: log tails printed and the state dir kept)
#   tg_wait_metric SECS NAME [LABEL=VALUE ...] OP VALUE
#                           poll /metrics until the sum satisfies OP VALUE (-eq -ge -gt ...)
TG_REPO=${TG_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}

tg_test_init() {
    tg_need_root_netns
    export TG_BUILD_DIR=${TG_BUILD_DIR:-$TG_REPO/build}
    local b
    for b in "$TG_BUILD_DIR/dataplane/tunnelgate-dataplane" "$TG_BUILD_DIR/controlplane/tunnelgate-controlplane"; do
        [ -x "$b" ] || { echo "SKIP: $b not built"; exit 77; }
    done
    export TG_RUN_ID="$1$$"
    export TG_SET_CURRENT=0
    unset TG_STATE_DIR
}

tg__on_exit() {
    local rc=$?
    trap - EXIT
    if [ $rc -ne 0 ] || [ "$TG_FAILED" -ne 0 ]; then
        if [ -n "${TG_STATE_DIR:-}" ]; then
            local f
            for f in "$TG_STATE_DIR/dataplane.log" "$TG_STATE_DIR/controlplane.log"; do
                [ -s "$f" ] || continue
                echo "--- last lines of $f ---"; tail -n 30 "$f"
            done
        fi
        TG_KEEP_STATE=1 "$TG_REPO/tools/testbed" down || true
        [ $rc -ne 0 ] || rc=1
    else
        "$TG_REPO/tools/testbed" down || true
    fi
    exit $rc
}

tg_testbed_up() {
    trap tg__on_exit EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM   # meson's timeout: still take the bed down
    local env
    env=$("$TG_REPO/tools/testbed" up)
    tg_load_env "$env"
}

tg_wait_metric() {
    local secs=$1 name=$2; shift 2
    local args=() op value text v deadline
    while [ $# -gt 2 ]; do args+=("$1"); shift; done
    op=$1 value=$2
    deadline=$((SECONDS + secs))
    while :; do
        text=$(tg_metrics 2>/dev/null || true)
        v=$(tg_metric_sum "$text" "$name" "${args[@]}")
        if [ -n "$text" ] && test "$v" "$op" "$value"; then echo "$name${args[*]:+ ${args[*]}} = $v"; return 0; fi
        [ $SECONDS -lt $deadline ] || { echo "$name${args[*]:+ ${args[*]}} = $v (wanted $op $value within ${secs}s)"; return 1; }
        sleep 0.5
    done
}

# ---------------------------------------------------------------------------- openconnect
# tg_oc_connect NAME [openconnect args...]
#   Start the real openconnect client in the client namespace against the gateway, with
#   the pinned server certificate, in the background (--background), its tun named tgc-NAME.
#   Reads the password (if any) from stdin: use a redirection (<<<), not a pipe, so the
#   variables it sets stay in the caller's shell. Waits (bounded) until the tun has an address.
#   Sets OC_PID_FILE and OC_LOG; returns openconnect's exit status if it failed.
tg_oc_connect() {
    local name=$1; shift
    OC_PID_FILE=$TG_STATE_DIR/oc-$name.pid
    OC_LOG=$TG_STATE_DIR/oc-$name.log
    OC_IF=tgc-$name
    rm -f "$OC_PID_FILE"
    local rc=0
    tg_cx openconnect --protocol=anyconnect --non-inter --servercert "$TG_SERVER_PIN" \
        --interface "$OC_IF" --background --pid-file="$OC_PID_FILE" "$@" \
        "https://$TG_GW_ADDR:$TG_TLS_PORT/" > "$OC_LOG" 2>&1 || rc=$?
    [ $rc -eq 0 ] || return $rc
    local i
    for ((i = 0; i < 100; i++)); do
        ip -n "$TG_NS_CLIENT" -4 addr show dev "$OC_IF" 2>/dev/null | grep -q inet && return 0
        sleep 0.1
    done
    return 1
}

# tg_oc_address: the tunnel address of the last tg_oc_connect
tg_oc_address() { ip -n "$TG_NS_CLIENT" -4 -o addr show dev "$OC_IF" | awk '{print $4}' | cut -d/ -f1; }

# tg_oc_stop [SIGNAL]: stop the last client (INT: it says BYE; KILL: it just dies), bounded wait.
tg_oc_stop() {
    local sig=${1:-INT} pid i
    pid=$(cat "$OC_PID_FILE" 2>/dev/null) || return 0
    kill -"$sig" "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
}

# tg_fetch_checks LABEL: through the client's tunnel, each backend's page, then a 50 MB file
#   from the first backend checked byte for byte (its rate logged, never asserted). LABEL
#   ends the check names ("over DTLS", "through the tunnel").
tg_fetch_checks() {
    local label=$1 i body blob want got t0 t1 addrs urls
    read -r -a addrs <<< "$TG_BACKEND_ADDRS"
    read -r -a urls <<< "$TG_BACKEND_URLS"
    for i in "${!addrs[@]}"; do
        body=$(tg_cx curl -fsS --max-time 10 "${urls[$i]}" || true)
        if [ "$body" = "tunnelgate testbed backend ${addrs[$i]}" ]; then tg_pass "curl ${urls[$i]} $label"
        else tg_fail "curl ${urls[$i]} $label: got '$body'"; fi
    done
    blob=$TG_STATE_DIR/www/${addrs[0]}/blob.bin
    head -c $((50 * 1000 * 1000)) /dev/urandom > "$blob"
    want=$(sha256sum < "$blob" | cut -d' ' -f1)
    t0=$(date +%s.%N)
    got=$(tg_cx curl -fsS --max-time 120 "${urls[0]}blob.bin" | sha256sum | cut -d' ' -f1)
    t1=$(date +%s.%N)
    if [ "$got" = "$want" ]; then
        tg_pass "50 MB $label intact ($(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%d", 400 / (b - a) }') Mbit/s, not asserted)"
    else
        tg_fail "50 MB $label: checksum $got, wanted $want"
    fi
    rm -f "$blob"
}
