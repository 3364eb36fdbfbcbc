#!/usr/bin/env bash
# Tests of scripts/lossy-net.sh on the real kernel. Needs root and network
# namespaces; exits 77 (ctest: skipped, with the reason) where they are not.
#
#   lossy_net_test.sh REPO NAME SUBNET CASE [LTCC_PERF [MAX_BYTES]]
#
# Cases (each builds its own lab named NAME on SUBNET and removes it):
#   udp     20,000 UDP datagrams through a link set to 1% loss: 1% +- 0.3% of
#           the packets are dropped, none is larger than the MTU, and the
#           receiver gets exactly the packets that were not dropped.
#   tcp     100 MB over TCP through the same link: 1% +- 0.3% dropped, every
#           segment <= MTU (offloads are off), TCP retransmits about as many
#           segments as were dropped, every byte arrives.
#   link    `loss --link 0>1` drops only rank 0's packets to rank 1 (rank 2's
#           packets to rank 1 pass), and the per-source counters show it.
#   rate    a 200 Mbit/s TBF limit holds a TCP transfer to <= 1.15x the rate.
#   ratelink  `rate 50mbit --link 1>0` holds TCP from rank 1 to rank 0 to
#           35..60 Mbit/s while rank 2 -> 0 (at the same time) and 0 -> 1 move
#           > 150 Mbit/s, stats show the link's limiter; a per-rank `in` rate
#           of 200 Mbit/s on rank 0 then bounds 2 -> 0 (<= 230) with 1 -> 0
#           still limited; `rate off --link 1>0` restores 1 -> 0 (> 150).
#   teardown  `down` leaves no namespace; a failed `up` leaves nothing.
#   ltcc    ltcc-perf, 4 ranks in 4 namespaces with 1% kernel-level loss on
#           the packets arriving at every rank: all-reduce 64 KiB..16 MiB (1 MiB under a
#           sanitizer) with -c 1
#           (every result checked, out-of-place and in-place), and the lab's
#           counters show that 1% of what each rule saw was dropped.
#   flap    a rank's cable is unplugged for 5 s in the middle of a run of
#           64 MiB all-reduces (4 ranks, LTCC_TIMEOUT 30 s, every result
#           checked): the job rides it out (no rank is declared dead, every
#           result exact) and the outage shows in the transport's counters.
# No timing assertion except the rate cases' (upper bounds, and lower bounds
# of 35 Mbit/s on a 50 Mbit/s link and 150 Mbit/s on an unlimited one, which
# only a very loaded machine would miss; ratelink measures a missed lower
# bound once more before failing).
set -euo pipefail

repo=${1:?repo} name=${2:?name} subnet=${3:?subnet} case=${4:?case} perf=${5:-} max_bytes=${6:-16M}
lab=$repo/scripts/lossy-net.sh
py=/usr/bin/python3
export LAB_NAME=$name

if ! why=$("$lab" check); then
  echo "SKIPPED: the lossy-net lab cannot run here: ${why#lossy-net.sh: }"
  exit 77
fi
if [[ "$case" =~ ^(udp|tcp|rate|ratelink)$ && ! -x $py ]]; then
  echo "SKIPPED: $py is missing (scripts/setup.sh installs python3)"
  exit 77
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/ltcc-lab-test.XXXXXX")
cleanup() { "$lab" down --name "$name" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
"$lab" down --name "$name" >/dev/null 2>&1 || true  # a lab left by a killed run

fail() { echo "FAIL ($case): $*" >&2; "$lab" stats --name "$name" >&2 || true; exit 1; }

# Resolve rank SRC's ARP entry for DST before measuring (and before the loss
# rules count anything): on a loaded machine the first resolution can take
# long enough that the kernel's queue of packets waiting for it (about 100)
# overflows and datagrams vanish before any rule sees them (a CI run under
# load: the rule saw 11,909 of 20,000).
resolve_neighbour() {  # SRC DST
  "$lab" exec "$1" bash -c "echo x > /dev/udp/$2/9 2>/dev/null
    for i in \$(seq 100); do ip neigh show $2 | grep -q REACHABLE && exit 0; sleep 0.05; done; exit 1" ||
    fail "rank $1 could not resolve $2 (ARP) within 5 s"
}
pass() { echo "PASS ($case): $*"; }

# Field of the stats row "LINK DIR FROM": packets (4), dropped (5), >mtu (7).
stat_field() {
  "$lab" stats --name "$name" | awk -v l="$1" -v d="$2" -v f="$3" -v c="$4" \
    '$1 == l && $2 == d && $3 == f { print $c; found = 1 } END { if (!found) print 0 }'
}

# within LO HI VALUE: LO <= VALUE <= HI (decimals)
within() { awk -v lo="$1" -v hi="$2" -v v="$3" 'BEGIN { exit !(v >= lo && v <= hi) }'; }
ratio_pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b ? 100 * a / b : 0 }'; }
# ltcc-perf's table in FILE: result rows, and wrong results among them.
perf_rows() { awk '!/^#/ && NF > 12 && $1 ~ /^[0-9]+$/' "$1" | wc -l; }
perf_wrong() { awk '!/^#/ && NF > 12 && $1 ~ /^[0-9]+$/ { n += ($9 != 0) + ($13 != 0) } END { print n + 0 }' "$1"; }

cat > "$work/udp_sink.py" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 25)
s.bind((sys.argv[1], int(sys.argv[2])))
open(sys.argv[3], "w").close()  # ready
s.settimeout(3.0)
n = 0
try:
    while True:
        s.recv(65536)
        n += 1
except socket.timeout:
    pass
print(n)
EOF
cat > "$work/tcp.py" <<'EOF'
import socket, sys, time
mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
if mode == "recv":
    l = socket.socket()
    l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind((host, port)); l.listen(1); l.settimeout(60)
    open(sys.argv[4], "w").close()  # ready
    c, _ = l.accept(); c.settimeout(60); n = 0
    while True:
        b = c.recv(1 << 20)
        if not b: break
        n += len(b)
    print(n)
else:
    total = int(sys.argv[4])
    s = socket.create_connection((host, port), timeout=60)
    buf = b"\1" * (1 << 20); sent = 0; t0 = time.monotonic()
    while sent < total:
        k = min(len(buf), total - sent); s.sendall(buf[:k]); sent += k
    s.shutdown(socket.SHUT_WR); s.recv(1); s.close()
    print("%.6f" % (time.monotonic() - t0))
EOF

# UDP datagrams a rank's kernel dropped for a full socket buffer (a loaded
# machine can starve the receiver): per-namespace counters, 0 in a new lab.
rcvbuf_errors() {
  "$lab" exec "$1" cat /proc/net/snmp |
    awk '$1 == "Udp:" && !h { for (i = 2; i <= NF; i++) if ($i == "RcvbufErrors") c = i; h = 1; next }
         $1 == "Udp:" && h { print $c + 0 }'
}

wait_file() { local i; for ((i = 0; i < 200; i++)); do [[ -e "$1" ]] && return 0; sleep 0.05; done; return 1; }

# goodput SRC DST PORT BYTES: Mbit/s of one TCP transfer of BYTES from rank
# SRC to rank DST (receiver on PORT), all bytes checked to arrive.
goodput() {
  local src=$1 dst=$2 port=$3 bytes=$4 addr secs rcv
  addr=$("$lab" addr "$dst" --name "$name")
  "$lab" exec "$dst" $py "$work/tcp.py" recv "$addr" "$port" "$work/ready.$port" > "$work/got.$port" &
  rcv=$!
  wait_file "$work/ready.$port" || fail "the receiver on rank $dst did not start"
  secs=$("$lab" exec "$src" $py "$work/tcp.py" send "$addr" "$port" "$bytes")
  wait "$rcv"
  [[ "$(cat "$work/got.$port")" -eq "$bytes" ]] || fail "$src -> $dst: received $(cat "$work/got.$port") of $bytes bytes"
  awk -v b="$bytes" -v s="$secs" 'BEGIN { printf "%.1f", 8 * b / s / 1e6 }'
}

case "$case" in
udp)
  "$lab" up --name "$name" --ranks 2 --mtu 1500 --subnet "$subnet" >/dev/null
  dst=$("$lab" addr 1 --name "$name")
  resolve_neighbour 0 "$dst"
  "$lab" loss 1 --rank 1 --dir in >/dev/null
  "$lab" exec 1 $py "$work/udp_sink.py" "$dst" 9000 "$work/ready" > "$work/got" &
  sink=$!
  wait_file "$work/ready" || fail "the receiver did not start"
  # Paced in bursts of 100 so that few datagrams, if any, are lost to a full
  # socket buffer; those the kernel counts (RcvbufErrors), so every missing
  # datagram is either one the rule dropped or one counted there.
  "$lab" exec 0 bash -c "for i in \$(seq 200); do dd if=/dev/zero bs=1400 count=100 status=none; sleep 0.004; done > /dev/udp/$dst/9000"
  wait "$sink"
  got=$(cat "$work/got")
  seen=$(stat_field r1 in any 4) dropped=$(stat_field r1 in any 5) over=$(stat_field r1 in any 7)
  pct=$(ratio_pct "$dropped" "$seen")
  [[ "$seen" -ge 20000 ]] || fail "the rule saw $seen packets, fewer than the 20000 sent"
  [[ "$over" -eq 0 ]] || fail "$over packets were larger than the 1500-byte MTU"
  within 0.7 1.3 "$pct" || fail "dropped $dropped of $seen packets ($pct%), want 1% +- 0.3%"
  # The rule also sees the few packets that are not the test's datagrams (IPv6
  # neighbour discovery, the ARP/ping of resolve_neighbour): it may drop some of
  # them too, so every missing datagram must be accounted for and at most
  # (seen - 20000) drops may have hit other packets.
  lost=$((20000 - got)) full=$(rcvbuf_errors 1) other=$((seen - 20000))
  extra=$((dropped + full - lost))
  [[ "$extra" -ge 0 && "$extra" -le "$other" ]] ||
    fail "the receiver missed $lost datagrams but the rule dropped $dropped (+ $full to a full socket buffer; $other packets were not the test's)"
  pass "dropped $dropped of $seen packets ($pct%), receiver missed exactly those (+ $full to a full buffer, $extra of $other other packets dropped), 0 > MTU"
  ;;
tcp)
  "$lab" up --name "$name" --ranks 2 --mtu 1500 --subnet "$subnet" >/dev/null
  "$lab" loss 1 --rank 1 --dir in >/dev/null
  dst=$("$lab" addr 1 --name "$name")
  "$lab" exec 1 $py "$work/tcp.py" recv "$dst" 9001 "$work/ready" > "$work/got" &
  rcv=$!
  wait_file "$work/ready" || fail "the receiver did not start"
  bytes=100000000
  "$lab" exec 0 bash -c "nstat -n; $py $work/tcp.py send $dst 9001 $bytes >/dev/null; nstat -a TcpRetransSegs" > "$work/nstat"
  wait "$rcv"
  got=$(cat "$work/got")
  retx=$(awk '$1 == "TcpRetransSegs" { print $2 }' "$work/nstat"); retx=${retx:-0}
  seen=$(stat_field r1 in any 4) dropped=$(stat_field r1 in any 5) over=$(stat_field r1 in any 7)
  pct=$(ratio_pct "$dropped" "$seen")
  [[ "$got" -eq "$bytes" ]] || fail "received $got of $bytes bytes"
  [[ "$seen" -ge $((bytes / 1448)) ]] || fail "the rule saw $seen packets, fewer than $((bytes / 1448)) segments"
  [[ "$over" -eq 0 ]] || fail "$over packets were larger than the MTU (segmentation offload still on?)"
  within 0.7 1.3 "$pct" || fail "dropped $dropped of $seen packets ($pct%), want 1% +- 0.3%"
  # Each drop costs one retransmission (on an idle machine retx ~= drops);
  # on a loaded one, tail-loss probes and spurious RTOs at this tiny RTT add
  # many (a release ctest -j2 run saw 2705 for 732 drops), hence the loose
  # upper bound: it only rules out a retransmission storm.
  within "$(awk -v d="$dropped" 'BEGIN { print 0.9 * d }')" \
         "$(awk -v d="$dropped" 'BEGIN { print 10 * d + 100 }')" "$retx" ||
    fail "TCP retransmitted $retx segments for $dropped drops (a drop in the wrong hook?)"
  pass "dropped $dropped of $seen segments ($pct%), TCP retransmitted $retx, 0 > MTU, $got bytes arrived"
  ;;
link)
  "$lab" up --name "$name" --ranks 3 --mtu 1500 --subnet "$subnet" >/dev/null
  dst=$("$lab" addr 1 --name "$name")
  resolve_neighbour 0 "$dst"
  resolve_neighbour 2 "$dst"
  "$lab" loss 5 --link '0>1' >/dev/null
  "$lab" exec 1 $py "$work/udp_sink.py" "$dst" 9000 "$work/ready" > "$work/got" &
  sink=$!
  wait_file "$work/ready" || fail "the receiver did not start"
  for src in 0 2; do
    "$lab" exec "$src" bash -c "for i in \$(seq 10); do dd if=/dev/zero bs=1000 count=400 status=none; sleep 0.02; done > /dev/udp/$dst/9000"
  done
  wait "$sink"
  s0=$(stat_field r1 in r0 4) d0=$(stat_field r1 in r0 5)
  s2=$(stat_field r1 in r2 4) d2=$(stat_field r1 in r2 5)
  pct0=$(ratio_pct "$d0" "$s0")
  [[ "$s0" -ge 4000 ]] || fail "rank 0 -> 1: the rule saw $s0 packets of 4000"
  within 4 6 "$pct0" || fail "rank 0 -> 1: dropped $d0 of $s0 ($pct0%), want 5% +- 1%"
  [[ "$d2" -eq 0 ]] || fail "rank 2 -> 1 is not the bad link but lost $d2 of $s2 packets"
  full=$(rcvbuf_errors 1)
  [[ $((8000 - $(cat "$work/got"))) -eq $((d0 + full)) ]] ||
    fail "receiver count $(cat "$work/got") does not match $d0 drops (+ $full to a full socket buffer)"
  pass "link 0>1 dropped $d0 of $s0 ($pct0%); other traffic into rank 1 lost nothing"
  ;;
rate)
  "$lab" up --name "$name" --ranks 2 --mtu 1500 --subnet "$subnet" --rate 200mbit >/dev/null
  dst=$("$lab" addr 1 --name "$name")
  "$lab" exec 1 $py "$work/tcp.py" recv "$dst" 9001 "$work/ready" > "$work/got" &
  rcv=$!
  wait_file "$work/ready" || fail "the receiver did not start"
  bytes=25000000
  secs=$("$lab" exec 0 $py "$work/tcp.py" send "$dst" 9001 $bytes)
  wait "$rcv"
  mbit=$(awk -v b="$bytes" -v s="$secs" 'BEGIN { printf "%.1f", 8 * b / s / 1e6 }')
  [[ "$(cat "$work/got")" -eq "$bytes" ]] || fail "received $(cat "$work/got") of $bytes bytes"
  within 0 230 "$mbit" || fail "TCP moved $mbit Mbit/s through a 200 Mbit/s TBF limit"
  pass "TCP goodput $mbit Mbit/s under a 200 Mbit/s limit"
  ;;
ratelink)
  "$lab" up --name "$name" --ranks 3 --mtu 1500 --subnet "$subnet" >/dev/null
  "$lab" rate 50mbit --link '1>0' >/dev/null
  # 1 -> 0 (~2 s at the limit) and, while it runs, 2 -> 0 into the same port.
  # An upper bound missed fails at once (a limit that does not limit); a
  # lower bound missed is measured once more first: on a machine loaded by
  # other jobs a TCP flow can fall short of its share for a second (a CI run
  # beside benchmarks on the same 2 cores once did).
  port=9001
  for try in 1 2; do
    goodput 1 0 $port 12500000 > "$work/m10" &
    slow=$!
    sleep 0.5
    m20=$(goodput 2 0 $((port + 1)) 100000000)
    kill -0 "$slow" 2>/dev/null || fail "1 -> 0 ended before 2 -> 0 did (no overlap to compare)"
    wait "$slow" || fail "the 1 -> 0 transfer failed"
    m10=$(cat "$work/m10")
    m01=$(goodput 0 1 $((port + 2)) 100000000)
    port=$((port + 10))
    echo "limit 50 Mbit/s on 1>0: 1->0 $m10, 2->0 $m20 (meanwhile), 0->1 $m01 Mbit/s (try $try)"
    within 0 60 "$m10" || fail "1 -> 0 moved $m10 Mbit/s through a 50 Mbit/s link limit, want 35..60"
    if within 35 60 "$m10" && within 150 1e9 "$m20" && within 150 1e9 "$m01"; then break; fi
    [[ $try -eq 1 ]] && continue
    within 35 60 "$m10" || fail "1 -> 0 moved only $m10 Mbit/s through a 50 Mbit/s link limit, want 35..60"
    within 150 1e9 "$m20" || fail "2 -> 0 moved only $m20 Mbit/s beside the 1>0 limit, want > 150"
    within 150 1e9 "$m01" || fail "0 -> 1 moved only $m01 Mbit/s, want > 150 (the limit is one way)"
  done
  seen=$(stat_field r0 rate r1 4)
  [[ "$seen" -ge $((12500000 / 1500)) ]] || fail "stats: the 1>0 limiter saw $seen packets, want >= $((12500000 / 1500))"
  # A per-rank rate on the same port bounds the rest of its traffic; the link
  # limit stays.
  "$lab" rate 200mbit --rank 0 --dir in >/dev/null
  for try in 1 2; do
    p20=$(goodput 2 0 $port 25000000)
    p10=$(goodput 1 0 $((port + 1)) 6250000)
    port=$((port + 10))
    echo "and 200 Mbit/s into rank 0: 2->0 $p20, 1->0 $p10 Mbit/s (try $try)"
    within 0 230 "$p20" || fail "2 -> 0 moved $p20 Mbit/s through rank 0's 200 Mbit/s limit"
    within 0 60 "$p10" || fail "1 -> 0 moved $p10 Mbit/s beside rank 0's port limit, want 35..60"
    within 35 60 "$p10" && break
    [[ $try -eq 2 ]] && fail "1 -> 0 moved only $p10 Mbit/s beside rank 0's port limit, want 35..60"
  done
  "$lab" rate off --rank 0 --dir in >/dev/null
  "$lab" rate off --link '1>0' >/dev/null
  for try in 1 2; do
    r10=$(goodput 1 0 $port 100000000)
    port=$((port + 10))
    echo "after rate off --link 1>0: 1->0 $r10 Mbit/s (try $try)"
    within 150 1e9 "$r10" && break
    [[ $try -eq 2 ]] && fail "1 -> 0 moved only $r10 Mbit/s after rate off --link 1>0"
  done
  [[ -z "$("$lab" stats --name "$name" | awk '$2 == "rate"')" ]] || fail "stats still show a rate-limited link"
  pass "1>0 limited to $m10 Mbit/s while 2->0 moved $m20 and 0->1 $m01; with a 200 Mbit/s port limit 2->0 $p20, 1->0 $p10; after off 1->0 $r10"
  ;;
teardown)
  "$lab" up --name "$name" --ranks 3 --subnet "$subnet" >/dev/null
  [[ $(ip netns list | grep -c "^$name-") -eq 4 ]] || fail "expected 4 namespaces (3 ranks + switch)"
  "$lab" down --name "$name" >/dev/null
  left=$(ip netns list | grep -c "^$name-" || true)
  [[ "$left" -eq 0 ]] || fail "$left namespaces left after down"
  # A bad option after some namespaces exist: --rate is applied last.
  if "$lab" up --name "$name" --ranks 2 --subnet "$subnet" --rate 12parsecs >/dev/null 2>&1; then
    fail "up accepted a bad --rate"
  fi
  left=$(ip netns list | grep -c "^$name-" || true)
  [[ "$left" -eq 0 ]] || fail "$left namespaces left after a failed up"
  [[ ! -e /run/ltcc-lab/$name ]] || fail "state file left after a failed up"
  pass "down and a failed up leave no namespace and no state"
  ;;
ltcc)
  [[ -n "$perf" && -x "$perf" ]] || { echo "SKIPPED: ltcc-perf was not built (LTCC_BUILD_BENCH=OFF)"; exit 77; }
  out=$work/perf.out
  if ! "$lab" run --name "$name" --ranks 4 --subnet "$subnet" --loss 1 --timeout 240 -- \
       env LTCC_TIMEOUT=20 "$perf" -b 64K -e "$max_bytes" -f 4 -n 5 -w 1 -c 1 > "$out" 2> "$work/stats"; then
    cat "$out" "$work/stats" >&2
    fail "ltcc-perf failed in the lab"
  fi
  cat "$out"; cat "$work/stats"
  errs=$(perf_wrong "$out")
  rows=$(perf_rows "$out")
  want_rows=$(awk -v e="$max_bytes" 'BEGIN { v = e + 0; if (e ~ /M$/) v *= 1048576; n = 0
                                              for (b = 65536; b <= v; b *= 4) n++; print n }')
  [[ "$rows" -eq "$want_rows" ]] || fail "ltcc-perf printed $rows result rows, want $want_rows sizes"
  [[ "$errs" -eq 0 ]] || fail "$errs rows with wrong results"
  seen=$(awk '$2 == "in" && $3 == "any" { s += $4 } END { print s + 0 }' "$work/stats")
  dropped=$(awk '$2 == "in" && $3 == "any" { d += $5 } END { print d + 0 }' "$work/stats")
  pct=$(ratio_pct "$dropped" "$seen")
  # --loss 1 drops 1% of the packets arriving at each rank.
  within 0.7 1.3 "$pct" || fail "the lab's rules dropped $pct% of the packets they saw, want 1% +- 0.3%"
  pass "4-rank all-reduce correct through 1% kernel-level loss on arrival at every rank ($dropped of $seen packets dropped, $pct%)"
  ;;
hosts)
  # 2 hosts x 2 ranks (lossy-net.sh --hosts): ranks of a host share its
  # namespace, loss only on the cables between hosts. LTCC_TRANSPORT=auto
  # must give each rank 1 peer over UCX and 2 over ldt (where ltcc has UCX)
  # and a shared-memory segment per host for the phases within it, the
  # communicator must see 2 hosts of 2 (hierarchical collectives), and
  # all-reduce and all-gather must be exact at 0% and through 1% loss.
  [[ -n "$perf" && -x "$perf" ]] || { echo "SKIPPED: ltcc-perf was not built (LTCC_BUILD_BENCH=OFF)"; exit 77; }
  "$lab" up --name "$name" --hosts 2 --ranks-per-host 2 --subnet "$subnet" --loss 0 >/dev/null
  for run in allreduce:0 allgather:0 allreduce:1 allgather:1; do
    coll=${run%:*}
    "$lab" loss "${run#*:}" --name "$name" >/dev/null
    out=$work/$coll.out
    if ! "$lab" launch --name "$name" --timeout 240 -- env LTCC_TIMEOUT=20 LTCC_DEBUG=INFO \
         LTCC_DEBUG_SUBSYS=INIT "$perf" -t "$coll" -b 64K -e "$max_bytes" -f 16 -n 5 -w 1 -c 1 \
         > "$out" 2> "$work/$coll.err"; then
      cat "$out" "$work/$coll.err" >&2
      fail "ltcc-perf -t $coll failed in the lab with hosts"
    fi
    cat "$out"
    errs=$(perf_wrong "$out")
    rows=$(perf_rows "$out")
    [[ "$rows" -ge 2 ]] || fail "$coll: ltcc-perf printed $rows result rows"
    [[ "$errs" -eq 0 ]] || fail "$coll: $errs rows with wrong results"
    n=$(grep -c "2 hosts, 2 ranks on this one (hierarchical collectives apply)" "$work/$coll.err" || true)
    [[ "$n" -eq 4 ]] || { cat "$work/$coll.err" >&2; fail "$coll: $n of 4 ranks saw 2 hosts of 2 ranks"; }
    if "$(dirname "$perf")/../../tools/ltcc-info" 2>/dev/null | grep -q "^transports: ldt, ucx"; then
      n=$(grep -c "auto transport: 1 peer on this host over UCX, 2 over ldt" "$work/$coll.err" || true)
      [[ "$n" -eq 4 ]] || { cat "$work/$coll.err" >&2; fail "$coll: $n of 4 ranks split 1 UCX + 2 ldt"; }
      n=$(grep -c "hierarchical phases within the host through shared memory (2 ranks on this host" "$work/$coll.err" || true)
      [[ "$n" -eq 4 ]] || { cat "$work/$coll.err" >&2; fail "$coll: $n of 4 ranks mapped their host's segment"; }
    fi
  done
  "$lab" stats --name "$name" > "$work/stats"
  dropped=$(awk '$2 == "in" && $3 == "any" { d += $5 } END { print d + 0 }' "$work/stats")
  [[ "$dropped" -gt 0 ]] || fail "the lab dropped nothing: the hosts' traffic did not cross the cables"
  pass "2 hosts x 2 ranks: UCX and a shared segment within a host, ldt between, hierarchical all-reduce and all-gather exact at 0% and through 1% loss ($dropped packets dropped)"
  ;;
rails)
  # 2 hosts x 2 ranks with 2 rails (lossy-net.sh --rails 2: eth0 and eth1 on
  # switches of their own). LTCC_IFNAME=eth0,eth1: local rank i binds eth<i>
  # (src/nic.h), so the hierarchical collectives' traffic between hosts,
  # which goes between ranks of the same local index, is split between the
  # rails; unset, every rank binds the routed eth0 and rail 1 stays idle.
  # Exact results through 1% loss on both rails either way.
  [[ -n "$perf" && -x "$perf" ]] || { echo "SKIPPED: ltcc-perf was not built (LTCC_BUILD_BENCH=OFF)"; exit 77; }
  "$lab" up --name "$name" --hosts 2 --ranks-per-host 2 --rails 2 --subnet "$subnet" --loss 1 >/dev/null
  # Rail 1's share of the packets that arrived at the hosts ("in" rows).
  rail1_pct() {
    "$lab" stats --name "$name" | awk '$2 == "in" && $3 == "any" { a += $4; if ($1 ~ /\.1$/) r += $4 }
                                       END { printf "%d", a ? 100 * r / a : 0 }'
  }
  for mode in list routed; do
    "$lab" loss 1 --name "$name" >/dev/null  # restarts the counters
    ifname=(); [[ "$mode" == list ]] && ifname=(LTCC_IFNAME=eth0,eth1)
    out=$work/$mode.out
    if ! "$lab" launch --name "$name" --timeout 240 -- env "${ifname[@]}" LTCC_TIMEOUT=20 \
         LTCC_DEBUG=INFO LTCC_DEBUG_SUBSYS=INIT,NET "$perf" -t allreduce -b 256K -e "$max_bytes" \
         -f 4 -n 5 -w 1 -c 1 > "$out" 2> "$work/$mode.err"; then
      cat "$out" "$work/$mode.err" >&2
      fail "ltcc-perf failed in the lab with 2 rails ($mode)"
    fi
    cat "$out"
    errs=$(perf_wrong "$out")
    rows=$(perf_rows "$out")
    [[ "$rows" -ge 2 ]] || fail "$mode: ltcc-perf printed $rows result rows"
    [[ "$errs" -eq 0 ]] || fail "$mode: $errs rows with wrong results"
    share=$(rail1_pct)
    if [[ "$mode" == list ]]; then
      for l in 0 1; do
        n=$(grep -c "data interface eth$l: local rank $l of 2, LTCC_IFNAME's $l-th of 2" "$work/$mode.err" || true)
        [[ "$n" -eq 2 ]] || { cat "$work/$mode.err" >&2; fail "$n of 2 ranks of local rank $l chose eth$l"; }
        n=$(grep -c "udp wire: bind ${subnet%.*}.$((${subnet##*.} + l)).1[01] (interface eth$l," "$work/$mode.err" || true)
        [[ "$n" -eq 2 ]] || { cat "$work/$mode.err" >&2; fail "$n of 2 ranks of local rank $l bound eth$l's address"; }
      done
      within 30 70 "$share" || fail "rail 1 carried $share% of the packets between hosts, want about half"
      list_share=$share
    else
      [[ "$share" -le 5 ]] || fail "without LTCC_IFNAME rail 1 carried $share% of the packets, want ~0 (every rank on the routed eth0)"
    fi
  done
  pass "2 hosts x 2 ranks on 2 rails through 1% loss: LTCC_IFNAME=eth0,eth1 put local rank i on eth<i> and rail 1 carried $list_share% of the packets between hosts ($share% with every rank on the routed eth0), all-reduce exact"
  ;;
flap)
  [[ -n "$perf" && -x "$perf" ]] || { echo "SKIPPED: ltcc-perf was not built (LTCC_BUILD_BENCH=OFF)"; exit 77; }
  out=$work/perf.out
  "$lab" up --name "$name" --ranks 4 --subnet "$subnet" >/dev/null
  # 64 MiB all-reduces for long enough that the outage falls in the middle
  # (24 of them, out of place and in place, at 0.3-0.8 s each here; 1 MiB under a
  # sanitizer: more iterations).
  iters=12; size=64M
  if [[ "$max_bytes" != 16M ]]; then iters=400; size=1M; fi
  "$lab" launch --name "$name" --timeout 240 -- \
    env LTCC_TIMEOUT=30 "$perf" -b "$size" -e "$size" -n "$iters" -w 1 -c 1 > "$out" 2> "$work/err" &
  pid=$!
  sleep 4
  kill -0 "$pid" 2>/dev/null || { cat "$out" "$work/err" >&2; fail "ltcc-perf ended before the link went down"; }
  "$lab" link 2 down
  sleep 5
  "$lab" link 2 up
  rc=0; wait "$pid" || rc=$?
  cat "$out"
  [[ "$rc" -eq 0 ]] || { cat "$work/err" >&2; fail "ltcc-perf failed across a 5 s outage of rank 2's link (exit $rc)"; }
  rows=$(perf_rows "$out")
  errs=$(perf_wrong "$out")
  [[ "$rows" -eq 1 ]] || fail "ltcc-perf printed $rows result rows, want 1"
  [[ "$errs" -eq 0 ]] || fail "$errs wrong results after the outage"
  grep -q "dead\|unreachable\|timeout" "$work/err" && { cat "$work/err" >&2; fail "a rank was declared dead or timed out"; }
  pass "4-rank 64 MiB all-reduces rode out a 5 s outage of rank 2's link with LTCC_TIMEOUT 30 s, every result exact"
  ;;
*) echo "unknown case '$case'" >&2; exit 2 ;;
esac
