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
#include "journal.h"

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

// kSync: a write's promise resolves once its commit is flushed (two fdatasyncs: data, then meta).
// kNoSync: commits are never flushed (a process crash loses nothing, an OS crash may).
// kRaft, for a Raft member's store: a group made only of Raft work (APPLY, RAFT_APPEND,
//   RAFT_COMPACT) resolves as soon as its commit is visible, before it is flushed (LMDB's
//   overlapping sync). The group's RAFT_APPENDs that need durability were made durable first by
//   one journal record (journal.h). A crash rolls the store back to its last flushed commit; the
//   journal replays the appends that commit lacked, and Raft applies the committed entries again
//   from the log. Applies, lazy appends and log compactions in the commits rolled back are lost
//   (the log keeps the compacted entries a while longer). Any other group resolves once flushed.
enum class Durability { kSync, kNoSync, kRaft };

struct Config {
  std::string path;
  size_t mapSize = 0;
  unsigned maxReaders = 0;
  Durability durability = Durability::kSync;
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
  // kRaft: how many journal records the open replayed (the store had rolled back).
  size_t journalReplayed = 0;

 private:
  void run();
  Status openEnv();
  // Lazy commits: a group made only of APPLY requests and RAFT_APPENDs flagged lazy commits with
  // MDB_NOMETASYNC (one fdatasync instead of two). An OS crash may then undo that last commit,
  // never tear it: what it held (applied entries, a commit index) is rebuilt from the durable
  // Raft log. A process crash loses nothing.
  // A commit under way: what visible() needs to finish the group.
  struct Committing {
    WriterThread* self = nullptr;
    std::vector<Job*>* jobs = nullptr;
    std::unique_lock<std::mutex>* baton = nullptr;  // released once visible, if set
    WriteState next;
    uint8_t at[12];
    bool done = false;
    bool compactionRan = false;
    bool posted = false;
  };
  void loop();
  // Returns whether the group's jobs were posted already (kRaft: once the commit was visible,
  // when the baton was handed on too, if given).
  bool commitGroup(std::vector<Job*>& writes, std::unique_lock<std::mutex>* baton);
  // The writer's state after the commit of `c`.
  void committed(const Committing& c);
  // kRaft: appends a journal record (restarting the run when it is long) and flushes it.
  Status writeJournal(const std::string& records);
  // kRaft: the journal record for the group's durable RAFT_APPENDs (empty when there are none),
  // or false when the group holds other work and commits as kSync.
  bool raftGroup(const std::vector<Job*>& writes, std::string& journal) const;
  // kRaft: opens the journal, replays a record the store lacks, stamps the epoch.
  Status openJournal(MDB_txn* txn);
  // kRaft: meta "journal" = epoch | seq in the transaction about to commit.
  Status stampJournal(MDB_txn* txn);
  static void visible(const void* ctx, int finished);
  // A write transaction's flags: `syncFlags` but under kRaft.
  unsigned writeFlags(unsigned syncFlags = 0) const;
  // Every commit: stamps the journal mark, waits out a slow disk (failpoint.h), commits.
  int commit(MDB_txn* txn);
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
  Journal journal_;
  uint64_t journalEpoch_ = 0;
  uint64_t journalSeq_ = 0;  // the newest record written (or replayed)
  uint64_t stampedSeq_ = 0;  // the seq meta "journal" holds as of the last commit
  // kRaft runs several writer threads taking turns: the baton holder takes the next group, and
  // hands the baton on as soon as its commit is visible, so the next groups run while it flushes.
  // Everything the writer owns (state_, compaction, waiters_, the journal) is the baton holder's.
  std::vector<std::thread> others_;
  std::mutex baton_;
  bool stopping_ = false;
};

}  // namespace axis
