#!/usr/bin/env bash
# test_netns.sh — a run across "hosts": the broker, the store, the evaluator, the coordinator
# and two clients each in its own network namespace with its own address on a bridge (as
# separate machines would be), CURVE on (fedpep keygen, [broker] curve_dir): the run completes;
# a rogue namespace without a key is refused at the handshake. Everything happens inside
# `unshare --net --mount`, so the machine's own network and /run/netns are never touched.
# Needs root or user namespaces with CAP_NET_ADMIN; where they are missing it says so and
# counts as one skipped-but-passed case (tests/run.sh needs one). Prints cmocka's lines.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
fedpep=$root/${BUILD:-build}/release/fedpep
shared=${FEDPEP_SHARED:-$root/../shared}
# shellcheck source=tests/shell/cmocka.sh
. "$root/tests/shell/cmocka.sh"

if [ "${1:-}" != "--inside" ]; then
    if ! unshare --net --mount true 2>/dev/null || ! command -v ip >/dev/null ||
        [ ! -x "$fedpep" ] || [ ! -d "$shared/datasets/sst-2" ]; then
        echo "test_netns: SKIPPED: needs unshare --net --mount, ip, $fedpep and the datasets"
        check netns_unavailable_skipped true
        summary
        exit
    fi
    exec unshare --net --mount --fork bash "$0" --inside
fi

tmp=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

# The lab: a bridge, and one namespace per host with its address 10.19.0.N.
hosts=(broker store evaluator coordinator client0 client1 rogue)
lab() {
    mount --make-rprivate / && mkdir -p /run/netns && mount -t tmpfs lab /run/netns || return 1
    ip link set lo up && ip link add br19 type bridge && ip link set br19 up || return 1
    local i=1
    for h in "${hosts[@]}"; do
        ip netns add "$h" && ip link add "v$h" type veth peer name "e$h" &&
            ip link set "e$h" netns "$h" && ip link set "v$h" master br19 up &&
            ip netns exec "$h" ip addr add "10.19.0.$i/24" dev "e$h" &&
            ip netns exec "$h" ip link set "e$h" up && ip netns exec "$h" ip link set lo up ||
            return 1
        i=$((i + 1))
    done
    # each host reaches the broker's address through its own interface, not loopback
    ip netns exec client1 ip route get 10.19.0.1 | grep -q "dev eclient1 src 10.19.0.6"
}

ep=tcp://10.19.0.1:5570
opts=(model.path="$tmp/model" data.dir="$shared/datasets" data.max_train_examples=60
      data.max_eval_examples=20 federation.clients=2 federation.clients_per_round=2
      federation.round_deadline_s=120 run.rounds=2 run.name=netns model.prompt_length=4
      model.max_seq_len=32 client.max_local_steps=2 faults.dropout=0 faults.straggler_clients=0
      launch.train_slots=1 broker.curve_dir="$tmp/keys")
start() { # host, log, command...
    local h=$1 log=$2; shift 2
    ip netns exec "$h" "$@" >"$tmp/$log.log" 2>&1 &
    pids+=($!)
}

run_completes() {
    "$fedpep" keygen "$tmp/keys" --clients 2 >/dev/null &&
        "$fedpep" init-model "$tmp/model" --layers 2 --d 32 >/dev/null || return 1
    start broker broker "$fedpep" broker --endpoint "$ep" "${opts[@]}"
    start store store "$fedpep" store --broker "$ep" --db "$tmp/run.db" "${opts[@]}"
    start evaluator evaluator "$fedpep" evaluator --broker "$ep" "${opts[@]}"
    start client0 client0 "$fedpep" client --id 0 --broker "$ep" "${opts[@]}"
    start client1 client1 "$fedpep" client --id 1 --broker "$ep" "${opts[@]}"
    ip netns exec coordinator timeout 600 "$fedpep" coordinator --broker "$ep" "${opts[@]}" \
        >"$tmp/coordinator.log" 2>&1 || { tail -5 "$tmp"/*.log; return 1; }
    "$fedpep" history "$tmp/run.db" | grep -q finished ||
        { "$fedpep" history "$tmp/run.db"; return 1; }
    # every actor registered with its key, none refused
    for id in store evaluator coordinator client.0 client.1; do
        grep -q "registered $id " "$tmp/broker.log" || { cat "$tmp/broker.log"; return 1; }
    done
    echo "run netns: $("$fedpep" history "$tmp/run.db" | tail -1)"
}

rogue_refused() {
    # No key: the handshake fails; the broker counts and logs it, and the rogue never registers.
    ip netns exec rogue timeout 5 "$fedpep" store --broker "$ep" --db "$tmp/rogue.db" \
        >"$tmp/rogue.log" 2>&1
    ! grep -q "registered" "$tmp/rogue.log" &&
        grep -q "unauthenticated connection" "$tmp/broker.log" || { tail -5 "$tmp/broker.log"; return 1; }
}

check lab_of_namespaces lab
[ "$failed" -eq 0 ] || { summary; exit 1; }
check run_across_namespaces_with_curve run_completes
check rogue_namespace_without_key_refused rogue_refused
summary
