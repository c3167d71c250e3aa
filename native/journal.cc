#include "journal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <random>
#include <vector>

namespace axis {

namespace {
constexpr uint32_t kMagic = 0x4c574158;  // "XAWL"
constexpr size_t kHeader = 4 + 4 + 8 + 8 + 4;
constexpr size_t kPrealloc = 2 << 20;  // a run and a large last record fit; more grows the file
constexpr size_t kWrapAt = 1 << 20;

// CRC-32C (Castagnoli), bytewise from a table.
uint32_t crc32c(const uint8_t* p, size_t n) {
  static const std::vector<uint32_t> table = [] {
    std::vector<uint32_t> t(256);
    for (uint32_t i = 0; i < 256; i++) {
      uint32_t c = i;
      for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t c = 0xffffffffu;
  for (size_t i = 0; i < n; i++) c = table[(c ^ p[i]) & 0xff] ^ (c >> 8);
  return c ^ 0xffffffffu;
}

Status ioError(const std::string& what, const std::string& path) {
  return Status::Error("AXIS_STORAGE", what + " " + path + ": " + strerror(errno));
}

Status writeAll(int fd, const char* p, size_t n, off_t at, const std::string& path) {
  while (n > 0) {
    ssize_t w = ::pwrite(fd, p, n, at);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return ioError("cannot write", path);
    p += w;
    n -= static_cast<size_t>(w);
    at += w;
  }
  return Status::Ok();
}

Status readAll(int fd, char* p, size_t n, off_t at, size_t& got) {
  got = 0;
  while (got < n) {
    ssize_t r = ::pread(fd, p + got, n - got, at + static_cast<off_t>(got));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return Status::Error("AXIS_STORAGE", std::string("cannot read the raft journal: ") + strerror(errno));
    if (r == 0) break;
    got += static_cast<size_t>(r);
  }
  return Status::Ok();
}
}  // namespace

uint64_t newJournalEpoch() {
  std::random_device rd;
  uint64_t e = 0;
  while (e == 0) e = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  return e;
}

Journal::~Journal() { close(); }

void Journal::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Status Journal::open(const std::string& path) {
  path_ = path;
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd_ < 0) return ioError("cannot open", path);
  struct stat st;
  if (fstat(fd_, &st) != 0) return ioError("cannot stat", path);
  allocated_ = static_cast<size_t>(st.st_size);
  if (allocated_ >= kPrealloc) return Status::Ok();
  // Written zeros, not fallocate: the blocks exist and are written, so later overwrites and their
  // fdatasync change no metadata. Only a new file is filled; its first bytes are never a record.
  std::string zeros(kPrealloc - allocated_, '\0');
  AXIS_TRY(writeAll(fd_, zeros.data(), zeros.size(), static_cast<off_t>(allocated_), path));
  if (::fsync(fd_) != 0) return ioError("cannot sync", path);
  allocated_ = kPrealloc;
  std::string dir = path.substr(0, path.find_last_of('/'));
  int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return ioError("cannot open directory of", path);
  int rc = ::fsync(dfd);
  ::close(dfd);
  if (rc != 0) return ioError("cannot sync directory of", path);
  return Status::Ok();
}

Status Journal::write(uint64_t epoch, uint64_t seq, const std::string& payload) {
  std::string rec(kHeader + payload.size(), '\0');
  uint8_t* p = reinterpret_cast<uint8_t*>(rec.data());
  uint32_t magic = kMagic, len = static_cast<uint32_t>(payload.size());
  memcpy(p, &magic, 4);
  memcpy(p + 8, &epoch, 8);
  memcpy(p + 16, &seq, 8);
  memcpy(p + 24, &len, 4);
  memcpy(p + kHeader, payload.data(), payload.size());
  uint32_t crc = crc32c(p + 8, rec.size() - 8);
  memcpy(p + 4, &crc, 4);
  AXIS_TRY(writeAll(fd_, rec.data(), rec.size(), static_cast<off_t>(end_), path_));
  if (::fdatasync(fd_) != 0) return ioError("cannot sync", path_);
  end_ += rec.size();
  if (end_ > allocated_) allocated_ = end_;
  return Status::Ok();
}

bool Journal::full() const { return end_ >= kWrapAt; }

Status Journal::read(uint64_t epoch, std::vector<Record>& out) {
  out.clear();
  size_t at = 0;
  for (;;) {
    char head[kHeader];
    size_t got;
    AXIS_TRY(readAll(fd_, head, kHeader, static_cast<off_t>(at), got));
    if (got < kHeader) break;
    uint32_t magic, crc, len;
    uint64_t recEpoch, seq;
    memcpy(&magic, head, 4);
    memcpy(&crc, head + 4, 4);
    memcpy(&recEpoch, head + 8, 8);
    memcpy(&seq, head + 16, 8);
    memcpy(&len, head + 24, 4);
    if (magic != kMagic || recEpoch != epoch || len > allocated_ - std::min(allocated_, at + kHeader)) break;
    if (!out.empty() && seq != out.back().seq + 1) break;
    std::string rec(kHeader + len, '\0');
    AXIS_TRY(readAll(fd_, rec.data(), rec.size(), static_cast<off_t>(at), got));
    if (got < rec.size()) break;
    if (crc32c(reinterpret_cast<const uint8_t*>(rec.data()) + 8, rec.size() - 8) != crc) break;
    out.push_back(Record{seq, rec.substr(kHeader)});
    at += rec.size();
  }
  return Status::Ok();
}

}  // namespace axis
