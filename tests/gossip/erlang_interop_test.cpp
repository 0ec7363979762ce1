// Interop with the real Erlang/OTP runtime (Elixir is not installed here): erl's own
// term_to_binary / binary_to_term / crypto decide whether our bytes are right, and a transcription
// of libcluster's gossip.ex (libcluster_gossip_peer.escript) talks to GossipStrategy over real
// multicast inside a network namespace.
#include <sys/stat.h>

#include <chrono>
#include <string>

#include <gtest/gtest.h>

#include "gossip/gossip_codec.h"
#include "gossip/gossip_strategy.h"
#include "gossip/gossip_test_support.h"
#include "gossip/network_namespace.h"
#include "gossip/subprocess.h"

namespace libcluster {
namespace {

using namespace std::chrono_literals;

bool haveErlang() {
  return runCommand("command -v erl >/dev/null 2>&1 && command -v escript >/dev/null 2>&1");
}

/// Runs an Erlang expression sequence with `erl -noshell -eval`; its stdout, or "" on failure.
std::string erl(const std::string& expressions) {
  std::optional<Finished> finished =
      runToCompletion({"erl", "-noshell", "-eval", expressions + ", halt()."}, 60s);
  EXPECT_TRUE(finished && finished->status == 0) << (finished ? finished->output : "timed out");
  return finished ? finished->output : "";
}

std::string lastLine(const std::string& output) {
  std::string trimmed = output;
  while (!trimmed.empty() && trimmed.back() == '\n') {
    trimmed.pop_back();
  }
  std::size_t at = trimmed.rfind('\n');
  return at == std::string::npos ? trimmed : trimmed.substr(at + 1);
}

class ErlangInteropTest : public testing::Test {
protected:
  void SetUp() override {
    if (!haveErlang()) {
      GTEST_SKIP() << "erl/escript not installed (Debian: erlang-base)";
    }
  }
};

TEST_F(ErlangInteropTest, BinaryToTermReadsOurPlainHeartbeat) {
  std::string hex = toHex(encodeHeartbeat("myapp@10.0.0.1"));

  std::string node = erl("<<\"heartbeat::\", Rest/binary>> = binary:decode_hex(<<\"" + hex +
                         "\">>), #{node := N} = binary_to_term(Rest), true = is_atom(N), "
                         "io:format(\"~s\", [N])");

  EXPECT_EQ(node, "myapp@10.0.0.1");
}

TEST_F(ErlangInteropTest, BinaryToTermReadsOurUtf8Form) {
  std::string hex = toHex(encodeNodeTerm("myapp@10.0.0.1", AtomEncoding::Utf8));

  std::string node = erl("#{node := N} = binary_to_term(binary:decode_hex(<<\"" + hex +
                         "\">>)), io:format(\"~s\", [N])");

  EXPECT_EQ(node, "myapp@10.0.0.1");
}

TEST_F(ErlangInteropTest, OurHeartbeatIsExactlyWhatTermToBinaryProduces) {
  std::string hex = erl("io:format(\"~s\", [binary:encode_hex(term_to_binary(#{node => "
                        "'myapp@10.0.0.1'}))])");

  EXPECT_EQ(fromHex(hex), encodeNodeTerm("myapp@10.0.0.1"));
}

TEST_F(ErlangInteropTest, WeReadEveryFormErlangWrites) {
  std::string output =
      erl("T = #{node => 'app@host-1.example'}, "
          "X = #{node => 'app@host-1.example', pid => self(), ref => make_ref(), big => 1 bsl 200, "
          "bin => <<0:1000>>, f => 2.5, l => lists:seq(1, 300), t => {a, \"str\", [x | y]}}, "
          "[io:format(\"~s~n\", [binary:encode_hex(B)]) || B <- [term_to_binary(T), "
          "term_to_binary(T, [{minor_version, 1}]), term_to_binary(T, [{minor_version, 2}]), "
          "term_to_binary(X), term_to_binary(X, [{minor_version, 2}])]]");
  std::vector<std::string> lines;
  std::size_t start = 0;
  for (std::size_t end; (end = output.find('\n', start)) != std::string::npos; start = end + 1) {
    lines.push_back(output.substr(start, end - start));
  }

  ASSERT_EQ(lines.size(), 5u) << output;
  for (const std::string& line : lines) {
    HeartbeatDecoding decoded = decodeNodeTerm(fromHex(line));
    EXPECT_EQ(decoded.outcome, GossipOutcome::Accepted) << line;
    EXPECT_EQ(decoded.node, "app@host-1.example");
  }
}

TEST_F(ErlangInteropTest, ErlangCryptoOpensOurSecretModeDatagrams) {
  SecretCipher cipher("somepassword");
  std::string hex = toHex(cipher.seal(encodeHeartbeat("myapp@10.0.0.1")).value());

  // libcluster's decrypt: crypto_one_time(aes_256_cbc, sha256(secret), iv, ciphertext, false),
  // then its pkcs7_unpad.
  std::string node = erl(
      "<<IV:16/binary, C/binary>> = binary:decode_hex(<<\"" + hex +
      "\">>), "
      "P = crypto:crypto_one_time(aes_256_cbc, crypto:hash(sha256, <<\"somepassword\">>), IV, C, "
      "false), Pad = binary:last(P), true = Pad =< 16, "
      "Body = binary_part(P, 0, byte_size(P) - Pad), "
      "true = binary_part(P, byte_size(P), -Pad) =:= binary:copy(<<Pad>>, Pad), "
      "<<\"heartbeat::\", Rest/binary>> = Body, #{node := N} = binary_to_term(Rest), "
      "io:format(\"~s\", [N])");

  EXPECT_EQ(node, "myapp@10.0.0.1");
}

TEST_F(ErlangInteropTest, WeOpenErlangCryptoSecretModeDatagrams) {
  std::string hex =
      erl("M = <<\"heartbeat::\", (term_to_binary(#{node => 'beam@10.0.0.9'}))/binary>>, "
          "Pad = 16 - byte_size(M) rem 16, IV = crypto:strong_rand_bytes(16), "
          "C = crypto:crypto_one_time(aes_256_cbc, crypto:hash(sha256, <<\"somepassword\">>), IV, "
          "<<M/binary, (binary:copy(<<Pad>>, Pad))/binary>>, true), "
          "io:format(\"~s\", [binary:encode_hex(<<IV/binary, C/binary>>)])");
  GossipSecurity security;
  security.mode = GossipMode::Secret;
  security.secret = "somepassword";
  GossipCodec codec(security);

  HeartbeatDecoding decoded = codec.decode(fromHex(hex), Clock::SystemTime{});

  EXPECT_EQ(decoded.outcome, GossipOutcome::Accepted);
  EXPECT_EQ(decoded.node, "beam@10.0.0.9");
}

/// GossipStrategy and the escript transcription of libcluster's Gossip in one lo-only namespace,
/// both on the default group and port.
class LibclusterPeerTest : public ErlangInteropTest {
protected:
  void SetUp() override {
    ErlangInteropTest::SetUp();
    if (IsSkipped()) {
      return;
    }
    std::string whyNot;
    namespace_ = NetworkNamespace::create(whyNot);
    if (!namespace_) {
      GTEST_SKIP() << whyNot;
    }
  }

  std::optional<Subprocess> startPeer(const std::string& secret, int seconds) {
    return Subprocess::start({"ip", "netns", "exec", namespace_->name(), "escript",
                              LIBCLUSTER_GOSSIP_PEER_ESCRIPT, "beam@127.0.0.1", "45892", secret,
                              "agent@127.0.0.2", std::to_string(seconds)});
  }

  std::unique_ptr<GossipStrategy> start(const GossipOptions& options) {
    std::optional<Result<std::unique_ptr<GossipStrategy>>> started;
    namespace_->enter([&] {
      started.emplace(
          GossipStrategy::start(options, "agent@127.0.0.2", "gossip", clock_, metrics_));
    });
    EXPECT_TRUE(started && *started);
    return started && *started ? std::move(*started).value() : nullptr;
  }

  static GossipOptions fastOptions() {
    GossipOptions options;
    options.heartbeatMin = 20ms;
    options.heartbeatMax = 200ms;
    return options;
  }

  bool hears(GossipStrategy& strategy, const std::string& node, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      Result<PeerSet> peers = strategy.discoverPeers(std::stop_token{});
      if (peers && peers->contains(node)) {
        return true;
      }
      strategy.waitForChange(clock_.now() + 100ms, std::stop_token{}, clock_);
    }
    return false;
  }

  SystemClock clock_;
  MetricsRegistry metrics_;
  std::optional<NetworkNamespace> namespace_;
};

TEST_F(LibclusterPeerTest, PlainModeInteroperatesBothWays) {
  GossipOptions plain = fastOptions();
  plain.mode = GossipMode::Plain; // no longer the default: it must be asked for
  auto agent = start(plain);
  ASSERT_TRUE(agent);
  std::optional<Subprocess> peer = startPeer("-", 20);
  ASSERT_TRUE(peer);

  EXPECT_TRUE(hears(*agent, "beam@127.0.0.1", 15s));
  std::optional<int> status = peer->wait(25s);

  EXPECT_EQ(status, 0) << peer->output();
  EXPECT_NE(peer->output().find("heard agent@127.0.0.2"), std::string::npos) << peer->output();
}

TEST_F(LibclusterPeerTest, SecretModeInteroperatesBothWays) {
  GossipOptions options = fastOptions();
  options.secret = "somepassword";
  auto agent = start(options);
  ASSERT_TRUE(agent);
  std::optional<Subprocess> peer = startPeer("somepassword", 20);
  ASSERT_TRUE(peer);

  EXPECT_TRUE(hears(*agent, "beam@127.0.0.1", 15s));
  std::optional<int> status = peer->wait(25s);

  EXPECT_EQ(status, 0) << peer->output();
  EXPECT_NE(peer->output().find("heard agent@127.0.0.2"), std::string::npos) << peer->output();
  EXPECT_EQ(agent->packets(GossipOutcome::DecryptFailed), 0u);
}

TEST_F(LibclusterPeerTest, AuthenticatedModeAndLibclusterIgnoreEachOtherWithoutCrashing) {
  GossipOptions options = fastOptions();
  options.keys = {"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="};
  auto agent = start(options);
  ASSERT_TRUE(agent);
  std::optional<Subprocess> peer = startPeer("-", 4);
  ASSERT_TRUE(peer);

  std::optional<int> status = peer->wait(20s);

  EXPECT_EQ(status, 1) << peer->output(); // ran to its deadline: no crash, never heard us
  EXPECT_EQ(lastLine(peer->output()), "timeout");
  EXPECT_GT(agent->packets(GossipOutcome::Foreign), 0u);
  EXPECT_EQ(agent->discoverPeers(std::stop_token{}).value(), PeerSet{});
}

} // namespace
} // namespace libcluster
