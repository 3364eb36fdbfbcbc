#!/usr/bin/env bash
# lossy-net.sh — a lossy network lab made of Linux network namespaces.
#
# Every rank gets its own namespace with one interface (eth0), cabled by a veth
# pair into a bridge that lives in a "switch" namespace; nothing is added to
# the host's own namespace, and only addresses inside the lab are used.
# Packet loss is applied where packets *arrive* (the netdev ingress hook), so
# the sender sees nothing and TCP retransmits about one segment per drop, as
# on a real wire; a drop in the output hook would instead be reported to the
# sending socket. Segmentation offloads (GSO/GRO/TSO) are turned off on every
# lab interface so that each packet a drop rule sees is one wire packet
# (<= MTU); `stats` counts any packet longer than the MTU to prove it.
#
#   lossy-net.sh up [options]            build the lab (bridge mode by default)
#       --name NAME     lab name, prefixes its namespaces (default ltcclab, or
#                       $LAB_NAME; every command takes --name or LAB_NAME)
#       --ranks N       ranks / namespaces (default 4; 1..200)
#       --hosts H --ranks-per-host R
#                       H namespaces ("hosts", 1..200) of R ranks each (1..64):
#                       `launch` starts R ranks in every namespace (RANK =
#                       host x R + local rank), which share its network
#                       stack, so traffic between ranks of a host never
#                       crosses a cable (no loss, as on a real host) and
#                       ltcc's LTCC_TRANSPORT=auto talks shared memory there.
#                       Every other command's index (loss --rank, --link,
#                       rate, link, addr, exec, stats) is then a host.
#                       --ranks N is --hosts N --ranks-per-host 1.
#       --rails N       N interfaces per host (1..4, bridge mode; default 1),
#                       as on a multi-rail cluster: eth<r> of every host is
#                       cabled into switch <r> (bridge br<r>) with address
#                       A.B.(C+r).(10+i); a host reaches another rail's
#                       address over that rail. Loss (`loss`, --loss) and
#                       `stats` cover every rail (--link matches the
#                       sender's address on the rail the packet arrives by);
#                       `rate --dir out` shapes every rail's interface;
#                       `rate` in, `rate --link`, `link` and `addr` are
#                       rail 0's.
#       --mode MODE     bridge (one namespace per rank) | loopback (all ranks
#                       in one namespace, talking over its lo)
#       --mtu BYTES     link MTU (default 9000; loopback mode: of lo)
#       --subnet A.B.C  /24 used inside the lab (default 10.199.0); rank i is
#                       A.B.C.(10+i); never routed outside the lab
#       --loss PCT      random loss on packets arriving at every rank (default
#                       0): each packet between two ranks is dropped with
#                       probability PCT once, as `loss PCT` does
#       --rate RATE     TBF rate limit on every link and direction (tc syntax:
#                       10gbit, 500mbit; default none)
#   lossy-net.sh loss PCT [--rank I] [--dir in|out|both] [--link J>I]
#                       set the random drop percentage (0.01 steps, 0 clears):
#                       on every rank (default) or rank I; `in` (default) =
#                       packets that arrive at the rank, `out` = packets it
#                       sends, `both` = its whole cable (a packet then meets
#                       two rules); --link J>I drops only packets from rank J
#                       arriving at rank I (one bad link). Counters restart.
#   lossy-net.sh rate RATE|off [--rank I] [--dir in|out|both] [--link J>I]
#                       TBF rate limit (tc syntax) on every rank (default) or
#                       rank I: `in` = what the rank receives, `out` = what it
#                       sends, `both` (default); off removes it (link limits
#                       stay). --link J>I limits only packets from rank J to
#                       rank I (an HTB class on rank I's switch port chosen by
#                       source address; a queue of ~20 ms at RATE, the excess
#                       tail-dropped), all other traffic keeps its speed;
#                       limits on several links coexist, and a per-rank `in`
#                       rate on the same port bounds them all together (the
#                       port becomes an HTB at that rate). `rate off --link
#                       J>I` removes one link's limit.
#   lossy-net.sh link I down|up         unplug / replug rank I's cable (its
#                                        switch port goes down: every packet
#                                        to and from it is lost meanwhile), e.g.
#                                        a flapping link
#   lossy-net.sh stats                   per link and direction: packets seen,
#                                        dropped, drop %, packets > MTU; and
#                                        per --link rate limit (dir "rate"):
#                                        packets it got, packets it dropped
#   lossy-net.sh addr I                  rank I's address
#   lossy-net.sh exec I CMD [ARGS...]    run CMD in rank I's namespace
#   lossy-net.sh mpi-exec CMD [ARGS...]  for `mpirun ... lossy-net.sh mpi-exec
#                                        prog`: runs prog in the namespace of
#                                        rank $OMPI_COMM_WORLD_RANK (its host's)
#   lossy-net.sh launch [--timeout S] -- CMD [ARGS...]
#                       CMD once per rank in its namespace of the lab that is
#                       up, with RANK, WORLD_SIZE, LOCAL_RANK (0..R-1),
#                       LOCAL_WORLD_SIZE (R), MASTER_ADDR (rank 0), MASTER_PORT
#                       (29500 unless set), LAB_ADDR and LAB_IFNAME set
#                       (torchrun's variables: ltcc, torch and Gloo read
#                       them); waits for all. Exit status: the first failing
#                       rank's, 124 when --timeout S ran out.
#   lossy-net.sh run [up options] [--timeout S] -- CMD [ARGS...]
#                       up, launch, print stats, down (also on Ctrl-C).
#   lossy-net.sh down [--name NAME]      remove the lab (idempotent)
#   lossy-net.sh check                   can the lab run here? exit 0, or 77
#                                        with the reason (no root, no netns..)
#
# `up` tears down what it built if it fails or is interrupted; `run` always
# tears down (also on Ctrl-C). The lab's state is kept in /run/ltcc-lab/NAME.
# Needs root, iproute2, nftables and ethtool (scripts/setup.sh installs them).
set -euo pipefail

prog=lossy-net.sh
name=${LAB_NAME:-ltcclab}
state_dir=/run/ltcc-lab

die() { echo "$prog: $*" >&2; exit 2; }
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }

# ---- checks -----------------------------------------------------------------

# Prints why the lab cannot run here and returns 1, or returns 0.
why_not() {
  if [[ $(id -u) -ne 0 ]]; then echo "not root (network namespaces need CAP_NET_ADMIN)"; return 1; fi
  local t
  for t in ip nft ethtool tc; do
    command -v "$t" >/dev/null 2>&1 || { echo "'$t' is missing (run scripts/setup.sh)"; return 1; }
  done
  local probe="ltcc-probe-$$"
  if ! ip netns add "$probe" 2>/dev/null; then echo "cannot create a network namespace"; return 1; fi
  local ok=0 reason=""
  if ! ip -n "$probe" link add v0 type veth peer name v1 2>/dev/null; then
    reason="cannot create a veth pair"; ok=1
  elif ! ip netns exec "$probe" nft add table netdev probe 2>/dev/null; then
    reason="nftables is not usable (nf_tables kernel support?)"; ok=1
  fi
  ip netns del "$probe" 2>/dev/null || true
  [[ $ok -eq 0 ]] || { echo "$reason"; return 1; }
  return 0
}

# ---- state ------------------------------------------------------------------

state_file() { echo "$state_dir/$name"; }

load_state() {
  local f; f=$(state_file)
  [[ -f "$f" ]] || die "no lab named '$name' (run: $prog up --name $name)"
  # shellcheck disable=SC1090
  source "$f"
  PER_HOST=${PER_HOST:-1}  # labs brought up before --ranks-per-host
  RAILS=${RAILS:-1}
}

ns_sw() { echo "$name-sw"; }
ns_rank() {
  if [[ "$MODE" == loopback ]]; then echo "$name-lo"; else echo "$name-r$1"; fi
}
addr_of() {  # rank [rail]
  if [[ "$MODE" == loopback ]]; then echo 127.0.0.1; else echo "$(rail_subnet "${2:-0}").$((10 + $1))"; fi
}
rail_subnet() {  # rail -> A.B.(C+rail)
  local c=${SUBNET##*.}; echo "${SUBNET%.*}.$((c + $1))"
}

# Loss rules live in a small rules file so `loss` can be applied repeatedly:
# lines "RANK DIR FROM PERMYRIAD" (FROM = - for any source).
rules_file() { echo "$state_dir/$name.loss"; }
rail_port() { if [[ "$2" -eq 0 ]]; then echo "p$1"; else echo "p$1r$2"; fi; }  # rank rail

# ---- up / down ----------------------------------------------------------------

down() {
  local n
  for n in $(ip netns list 2>/dev/null | awk '{print $1}'); do
    case "$n" in "$name-sw"|"$name-lo"|"$name"-r[0-9]*) ip netns del "$n" 2>/dev/null || true ;; esac
  done
  rm -f "$(state_file)" "$(rules_file)" "$state_dir/$name.rate" "$state_dir/$name.rate.new"
}

offloads_off() {  # ns dev
  # Not every device has every offload; errors for missing ones are harmless,
  # so check the result instead of the exit status.
  local f
  for f in gso gro tso tx-udp-segmentation lro; do
    ip netns exec "$1" ethtool -K "$2" "$f" off >/dev/null 2>&1 || true
  done
  local on
  on=$(ip netns exec "$1" ethtool -k "$2" 2>/dev/null |
       awk -F': ' '/^(generic-segmentation-offload|generic-receive-offload|tcp-segmentation-offload):/ && $2 ~ /^on/ {print $1}')
  [[ -z "$on" ]] || die "could not turn off $on on $2 in $1"
}

up() {
  local ranks=4 mode=bridge mtu=9000 subnet=10.199.0 loss=0 rate="" per_host=1 rails=1
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --name) name=${2:?}; shift 2 ;;
      --ranks|--hosts) ranks=${2:?}; shift 2 ;;
      --ranks-per-host) per_host=${2:?}; shift 2 ;;
      --rails) rails=${2:?}; shift 2 ;;
      --mode) mode=${2:?}; shift 2 ;;
      --mtu) mtu=${2:?}; shift 2 ;;
      --subnet) subnet=${2:?}; shift 2 ;;
      --loss) loss=${2:?}; shift 2 ;;
      --rate) rate=${2:?}; shift 2 ;;
      *) die "up: unknown option '$1' (try --help)" ;;
    esac
  done
  [[ "$name" =~ ^[a-z][a-z0-9]{0,11}$ ]] || die "--name '$name': want 1-12 lower-case letters/digits"
  [[ "$ranks" =~ ^[0-9]+$ && "$ranks" -ge 1 && "$ranks" -le 200 ]] || die "--ranks/--hosts '$ranks': want 1..200"
  [[ "$per_host" =~ ^[0-9]+$ && "$per_host" -ge 1 && "$per_host" -le 64 ]] ||
    die "--ranks-per-host '$per_host': want 1..64"
  [[ "$mode" == bridge || "$mode" == loopback ]] || die "--mode '$mode': want bridge or loopback"
  [[ "$rails" =~ ^[1-4]$ ]] || die "--rails '$rails': want 1..4"
  [[ "$rails" -eq 1 || "$mode" == bridge ]] || die "--rails $rails: only in bridge mode"
  [[ "$mtu" =~ ^[0-9]+$ && "$mtu" -ge 576 && "$mtu" -le 65535 ]] || die "--mtu '$mtu': want 576..65535"
  [[ "$subnet" =~ ^(10|172|192)\.[0-9]{1,3}\.([0-9]{1,3})$ ]] || die "--subnet '$subnet': want a private A.B.C"
  [[ $((BASH_REMATCH[2] + rails - 1)) -le 255 ]] || die "--subnet '$subnet': no room for $rails rails"
  local why
  why=$(why_not) || die "cannot build the lab here: $why"
  [[ ! -f "$(state_file)" ]] || die "a lab named '$name' is up already (run: $prog down --name $name)"

  mkdir -p "$state_dir"
  # Whatever stops `up` half-way (an error, die, Ctrl-C) removes the lab.
  up_done=0
  trap 'if [[ $up_done -ne 1 ]]; then echo "$prog: up failed or was interrupted; removing the partial lab" >&2; down; fi' EXIT
  trap 'exit 130' INT TERM
  MODE=$mode RANKS=$ranks MTU=$mtu SUBNET=$subnet PER_HOST=$per_host RAILS=$rails
  printf 'MODE=%s\nRANKS=%s\nMTU=%s\nSUBNET=%s\nPER_HOST=%s\nRAILS=%s\n' "$mode" "$ranks" "$mtu" \
    "$subnet" "$per_host" "$rails" > "$(state_file)"
  : > "$(rules_file)"
  : > "$(rate_file)"

  if [[ "$mode" == loopback ]]; then
    local ns; ns=$(ns_rank 0)
    ip netns add "$ns"
    ip -n "$ns" link set lo mtu "$mtu" up
    offloads_off "$ns" lo
  else
    local sw i ns; sw=$(ns_sw)
    ip netns add "$sw"
    ip -n "$sw" link set lo up
    ip -n "$sw" link add br0 type bridge
    # Where br_netfilter is loaded, bridged frames would also cross the
    # iptables hooks (a cost no real switch has): off in the lab's switch.
    local k
    for k in iptables ip6tables arptables; do
      ip netns exec "$sw" sysctl -qw "net.bridge.bridge-nf-call-$k=0" 2>/dev/null || true
    done
    ip -n "$sw" link set br0 mtu "$mtu" up
    for ((i = 0; i < ranks; i++)); do
      ns=$(ns_rank "$i")
      ip netns add "$ns"
      ip -n "$ns" link set lo up
      ip -n "$sw" link add "p$i" mtu "$mtu" type veth peer name eth0 netns "$ns"
      ip -n "$sw" link set "p$i" master br0 up
      ip -n "$ns" link set eth0 mtu "$mtu" up
      ip -n "$ns" addr add "$(addr_of "$i")/24" dev eth0
      offloads_off "$sw" "p$i"
      offloads_off "$ns" eth0
    done
    offloads_off "$sw" br0
    local r
    for ((r = 1; r < rails; r++)); do
      ip -n "$sw" link add "br$r" type bridge
      ip -n "$sw" link set "br$r" mtu "$mtu" up
      for ((i = 0; i < ranks; i++)); do
        ns=$(ns_rank "$i")
        # A packet from rail 0's address may arrive by rail r (the peer
        # routes by destination): no reverse-path filter in the hosts.
        ip netns exec "$ns" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
        ip -n "$sw" link add "$(rail_port "$i" "$r")" mtu "$mtu" type veth peer name "eth$r" netns "$ns"
        ip -n "$sw" link set "$(rail_port "$i" "$r")" master "br$r" up
        ip netns exec "$ns" sysctl -qw "net.ipv4.conf.eth$r.rp_filter=0" net.ipv4.conf.eth0.rp_filter=0
        ip -n "$ns" link set "eth$r" mtu "$mtu" up
        ip -n "$ns" addr add "$(addr_of "$i" "$r")/24" dev "eth$r"
        offloads_off "$sw" "$(rail_port "$i" "$r")"
        offloads_off "$ns" "eth$r"
      done
      offloads_off "$sw" "br$r"
    done
  fi
  apply_loss_all "$loss"
  [[ -z "$rate" ]] || set_rate "$rate" all both
  up_done=1
  trap - EXIT INT TERM
  local what="$ranks ranks"
  [[ $per_host -eq 1 ]] || what="$ranks hosts x $per_host ranks"
  [[ $rails -eq 1 ]] || what+=", $rails rails"
  echo "$prog: lab '$name' up: $what, $mode mode, mtu $mtu, loss $loss%${rate:+, rate $rate}"
}

# ---- loss -------------------------------------------------------------------

to_permyriad() {  # percent text -> integer drops per 10000
  local p=$1
  [[ "$p" =~ ^[0-9]+(\.[0-9]*)?$ ]] || die "loss '$p': want a percentage such as 1 or 0.5"
  awk -v p="$p" 'BEGIN { v = p * 100; if (v > 10000) { exit 1 } printf "%d", v + 0.5 }' ||
    die "loss '$p': at most 100"
}

# Rewrites one device's ingress table from the rules that target it.
# ns dev rank dir [rail]
write_table() {
  local ns=$1 dev=$2 rank=$3 dir=$4 rail=${5:-0} body="" r d from pm src
  while read -r r d from pm; do
    [[ "$r" == "$rank" && "$d" == "$dir" && "$pm" -gt 0 ]] || continue
    if [[ "$from" == - ]]; then
      body+="    numgen random mod 10000 < $pm counter name \"dropped\" drop"$'\n'
    else
      src=$(addr_of "$from" "$rail")
      body+="    ip saddr $src counter name \"seen_$from\""$'\n'
      body+="    ip saddr $src numgen random mod 10000 < $pm counter name \"dropped_$from\" drop"$'\n'
    fi
  done < "$(rules_file)"
  local counters="  counter seen {}"$'\n'"  counter oversize {}"$'\n'"  counter dropped {}"$'\n'
  local j
  for ((j = 0; j < RANKS; j++)); do
    counters+="  counter seen_$j {}"$'\n'"  counter dropped_$j {}"$'\n'
  done
  ip netns exec "$ns" nft delete table netdev ltcclab_"$dev" 2>/dev/null || true
  ip netns exec "$ns" nft -f - <<EOF
table netdev ltcclab_$dev {
$counters
  chain ingress {
    type filter hook ingress device "$dev" priority -500; policy accept;
    counter name "seen"
    meta length > $MTU counter name "oversize"
$body  }
}
EOF
}

# Device and namespace for (rank, dir): "in" is checked on the rank's own
# eth0, "out" on its port of the switch (where its packets arrive).
dev_of() {  # rank dir -> "ns dev"
  if [[ "$MODE" == loopback ]]; then echo "$(ns_rank 0) lo"
  elif [[ "$2" == in ]]; then echo "$(ns_rank "$1") eth0"
  else echo "$(ns_sw) p$1"; fi
}

rewrite_all_tables() {
  local i
  if [[ "$MODE" == loopback ]]; then write_table "$(ns_rank 0)" lo 0 in; return; fi
  local r
  for ((i = 0; i < RANKS; i++)); do
    for ((r = 0; r < RAILS; r++)); do
      write_table "$(ns_rank "$i")" "eth$r" "$i" in "$r"
      write_table "$(ns_sw)" "$(rail_port "$i" "$r")" "$i" out "$r"
    done
  done
}

apply_loss_all() {  # pct: on arrival at every rank (loopback: on lo), so
  # each packet meets exactly one drop rule
  local pm i; pm=$(to_permyriad "$1")
  : > "$(rules_file)"
  if [[ "$MODE" == loopback ]]; then
    echo "0 in - $pm" >> "$(rules_file)"
  else
    for ((i = 0; i < RANKS; i++)); do echo "$i in - $pm" >> "$(rules_file)"; done
  fi
  rewrite_all_tables
}

# --rank (all or 0..RANKS-1) and --dir (in, out, both) of `loss` and `rate`.
check_rank_dir() {  # rank dir
  [[ "$1" == all || ( "$1" =~ ^[0-9]+$ && "$1" -lt $RANKS ) ]] || die "--rank '$1': want 0..$((RANKS - 1))"
  [[ "$2" == in || "$2" == out || "$2" == both ]] || die "--dir '$2': want in, out or both"
}

loss_cmd() {
  local pct=${1:-}; [[ -n "$pct" ]] || die "loss: which percentage? (e.g. $prog loss 1)"
  shift
  local rank=all dir=in link=""
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --name) name=${2:?}; shift 2 ;;
      --rank) rank=${2:?}; shift 2 ;;
      --dir) dir=${2:?}; shift 2 ;;
      --link) link=${2:?}; shift 2 ;;
      *) die "loss: unknown option '$1'" ;;
    esac
  done
  load_state
  local pm; pm=$(to_permyriad "$pct")
  check_rank_dir "$rank" "$dir"
  if [[ "$MODE" == loopback && ( "$rank" != all || -n "$link" ) ]]; then
    die "loss: loopback mode has one shared link (lo); per-rank and per-link loss need --mode bridge"
  fi
  if [[ "$MODE" == loopback ]]; then apply_loss_all "$pct"; echo "$prog: loss $pct% on lo"; return; fi
  local tmp; tmp=$(mktemp)
  if [[ -n "$link" ]]; then
    local sd s d; sd=$(parse_link "$link"); read -r s d <<< "$sd"
    awk -v r="$d" -v f="$s" '!($1 == r && $2 == "in" && $3 == f)' "$(rules_file)" > "$tmp"
    echo "$d in $s $pm" >> "$tmp"
    mv "$tmp" "$(rules_file)"
    rewrite_all_tables
    echo "$prog: loss $pct% on packets from rank $s ($(addr_of "$s")) arriving at rank $d"
    return
  fi
  local first=0 last=$((RANKS - 1))
  if [[ "$rank" != all ]]; then
    first=$rank last=$rank
  fi
  cp "$(rules_file)" "$tmp"
  local i dd
  for ((i = first; i <= last; i++)); do
    for dd in in out; do
      [[ "$dir" == both || "$dir" == "$dd" ]] || continue
      awk -v r="$i" -v x="$dd" '!($1 == r && $2 == x && $3 == "-")' "$tmp" > "$tmp.2"
      mv "$tmp.2" "$tmp"
      echo "$i $dd - $pm" >> "$tmp"
    done
  done
  mv "$tmp" "$(rules_file)"
  rewrite_all_tables
  echo "$prog: loss $pct% on rank(s) $rank, direction $dir"
}

# ---- rate -------------------------------------------------------------------

rate_bits() {  # tc rate text -> bits/s
  [[ "$1" =~ ^([0-9]{1,12})(bit|kbit|mbit|gbit)$ ]] || die "rate '$1': want e.g. 500mbit or 10gbit"
  local n=$((10#${BASH_REMATCH[1]})) u=${BASH_REMATCH[2]}
  [[ $n -gt 0 ]] || die "rate '$1': want more than 0 (or off)"
  case "$u" in bit) echo "$n" ;; kbit) echo $((n * 1000)) ;; mbit) echo $((n * 1000000)) ;;
               gbit) echo $((n * 1000000000)) ;; esac
}

# One millisecond at the rate, at least 4 MTUs: enough to keep the rate with a
# 1 kHz timer without long bursts.
burst_of() {  # bits/s -> bytes
  local b=$(($1 / 8 / 1000)); [[ $b -ge $((4 * MTU)) ]] || b=$((4 * MTU)); echo "$b"
}
# What a limited queue holds before it tail-drops: 20 ms at the rate plus a
# burst, as the TBF's `latency 20ms` does.
queue_of() { echo $(($1 / 8 / 50 + $(burst_of "$1"))); }
# HTB class (and leaf qdisc handle) of the limit on packets from rank J (hex).
class_of() { printf '%x' $((0x100 + $1)); }

# Limits toward a rank (the egress of its switch port pI) are kept in a state
# file, so that a per-rank rate and per-link rates on one port can be rebuilt
# together: lines "RANK FROM RATE" (FROM = - for the whole port).
rate_file() { echo "$state_dir/$name.rate"; }

tcx() {  # ns tc-args...: tc in ns, or die saying which command failed
  local ns=$1; shift
  ip netns exec "$ns" tc "$@" || die "rate: 'tc $*' failed in $ns (the port may be half-configured; set its rates again)"
}

# Rebuilds the egress qdisc of switch port pI from the limits in FILE:
# nothing; a TBF when only the whole port is limited; an HTB once a link is
# (one class per limited source rank, chosen by a u32 filter on the IPv4
# source address, each with a bfifo leaf that tail-drops what exceeds it).
# Without a port rate, other traffic matches no class and leaves unshaped
# (HTB's direct queue); with one, all classes sit under a parent at the port
# rate and other traffic takes a default class (1:2) that may use all of it.
apply_port() {  # rank file
  local i=$1 file=$2 ns dev port="" links=() d f r
  ns=$(ns_sw) dev="p$i"
  if [[ -f "$file" ]]; then
    while read -r d f r; do
      [[ "$d" == "$i" ]] || continue
      if [[ "$f" == - ]]; then port=$r; else links+=("$f $r"); fi
    done < "$file"
  fi
  if [[ ${#links[@]} -eq 0 ]]; then
    if [[ -z "$port" ]]; then
      ip netns exec "$ns" tc qdisc del dev "$dev" root 2>/dev/null || true
    else
      # replace, not delete + add: changing a TBF's rate keeps its queue.
      local pbits; pbits=$(rate_bits "$port")
      if ip netns exec "$ns" tc qdisc show dev "$dev" root | grep '^qdisc htb' >/dev/null; then
        tcx "$ns" qdisc del dev "$dev" root
      fi
      tcx "$ns" qdisc replace dev "$dev" root tbf rate "$port" burst "$(burst_of "$pbits")" latency 20ms
    fi
  else
    local quantum=$((MTU + 14)) parent=1: pbits=0 share=0 link s lr lbits gbits c
    ip netns exec "$ns" tc qdisc del dev "$dev" root 2>/dev/null || true
    if [[ -z "$port" ]]; then
      tcx "$ns" qdisc add dev "$dev" root handle 1: htb default 0 direct_qlen 1000
    else
      pbits=$(rate_bits "$port"); share=$((pbits / (${#links[@]} + 1)))
      tcx "$ns" qdisc add dev "$dev" root handle 1: htb default 2
      tcx "$ns" class add dev "$dev" parent 1: classid 1:1 htb rate "$port" ceil "$port" \
        burst "$(burst_of "$pbits")" cburst "$(burst_of "$pbits")" quantum "$quantum"
      # Guaranteed rates add up to the port rate, so the parent bounds the sum.
      tcx "$ns" class add dev "$dev" parent 1:1 classid 1:2 htb rate "${share}bit" ceil "$port" \
        burst "$(burst_of "$share")" cburst "$(burst_of "$pbits")" quantum "$quantum"
      tcx "$ns" qdisc add dev "$dev" parent 1:2 handle 2: bfifo limit "$(queue_of "$pbits")"
      parent=1:1
    fi
    for link in "${links[@]}"; do
      read -r s lr <<< "$link"
      lbits=$(rate_bits "$lr") c=$(class_of "$s")
      [[ -z "$port" || $lbits -le $pbits ]] || lbits=$pbits  # ceil: within the port's
      gbits=$lbits; [[ -z "$port" || $gbits -le $share ]] || gbits=$share
      tcx "$ns" class add dev "$dev" parent "$parent" classid "1:$c" htb rate "${gbits}bit" ceil "${lbits}bit" \
        burst "$(burst_of "$gbits")" cburst "$(burst_of "$lbits")" quantum "$quantum"
      tcx "$ns" qdisc add dev "$dev" parent "1:$c" handle "$c:" bfifo limit "$(queue_of "$lbits")"
      tcx "$ns" filter add dev "$dev" parent 1: protocol ip prio 1 u32 match ip src "$(addr_of "$s")/32" flowid "1:$c"
    done
  fi
  # Check what the kernel now holds against what was asked for.
  local kind want=noqueue n
  [[ -z "$port" ]] || want=tbf
  [[ ${#links[@]} -eq 0 ]] || want=htb
  kind=$(ip netns exec "$ns" tc qdisc show dev "$dev" root | awk '{ print $2; exit }')
  [[ "$kind" == "$want" || ( "$want" == noqueue && "$kind" != tbf && "$kind" != htb ) ]] ||
    die "rate: p$i in $ns has a '$kind' root qdisc, want $want"
  if [[ "$want" == htb ]]; then
    n=$(ip netns exec "$ns" tc filter show dev "$dev" parent 1: | grep -c 'flowid 1:' || true)
    [[ "$n" -eq ${#links[@]} ]] || die "rate: p$i in $ns has $n source filters, want ${#links[@]}"
    for link in "${links[@]}"; do
      read -r s lr <<< "$link"
      ip netns exec "$ns" tc class show dev "$dev" classid "1:$(class_of "$s")" | grep ' ceil ' >/dev/null ||
        die "rate: p$i in $ns lacks the class for rank $s"
    done
  fi
}

# "out" is a TBF on the rank's eth0 egress; "in" is the switch port's egress
# toward the rank (pI, rebuilt by apply_port with any link limits on it).
set_rate() {  # rate rank|all dir
  local rate=$1 rank=$2 dir=$3 first=0 last=$((RANKS - 1)) i dd burst new
  [[ "$MODE" == bridge ]] || die "rate: needs --mode bridge (lo has no qdisc worth shaping)"
  if [[ "$rank" != all ]]; then first=$rank last=$rank; fi
  if [[ "$rate" != off ]]; then
    local bits; bits=$(rate_bits "$rate"); burst=$(burst_of "$bits")
  fi
  new="$(rate_file).new"
  for ((i = first; i <= last; i++)); do
    for dd in in out; do
      [[ "$dir" == both || "$dir" == "$dd" ]] || continue
      if [[ "$dd" == out ]]; then  # every rail's interface
        local r
        for ((r = 0; r < RAILS; r++)); do
          if [[ "$rate" == off ]]; then
            ip -n "$(ns_rank "$i")" qdisc del dev "eth$r" root 2>/dev/null || true
          else
            ip netns exec "$(ns_rank "$i")" tc qdisc replace dev "eth$r" root tbf rate "$rate" burst "$burst" latency 20ms
          fi
        done
        continue
      fi
      { [[ ! -f "$(rate_file)" ]] || awk -v r="$i" '!($1 == r && $2 == "-")' "$(rate_file)"
        [[ "$rate" == off ]] || echo "$i - $rate"; } > "$new"
      apply_port "$i" "$new"
      mv "$new" "$(rate_file)"
    done
  done
}

# Limits packets from rank s to rank d (on pd, d's switch port) to RATE.
set_link_rate() {  # rate s d
  local rate=$1 s=$2 d=$3 new
  [[ "$MODE" == bridge ]] || die "rate: needs --mode bridge (lo has no qdisc worth shaping)"
  [[ "$rate" == off ]] || rate_bits "$rate" >/dev/null
  new="$(rate_file).new"
  { [[ ! -f "$(rate_file)" ]] || awk -v r="$d" -v f="$s" '!($1 == r && $2 == f)' "$(rate_file)"
    [[ "$rate" == off ]] || echo "$d $s $rate"; } > "$new"
  apply_port "$d" "$new"
  mv "$new" "$(rate_file)"
}

# --link SRC>DST of `loss` and `rate` -> "SRC DST".
parse_link() {
  [[ "$1" =~ ^([0-9]+)\>([0-9]+)$ ]] || die "--link '$1': want SRC>DST ranks, e.g. 2>3"
  local s=${BASH_REMATCH[1]} d=${BASH_REMATCH[2]}
  [[ $s -lt $RANKS && $d -lt $RANKS && $s -ne $d ]] || die "--link '$1': ranks must differ and be < $RANKS"
  echo "$s $d"
}

rate_cmd() {
  local rate=${1:-}; [[ -n "$rate" ]] || die "rate: which rate? (e.g. $prog rate 1gbit, or off)"
  shift
  local rank=all dir=both link="" rank_dir=""
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --name) name=${2:?}; shift 2 ;;
      --rank) rank=${2:?}; rank_dir=1; shift 2 ;;
      --dir) dir=${2:?}; rank_dir=1; shift 2 ;;
      --link) link=${2:?}; shift 2 ;;
      *) die "rate: unknown option '$1'" ;;
    esac
  done
  load_state
  if [[ -n "$link" ]]; then
    [[ -z "$rank_dir" ]] || die "rate: --link J>I names its own ranks and direction; drop --rank/--dir"
    local sd s d; sd=$(parse_link "$link"); read -r s d <<< "$sd"
    set_link_rate "$rate" "$s" "$d"
    echo "$prog: rate $rate on packets from rank $s ($(addr_of "$s")) to rank $d"
    return
  fi
  check_rank_dir "$rank" "$dir"
  set_rate "$rate" "$rank" "$dir"
  echo "$prog: rate $rate on rank(s) $rank, direction $dir"
}

# ---- stats ------------------------------------------------------------------

# The stats rows of one device: one listing of its table (not one nft call per
# counter), then its "any" row and, for `in`, a row per source with a
# per-link rule that saw traffic.
device_rows() {  # ns dev label dir
  ip netns exec "$1" nft list table netdev "ltcclab_$2" 2>/dev/null |
    awk -v label="$3" -v dir="$4" -v ranks="$RANKS" '
      function row(l, f, s, d, o) {
        printf "%-8s %-4s %-6s %12s %10s %8s %9s\n", l, dir, f, s, d,
               sprintf("%.3f", s ? 100 * d / s : 0), o
      }
      $1 == "counter" && $3 == "{" { name = $2; next }
      name != "" && $1 == "packets" { c[name] = $2; name = ""; next }
      END {
        # A per-link rule'"'"'s drops are part of the device'"'"'s traffic too.
        drop = c["dropped"] + 0
        for (j = 0; j < ranks; j++) drop += c["dropped_" j]
        row(label, "any", c["seen"] + 0, drop, c["oversize"] + 0)
        if (dir == "in")
          for (j = 0; j < ranks; j++)
            if (c["seen_" j] > 0) row(label, "r" j, c["seen_" j] + 0, c["dropped_" j] + 0, "-")
      }'
}

stats() {
  load_state
  printf '%-8s %-4s %-6s %12s %10s %8s %9s\n' link dir from packets dropped 'drop%' '>mtu'
  local i dd ns dev label
  local n=$RANKS; [[ "$MODE" == loopback ]] && n=1
  for ((i = 0; i < n; i++)); do
    for dd in in out; do
      [[ "$MODE" == loopback && "$dd" == out ]] && continue
      read -r ns dev < <(dev_of "$i" "$dd")
      label="r$i"; [[ "$MODE" == loopback ]] && label=lo
      device_rows "$ns" "$dev" "$label" "$dd"
      local r
      for ((r = 1; r < RAILS; r++)); do  # rows "rI.R": rank I's rail R
        if [[ "$dd" == in ]]; then device_rows "$(ns_rank "$i")" "eth$r" "r$i.$r" in
        else device_rows "$(ns_sw)" "$(rail_port "$i" "$r")" "r$i.$r" out; fi
      done
    done
  done
  rate_rows
}

# A row per rate-limited link (`rate --link J>I`), dir "rate": packets that
# reached the limit (sent + dropped) and those it tail-dropped, from the HTB
# class statistics of port pI.
rate_rows() {
  [[ "$MODE" == bridge && -s "$(rate_file)" ]] || return 0
  local dst
  awk '$2 != "-" { print $1 }' "$(rate_file)" | sort -nu | while read -r dst; do
    ip netns exec "$(ns_sw)" tc -s class show dev "p$dst" 2>/dev/null < /dev/null |
      awk -v label="r$dst" '
        function hex(t,  v, k) { v = 0; for (k = 1; k <= length(t); k++)
                                   v = 16 * v + index("0123456789abcdef", substr(t, k, 1)) - 1
                                 return v }
        $1 == "class" && $2 == "htb" { split($3, a, ":"); m = hex(a[2]); next }
        $1 == "Sent" && m >= 256 {
          d = $7; sub(/,/, "", d); s = $4 + d
          printf "%-8s %-4s %-6s %12s %10s %8s %9s\n", label, "rate", "r" (m - 256), s, d,
                 sprintf("%.3f", s ? 100 * d / s : 0), "-"
          m = -1
        }'
  done
}

# ---- exec / run ---------------------------------------------------------------

exec_cmd() {
  local rank=${1:?exec: which rank?}; shift
  [[ $# -gt 0 ]] || die "exec: which command?"
  load_state
  [[ "$rank" =~ ^[0-9]+$ && "$rank" -lt $RANKS ]] || die "exec: rank '$rank' is not in 0..$((RANKS - 1))"
  exec ip netns exec "$(ns_rank "$rank")" "$@"
}

mpi_exec() {
  [[ -n "${OMPI_COMM_WORLD_RANK:-}" ]] || die "mpi-exec: OMPI_COMM_WORLD_RANK is not set (run me under mpirun)"
  load_state
  exec_cmd "$((OMPI_COMM_WORLD_RANK / PER_HOST))" "$@"
}

# Runs CMD once per rank in its namespace (torchrun's variables set) and waits;
# returns the first failing rank's status (124 = timed out).
launch() {  # timeout CMD...
  local timeout=$1; shift
  local pids=() i rc=0 first_rc=0 tprefix=()
  [[ "$timeout" -gt 0 ]] && tprefix=(timeout -k 5 "$timeout")
  # Ctrl-C / TERM stop every rank before the caller's own handler runs.
  trap 'for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; exit 130' INT TERM
  local world=$((RANKS * PER_HOST)) h l
  for ((i = 0; i < world; i++)); do
    h=$((i / PER_HOST)) l=$((i % PER_HOST))
    RANK=$i WORLD_SIZE=$world LOCAL_RANK=$l LOCAL_WORLD_SIZE=$PER_HOST \
      MASTER_ADDR=$(addr_of 0) MASTER_PORT=${MASTER_PORT:-29500} LAB_ADDR=$(addr_of "$h") \
      LAB_IFNAME=$([[ "$MODE" == loopback ]] && echo lo || echo eth0) \
      "${tprefix[@]}" ip netns exec "$(ns_rank "$h")" "$@" &
    pids+=($!)
  done
  for i in "${!pids[@]}"; do
    rc=0; wait "${pids[$i]}" || rc=$?
    if [[ $rc -ne 0 ]]; then
      echo "$prog: rank $i exited with status $rc${tprefix:+ (124 = timed out after ${timeout}s)}" >&2
      [[ $first_rc -ne 0 ]] || first_rc=$rc
    fi
  done
  trap - INT TERM
  return "$first_rc"
}

launch_cmd() {
  local timeout=0
  while [[ $# -gt 0 && "$1" != -- ]]; do
    case "$1" in
      --timeout) timeout=${2:?}; shift 2 ;;
      --name) name=${2:?}; shift 2 ;;
      *) die "launch: unknown option '$1'" ;;
    esac
  done
  [[ "${1:-}" == -- ]] || die "launch: put the command after --"
  shift
  [[ $# -gt 0 ]] || die "launch: which command?"
  load_state
  launch "$timeout" "$@"
}

link_cmd() {
  local i=${1:?link: which rank?} state=${2:?link: down or up?}
  [[ "$state" == down || "$state" == up ]] || die "link: '$state' is not down or up"
  load_state
  [[ "$MODE" != loopback ]] || die "link: the loopback lab has no cables"
  [[ "$i" =~ ^[0-9]+$ && "$i" -lt "$RANKS" ]] || die "link: rank '$i' is not in 0..$((RANKS - 1))"
  ip -n "$(ns_sw)" link set "p$i" "$state"
}

run_cmd() {
  local up_args=() timeout=0
  while [[ $# -gt 0 && "$1" != -- ]]; do
    case "$1" in
      --timeout) timeout=${2:?}; shift 2 ;;
      *) up_args+=("$1" "${2:?$1 needs a value}"); shift 2 ;;
    esac
  done
  [[ "${1:-}" == -- ]] || die "run: put the command after --"
  shift
  [[ $# -gt 0 ]] || die "run: which command?"
  up "${up_args[@]}"
  load_state
  trap 'down' EXIT
  local rc=0
  launch "$timeout" "$@" || rc=$?
  stats >&2 || true
  return "$rc"
}

# ---- main -------------------------------------------------------------------

cmd=${1:-}
[[ -n "$cmd" ]] || { usage; exit 2; }
shift
# --name may come anywhere for the commands that take no other options.
case "$cmd" in
  stats|down|addr|link)
    args=()
    while [[ $# -gt 0 ]]; do
      if [[ "$1" == --name ]]; then name=${2:?}; shift 2; else args+=("$1"); shift; fi
    done
    set -- "${args[@]+"${args[@]}"}" ;;
esac
case "$cmd" in
  up) up "$@" ;;
  down) down; echo "$prog: lab '$name' down" ;;
  loss) loss_cmd "$@" ;;
  link) link_cmd "$@" ;;
  rate) rate_cmd "$@" ;;
  stats) stats ;;
  addr) load_state; addr_of "${1:?addr: which rank?}" ;;
  exec) exec_cmd "$@" ;;
  mpi-exec) mpi_exec "$@" ;;
  run) run_cmd "$@" ;;
  launch) launch_cmd "$@" ;;
  check) if why=$(why_not); then echo "$prog: the lab can run here"; else echo "$prog: $why"; exit 77; fi ;;
  -h|--help|help) usage ;;
  *) die "unknown command '$cmd' (try --help)" ;;
esac
