// The Raft journal: the write-ahead record that makes a group's Raft log appends durable with one
// fdatasync, before the LMDB commit that holds them is flushed (durability "raft", see writer.h).
//
// One file, `raft.wal` in the data directory: a run of records from offset 0, seqs consecutive,
//   u32 magic | u32 crc32c(everything after it) | u64 epoch | u64 seq | u32 len | payload
// payload: the group's RAFT_APPEND requests, (u32 length | request)*.
//
// The writer stamps meta "journal" = u64 epoch | u64 seq in every commit. After an OS crash the
// store may roll back to its last flushed commit; the records after the seq it holds are replayed
// at open, in order. A record torn by a crash while it was written fails its CRC, and its group
// had not been acknowledged. Once the run passes kWrapAt, the writer flushes the store (so no
// record is needed any more) and starts a new run at 0; the rest of the old run is ignored, its
// seqs not following the new run's. The file is preallocated and overwritten in place, so most
// fdatasyncs flush data only, not the file's size.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "status.h"

namespace axis {

class Journal {
 public:
  ~Journal();
  // Opens (creating and preallocating) `path`.
  Status open(const std::string& path);
  void close();
  bool isOpen() const { return fd_ >= 0; }
  // Appends the record to the run and flushes it (fdatasync).
  Status write(uint64_t epoch, uint64_t seq, const std::string& payload);
  // Whether the run is long enough to start over (once nothing in it is needed).
  bool full() const;
  // The next record starts a new run at offset 0.
  void restart() { end_ = 0; }
  struct Record {
    uint64_t seq;
    std::string payload;
  };
  // The run at offset 0: its whole records of `epoch` with consecutive seqs.
  Status read(uint64_t epoch, std::vector<Record>& out);

 private:
  int fd_ = -1;
  std::string path_;
  size_t allocated_ = 0;
  size_t end_ = 0;  // where the next record goes
};

// A random epoch for a store's journal, never 0.
uint64_t newJournalEpoch();

}  // namespace axis
