ltcc-sim --ranks 1024 --hosts-per-leaf 32 --spines 32 --gbps 400 --uplink-gbps 400 --mtu 4096 --hop-delay-us 2 --size 64M --segment 3980 --seed 1 --fec off --loss 0.01
