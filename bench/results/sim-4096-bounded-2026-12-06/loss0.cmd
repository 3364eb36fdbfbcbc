# commit 20f1934 (2026-12-06 18:40 UTC, 2-vCPU VM, two runs at once)
build/release/sim/driver/ltcc-sim --ranks 4096 --hosts-per-leaf 32 --spines 32 --gbps 400 --uplink-gbps 400 --mtu 4096 --hop-delay-us 2 --size 64M --segment 3980 --fec auto --seed 1 --loss 0
