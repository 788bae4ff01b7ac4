{
  'targets': [
    {
      'target_name': 'tessera_linux',
      'conditions': [
        ['OS=="linux"', {
          'sources': ['native/tessera_linux.c'],
          'cflags': ['-std=gnu11', '-Wall', '-Wextra'],
        }, {
          # Linux-only (xattrs, OFD locks, inotify). Elsewhere nothing is built, so `npm ci`
          # still succeeds and linux-native.ts reports nativeAvailable = false.
          'type': 'none',
        }],
      ],
    },
  ],
}
