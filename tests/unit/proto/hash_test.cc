// HMAC-SHA256 (OpenSSL EVP_MAC, one context per thread re-keyed per call) against the RFC 4231
// test vectors, and SHA-256/MD5 against FIPS 180 / RFC 1321 examples.
#include <string>

#include <gtest/gtest.h>

#include "proto/hash.h"

namespace s3rdma::proto {
namespace {

std::string Unhex(std::string_view hex) { return HexDecode(hex).value(); }

TEST(HashTest, HmacSha256Rfc4231) {
  struct Case {
    std::string key, data, mac_hex;
  };
  const Case cases[] = {
      // 1: 20-byte key.
      {std::string(20, '\x0b'), "Hi There",
       "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
      // 2: key shorter than the block.
      {"Jefe", "what do ya want for nothing?",
       "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
      // 3: 50 bytes of 0xdd.
      {std::string(20, '\xaa'), std::string(50, '\xdd'),
       "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
      // 6: 131-byte key, longer than the block: hashed first.
      {std::string(131, '\xaa'), "Test Using Larger Than Block-Size Key - Hash Key First",
       "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
      // 7: long key and long data.
      {std::string(131, '\xaa'),
       "This is a test using a larger than block-size key and a larger than block-size data. "
       "The key needs to be hashed before being used by the HMAC algorithm.",
       "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(HexEncode(HmacSha256(c.key, c.data)), c.mac_hex) << "key size " << c.key.size();
  }
  // A 64-byte key is used as is (exactly one block), and the empty key is all zero padding.
  EXPECT_EQ(HmacSha256(std::string(64, 'k'), "x").size(), 32u);
  EXPECT_NE(HmacSha256(std::string(64, 'k'), "x"), HmacSha256(std::string(65, 'k'), "x"));
  EXPECT_EQ(HmacSha256("", "x"), HmacSha256(std::string(3, '\0'), "x"));
  EXPECT_EQ(HexEncode(HmacSha256("", "")), "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
  // The context is re-keyed per call: a key never leaks into the next call.
  const std::string a = HmacSha256("key-a", "data");
  EXPECT_NE(HmacSha256("key-b", "data"), a);
  EXPECT_EQ(HmacSha256("key-a", "data"), a);
}

TEST(HashTest, Sha256AndMd5) {
  EXPECT_EQ(HexEncode(Sha256("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(HexEncode(Sha256("")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(HexEncode(Md5("abc")), "900150983cd24fb0d6963f7d28e17f72");
  Digest d(Digest::Kind::kSha256);
  d.Update("a");
  d.Update("bc");
  EXPECT_EQ(d.Final(), Sha256("abc"));
  EXPECT_EQ(Unhex("00ff"), std::string("\x00\xff", 2));
}

}  // namespace
}  // namespace s3rdma::proto
