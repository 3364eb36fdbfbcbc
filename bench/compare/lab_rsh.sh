#!/usr/bin/env bash
# bench/compare/lab_rsh.sh — Open MPI's rsh agent for the lossy lab.
#
#   mpirun --hostfile H --mca plm_rsh_agent bench/compare/lab_rsh.sh ...
#
# Open MPI starts its daemon on each host of the hostfile as
# `agent HOST COMMAND...`. In the lab a host is a network namespace
# (scripts/lossy-net.sh up --hosts H); the hostfile names each by its lab
# address. This enters the namespace of $LAB_NAME that holds HOST's address,
# with a UTS namespace of its own whose host name is lab-HOST: Open MPI tells
# ranks of one node from another by host name, and every namespace of this
# machine would otherwise be "the same node" (shared memory across the lab's
# lossy cables, or a crash).
set -euo pipefail
host=${1:?usage: lab_rsh.sh HOST COMMAND...}; shift
prefix=${LAB_NAME:-ltcclab}-
for ns in $(ip netns list | awk '{ print $1 }'); do
  [[ "$ns" == "$prefix"* ]] || continue
  if ip netns exec "$ns" ip -4 -o addr show 2>/dev/null | grep -q " inet $host/"; then
    exec ip netns exec "$ns" unshare --uts sh -c "hostname 'lab-$host' && $*"
  fi
done
echo "lab_rsh.sh: no namespace of lab '${LAB_NAME:-ltcclab}' holds address $host" >&2
exit 1
