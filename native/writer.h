// The single writer: a native thread that owns every LMDB write transaction. Batches queued while
// it commits are committed together (group commit: one durable commit for all of them); idle time
// goes to incremental compaction. The JS thread never waits on the disk.
#pragma once
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "apply.h"

namespace axis {

struct Job {
  enum Kind { kOpen, kWrite, kWaitCompaction, kClose } kind;
  explicit Job(Kind k) : kind(k) {}
  std::string input;   // kWrite: (u32 length | request)*
  std::string output;  // kWrite: one result per request
  uint64_t target = 0;  // kWaitCompaction: the floor to wait for
  Status status;        // a failure of the whole job
  void* deferred = nullptr;  // the JS promise, only touched on the JS thread
};

struct Config {
  std::string path;
  size_t mapSize = 0;
  unsigned maxReaders = 0;
  bool noSync = false;
  // How long the writer stays awake after a commit, waiting for the next write, before it sleeps.
  unsigned spinMicros = 200;
};

class WriterThread {
 public:
  // `notify` is called from the writer thread when finished jobs wait in takeDone().
  WriterThread(Config config, std::function<void()> notify);
  ~WriterThread();
  void submit(Job* job);
  std::vector<Job*> takeDone();
  void join();
  // After join(), on the JS thread once every read view is closed.
  void closeEnv();

  MDB_env* env() const { return env_; }
  const Dbs& dbs() const { return dbs_; }
  // Bumped after every commit: readers renew their view when it moves.
  std::atomic<uint64_t> commitSeq{0};
  std::atomic<bool> compacting{false};

 private:
  void run();
  Status openEnv();
  // Lazy commits: a group made only of APPLY requests and RAFT_APPENDs flagged lazy commits with
  // MDB_NOMETASYNC (one fdatasync instead of two). An OS crash may then undo that last commit,
  // never tear it: what it held (applied entries, a commit index) is rebuilt from the durable
  // Raft log. A process crash loses nothing.
  void commitGroup(std::vector<Job*>& writes);
  // Runs one request in its own transaction; its result (or error form) goes to `out`.
  Status runAlone(Reader& in, Writer& out);
  Status runOnce(Reader& in, Writer& out, const Status* failInner, Status& innerFailure);
  void compactAlone();
  void settleWaiters(bool closing);
  void post(std::vector<Job*>& jobs);
  void adopt(const WriteState& next);

  Config config_;
  std::function<void()> notify_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job*> queue_;
  std::atomic<size_t> queued_{0};  // jobs in queue_, readable without the lock
  std::vector<Job*> done_;

  // Writer-thread state.
  MDB_env* env_ = nullptr;
  Dbs dbs_;
  int lockFd_ = -1;
  WriteState state_;
  uint8_t compactAt_[12] = {0};
  bool compactDone_ = true;
  std::vector<Job*> waiters_;
};

}  // namespace axis
