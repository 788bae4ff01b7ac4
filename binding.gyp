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
      # The FUSE front-end's kernel protocol (libfuse 3 low-level API). The headers are
      # vendored (native/libfuse3); the system's libfuse3.so.3 (apt fuse3) is loaded with
      # dlopen when mounting, so building needs neither libfuse's development files nor the
      # library itself.
      'target_name': 'tessera_fuse',
      'conditions': [
        ['OS=="linux"', {
          'sources': ['native/tessera_fuse.c'],
          'include_dirs': ['native/libfuse3'],
          'libraries': ['-ldl'],
          'cflags': ['-std=gnu11', '-Wall', '-Wextra', '-Wno-unused-parameter', '-D_FILE_OFFSET_BITS=64'],
        }, {
          'type': 'none',
        }],
      ],
    },
    {
      # AES-256-GCM sealing of whole messages for the sealed data channel
      # (src/protocol/aead.ts). It calls the OpenSSL that Node itself exports: the headers come
      # with Node's (node-gyp's include path) and the EVP symbols resolve against the node
      # binary, so there is no -lcrypto and no OpenSSL package to install.
      'target_name': 'tessera_seal',
      'conditions': [
        ['OS=="linux"', {
          'sources': ['native/tessera_seal.c'],
          'cflags': ['-std=gnu11', '-Wall', '-Wextra'],
        }, {
          'type': 'none',
        }],
      ],
    },
  ],
}
