#include "writer.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>

#include "statemachine.h"

namespace axis {

namespace {
constexpr size_t kGroupCompactBudget = 256;   // change entries compacted alongside client writes
constexpr size_t kAloneCompactBudget = 2000;  // per transaction when idle

// This LMDB reports a commit that wrote nothing as MDB_EMPTY_TXN (the transaction is ended all the same).
int commit(MDB_txn* txn) {
  int rc = mdb_txn_commit(txn);
  return rc == MDB_EMPTY_TXN ? MDB_SUCCESS : rc;
}
constexpr uint8_t kApplyKind = 5;

// Whether every request of a job may be committed lazily (see writer.h). Requests that do not
// parse are not lazy; they fail in the group and run alone.
bool lazyJob(const std::string& input) {
  Reader in(reinterpret_cast<const uint8_t*>(input.data()), input.size());
  while (in.more()) {
    uint32_t len = in.u32();
    if (!in.ok || len == 0 || !in.need(len)) return false;
    uint8_t kind = in.p[0];
    bool lazy = kind == kApplyKind || (kind == 3 && len >= 2 && (in.p[1] & 8));
    if (!lazy) return false;
    in.p += len;
  }
  return true;
}
}  // namespace

WriterThread::WriterThread(Config config, std::function<void()> notify)
    : config_(std::move(config)), notify_(std::move(notify)) {
  thread_ = std::thread([this] { run(); });
}

WriterThread::~WriterThread() { join(); }

void WriterThread::join() {
  if (thread_.joinable()) thread_.join();
}

void WriterThread::closeEnv() {
  if (env_) mdb_env_close(env_);
  env_ = nullptr;
  if (lockFd_ >= 0) ::close(lockFd_);
  lockFd_ = -1;
}

void WriterThread::submit(Job* job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(job);
    queued_.fetch_add(1, std::memory_order_release);
  }
  cv_.notify_one();
}

std::vector<Job*> WriterThread::takeDone() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Job*> out;
  out.swap(done_);
  return out;
}

void WriterThread::post(std::vector<Job*>& jobs) {
  if (jobs.empty()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    done_.insert(done_.end(), jobs.begin(), jobs.end());
  }
  jobs.clear();
  notify_();
}

Status WriterThread::openEnv() {
  // One writer per data directory, across processes too: the writer caches the revision.
  std::string lockPath = config_.path + "/axis.lock";
  lockFd_ = ::open(lockPath.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lockFd_ < 0) return Status::Error("AXIS_STORAGE", "cannot open " + lockPath + ": " + strerror(errno));
  if (flock(lockFd_, LOCK_EX | LOCK_NB) != 0) {
    return Status::Error("AXIS_ALREADY_OPEN", config_.path + " is open in another process");
  }
  AXIS_MDB(mdb_env_create(&env_), "create environment");
  AXIS_MDB(mdb_env_set_maxdbs(env_, 12), "set max dbs");
  AXIS_MDB(mdb_env_set_mapsize(env_, config_.mapSize), "set map size");
  AXIS_MDB(mdb_env_set_maxreaders(env_, config_.maxReaders), "set max readers");
  // Not MDB_WRITEMAP: it makes commits ~20% cheaper, but this LMDB fails an assertion in
  // mdb_freelist_save under our randomized tests with it.
  unsigned flags = MDB_NOTLS | (config_.noSync ? MDB_NOSYNC : 0);
  AXIS_MDB(mdb_env_open(env_, config_.path.c_str(), flags, 0644), "open environment");
  MDB_txn* txn;
  AXIS_MDB(mdb_txn_begin(env_, nullptr, 0, &txn), "begin");
  auto fail = [&](int rc, const char* what) {
    mdb_txn_abort(txn);
    return Status::Lmdb(rc, what);
  };
  int rc;
  if ((rc = mdb_dbi_open(txn, "hist", MDB_CREATE, &dbs_.hist))) return fail(rc, "open hist");
  if ((rc = mdb_set_compare(txn, dbs_.hist, histCompare))) return fail(rc, "set hist order");
  if ((rc = mdb_dbi_open(txn, "revs", MDB_CREATE, &dbs_.revs))) return fail(rc, "open revs");
  if ((rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &dbs_.meta))) return fail(rc, "open meta");
  if ((rc = mdb_dbi_open(txn, "rlog", MDB_CREATE, &dbs_.rlog))) return fail(rc, "open rlog");
  if ((rc = mdb_dbi_open(txn, "rmeta", MDB_CREATE, &dbs_.rmeta))) return fail(rc, "open rmeta");
  if ((rc = mdb_dbi_open(txn, "dedup", MDB_CREATE, &dbs_.dedup))) return fail(rc, "open dedup");
  if ((rc = mdb_dbi_open(txn, "dedupage", MDB_CREATE, &dbs_.dedupage))) return fail(rc, "open dedupage");
  if ((rc = mdb_dbi_open(txn, "leases", MDB_CREATE, &dbs_.leases))) return fail(rc, "open leases");
  if ((rc = mdb_dbi_open(txn, "leasekeys", MDB_CREATE, &dbs_.leasekeys))) return fail(rc, "open leasekeys");
  View v;
  v.txn = txn;
  Status s = v.load(dbs_);
  uint64_t appliedTerm;
  if (s.ok()) s = readApplied(txn, dbs_, state_.applied, appliedTerm);
  std::string alarms;
  if (s.ok()) s = readAlarms(txn, dbs_, alarms, state_.alarms);
  if (v.hist) mdb_cursor_close(v.hist);
  if (v.revs) mdb_cursor_close(v.revs);
  if (!s.ok()) {
    mdb_txn_abort(txn);
    return s;
  }
  state_.rev = v.rev;
  state_.compact = v.compact;
  compactDone_ = state_.compact == 0;  // a compaction cut short by a restart resumes
  compacting.store(!compactDone_);
  AXIS_MDB(commit(txn), "commit");
  return Status::Ok();
}

void WriterThread::adopt(const WriteState& next) {
  if (next.compact != state_.compact) {
    memset(compactAt_, 0, sizeof compactAt_);
    compactDone_ = false;
    compacting.store(true);
  }
  state_ = next;
}

void WriterThread::run() {
  Job* first;
  {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return !queue_.empty(); });
    first = queue_.front();
    queue_.pop_front();
  }
  first->status = openEnv();
  bool opened = first->status.ok();
  std::vector<Job*> batch{first};
  post(batch);
  if (!opened) return;  // the JS side closes what was opened

  for (;;) {
    std::vector<Job*> jobs;
    // A writer that awaits each write sends the next one a few tens of µs after hearing of the
    // last: wait for it awake a little while before sleeping (a futex wake-up costs as much again).
    for (auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(config_.spinMicros);
         queued_.load(std::memory_order_acquire) == 0 && compactDone_ && std::chrono::steady_clock::now() < until;) {
      std::this_thread::yield();
    }
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return !queue_.empty() || !compactDone_; });
      queued_.store(0, std::memory_order_relaxed);
      jobs.assign(queue_.begin(), queue_.end());
      queue_.clear();
    }
    std::vector<Job*> writes, finished;
    Job* closing = nullptr;
    for (Job* job : jobs) {
      if (closing) {
        job->status = Status::Error("AXIS_CLOSED", "the store is closed");
        finished.push_back(job);
      } else if (job->kind == Job::kWrite) {
        writes.push_back(job);
      } else if (job->kind == Job::kWaitCompaction) {
        waiters_.push_back(job);
      } else if (job->kind == Job::kClose) {
        closing = job;
      } else {
        job->status = Status::Error("AXIS_INVALID_ARGUMENT", "the store is already open");
        finished.push_back(job);
      }
    }
    if (!writes.empty()) {
      commitGroup(writes);
      finished.insert(finished.end(), writes.begin(), writes.end());
    } else if (!compactDone_ && !closing) {
      compactAlone();
    }
    post(finished);
    settleWaiters(closing != nullptr);
    if (closing) {
      std::vector<Job*> last{closing};
      post(last);
      return;
    }
  }
}

void WriterThread::settleWaiters(bool closing) {
  std::vector<Job*> ready, waiting;
  for (Job* w : waiters_) {
    if (compactDone_ && state_.compact >= w->target) {
      ready.push_back(w);
    } else if (closing) {
      w->status = Status::Error("AXIS_CLOSED", "the store closed before compaction finished");
      ready.push_back(w);
    } else {
      waiting.push_back(w);
    }
  }
  waiters_.swap(waiting);
  post(ready);
}

void WriterThread::commitGroup(std::vector<Job*>& writes) {
  bool lazy = true;
  for (Job* job : writes) lazy = lazy && lazyJob(job->input);
  MDB_txn* txn;
  int rc = mdb_txn_begin(env_, nullptr, lazy ? MDB_NOMETASYNC : 0, &txn);
  Status s = Status::Lmdb(rc, "begin");
  WriteState next;
  uint8_t at[12];
  bool done = compactDone_;
  if (s.ok()) {
    Apply apply(txn, dbs_, state_);
    for (Job* job : writes) {
      Reader in(reinterpret_cast<const uint8_t*>(job->input.data()), job->input.size());
      Writer out;
      while (s.ok() && in.more()) {
        uint32_t len = in.u32();
        if (!in.need(len)) {
          s = Status::Error("AXIS_INVALID_ARGUMENT", "malformed write batch");
          break;
        }
        Reader req(in.p, len);
        in.p += len;
        s = apply.request(req, out);
      }
      job->output.swap(out.buf);
      if (!s.ok()) break;
    }
    next = apply.state();
    if (s.ok() && next.compact > 0 && (!compactDone_ || next.compact != state_.compact)) {
      // Piggyback a slice of compaction on this commit's fsync.
      if (next.compact != state_.compact) memset(at, 0, sizeof at);
      else memcpy(at, compactAt_, sizeof at);
      s = compactChunk(txn, dbs_, next.compact, kGroupCompactBudget, at, done);
      if (!s.ok()) {
        // Old versions stay (reads never see them); stop compacting rather than fail every group.
        fprintf(stderr, "axis: background compaction stopped: %s\n", s.message.c_str());
        compactDone_ = true;
        compacting.store(false);
      }
    }
  }
  if (s.ok()) {
    rc = commit(txn);
    s = Status::Lmdb(rc, "commit");
    if (s.ok()) {
      bool compactionRan = next.compact > 0 && (!compactDone_ || next.compact != state_.compact);
      adopt(next);
      if (compactionRan) {
        memcpy(compactAt_, at, sizeof at);
        compactDone_ = done;
        compacting.store(!done);
      }
      commitSeq.fetch_add(1, std::memory_order_release);
      return;
    }
  } else if (rc == MDB_SUCCESS) {
    mdb_txn_abort(txn);
  }
  // Something failed: nothing of the group is committed. Run each request on its own so one bad
  // request fails alone and the rest go through.
  for (Job* job : writes) {
    Reader in(reinterpret_cast<const uint8_t*>(job->input.data()), job->input.size());
    Writer out;
    Status unapplied;  // an APPLY of this job that was not applied: none after it may be
    while (in.more()) {
      uint32_t len = in.u32();
      if (!in.need(len)) {
        writeError(out, Status::Error("AXIS_INVALID_ARGUMENT", "malformed write batch"));
        break;
      }
      Reader req(in.p, len);
      in.p += len;
      bool isApply = len > 0 && req.p[0] == kApplyKind;
      if (isApply && !unapplied.ok()) {
        writeError(out, Status::Error(unapplied.code, "not applied after an earlier entry that was not: " + unapplied.message));
        continue;
      }
      Status s = runAlone(req, out);
      if (isApply && !s.ok()) unapplied = s;
    }
    job->output.swap(out.buf);
  }
}

Status WriterThread::runAlone(Reader& in, Writer& out) {
  size_t mark = out.mark();
  Reader again = in;
  Status inner;
  Status s = runOnce(in, out, nullptr, inner);
  if (!s.ok() && !inner.ok()) {
    // An APPLY whose request failed on its own: nothing of the request stays, but the entry is
    // applied, with the error as its result, in a transaction that writes only its mark.
    out.truncate(mark);
    Status unused;
    s = runOnce(again, out, &inner, unused);
  }
  if (!s.ok()) {
    out.truncate(mark);
    writeError(out, s);
  }
  return s;
}

Status WriterThread::runOnce(Reader& in, Writer& out, const Status* failInner, Status& innerFailure) {
  MDB_txn* txn;
  AXIS_MDB(mdb_txn_begin(env_, nullptr, 0, &txn), "begin");
  Status s;
  WriteState next;
  {
    Apply apply(txn, dbs_, state_);
    if (failInner) apply.failInner(*failInner);
    s = apply.request(in, out);
    next = apply.state();
    innerFailure = apply.innerFailure();
  }
  if (!s.ok()) {
    mdb_txn_abort(txn);
    return s;
  }
  AXIS_MDB(commit(txn), "commit");
  adopt(next);
  commitSeq.fetch_add(1, std::memory_order_release);
  return Status::Ok();
}

void WriterThread::compactAlone() {
  MDB_txn* txn;
  Status s = Status::Lmdb(mdb_txn_begin(env_, nullptr, 0, &txn), "begin");
  uint8_t at[12];
  memcpy(at, compactAt_, sizeof at);
  bool done = false;
  if (s.ok()) {
    s = compactChunk(txn, dbs_, state_.compact, kAloneCompactBudget, at, done);
    if (s.ok()) s = Status::Lmdb(commit(txn), "commit compaction");
    else mdb_txn_abort(txn);
  }
  if (!s.ok()) {
    // Old versions stay (reads never see them); stop rather than spin. The next compaction retries.
    fprintf(stderr, "axis: background compaction stopped: %s\n", s.message.c_str());
    done = true;
  } else {
    memcpy(compactAt_, at, sizeof at);
    commitSeq.fetch_add(1, std::memory_order_release);
  }
  compactDone_ = done;
  compacting.store(!done);
  notify_();  // the JS side drops its stale read view, so the freed pages can be reused
}

}  // namespace axis
