ltcc-sim --ranks 1024 --hosts-per-leaf 32 --spines 32 --gbps 400 --uplink-gbps 400 --mtu 4096 --hop-delay-us 2 --size 64M --segment 3980 --fec auto --loss 0.01 --seed 5
