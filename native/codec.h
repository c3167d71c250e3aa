// Packed little-endian buffers: how batches and results cross the JS/C++ boundary in one piece.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>

namespace axis {

struct Reader {
  const uint8_t* p;
  const uint8_t* end;
  bool ok = true;

  Reader(const uint8_t* data, size_t len) : p(data), end(data + len) {}
  bool more() const { return ok && p < end; }
  bool need(size_t n) {
    if (!ok || static_cast<size_t>(end - p) < n) ok = false;
    return ok;
  }
  uint8_t u8() {
    if (!need(1)) return 0;
    return *p++;
  }
  uint32_t u32() {
    if (!need(4)) return 0;
    uint32_t v;
    memcpy(&v, p, 4);
    p += 4;
    return v;
  }
  uint64_t u64() {
    if (!need(8)) return 0;
    uint64_t v;
    memcpy(&v, p, 8);
    p += 8;
    return v;
  }
  // A length-prefixed byte string; points into the buffer.
  void bytes(const uint8_t*& data, size_t& len) {
    len = u32();
    if (!need(len)) {
      data = nullptr;
      len = 0;
      return;
    }
    data = p;
    p += len;
  }
};

struct Writer {
  std::string buf;

  void u8(uint8_t v) { buf.push_back(static_cast<char>(v)); }
  void u32(uint32_t v) { buf.append(reinterpret_cast<const char*>(&v), 4); }
  void u64(uint64_t v) { buf.append(reinterpret_cast<const char*>(&v), 8); }
  void raw(const void* data, size_t len) { buf.append(static_cast<const char*>(data), len); }
  void bytes(const void* data, size_t len) {
    u32(static_cast<uint32_t>(len));
    raw(data, len);
  }
  size_t mark() const { return buf.size(); }
  // Reserve a u32 to fill in later (counts known only after a scan).
  size_t placeholder32() {
    size_t at = buf.size();
    u32(0);
    return at;
  }
  void patch32(size_t at, uint32_t v) { memcpy(&buf[at], &v, 4); }
  void patch64(size_t at, uint64_t v) { memcpy(&buf[at], &v, 8); }
  void truncate(size_t at) { buf.resize(at); }
};

inline void putBE64(uint8_t* p, uint64_t v) {
  for (int i = 7; i >= 0; i--) {
    p[i] = static_cast<uint8_t>(v);
    v >>= 8;
  }
}
inline uint64_t getBE64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = (v << 8) | p[i];
  return v;
}
inline void putBE32(uint8_t* p, uint32_t v) {
  for (int i = 3; i >= 0; i--) {
    p[i] = static_cast<uint8_t>(v);
    v >>= 8;
  }
}
inline uint32_t getBE32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) v = (v << 8) | p[i];
  return v;
}
inline uint64_t getLE64(const uint8_t* p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}
inline uint32_t getLE32(const uint8_t* p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}

}  // namespace axis
