#include "writer.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>

#include "failpoint.h"
#include "statemachine.h"

namespace axis {

namespace {
constexpr size_t kGroupCompactBudget = 256;   // change entries compacted alongside client writes
constexpr size_t kAloneCompactBudget = 2000;  // per transaction when idle
// kRaft: writer threads taking turns. A commit's thread waits out its flush; with more threads the
// next groups commit meanwhile, and one flush covers every commit visible when it starts.
constexpr int kRaftWriterThreads = 4;

constexpr uint8_t kRaftAppendKind = 3, kRaftCompactKind = 4, kApplyKind = 5;
constexpr uint8_t kRaftAppendLazy = 8;  // RAFT_APPEND flag: durability not needed now (raftlog.h)

// Whether every request of a job may be committed lazily (see writer.h). Requests that do not
// parse are not lazy; they fail in the group and run alone.
bool lazyJob(const std::string& input) {
  Reader in(reinterpret_cast<const uint8_t*>(input.data()), input.size());
  while (in.more()) {
    uint32_t len = in.u32();
    if (!in.ok || len == 0 || !in.need(len)) return false;
    uint8_t kind = in.p[0];
    bool lazy = kind == kApplyKind || (kind == kRaftAppendKind && len >= 2 && (in.p[1] & kRaftAppendLazy));
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
  for (std::thread& t : others_) {
    if (t.joinable()) t.join();
  }
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
  unsigned flags = MDB_NOTLS;
  if (config_.durability == Durability::kNoSync) flags |= MDB_NOSYNC;
  // Overlapping sync (this LMDB's, from lmdb-js): a commit is visible before it is flushed, and
  // the last flushed commit is what a crash falls back to. Every open assumes what was not
  // flushed is lost (SAFE_RESTORE), a process crash as much as an OS crash, and the journal puts
  // it back: then LMDB never takes an unflushed commit for a flushed one, and never reuses the
  // pages of the commit it would fall back to.
  if (config_.durability == Durability::kRaft) flags |= MDB_OVERLAPPINGSYNC | MDB_PREVSNAPSHOT | MDB_SAFE_RESTORE;
  AXIS_MDB(mdb_env_open(env_, config_.path.c_str(), flags, 0644), "open environment");
  MDB_txn* txn;
  AXIS_MDB(mdb_txn_begin(env_, nullptr, writeFlags(), &txn), "begin");
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
  if (config_.durability == Durability::kRaft) {
    s = openJournal(txn);
    if (!s.ok()) {
      mdb_txn_abort(txn);
      return s;
    }
  }
  AXIS_MDB(commit(txn), "commit");
  return Status::Ok();
}

Status WriterThread::openJournal(MDB_txn* txn) {
  AXIS_TRY(journal_.open(config_.path + "/raft.wal"));
  MDB_val k{7, const_cast<char*>("journal")}, v;
  int rc = mdb_get(txn, dbs_.meta, &k, &v);
  if (rc == MDB_NOTFOUND) {
    journalEpoch_ = newJournalEpoch();
    journalSeq_ = 0;
    stampedSeq_ = ~0ull;  // stamped by the commit that ends the open
    return Status::Ok();
  }
  AXIS_MDB(rc, "read journal mark");
  if (v.mv_size != 16) return Status::Error("AXIS_STORAGE", "corrupt journal mark");
  memcpy(&journalEpoch_, v.mv_data, 8);
  memcpy(&journalSeq_, static_cast<const char*>(v.mv_data) + 8, 8);
  stampedSeq_ = journalSeq_;
  std::vector<Journal::Record> records;
  AXIS_TRY(journal_.read(journalEpoch_, records));
  // The store rolled back past these records' commits: their requests go in again, in order.
  Apply apply(txn, dbs_, state_);
  size_t replayed = 0;
  for (const Journal::Record& r : records) {
    if (r.seq <= journalSeq_) continue;
    if (r.seq != journalSeq_ + 1) return Status::Error("AXIS_STORAGE", "the raft journal misses records the store lacks");
    Reader in(reinterpret_cast<const uint8_t*>(r.payload.data()), r.payload.size());
    Writer out;
    while (in.more()) {
      uint32_t len = in.u32();
      if (!in.need(len)) return Status::Error("AXIS_STORAGE", "corrupt raft journal record");
      Reader req(in.p, len);
      in.p += len;
      size_t mark = out.mark();
      AXIS_TRY(apply.request(req, out));
      Reader res(reinterpret_cast<const uint8_t*>(out.buf.data()) + mark, out.buf.size() - mark);
      if (res.u8() != 0) return Status::Error("AXIS_STORAGE", "a raft journal record does not replay");
    }
    journalSeq_ = r.seq;
    replayed++;
  }
  journalReplayed = replayed;
  if (replayed > 0) {
    fprintf(stderr, "axis: %s rolled back to its last flushed commit; replayed %zu raft journal records\n",
            config_.path.c_str(), replayed);
  }
  return Status::Ok();
}

Status WriterThread::stampJournal(MDB_txn* txn) {
  if (config_.durability != Durability::kRaft || journalSeq_ == stampedSeq_) return Status::Ok();
  uint8_t mark[16];
  memcpy(mark, &journalEpoch_, 8);
  memcpy(mark + 8, &journalSeq_, 8);
  MDB_val k{7, const_cast<char*>("journal")}, v{16, mark};
  AXIS_MDB(mdb_put(txn, dbs_.meta, &k, &v, 0), "write journal mark");
  return Status::Ok();
}

unsigned WriterThread::writeFlags(unsigned syncFlags) const {
  // kRaft: every commit overlaps its flush (MDB_NOSYNC with MDB_OVERLAPPINGSYNC), so every flush
  // records the flushed commit; one flushed the usual way would not, and a crash could fall back
  // past it to a commit whose pages were reused since. The commit still returns once flushed.
  return config_.durability == Durability::kRaft ? MDB_NOSYNC : syncFlags;
}

int WriterThread::commit(MDB_txn* txn) {
  uint64_t stamped = stampedSeq_;
  Status s = stampJournal(txn);
  if (!s.ok()) {
    mdb_txn_abort(txn);
    return MDB_PANIC;
  }
  // Set before the commit: once visible, the baton (and these fields) may be another thread's.
  stampedSeq_ = journalSeq_;
  slowDisk();
  int rc = mdb_txn_commit(txn);
  // This LMDB reports a commit that wrote nothing as MDB_EMPTY_TXN (the transaction is ended all the same).
  if (rc == MDB_EMPTY_TXN) rc = MDB_SUCCESS;
  if (rc != MDB_SUCCESS) stampedSeq_ = stamped;  // still this thread's: nothing was visible
  return rc;
}

Status WriterThread::writeJournal(const std::string& records) {
  if (journal_.full()) {
    // Start a new run once every record of this one is flushed: flush now if need be (once per
    // run, off the usual path). Every record's commit is visible, so this flushes them all.
    AXIS_MDB(mdb_env_sync(env_, 1), "flush before restarting the raft journal");
    journal_.restart();
  }
  // The seq is spent even if the write fails: the commits after it stamp it, so a record that
  // may have reached the disk is never replayed over them.
  ++journalSeq_;
  slowDisk();
  AXIS_TRY(journal_.write(journalEpoch_, journalSeq_, records));
  failpoint("wal-synced");
  return Status::Ok();
}

bool WriterThread::raftGroup(const std::vector<Job*>& writes, std::string& journal) const {
  if (config_.durability != Durability::kRaft) return false;
  for (Job* job : writes) {
    Reader in(reinterpret_cast<const uint8_t*>(job->input.data()), job->input.size());
    while (in.more()) {
      uint32_t len = in.u32();
      if (!in.ok || len == 0 || !in.need(len)) return false;
      uint8_t kind = in.p[0];
      // Not RAFT_COMPACT: it is lost with the commit, and the log keeps those entries a while
      // longer. Replayed, it could drop entries that the rolled-back applied index still needs.
      if (kind == kRaftAppendKind && !(len >= 2 && (in.p[1] & kRaftAppendLazy))) {
        journal.append(reinterpret_cast<const char*>(&len), 4);
        journal.append(reinterpret_cast<const char*>(in.p), len);
      } else if (kind != kApplyKind && kind != kRaftAppendKind && kind != kRaftCompactKind) {
        return false;
      }
      in.p += len;
    }
  }
  return true;
}

void WriterThread::visible(const void* ctx, int finished) {
  auto* c = static_cast<Committing*>(const_cast<void*>(ctx));
  if (finished || c->posted) return;
  WriterThread* self = c->self;
  self->committed(*c);
  c->posted = true;
  // Readers renew their view before the results are known.
  self->commitSeq.fetch_add(1, std::memory_order_release);
  self->post(*c->jobs);
  self->settleWaiters(false);
  failpoint("commit-visible");
  // The other writer thread may take the next group while this one flushes.
  if (c->baton) c->baton->unlock();
}

void WriterThread::committed(const Committing& c) {
  adopt(c.next);
  if (c.compactionRan) {
    memcpy(compactAt_, c.at, sizeof c.at);
    compactDone_ = c.done;
    compacting.store(!c.done);
  }
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
  if (config_.durability == Durability::kRaft) {
    for (int i = 1; i < kRaftWriterThreads; i++) others_.emplace_back([this] { loop(); });
  }
  loop();
}

void WriterThread::loop() {
  for (;;) {
    std::unique_lock<std::mutex> baton(baton_);
    if (stopping_) return;
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
    post(finished);
    if (!writes.empty()) {
      // A closing writer keeps the baton: the other thread must find stopping_ set.
      bool posted = commitGroup(writes, closing ? nullptr : &baton);
      if (posted && !closing) continue;  // the baton was handed over
      if (!posted) post(writes);
    } else if (!compactDone_ && !closing) {
      compactAlone();
    }
    settleWaiters(closing != nullptr);
    if (closing) {
      stopping_ = true;
      baton.unlock();
      // The other thread (if any) is flushing or waiting for the baton; join() waits for both.
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

bool WriterThread::commitGroup(std::vector<Job*>& writes, std::unique_lock<std::mutex>* baton) {
  std::string journal;
  bool raft = raftGroup(writes, journal);
  bool lazy = !raft;
  for (Job* job : writes) lazy = lazy && lazyJob(job->input);
  Status s;
  if (!journal.empty()) s = writeJournal(journal);

  MDB_txn* txn = nullptr;
  int rc = s.ok() ? mdb_txn_begin(env_, nullptr, writeFlags(lazy ? MDB_NOMETASYNC : 0), &txn) : MDB_PANIC;
  if (s.ok()) s = Status::Lmdb(rc, "begin");
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
    Committing c;
    c.self = this;
    c.jobs = &writes;
    c.baton = baton;
    c.next = next;
    memcpy(c.at, at, sizeof at);
    c.done = done;
    c.compactionRan = next.compact > 0 && (!compactDone_ || next.compact != state_.compact);
    // Raft work is answered once visible (see Durability::kRaft); visible() hands the baton on.
    if (raft) mdb_txn_set_callback(txn, &WriterThread::visible, &c);
    rc = commit(txn);
    s = Status::Lmdb(rc, "commit");
    if (c.posted && !s.ok()) {
      // Results were given out for a commit that could not be flushed: stop here. The journal and
      // the Raft log hold what they were computed from; a restart replays it.
      fprintf(stderr, "axis: %s after the commit was visible; stopping\n", s.message.c_str());
      abort();
    }
    if (c.posted) return true;
    if (s.ok()) {
      committed(c);
      commitSeq.fetch_add(1, std::memory_order_release);
      return false;
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
  return false;
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
  AXIS_MDB(mdb_txn_begin(env_, nullptr, writeFlags(), &txn), "begin");
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
  Status s = Status::Lmdb(mdb_txn_begin(env_, nullptr, writeFlags(), &txn), "begin");
  uint8_t at[12];
  memcpy(at, compactAt_, sizeof at);
  bool done = false;
  if (s.ok()) {
    s = compactChunk(txn, dbs_, state_.compact, kAloneCompactBudget, at, done);
    if (s.ok()) s = Status::Lmdb(commit(txn), "commit compaction");
    else mdb_txn_abort(txn);
    if (s.ok()) failpoint("compaction-step");
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
