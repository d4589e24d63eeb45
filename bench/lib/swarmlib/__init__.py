# SPDX-License-Identifier: Apache-2.0
"""Helpers of bench/swarm: the network-namespace swarm testbed (python3 stdlib only).

util     - unit parsing (sizes, tc rates), hashing, CPU sampling
topo     - bridge + namespaces + veths + tc shaping, counters, teardown, leftover cleanup
procs    - spawning processes inside namespaces behind a start barrier, reaping with rusage
systems  - the systems under test: direct (curl), aria2 (BitTorrent), damselfly
           and, in image mode, direct / damselfly with skopeo (dfdaemon per host)
image    - image mode: docker-registry in the origin namespace, the pushed image
report   - statistics, the Kumar-Ross bound T*, Markdown / JSON / gnuplot CDF output
"""
