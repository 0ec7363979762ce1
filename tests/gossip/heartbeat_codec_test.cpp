#include "gossip/heartbeat_codec.h"

#include <random>
#include <string>

#include <gtest/gtest.h>

#include "core/names.h"
#include "gossip/gossip_test_support.h"

namespace libcluster {
namespace {

// term_to_binary(#{node => 'a@b', pid => ..., ref => make_ref(), f => 1.5, big => 1 bsl 100,
// l => [1,2|3], s => "abc", bin => <<1,2,3>>, bits => <<1:3>>, t => {a,b}, m => #{x => y},
// e => fun lists:map/2, i => 100000, neg => -1, port => hd(erlang:ports()), "node" => nope,
// <<"node">> => nope2}) from OTP 25: every tag a term of that shape can hold, plus keys that
// spell "node" without being the atom.
constexpr std::string_view kEveryTagHex =
    "8374000000116400036269676E0D000000000000000000000000001064000362696E6D00000003010203640004"
    "626974734D00000001032064000165716400056C697374736400036D6170610264000166463FF8000000000000"
    "6400016962000186A06400016C6C000000026101610261036400016D740000000164000178640001796400036E"
    "656762FFFFFFFF6400046E6F64656400036140626400037069645864000D6E6F6E6F6465406E6F686F73740000"
    "002A0000000000000000640004706F72745964000D6E6F6E6F6465406E6F686F737400000000000000006400"
    "037265665A000364000D6E6F6E6F6465406E6F686F7374000000000000BE4150400002F2773B33640001736B"
    "000361626364000174680264000161640001626B00046E6F64656400046E6F70656D000000046E6F646564000"
    "56E6F706532";

std::vector<std::uint8_t> mapOf(std::uint32_t arity, const std::vector<std::uint8_t>& entries) {
  std::vector<std::uint8_t> term{131,
                                 116,
                                 static_cast<std::uint8_t>(arity >> 24),
                                 static_cast<std::uint8_t>(arity >> 16),
                                 static_cast<std::uint8_t>(arity >> 8),
                                 static_cast<std::uint8_t>(arity)};
  return concat(term, entries);
}

std::vector<std::uint8_t> atom(std::uint8_t tag, std::string_view name) {
  std::vector<std::uint8_t> out{tag};
  if (tag == 100 || tag == 118) {
    out.push_back(static_cast<std::uint8_t>(name.size() >> 8));
  }
  out.push_back(static_cast<std::uint8_t>(name.size()));
  return concat(out, bytesOf(name));
}

TEST(HeartbeatCodec, EncodesTheLibclusterVectorByteForByte) {
  EXPECT_EQ(encodeHeartbeat("myapp@10.0.0.1"), fromHex(kPlainMyappHex));
  EXPECT_EQ(encodeHeartbeat("myapp@10.0.0.1").size(), 41u);
}

TEST(HeartbeatCodec, EncodesTheNonodeCaptureByteForByte) {
  EXPECT_EQ(encodeHeartbeat("nonode@nohost"), fromHex(kNonodeCaptureHex));
}

TEST(HeartbeatCodec, EncodesTheOtp26FormWhenAskedForUtf8) {
  EXPECT_EQ(encodeNodeTerm("myapp@10.0.0.1", AtomEncoding::Utf8), fromHex(kOtp26TermHex));
}

TEST(HeartbeatCodec, DecodesTheLibclusterVector) {
  HeartbeatDecoding decoded = decodeHeartbeat(fromHex(kPlainMyappHex));

  EXPECT_EQ(decoded.outcome, GossipOutcome::Accepted);
  EXPECT_EQ(decoded.node, "myapp@10.0.0.1");
}

TEST(HeartbeatCodec, DecodesTheNonodeCapture) {
  EXPECT_EQ(decodeHeartbeat(fromHex(kNonodeCaptureHex)).node, "nonode@nohost");
}

TEST(HeartbeatCodec, DecodesTheOtp26SmallAtomUtf8Form) {
  HeartbeatDecoding decoded = decodeNodeTerm(fromHex(kOtp26TermHex));

  EXPECT_EQ(decoded.outcome, GossipOutcome::Accepted);
  EXPECT_EQ(decoded.node, "myapp@10.0.0.1");
}

TEST(HeartbeatCodec, DecodesEveryAtomTagForKeyAndValue) {
  for (std::uint8_t keyTag : {100, 115, 118, 119}) {
    for (std::uint8_t valueTag : {100, 115, 118, 119}) {
      std::vector<std::uint8_t> term =
          mapOf(1, concat(atom(keyTag, "node"), atom(valueTag, "app@host-1.example")));

      HeartbeatDecoding decoded = decodeNodeTerm(term);

      EXPECT_EQ(decoded.outcome, GossipOutcome::Accepted) << int(keyTag) << "/" << int(valueTag);
      EXPECT_EQ(decoded.node, "app@host-1.example");
    }
  }
}

TEST(HeartbeatCodec, RoundTripsBothEmittedEncodings) {
  for (AtomEncoding encoding : {AtomEncoding::Latin1, AtomEncoding::Utf8}) {
    EXPECT_EQ(decodeHeartbeat(encodeHeartbeat("app@fd00::7", encoding)).node, "app@fd00::7");
  }
}

TEST(HeartbeatCodec, IgnoresOtherKeysOfEveryTagAsTheElixirMatchDoes) {
  HeartbeatDecoding decoded = decodeNodeTerm(fromHex(kEveryTagHex));

  EXPECT_EQ(decoded.outcome, GossipOutcome::Accepted);
  EXPECT_EQ(decoded.node, "a@b");
}

TEST(HeartbeatCodec, IgnoresBytesAfterTheTermAsBinaryToTermDoes) {
  std::vector<std::uint8_t> packet = concat(fromHex(kPlainMyappHex), {0, 0, 7});

  EXPECT_EQ(decodeHeartbeat(packet).node, "myapp@10.0.0.1");
}

TEST(HeartbeatCodec, RefusesARepeatedNodeKeyAsBinaryToTermDoes) {
  std::vector<std::uint8_t> term = mapOf(2, concat(concat(atom(100, "node"), atom(100, "a@b")),
                                                   concat(atom(119, "node"), atom(100, "c@d"))));

  EXPECT_EQ(decodeNodeTerm(term).outcome, GossipOutcome::Malformed);
}

TEST(HeartbeatCodec, ReportsTermsOfTheWrongShapeAsUnexpected) {
  // 'a@b'; {node, 'a@b'}; #{}; #{node => <<"a@b">>}; #{<<"node">> => 'a@b'}; #{nodes => 'a@b'}
  std::vector<std::vector<std::uint8_t>> terms{
      concat({131}, atom(100, "a@b")),
      concat({131, 104, 2}, concat(atom(100, "node"), atom(100, "a@b"))),
      mapOf(0, {}),
      mapOf(1, concat(atom(100, "node"), {109, 0, 0, 0, 3, 'a', '@', 'b'})),
      mapOf(1, concat({109, 0, 0, 0, 4, 'n', 'o', 'd', 'e'}, atom(100, "a@b"))),
      mapOf(1, concat(atom(100, "nodes"), atom(100, "a@b"))),
  };
  for (const auto& term : terms) {
    EXPECT_EQ(decodeNodeTerm(term).outcome, GossipOutcome::UnexpectedTerm) << toHex(term);
  }
}

TEST(HeartbeatCodec, ReportsAtomsThatAreNotNodeNames) {
  for (std::string_view name :
       {"nonode", "a@", "@b", "a b@c", "a@b@c", "a@b/c", "true", "é@b", "a@b\n"}) {
    std::vector<std::uint8_t> term = mapOf(1, concat(atom(118, "node"), atom(118, name)));

    EXPECT_EQ(decodeNodeTerm(term).outcome, GossipOutcome::InvalidNode) << name;
  }
}

TEST(HeartbeatCodec, NeverMistakesAnAtomWithANulForTheNodeKey) {
  std::vector<std::uint8_t> key = atom(100, std::string_view("node\0x", 6));
  std::vector<std::uint8_t> value = atom(100, std::string_view("a@b\0", 4));

  EXPECT_EQ(decodeNodeTerm(mapOf(1, concat(key, atom(100, "a@b")))).outcome,
            GossipOutcome::UnexpectedTerm);
  EXPECT_EQ(decodeNodeTerm(mapOf(1, concat(atom(100, "node"), value))).outcome,
            GossipOutcome::InvalidNode);
}

TEST(HeartbeatCodec, RefusesLengthsThatPointPastTheData) {
  std::vector<std::vector<std::uint8_t>> terms{
      {131, 116, 0xff, 0xff, 0xff, 0xff},                     // map arity 2^32-1
      concat({131, 116, 0, 0, 0, 1}, {100, 0xff, 0xff, 'n'}), // atom of 65535 bytes
      concat({131, 116, 0, 0, 0, 1}, {119, 200, 'n'}),        // small atom of 200 bytes
      concat({131, 108, 0x7f, 0xff, 0xff, 0xff}, {106}),      // list of 2^31-1
      concat({131, 109, 0xff, 0xff, 0xff, 0xf0}, {1, 2, 3}),  // binary of 4 GiB
      {131, 110, 0xff, 0},                                    // small big of 255 bytes
      {131, 98, 0, 0},                                        // integer cut short
      {131, 70, 0, 0, 0, 0, 0, 0, 0},                         // float cut short
  };
  for (const auto& term : terms) {
    EXPECT_EQ(decodeNodeTerm(term).outcome, GossipOutcome::Malformed) << toHex(term);
  }
}

TEST(HeartbeatCodec, RefusesLatin1AtomsLongerThanTheAtomLimit) {
  std::string name(256, 'a');

  EXPECT_EQ(decodeNodeTerm(mapOf(1, concat(atom(100, "node"), atom(100, name)))).outcome,
            GossipOutcome::Malformed);
}

TEST(HeartbeatCodec, RefusesDeepNestingWithoutRecursingWithoutBound) {
  std::vector<std::uint8_t> deep;
  for (int i = 0; i < 100000; ++i) {
    deep.insert(deep.end(), {104, 1}); // {{{...
  }
  deep.push_back(106);
  std::vector<std::uint8_t> term =
      mapOf(2, concat(concat(atom(100, "x"), deep), concat(atom(100, "node"), atom(100, "a@b"))));

  EXPECT_EQ(decodeNodeTerm(term).outcome, GossipOutcome::Malformed);
}

TEST(HeartbeatCodec, RefusesCompressedAndUnknownTermsAndOtherVersions) {
  EXPECT_EQ(decodeNodeTerm(fromHex("8350000000170b")).outcome, GossipOutcome::Malformed);
  EXPECT_EQ(decodeNodeTerm(fromHex("83ff")).outcome, GossipOutcome::Malformed);
  EXPECT_EQ(decodeNodeTerm(fromHex("8274000000016400046e6f6465640003614062")).outcome,
            GossipOutcome::Malformed);
  EXPECT_EQ(decodeNodeTerm({}).outcome, GossipOutcome::Malformed);
}

TEST(HeartbeatCodec, ReportsDatagramsWithoutThePrefixAsNotHeartbeats) {
  for (std::string_view text : {"", "heartbeat:", "HEARTBEAT::x", "hello"}) {
    EXPECT_EQ(decodeHeartbeat(bytesOf(text)).outcome, GossipOutcome::NotHeartbeat) << text;
  }
}

TEST(HeartbeatCodec, NeverAcceptsATruncatedHeartbeat) {
  std::vector<std::uint8_t> packet = fromHex(kEveryTagHex);

  for (std::size_t size = 0; size < packet.size(); ++size) {
    std::vector<std::uint8_t> cut(packet.begin(), packet.begin() + static_cast<long>(size));
    EXPECT_EQ(decodeNodeTerm(cut).outcome, GossipOutcome::Malformed) << size;
  }
}

TEST(HeartbeatCodec, SurvivesEverySingleByteCorruption) {
  std::vector<std::uint8_t> packet = fromHex(kEveryTagHex);
  std::mt19937 random(42);

  for (std::size_t at = 0; at < packet.size(); ++at) {
    for (int trial = 0; trial < 16; ++trial) {
      std::vector<std::uint8_t> corrupt = packet;
      corrupt[at] = static_cast<std::uint8_t>(random());
      HeartbeatDecoding decoded = decodeNodeTerm(corrupt);
      if (decoded.outcome == GossipOutcome::Accepted) {
        EXPECT_TRUE(isNodeName(decoded.node));
      }
    }
  }
}

} // namespace
} // namespace libcluster
