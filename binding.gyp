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
    {
      # The FUSE front-end's kernel protocol (libfuse 2.9 low-level API). Headers and the link
      # stub come from the fuse-shared-library package; at run time the system's libfuse.so.2
      # (apt libfuse2) is loaded, and without it only this addon fails to load.
      'target_name': 'tessera_fuse',
      'conditions': [
        ['OS=="linux"', {
          'sources': ['native/tessera_fuse.c'],
          'include_dirs': ['<!(node -e "require(\'fuse-shared-library/include\')")'],
          'libraries': ['<!(node -e "require(\'fuse-shared-library/lib\')")'],
          'cflags': ['-std=gnu11', '-Wall', '-Wextra', '-Wno-unused-parameter', '-D_FILE_OFFSET_BITS=64'],
        }, {
          'type': 'none',
        }],
      ],
    },
  ],
}
