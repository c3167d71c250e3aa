// Outcome of a native operation: an Axis error code a program can switch on, and a message.
#pragma once
#include <string>
#include "lmdb.h"

namespace axis {

struct Status {
  const char* code = nullptr;  // nullptr: success
  std::string message;

  bool ok() const { return code == nullptr; }
  static Status Ok() { return Status(); }
  static Status Error(const char* code, std::string message) {
    Status s;
    s.code = code;
    s.message = std::move(message);
    return s;
  }
  // Every LMDB return code goes through here.
  static Status Lmdb(int rc, const char* what) {
    if (rc == MDB_SUCCESS) return Ok();
    const char* code = "AXIS_STORAGE";
    if (rc == MDB_MAP_FULL) code = "AXIS_NO_SPACE";
    else if (rc == MDB_READERS_FULL) code = "AXIS_TOO_MANY_SNAPSHOTS";
    else if (rc == MDB_BAD_VALSIZE) code = "AXIS_KEY_TOO_LARGE";
    return Error(code, std::string(what) + ": " + mdb_strerror(rc));
  }
};

#define AXIS_TRY(expr)              \
  do {                              \
    ::axis::Status _s = (expr);     \
    if (!_s.ok()) return _s;        \
  } while (0)

#define AXIS_MDB(expr, what)                                  \
  do {                                                        \
    int _rc = (expr);                                         \
    if (_rc != MDB_SUCCESS) return ::axis::Status::Lmdb(_rc, what); \
  } while (0)

}  // namespace axis
