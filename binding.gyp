{
  # The addon is Linux-only (xattrs, OFD locks, inotify). On other systems no target is
  # defined, so `npm ci` still succeeds and linux-native.ts reports nativeAvailable = false.
  'conditions': [
    ['OS=="linux"', {
      'targets': [
        {
          'target_name': 'tessera_linux',
          'sources': ['native/tessera_linux.c'],
          'cflags': ['-std=gnu11', '-Wall', '-Wextra', '-Wno-unused-parameter'],
        },
      ],
    }],
  ],
}
