// What an idle connection costs: a receive posted only on the background
// tag (the communicator's control channel, posted to every peer for the
// whole job) does not put the peer under watch: no keepalive probes, no
// "nothing heard" verdict. Before, every rank probed every other rank once a
// keepalive interval (16,472 datagrams a second for 128 idle ranks on one
// host; bench/RESULTS.md). A receive on any other tag still watches.
#include <gtest/gtest.h>

#include <vector>

#include "transports/ldt/core/engine.h"

namespace ltcc::ldt {
namespace {

struct CountingSink : PacketSink {
  uint64_t packets = 0;
  uint64_t to_peer[3] = {0, 0, 0};
  void emit(const OutPacket& p) override {
    ++packets;
    if (p.peer < 3) ++to_peer[p.peer];
  }
};

TEST(EngineIdleCost, BackgroundReceivesDoNotWatchTheirPeer) {
  LdtOptions o;
  o.peer_timeout_ns = 2'000'000'000ull;
  o.keepalive_ns = 100'000'000ull;
  o.background_tag = 0x8000C7A1u;
  CountingSink sink;
  Engine e(o, 0, 3, 0x5EED, &sink);
  std::vector<uint8_t> ctl(512), data(64);
  uint64_t now = 1'000'000'000ull;
  ASSERT_TRUE(e.post_recv(1, o.background_tag, ctl.data(), ctl.size(), 1, now).is_ok());
  ASSERT_TRUE(e.post_recv(2, o.background_tag, ctl.data(), ctl.size(), 2, now).is_ok());
  // Ten timeouts of silence with only background receives posted.
  for (int i = 0; i < 200; ++i) {
    now += 100'000'000ull;
    e.poll(now);
  }
  EXPECT_EQ(sink.packets, 0u) << "keepalive probes to peers nobody waits on";
  EXPECT_TRUE(e.completions().empty()) << "a peer nobody waits on was declared dead";
  // A collective waits on rank 1: it is watched (probed), and its silence
  // is a verdict within the timeout; rank 2 is still left alone.
  ASSERT_TRUE(e.post_recv(1, 5, data.data(), data.size(), 3, now).is_ok());
  const uint64_t start = now;
  while (e.completions().empty() && now - start < 3 * o.peer_timeout_ns) {
    now += 10'000'000ull;
    e.poll(now);
  }
  EXPECT_GT(sink.packets, 0u) << "no keepalive to a peer a receive waits on";
  ASSERT_FALSE(e.completions().empty());
  EXPECT_LE(now - start, o.peer_timeout_ns + 2 * o.keepalive_ns);
  for (const Completion& c : e.completions()) EXPECT_EQ(c.peer, 1u);
  EXPECT_EQ(sink.to_peer[2], 0u);
}

}  // namespace
}  // namespace ltcc::ldt
