// Canonical values and SHA-256 against independently known results.
#include <catch2/catch.hpp>

#include "sweep/core/sha256.h"
#include "sweep/core/value.h"

using namespace emsweep;

TEST_CASE("sha256 matches FIPS 180-4 test vectors", "[value][hash]") {
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  // 55, 56 and 64 bytes straddle the padding boundary.
  CHECK(sha256_hex(std::string(55, 'a')) ==
        "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
  CHECK(sha256_hex(std::string(56, 'a')) ==
        "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
  CHECK(sha256_hex(std::string(64, 'a')) ==
        "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
}

TEST_CASE("numbers one ulp apart canonicalise to the same value", "[value]") {
  double a = 0.1 + 0.2;  // 0.30000000000000004
  CHECK(Value::number(a) == Value::number(0.3));
  CHECK(Value::number(a).canonical() == "0.3");
  CHECK(Value::number(std::nextafter(1.0, 2.0)) == Value::number(1.0));
  CHECK(Value::number(-0.0).canonical() == "0");
  CHECK(Value::number(1e-5).canonical() == "1e-05");
  CHECK(Value::number(100).canonical() == "100");
  CHECK(Value::number(1.0 / 3).canonical() == "0.333333333333");
}

TEST_CASE("values of different types never compare equal", "[value]") {
  CHECK_FALSE(Value::number(1) == Value::integer(1));
  CHECK(Value::integer(3).canonical() == "3");
  CHECK(Value::boolean(true).canonical() == "true");
  CHECK(Value::text("a\"b").canonical() == "\"a\\\"b\"");
  CHECK(Value::text("a\"b").display() == "a\"b");
}

TEST_CASE("sha256 gives the same digests with and without the CPU's SHA instructions", "[value][hash]") {
  auto digests = [] {  // every length 0..299 of one pseudo-random byte string
    std::vector<std::string> out;
    std::string data;
    std::uint64_t x = 88172645463325252ull;
    for (int len = 0; len < 300; ++len) {
      out.push_back(sha256_hex(data));
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      data.push_back(static_cast<char>(x & 0xff));
    }
    return out;
  };
  const auto fast = digests();
  const bool had = sha256_use_cpu_extensions(false);
  const auto portable = digests();
  sha256_use_cpu_extensions(had);
  CHECK(fast == portable);
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  INFO("CPU SHA instructions in use: " << had);
}
