{
  "variables": {
    "liblmdb": "node_modules/lmdb/dependencies/lmdb/libraries/liblmdb"
  },
  "targets": [
    {
      "target_name": "liblmdb",
      "type": "static_library",
      "sources": ["<(liblmdb)/mdb.c", "<(liblmdb)/midl.c"],
      "defines": ["MDB_MAXKEYSIZE=0"],
      "cflags": ["-fPIC", "-fvisibility=hidden", "-O2", "-w"],
      "direct_dependent_settings": {
        "include_dirs": ["<(liblmdb)"],
        "defines": ["MDB_MAXKEYSIZE=0"]
      }
    },
    {
      "target_name": "axis",
      "dependencies": ["liblmdb"],
      "sources": [
        "native/addon.cc",
        "native/store.cc",
        "native/snapshot.cc",
        "native/reads.cc",
        "native/writer.cc",
        "native/apply.cc",
        "native/raftlog.cc",
        "native/statemachine.cc",
        "native/mvcc.cc",
        "native/lease.cc",
        "native/hash.cc",
        "native/journal.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags_cc": ["-std=c++17", "-fvisibility=hidden", "-fvisibility-inlines-hidden", "-O2"],
      "cflags_cc!": ["-fno-rtti"],
      "conditions": [
        ["OS=='linux'", {"ldflags": ["-fvisibility=hidden"]}],
        ["'<!(echo $AXIS_ASAN)'=='1'", {
          "cflags_cc": ["-fsanitize=address", "-fno-omit-frame-pointer", "-g", "-O1"],
          "cflags": ["-fsanitize=address", "-fno-omit-frame-pointer", "-g"],
          "ldflags": ["-fsanitize=address"]
        }]
      ]
    }
  ]
}
