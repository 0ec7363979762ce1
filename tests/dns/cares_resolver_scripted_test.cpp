#include "dns/cares_resolver.h"

#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "dns/loopback.h"

namespace libcluster {
namespace {

using namespace std::chrono_literals;
using Code = Error::Code;
using Message = std::vector<unsigned char>;
using testing::ElementsAre;

constexpr int kTypeA = 1;
constexpr int kTypeTxt = 16;
constexpr int kTypeAaaa = 28;
constexpr int kTypeSrv = 33;
constexpr int kServfail = 2;
constexpr int kRefused = 5;
constexpr int kFormerr = 1;

// The query type, read after the question name (which a c-ares query never compresses).
int queryType(const Message& query) {
  std::size_t pos = 12;
  while (pos < query.size() && query[pos] != 0) {
    pos += 1 + query[pos];
  }
  return pos + 2 < query.size() ? (query[pos + 1] << 8) | query[pos + 2] : -1;
}

// The query turned into a reply: same id and question, QR and RA set, `rcode`, `answers` claimed.
Message reply(const Message& query, int rcode, int answers) {
  Message message = query;
  message[2] |= 0x80;
  message[3] = static_cast<unsigned char>(0x80 | rcode);
  message[6] = static_cast<unsigned char>(answers >> 8);
  message[7] = static_cast<unsigned char>(answers & 0xFF);
  return message;
}

void put16(Message& message, int value) {
  message.push_back(static_cast<unsigned char>((value >> 8) & 0xFF));
  message.push_back(static_cast<unsigned char>(value & 0xFF));
}

void put32(Message& message, std::uint32_t value) {
  put16(message, static_cast<int>(value >> 16));
  put16(message, static_cast<int>(value & 0xFFFF));
}

// Appends a record owned by the question name (a pointer to offset 12), class IN.
void appendRecord(Message& message, int type, std::uint32_t ttl, const Message& data) {
  message.insert(message.end(), {0xC0, 0x0C});
  put16(message, type);
  put16(message, 1);
  put32(message, ttl);
  put16(message, static_cast<int>(data.size()));
  message.insert(message.end(), data.begin(), data.end());
}

Message srvData(int priority, int weight, int port, const std::vector<std::string>& labels) {
  Message data;
  put16(data, priority);
  put16(data, weight);
  put16(data, port);
  for (const std::string& label : labels) {
    data.push_back(static_cast<unsigned char>(label.size()));
    data.insert(data.end(), label.begin(), label.end());
  }
  data.push_back(0);
  return data;
}

class CaresResolverScriptedTest : public testing::Test {
protected:
  std::unique_ptr<CaresResolver> resolverFor(const ScriptedUdpServer& server,
                                             std::chrono::milliseconds timeout = 2s) {
    Result<std::unique_ptr<CaresResolver>> made = CaresResolver::create(
        {.servers = {"127.0.0.1:" + std::to_string(server.port())}, .timeout = timeout});
    EXPECT_TRUE(made) << made.error().message;
    return made ? std::move(made).value() : nullptr;
  }
};

TEST_F(CaresResolverScriptedTest, ServfailIsUnavailable) {
  ScriptedUdpServer server([](const Message& query) { return reply(query, kServfail, 0); });
  auto dns = resolverFor(server);

  Result<std::vector<DnsAddress>> found = dns->resolveAddresses("app.test", AddressFamily::Any, {});

  ASSERT_FALSE(found);
  EXPECT_EQ(found.error().code, Code::Unavailable) << found.error().message;
}

TEST_F(CaresResolverScriptedTest, RefusedAndFormerrAreUnavailable) {
  ScriptedUdpServer refused([](const Message& query) { return reply(query, kRefused, 0); });
  ScriptedUdpServer formerr([](const Message& query) { return reply(query, kFormerr, 0); });

  EXPECT_EQ(resolverFor(refused)->resolveServices("_epmd._tcp.app.test", {}).error().code,
            Code::Unavailable);
  EXPECT_EQ(resolverFor(formerr)->resolveServices("_epmd._tcp.app.test", {}).error().code,
            Code::Unavailable);
}

TEST_F(CaresResolverScriptedTest, AnEmptyAnswerIsNotFound) {
  ScriptedUdpServer server([](const Message& query) { return reply(query, 0, 0); });
  auto dns = resolverFor(server);

  Result<std::vector<DnsAddress>> found = dns->resolveAddresses("app.test", AddressFamily::Any, {});

  ASSERT_FALSE(found);
  EXPECT_EQ(found.error().code, Code::NotFound) << found.error().message;
}

TEST_F(CaresResolverScriptedTest, AnyFailsWhenOneFamilyCannotBeAnswered) {
  // Returning only the A records would make the AAAA peers look gone.
  ScriptedUdpServer server([](const Message& query) {
    if (queryType(query) != kTypeA) {
      return reply(query, kServfail, 0);
    }
    Message message = reply(query, 0, 1);
    appendRecord(message, kTypeA, 30, {10, 0, 0, 1});
    return message;
  });
  auto dns = resolverFor(server);

  Result<std::vector<DnsAddress>> any = dns->resolveAddresses("app.test", AddressFamily::Any, {});
  Result<std::vector<DnsAddress>> v4 = dns->resolveAddresses("app.test", AddressFamily::IPv4, {});

  ASSERT_FALSE(any);
  EXPECT_EQ(any.error().code, Code::Unavailable);
  EXPECT_THAT(any.error().message, testing::HasSubstr("AAAA"));
  ASSERT_TRUE(v4) << v4.error().message;
}

TEST_F(CaresResolverScriptedTest, RecordsOfAnotherTypeAreNotFound) {
  ScriptedUdpServer server([](const Message& query) {
    Message message = reply(query, 0, 1);
    appendRecord(message, kTypeTxt, 30, {2, 'h', 'i'});
    return message;
  });
  auto dns = resolverFor(server);

  EXPECT_EQ(dns->resolveAddresses("app.test", AddressFamily::IPv4, {}).error().code,
            Code::NotFound);
  EXPECT_EQ(dns->resolveServices("app.test", {}).error().code, Code::NotFound);
}

TEST_F(CaresResolverScriptedTest, ATruncatedRecordIsInvalid) {
  ScriptedUdpServer server([](const Message& query) {
    Message message = reply(query, 0, 1);
    message.insert(message.end(), {0xC0, 0x0C, 0x00});
    return message;
  });
  auto dns = resolverFor(server);

  EXPECT_EQ(dns->resolveAddresses("app.test", AddressFamily::IPv4, {}).error().code, Code::Invalid);
  EXPECT_EQ(dns->resolveServices("app.test", {}).error().code, Code::Invalid);
}

TEST_F(CaresResolverScriptedTest, MoreRecordsClaimedThanSentIsInvalid) {
  ScriptedUdpServer server([](const Message& query) {
    Message message = reply(query, 0, 3);
    appendRecord(message, kTypeA, 30, {10, 0, 0, 1});
    return message;
  });
  auto dns = resolverFor(server);

  EXPECT_EQ(dns->resolveAddresses("app.test", AddressFamily::IPv4, {}).error().code, Code::Invalid);
}

TEST_F(CaresResolverScriptedTest, ACompressionLoopIsInvalid) {
  ScriptedUdpServer server([](const Message& query) {
    Message message = reply(query, 0, 1);
    const std::size_t self = message.size();
    message.insert(message.end(), {static_cast<unsigned char>(0xC0 | (self >> 8)),
                                   static_cast<unsigned char>(self & 0xFF)});
    put16(message, kTypeSrv);
    put16(message, 1);
    put32(message, 30);
    const Message data = srvData(0, 0, 4369, {"a"});
    put16(message, static_cast<int>(data.size()));
    message.insert(message.end(), data.begin(), data.end());
    return message;
  });
  auto dns = resolverFor(server);

  EXPECT_EQ(dns->resolveServices("app.test", {}).error().code, Code::Invalid);
}

TEST_F(CaresResolverScriptedTest, AShortSrvRecordIsInvalid) {
  ScriptedUdpServer server([](const Message& query) {
    Message message = reply(query, 0, 1);
    appendRecord(message, kTypeSrv, 30, {0, 1, 0, 2});
    return message;
  });
  auto dns = resolverFor(server);

  EXPECT_EQ(dns->resolveServices("app.test", {}).error().code, Code::Invalid);
}

TEST_F(CaresResolverScriptedTest, GivesEachSrvRecordItsOwnTtl) {
  ScriptedUdpServer server([](const Message& query) {
    Message message = reply(query, 0, 3);
    appendRecord(message, kTypeSrv, 10, srvData(1, 2, 4369, {"app-0", "test"}));
    appendRecord(message, kTypeTxt, 99, {2, 'h', 'i'});
    appendRecord(message, kTypeSrv, 20, srvData(3, 4, 4370, {"app-1", "test"}));
    return message;
  });
  auto dns = resolverFor(server);

  Result<std::vector<DnsService>> found = dns->resolveServices("_epmd._tcp.app.test", {});

  ASSERT_TRUE(found) << found.error().message;
  EXPECT_THAT(*found, ElementsAre(DnsService{"app-0.test", 4369, 1, 2, 10s},
                                  DnsService{"app-1.test", 4370, 3, 4, 20s}));
}

TEST_F(CaresResolverScriptedTest, ReadsATtlWithTheTopBitSetAsZero) {
  ScriptedUdpServer server([](const Message& query) {
    Message message = reply(query, 0, 1);
    if (queryType(query) == kTypeSrv) {
      appendRecord(message, kTypeSrv, 0x80000001U, srvData(0, 0, 4369, {"app-0", "test"}));
    } else {
      appendRecord(message, kTypeA, 0x80000001U, {10, 0, 0, 1});
    }
    return message;
  });
  auto dns = resolverFor(server);

  Result<std::vector<DnsAddress>> addresses =
      dns->resolveAddresses("app.test", AddressFamily::IPv4, {});
  Result<std::vector<DnsService>> services = dns->resolveServices("app.test", {});

  ASSERT_TRUE(addresses) << addresses.error().message;
  EXPECT_EQ(addresses->front().ttl, 0s);
  ASSERT_TRUE(services) << services.error().message;
  EXPECT_EQ(services->front().ttl, 0s);
}

TEST_F(CaresResolverScriptedTest, IgnoresAReplyToAnotherQuery) {
  ScriptedUdpServer server([](const Message& query) {
    Message message = reply(query, 0, 1);
    message[0] ^= 0xFF;
    appendRecord(message, kTypeA, 30, {10, 0, 0, 1});
    return message;
  });
  auto dns = resolverFor(server, 300ms);

  EXPECT_EQ(dns->resolveAddresses("app.test", AddressFamily::IPv4, {}).error().code, Code::Timeout);
}

TEST_F(CaresResolverScriptedTest, ATruncatedReplyWithNoTcpServerIsUnavailable) {
  ScriptedUdpServer server([](const Message& query) {
    Message message = reply(query, 0, 0);
    message[2] |= 0x02;
    return message;
  });
  auto dns = resolverFor(server);

  EXPECT_EQ(dns->resolveAddresses("app.test", AddressFamily::IPv4, {}).error().code,
            Code::Unavailable);
}

TEST_F(CaresResolverScriptedTest, SurvivesCorruptedAnswers) {
  // Valid answers with a few bytes after the question changed, and some cut short. The id and
  // question stay intact so that c-ares accepts the reply and parses the rest.
  std::mt19937 random(20240601);
  ScriptedUdpServer server([&random](const Message& query) {
    const int type = queryType(query);
    const int records = 1 + static_cast<int>(random() % 3);
    Message message = reply(query, 0, records);
    for (int i = 0; i < records; ++i) {
      if (type == kTypeSrv) {
        appendRecord(message, kTypeSrv, 30, srvData(i, i, 4369 + i, {"app-" + std::to_string(i)}));
      } else if (type == kTypeAaaa) {
        appendRecord(message, kTypeAaaa, 30, Message(16, static_cast<unsigned char>(i + 1)));
      } else {
        appendRecord(message, kTypeA, 30, {10, 0, 0, static_cast<unsigned char>(i + 1)});
      }
    }
    const std::size_t changes = 1 + random() % 4;
    for (std::size_t i = 0; i < changes; ++i) {
      message[query.size() + random() % (message.size() - query.size())] =
          static_cast<unsigned char>(random() & 0xFF);
    }
    if (random() % 4 == 0) {
      message.resize(query.size() + random() % (message.size() - query.size()));
    }
    return message;
  });
  auto dns = resolverFor(server, 500ms);
  int answered = 0;

  for (int i = 0; i < 500; ++i) {
    Result<std::vector<DnsAddress>> addresses =
        dns->resolveAddresses("app.test", AddressFamily::Any, {});
    Result<std::vector<DnsService>> services = dns->resolveServices("app.test", {});

    EXPECT_TRUE(!addresses || !addresses->empty());
    EXPECT_TRUE(!services || !services->empty());
    EXPECT_TRUE(addresses || addresses.error().code != Code::Timeout) << "a reply was lost";
    answered += (addresses ? 1 : 0) + (services ? 1 : 0);
  }

  EXPECT_GT(answered, 0) << "some corruptions leave a readable answer";
}

} // namespace
} // namespace libcluster
