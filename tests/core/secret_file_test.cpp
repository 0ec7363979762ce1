#include "core/secret_file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

namespace libcluster {
namespace {

class SecretFileTest : public testing::Test {
protected:
  void SetUp() override {
    char pattern[] = "/tmp/secret-file-test-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string fileWithMode(const std::string& name, mode_t mode) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << "secretcookie\n";
    EXPECT_EQ(::chmod(path.c_str(), mode), 0);
    return path;
  }

  std::string dir_;
};

TEST_F(SecretFileTest, OwnerOnlyFilesAreNotExposed) {
  EXPECT_FALSE(secretFileExposure(fileWithMode("a", 0600)));
  EXPECT_FALSE(secretFileExposure(fileWithMode("b", 0400)));
  EXPECT_FALSE(secretFileExposure(fileWithMode("c", 0700)));
}

TEST_F(SecretFileTest, GroupOrOtherReadableFilesAreExposedAndNamed) {
  std::optional<std::string> world = secretFileExposure(fileWithMode("a", 0644));
  std::optional<std::string> group = secretFileExposure(fileWithMode("b", 0640));
  std::optional<std::string> others = secretFileExposure(fileWithMode("c", 0604));

  ASSERT_TRUE(world && group && others);
  EXPECT_EQ(*world, "mode 0644 lets group and others read it");
  EXPECT_EQ(*group, "mode 0640 lets the group read it");
  EXPECT_EQ(*others, "mode 0604 lets others read it");
  EXPECT_EQ(world->find("secretcookie"), std::string::npos);
}

TEST_F(SecretFileTest, AMissingFileIsLeftToTheReader) {
  EXPECT_FALSE(secretFileExposure(dir_ + "/missing"));
}

TEST(WipeSecret, ZeroesEveryByteUpToTheCapacityAndEmpties) {
  std::string secret(100, 'k');
  secret.resize(10); // the bytes past the size are still in the buffer
  const char* data = secret.data();
  const std::size_t capacity = secret.capacity();

  wipeSecret(secret);

  EXPECT_TRUE(secret.empty());
  ASSERT_EQ(secret.data(), data); // no reallocation, so the old buffer is the one checked
  for (std::size_t i = 0; i < capacity; ++i) {
    EXPECT_EQ(data[i], '\0') << i;
  }
}

TEST(WipeSecret, SecretWiperWipesAtScopeEnd) {
  std::string secret = "a-cookie-long-enough-to-be-on-the-heap-xxxxxxxxxxxxxxxx";
  {
    SecretWiper wiper(secret);
  }

  EXPECT_TRUE(secret.empty());
}

} // namespace
} // namespace libcluster
