// tessera_fuse: the FUSE kernel protocol for Tessera's FUSE front-end, through libfuse 3's
// low-level (inode-based) API, exposed through N-API. libfuse is loaded at the first mount
// (dlopen), not linked: see "libfuse" below.
//
// Why not fuse-native: its high-level (path-based) binding truncates inode numbers to 32 bits,
// has no lock operations and no invalidation, rounds times to milliseconds, loses mtime in
// utimens, and parks one libfuse thread per request on a semaphore. Here:
//
// - requests are read from /dev/fuse (non-blocking) on JavaScript's own thread, when libuv says
//   it is readable, and handed to JavaScript directly: no thread hand-off per request (a futex,
//   an eventfd and a second thread's wake-up cost a `cp -r` of small files ~13% of its time);
// - JavaScript answers whenever it is ready by calling the reply functions (libfuse replies are
//   thread-safe: each is one writev on /dev/fuse), so requests are answered out of order;
// - inode numbers are 64-bit (Tessera's node ids), times are nanoseconds;
// - invalidations are sent from a notifier thread of their own: a notification can wait for a
//   kernel lock held by a request that JavaScript has yet to answer, and must never block the
//   JavaScript thread.
//
// The JS surface is raw (numbers, bigints, Buffers, two shared Float64Arrays for the numeric
// fields); the typed API lives in src/frontends/fuse/fuse-binding.ts.

#define FUSE_USE_VERSION 312
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <node_api.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#define CHECK(call)                                                                                \
  do {                                                                                             \
    if ((call) != napi_ok) return NULL;                                                            \
  } while (0)

// ---------------------------------------------------------------------------------------------
// libfuse: the system's libfuse3.so.3, loaded by the first mount. Linking it would make the
// addon (and `npm ci`) need libfuse's development files; loaded, only mounting needs the
// library (apt fuse3). The headers are vendored (native/libfuse3/); every function is bound at
// its FUSE_3.0 symbol version, whose ABI all libfuse 3 releases keep.

#define FUSE_FUNCTIONS(X)                                                                          \
  X(fuse_session_new)                                                                              \
  X(fuse_session_mount)                                                                            \
  X(fuse_session_destroy)                                                                          \
  X(fuse_req_userdata)                                                                             \
  X(fuse_reply_err)                                                                                \
  X(fuse_reply_none)                                                                               \
  X(fuse_reply_entry)                                                                              \
  X(fuse_reply_create)                                                                             \
  X(fuse_reply_attr)                                                                               \
  X(fuse_reply_readlink)                                                                           \
  X(fuse_reply_open)                                                                               \
  X(fuse_reply_write)                                                                              \
  X(fuse_reply_buf)                                                                                \
  X(fuse_reply_statfs)                                                                             \
  X(fuse_reply_xattr)                                                                              \
  X(fuse_reply_lock)                                                                               \
  X(fuse_lowlevel_notify_inval_inode)                                                              \
  X(fuse_lowlevel_notify_inval_entry)                                                              \
  X(fuse_opt_free_args)                                                                            \
  X(fuse_req_interrupt_func)                                                                       \
  X(fuse_session_fd)                                                                               \
  X(fuse_session_receive_buf)                                                                      \
  X(fuse_session_process_buf)                                                                      \
  X(fuse_session_exited)                                                                           \
  X(fuse_session_reset)

#define DECLARE_FN(name) static __typeof__(name) *p_##name;
FUSE_FUNCTIONS(DECLARE_FN)

// From here on the names call through the loaded pointers.
#define fuse_session_new (*p_fuse_session_new)
#define fuse_session_mount (*p_fuse_session_mount)
#define fuse_session_destroy (*p_fuse_session_destroy)
#define fuse_req_userdata (*p_fuse_req_userdata)
#define fuse_reply_err (*p_fuse_reply_err)
#define fuse_reply_none (*p_fuse_reply_none)
#define fuse_reply_entry (*p_fuse_reply_entry)
#define fuse_reply_create (*p_fuse_reply_create)
#define fuse_reply_attr (*p_fuse_reply_attr)
#define fuse_reply_readlink (*p_fuse_reply_readlink)
#define fuse_reply_open (*p_fuse_reply_open)
#define fuse_reply_write (*p_fuse_reply_write)
#define fuse_reply_buf (*p_fuse_reply_buf)
#define fuse_reply_statfs (*p_fuse_reply_statfs)
#define fuse_reply_xattr (*p_fuse_reply_xattr)
#define fuse_reply_lock (*p_fuse_reply_lock)
#define fuse_lowlevel_notify_inval_inode (*p_fuse_lowlevel_notify_inval_inode)
#define fuse_lowlevel_notify_inval_entry (*p_fuse_lowlevel_notify_inval_entry)
#define fuse_opt_free_args (*p_fuse_opt_free_args)
#define fuse_req_interrupt_func (*p_fuse_req_interrupt_func)
#define fuse_session_fd (*p_fuse_session_fd)
#define fuse_session_receive_buf (*p_fuse_session_receive_buf)
#define fuse_session_process_buf (*p_fuse_session_process_buf)
#define fuse_session_exited (*p_fuse_session_exited)
#define fuse_session_reset (*p_fuse_session_reset)

static void *libfuse; // the loaded library; NULL until a load succeeds
static char libfuse_error[512];

// Load libfuse3.so.3 (once it worked, it stays); false with libfuse_error set if it cannot be.
// Runs on the JavaScript thread only.
static bool load_libfuse(void) {
  if (libfuse) return true;
  void *h = dlopen("libfuse3.so.3", RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    snprintf(libfuse_error, sizeof libfuse_error,
             "cannot load libfuse 3 (install it: apt-get install fuse3): %s", dlerror());
    return false;
  }
#define LOAD_FN(name)                                                                              \
  p_##name = dlvsym(h, #name, "FUSE_3.0");                                                        \
  if (!p_##name) {                                                                                 \
    snprintf(libfuse_error, sizeof libfuse_error, "libfuse3.so.3 has no %s@FUSE_3.0", #name);     \
    dlclose(h);                                                                                    \
    return false;                                                                                  \
  }
  FUSE_FUNCTIONS(LOAD_FN)
  libfuse = h;
  return true;
}

// Operation codes; src/frontends/fuse/fuse-binding.ts mirrors them.
enum {
  OP_LOOKUP = 1,
  OP_GETATTR,
  OP_SETATTR,
  OP_READLINK,
  OP_MKNOD,
  OP_MKDIR,
  OP_UNLINK,
  OP_RMDIR,
  OP_SYMLINK,
  OP_RENAME,
  OP_LINK,
  OP_OPEN,
  OP_READ,
  OP_WRITE,
  OP_FLUSH,
  OP_RELEASE,
  OP_FSYNC,
  OP_OPENDIR,
  OP_READDIR,
  OP_RELEASEDIR,
  OP_FSYNCDIR,
  OP_STATFS,
  OP_SETXATTR,
  OP_GETXATTR,
  OP_LISTXATTR,
  OP_REMOVEXATTR,
  OP_CREATE,
  OP_GETLK,
  OP_SETLK,
  OP_FLOCK,
  OP_READDIRPLUS,
  // Not a request: a signal interrupted the blocking lock wait whose id is in fh (no reply).
  OP_INTERRUPT = 99,
  OP_EXITED = 100,
};

#define NARGS 16

// One request on its way to JavaScript: everything copied out of libfuse's receive buffer,
// which the loop reuses as soon as the handler returns.
typedef struct request {
  int op;
  fuse_req_t req;
  uint64_t ino, fh, owner;
  char *name, *name2;
  char *data;
  size_t datalen;
  double args[NARGS];
  int slot; // write bytes in this write slot (-1: none; see take_slot)
  bool failed; // a copy could not be allocated: answered ENOMEM, never sent to JavaScript
} request;

typedef struct notice {
  struct notice *next;
  uint64_t ino;
  int64_t off, len;
  char *name; // non-NULL: invalidate the entry `name` of directory `ino`
} notice;

typedef struct session {
  struct fuse_session *se;
  napi_threadsafe_function tsfn; // interrupts and the session's end (see on_interrupt, end_polling)
  napi_ref in_args_ref, out_args_ref;
  double *in_args, *out_args;
  // Notifier thread and its queue.
  pthread_t notify_thread;
  bool notify_started, notify_stop;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  notice *head, *tail;
  unsigned max_background;
  bool destroyed;
  // What the kernel and libfuse agreed at INIT (see connInfo); zero until then.
  unsigned proto_major, proto_minor, max_write, want;
  uint64_t wait_seq; // ids of blocking lock waits (see watch_interrupt)
  // Write slots (see take_slot): JavaScript's memory, free ones on a stack.
  napi_ref slots_ref;
  char *slot_mem;
  size_t slot_size, slot_mem_len;
  int *free_slots;
  int nfree, nslots;
  // File handles whose writes JavaScript must answer itself (a write failed: see ll_write).
  uint64_t *failed_fh;
  size_t nfailed;
  // Serving /dev/fuse on JavaScript's own thread (see on_fuse_readable).
  napi_env env;
  napi_ref dispatch_ref, resource_ref;
  napi_async_context actx;
  uv_poll_t poll;
  bool polling; // the poll handle is open
  struct fuse_buf fbuf;
} session;

// ---------------------------------------------------------------------------------------------
// Requests: kernel → JavaScript

static request *new_request(fuse_req_t req, int op, uint64_t ino) {
  request *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  r->op = op;
  r->req = req;
  r->ino = ino;
  r->slot = -1;
  return r;
}

// A copy of a name for the request; if it cannot be made the request fails (ENOMEM).
static char *copy_text(request *r, const char *text) {
  char *copy = strdup(text);
  if (!copy) r->failed = true;
  return copy;
}

// A copy of the bytes of write and setxattr; if it cannot be made the request fails (ENOMEM).
static void copy_data(request *r, const char *bytes, size_t len) {
  r->data = malloc(len ? len : 1);
  if (!r->data) {
    r->failed = true;
    return;
  }
  memcpy(r->data, bytes, len);
  r->datalen = len;
}

static void free_request(request *r) {
  if (!r) return;
  free(r->name);
  free(r->name2);
  free(r->data);
  free(r);
}

static void give_slot(session *s, int slot) {
  if (s->nfree < s->nslots) s->free_slots[s->nfree++] = slot;
}

static void call_js(napi_env env, napi_value fn, void *context, void *data);

// JavaScript's dispatch function, or NULL. Requests are decoded on JavaScript's own thread
// (on_fuse_readable), inside a callback scope, so they are handed to it by a direct call.
static napi_value dispatch_fn(session *s) {
  napi_value fn;
  return napi_get_reference_value(s->env, s->dispatch_ref, &fn) == napi_ok ? fn : NULL;
}

static void enqueue(fuse_req_t req, request *r) {
  session *s = fuse_req_userdata(req);
  if (!r || r->failed) {
    free_request(r);
    fuse_reply_err(req, ENOMEM);
    return;
  }
  napi_value fn = dispatch_fn(s);
  if (fn == NULL) {
    if (r->slot >= 0) give_slot(s, r->slot);
    free_request(r);
    fuse_reply_err(req, EIO);
    return;
  }
  call_js(s->env, fn, s, r);
}

static void ll_init(void *userdata, struct fuse_conn_info *conn) {
  session *s = userdata;
  if (s->max_background > 0) {
    conn->max_background = s->max_background;
    conn->congestion_threshold = s->max_background * 3 / 4;
  }
  conn->want |= FUSE_CAP_ASYNC_READ;
  // Listings carry each entry's attributes, so `find`, `ls -l` and `cp -r` need no LOOKUP per
  // name. Always, not the kernel's "auto" mode, which uses it for a listing's first page only
  // unless LOOKUPs come between pages: `find` reads a whole directory before it stats. (A
  // kernel without it, older than 3.9, sends plain READDIRs; their LOOKUPs go to JavaScript.)
  if (conn->capable & FUSE_CAP_READDIRPLUS) conn->want |= FUSE_CAP_READDIRPLUS;
  conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
  // The kernel clears set-user-id bits on write itself, as with libfuse 2 (it asks for
  // security.capability first, answered "not set" in ll_getxattr without JavaScript).
  conn->want &= ~FUSE_CAP_HANDLE_KILLPRIV;
  // libfuse 3 asks for atomic O_TRUNC by default: OPEN carries O_TRUNC and JavaScript
  // truncates (one request, not an OPEN and a SETATTR).
  s->max_write = conn->max_write;
  s->want = conn->want;
  s->proto_minor = conn->proto_minor;
  __atomic_store_n(&s->proto_major, conn->proto_major, __ATOMIC_RELEASE);
}

// Requests that carry an inode and one name: lookup, unlink, rmdir, removexattr.
#define NAME_REQUEST(fn, op)                                                                       \
  static void fn(fuse_req_t req, fuse_ino_t ino, const char *name) {                               \
    request *r = new_request(req, op, ino);                                                        \
    if (r) r->name = copy_text(r, name);                                                                 \
    enqueue(req, r);                                                                               \
  }
NAME_REQUEST(ll_lookup, OP_LOOKUP)
NAME_REQUEST(ll_unlink, OP_UNLINK)
NAME_REQUEST(ll_rmdir, OP_RMDIR)
NAME_REQUEST(ll_removexattr, OP_REMOVEXATTR)

static void ll_forget(fuse_req_t req, fuse_ino_t ino, unsigned long nlookup) {
  // Inode numbers are the Source's own stable ids: nothing to release.
  (void)ino;
  (void)nlookup;
  fuse_reply_none(req);
}

static void ll_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  request *r = new_request(req, OP_GETATTR, ino);
  if (r && fi) r->fh = fi->fh;
  enqueue(req, r);
}

static void ll_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                       struct fuse_file_info *fi) {
  request *r = new_request(req, OP_SETATTR, ino);
  if (r) {
    r->fh = fi ? fi->fh : 0;
    r->args[0] = to_set;
    r->args[1] = attr->st_mode;
    r->args[2] = attr->st_uid;
    r->args[3] = attr->st_gid;
    r->args[4] = (double)attr->st_size;
    r->args[5] = (double)attr->st_atim.tv_sec;
    r->args[6] = (double)attr->st_atim.tv_nsec;
    r->args[7] = (double)attr->st_mtim.tv_sec;
    r->args[8] = (double)attr->st_mtim.tv_nsec;
    r->args[9] = fi ? 1 : 0;
  }
  enqueue(req, r);
}

static void ll_readlink(fuse_req_t req, fuse_ino_t ino) { enqueue(req, new_request(req, OP_READLINK, ino)); }

static void ll_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev) {
  request *r = new_request(req, OP_MKNOD, parent);
  if (r) {
    r->name = copy_text(r, name);
    r->args[0] = mode;
    r->args[1] = (double)rdev;
  }
  enqueue(req, r);
}

static void ll_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode) {
  request *r = new_request(req, OP_MKDIR, parent);
  if (r) {
    r->name = copy_text(r, name);
    r->args[0] = mode;
  }
  enqueue(req, r);
}

static void ll_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name) {
  request *r = new_request(req, OP_SYMLINK, parent);
  if (r) {
    r->name = copy_text(r, name);
    r->name2 = copy_text(r, link);
  }
  enqueue(req, r);
}

static void ll_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                      const char *newname, unsigned int flags) {
  request *r = new_request(req, OP_RENAME, parent);
  if (r) {
    r->name = copy_text(r, name);
    r->fh = newparent;
    r->name2 = copy_text(r, newname);
    r->args[0] = flags; // RENAME_NOREPLACE, RENAME_EXCHANGE, RENAME_WHITEOUT
  }
  enqueue(req, r);
}

static void ll_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname) {
  request *r = new_request(req, OP_LINK, ino);
  if (r) {
    r->fh = newparent;
    r->name = copy_text(r, newname);
  }
  enqueue(req, r);
}

static request *file_request(fuse_req_t req, int op, fuse_ino_t ino, struct fuse_file_info *fi) {
  request *r = new_request(req, op, ino);
  if (r && fi) {
    r->fh = fi->fh;
    r->owner = fi->lock_owner;
    r->args[0] = fi->flags;
  }
  return r;
}

// Requests on an open file with no other argument: open, opendir, flush, releasedir.
#define FILE_REQUEST(fn, op)                                                                       \
  static void fn(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {                      \
    enqueue(req, file_request(req, op, ino, fi));                                                  \
  }
FILE_REQUEST(ll_open, OP_OPEN)
FILE_REQUEST(ll_opendir, OP_OPENDIR)
FILE_REQUEST(ll_flush, OP_FLUSH)
FILE_REQUEST(ll_releasedir, OP_RELEASEDIR)

// Reads of a file or a directory: size and offset.
#define SIZED_REQUEST(fn, op)                                                                      \
  static void fn(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi) { \
    request *r = file_request(req, op, ino, fi);                                                   \
    if (r) {                                                                                       \
      r->args[0] = (double)size;                                                                   \
      r->args[1] = (double)off;                                                                    \
    }                                                                                              \
    enqueue(req, r);                                                                               \
  }
SIZED_REQUEST(ll_read, OP_READ)
SIZED_REQUEST(ll_readdir, OP_READDIR)
SIZED_REQUEST(ll_readdirplus, OP_READDIRPLUS)

// A free write slot for `size` bytes, or -1 (slots and the failed list are used on JavaScript's
// thread only). Slots are a buffer JavaScript handed over at
// mount: written bytes copied there reach JavaScript without a malloc, an external Buffer and
// its finalizer per 128 KiB request (the garbage collector's work for those was the biggest
// part of the mount's CPU when writing). JavaScript gives a slot back once it has copied the
// bytes (releaseSlot); with none free, the bytes are copied to the heap as before.
static int take_slot(session *s, size_t size) {
  if (!s->slot_mem || size > s->slot_size) return -1;
  int slot = s->nfree > 0 ? s->free_slots[--s->nfree] : -1;
  return slot;
}

static bool write_failed(session *s, uint64_t fh) {
  bool failed = false;
  for (size_t i = 0; i < s->nfailed && !failed; i++) failed = s->failed_fh[i] == fh;
  return failed;
}

// A write whose bytes fit a free slot is answered here, at once: JavaScript buffers it behind
// the writer anyway (write-behind), and the kernel sends a writer's next write only once the
// last one is answered, so waiting for JavaScript's thread to wake for every 128 KiB was most
// of a sequential write's time. The slot stays taken until JavaScript has buffered the bytes,
// which bounds what is answered ahead of it; with no slot free, JavaScript answers. Once a
// write of a file handle fails, JavaScript answers that handle's writes itself (writeFailed),
// so the failure reaches the writer at its next write, or at close or fsync.
static void ll_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                     struct fuse_file_info *fi) {
  request *r = file_request(req, OP_WRITE, ino, fi);
  if (!r) {
    enqueue(req, r);
    return;
  }
  r->args[1] = (double)off;
  session *s = fuse_req_userdata(req);
  r->slot = take_slot(s, size);
  if (r->slot < 0) {
    copy_data(r, buf, size);
    enqueue(req, r);
    return;
  }
  memcpy(s->slot_mem + (size_t)r->slot * s->slot_size, buf, size);
  r->args[2] = r->slot + 1;
  r->args[3] = (double)size;
  bool answer_here = !write_failed(s, r->fh);
  r->args[4] = answer_here;
  napi_value fn = answer_here ? dispatch_fn(s) : NULL;
  if (fn == NULL) {
    enqueue(req, r); // JavaScript answers (or, without a dispatch function, EIO)
    return;
  }
  // Answered first, so the writer goes on while JavaScript buffers the bytes.
  fuse_reply_write(req, size);
  call_js(s->env, fn, s, r);
}

static void ll_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi) {
  // No write of the handle follows its release: it leaves the failed list (see write_failed).
  session *s = fuse_req_userdata(req);
  for (size_t i = 0; i < s->nfailed; i++) {
    if (s->failed_fh[i] != fi->fh) continue;
    s->failed_fh[i] = s->failed_fh[--s->nfailed];
    break;
  }
  request *r = file_request(req, OP_RELEASE, ino, fi);
  if (r) r->args[1] = fi->flock_release;
  enqueue(req, r);
}

static void ll_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi) {
  request *r = file_request(req, OP_FSYNC, ino, fi);
  if (r) r->args[0] = datasync;
  enqueue(req, r);
}

static void ll_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi) {
  request *r = file_request(req, OP_FSYNCDIR, ino, fi);
  if (r) r->args[0] = datasync;
  enqueue(req, r);
}

static void ll_statfs(fuse_req_t req, fuse_ino_t ino) { enqueue(req, new_request(req, OP_STATFS, ino)); }

static void ll_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value, size_t size,
                        int flags) {
  request *r = new_request(req, OP_SETXATTR, ino);
  if (r) {
    r->name = copy_text(r, name);
    r->args[0] = flags;
    copy_data(r, value, size);
  }
  enqueue(req, r);
}

// `security.capability` is answered "not set" here: the kernel asks before the first write
// to every file (to drop file capabilities), a trip per file written, and file capabilities
// do not apply through this mount (as with nosuid).
static void ll_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size) {
  if (strcmp(name, "security.capability") == 0) {
    fuse_reply_err(req, ENODATA);
    return;
  }
  request *r = new_request(req, OP_GETXATTR, ino);
  if (r) {
    r->name = copy_text(r, name);
    r->args[0] = (double)size;
  }
  enqueue(req, r);
}

static void ll_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  request *r = new_request(req, OP_LISTXATTR, ino);
  if (r) r->args[0] = (double)size;
  enqueue(req, r);
}

static void ll_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                      struct fuse_file_info *fi) {
  request *r = file_request(req, OP_CREATE, parent, fi);
  if (r) {
    r->name = copy_text(r, name);
    r->args[1] = r->args[0]; // flags
    r->args[0] = mode;
  }
  enqueue(req, r);
}

static request *lock_request(fuse_req_t req, int op, fuse_ino_t ino, struct fuse_file_info *fi,
                             struct flock *lock) {
  request *r = file_request(req, op, ino, fi);
  if (r) {
    r->args[0] = lock->l_type;
    r->args[1] = (double)lock->l_start;
    r->args[2] = (double)lock->l_len;
    r->args[3] = lock->l_pid;
  }
  return r;
}

static void ll_getlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct flock *lock) {
  enqueue(req, lock_request(req, OP_GETLK, ino, fi, lock));
}

// A signal (Ctrl-C) interrupted a blocking lock wait: tell JavaScript, which answers EINTR.
// Called by libfuse with the request's lock held, so it is queued (never a direct call: the
// answer would free the request under that lock).
static void on_interrupt(fuse_req_t req, void *data) {
  session *s = fuse_req_userdata(req);
  request *r = calloc(1, sizeof *r);
  if (!r) return;
  r->op = OP_INTERRUPT;
  r->fh = (uint64_t)(uintptr_t)data;
  r->slot = -1;
  if (napi_call_threadsafe_function(s->tsfn, r, napi_tsfn_nonblocking) != napi_ok) free(r);
}

// Give a blocking lock wait an id (in-args 5) and hear of its interrupts. Done before the
// request is queued: once queued JavaScript may answer (and libfuse free) it at any moment,
// and an interrupt that already came is then reported first, which JavaScript remembers.
static void watch_interrupt(fuse_req_t req, request *r) {
  session *s = fuse_req_userdata(req);
  uint64_t id = __atomic_add_fetch(&s->wait_seq, 1, __ATOMIC_RELAXED);
  r->args[5] = (double)id;
  fuse_req_interrupt_func(req, on_interrupt, (void *)(uintptr_t)id);
}

static void ll_setlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct flock *lock,
                     int sleep) {
  request *r = lock_request(req, OP_SETLK, ino, fi, lock);
  if (r) {
    r->args[4] = sleep;
    if (sleep && !r->failed) watch_interrupt(req, r);
  }
  enqueue(req, r);
}

static void ll_flock(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, int op) {
  request *r = file_request(req, OP_FLOCK, ino, fi);
  if (r) {
    r->args[0] = op;
    if (!(op & (LOCK_NB | LOCK_UN))) watch_interrupt(req, r);
  }
  enqueue(req, r);
}

static const struct fuse_lowlevel_ops OPS = {
    .init = ll_init,
    .lookup = ll_lookup,
    .forget = ll_forget,
    .getattr = ll_getattr,
    .setattr = ll_setattr,
    .readlink = ll_readlink,
    .mknod = ll_mknod,
    .mkdir = ll_mkdir,
    .unlink = ll_unlink,
    .rmdir = ll_rmdir,
    .symlink = ll_symlink,
    .rename = ll_rename,
    .link = ll_link,
    .open = ll_open,
    .read = ll_read,
    .write = ll_write,
    .flush = ll_flush,
    .release = ll_release,
    .fsync = ll_fsync,
    .opendir = ll_opendir,
    .readdir = ll_readdir,
    .readdirplus = ll_readdirplus,
    .releasedir = ll_releasedir,
    .fsyncdir = ll_fsyncdir,
    .statfs = ll_statfs,
    .setxattr = ll_setxattr,
    .getxattr = ll_getxattr,
    .listxattr = ll_listxattr,
    .removexattr = ll_removexattr,
    .create = ll_create,
    .getlk = ll_getlk,
    .setlk = ll_setlk,
    .flock = ll_flock,
};

static void free_bytes(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  free(data);
}

// Runs on the JavaScript thread: turn a request into the dispatch call
// dispatch(op, req, ino, fh, owner, name, name2, data) with numbers in the shared in-args array.
static void call_js(napi_env env, napi_value fn, void *context, void *data) {
  session *s = context;
  request *r = data;
  if (env == NULL || fn == NULL) {
    free_request(r); // a slot it held is not reused: the session is going away
    return;
  }
  napi_value argv[8], undefined, result;
  napi_get_undefined(env, &undefined);
  napi_create_int32(env, r->op, &argv[0]);
  napi_create_bigint_uint64(env, (uint64_t)(uintptr_t)r->req, &argv[1]);
  napi_create_bigint_uint64(env, r->ino, &argv[2]);
  napi_create_bigint_uint64(env, r->fh, &argv[3]);
  napi_create_bigint_uint64(env, r->owner, &argv[4]);
  argv[5] = undefined;
  argv[6] = undefined;
  argv[7] = undefined;
  if (r->name) napi_create_string_utf8(env, r->name, NAPI_AUTO_LENGTH, &argv[5]);
  if (r->name2) napi_create_string_utf8(env, r->name2, NAPI_AUTO_LENGTH, &argv[6]);
  if (r->data) {
    // The copy becomes the Buffer's memory (freed when the Buffer is collected).
    char *bytes = r->data;
    r->data = NULL;
    if (napi_create_external_buffer(env, r->datalen, bytes, free_bytes, NULL, &argv[7]) !=
        napi_ok) {
      napi_create_buffer_copy(env, r->datalen, bytes, NULL, &argv[7]);
      free(bytes);
    }
  }
  memcpy(s->in_args, r->args, sizeof r->args);
  free_request(r);
  if (napi_call_function(env, undefined, fn, 8, argv, &result) == napi_pending_exception) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);
  }
}

// The session's end (unmounted, or the connection aborted): stop reading and tell JavaScript.
static void end_polling(session *s) {
  if (!s->polling) return;
  s->polling = false;
  uv_poll_stop(&s->poll);
  uv_close((uv_handle_t *)&s->poll, NULL); // the session struct is never freed (see destroy)
  free(s->fbuf.mem);
  s->fbuf.mem = NULL;
  fuse_session_reset(s->se);
  request *r = calloc(1, sizeof *r);
  if (r) {
    r->op = OP_EXITED;
    napi_call_threadsafe_function(s->tsfn, r, napi_tsfn_nonblocking);
  }
}

// /dev/fuse is readable: read and process requests on JavaScript's thread (non-blocking fd),
// calling JavaScript directly — no thread hand-off (a futex, an eventfd and a wake-up) per
// request. A turn reads at most 64 requests, so timers and sockets get their turn too.
static void on_fuse_readable(uv_poll_t *handle, int status, int events) {
  (void)events;
  session *s = handle->data;
  napi_env env = s->env;
  napi_handle_scope hs;
  napi_callback_scope cs;
  napi_value resource;
  bool ended = status < 0;
  if (napi_open_handle_scope(env, &hs) != napi_ok) return;
  napi_get_reference_value(env, s->resource_ref, &resource);
  napi_open_callback_scope(env, resource, s->actx, &cs);
  for (int i = 0; i < 64 && !ended; i++) {
    int res = fuse_session_receive_buf(s->se, &s->fbuf);
    if (res == -EINTR) continue;
    if (res == -EAGAIN) break;
    if (res <= 0 || fuse_session_exited(s->se)) {
      ended = true;
      break;
    }
    fuse_session_process_buf(s->se, &s->fbuf);
  }
  napi_close_callback_scope(env, cs); // runs the microtasks the dispatch calls queued
  napi_close_handle_scope(env, hs);
  if (ended) end_polling(s);
}

static void *notify_main(void *arg) {
  session *s = arg;
  pthread_mutex_lock(&s->mu);
  for (;;) {
    while (!s->head && !s->notify_stop) pthread_cond_wait(&s->cv, &s->mu);
    if (s->notify_stop) break;
    notice *n = s->head;
    s->head = n->next;
    if (!s->head) s->tail = NULL;
    pthread_mutex_unlock(&s->mu);
    // ENOENT (the kernel does not know the inode or name) is the common, harmless answer.
    if (n->name)
      fuse_lowlevel_notify_inval_entry(s->se, n->ino, n->name, strlen(n->name));
    else
      fuse_lowlevel_notify_inval_inode(s->se, n->ino, n->off, n->len);
    free(n->name);
    free(n);
    pthread_mutex_lock(&s->mu);
  }
  while (s->head) {
    notice *n = s->head;
    s->head = n->next;
    free(n->name);
    free(n);
  }
  s->tail = NULL;
  pthread_mutex_unlock(&s->mu);
  return NULL;
}

// ---------------------------------------------------------------------------------------------
// JavaScript → kernel

static session *session_of(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok || !p) {
    napi_throw_type_error(env, NULL, "not a FUSE session");
    return NULL;
  }
  return p;
}

static bool get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return false;
  if (argc < want) {
    char msg[64];
    snprintf(msg, sizeof msg, "expected %zu arguments, got %zu", want, argc);
    napi_throw_type_error(env, NULL, msg);
    return false;
  }
  return true;
}

// The arguments of a call whose first one is the session; NULL (an exception is pending) if
// they are missing or the first is not a session.
static session *session_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  return get_args(env, info, want, argv) ? session_of(env, argv[0]) : NULL;
}

static fuse_req_t req_of(napi_env env, napi_value v) {
  uint64_t p = 0;
  bool lossless;
  napi_get_value_bigint_uint64(env, v, &p, &lossless);
  return (fuse_req_t)(uintptr_t)p;
}

static uint64_t u64_of(napi_env env, napi_value v) {
  uint64_t n = 0;
  bool lossless;
  napi_get_value_bigint_uint64(env, v, &n, &lossless);
  return n;
}

static double num_of(napi_env env, napi_value v) {
  double d = 0;
  napi_get_value_double(env, v, &d);
  return d;
}

static napi_value int_result(napi_env env, int rc) {
  napi_value v;
  napi_create_int32(env, rc, &v);
  return v;
}

// The stat in out-args: mode, nlink, uid, gid, size, atime s/ns, mtime s/ns, ctime s/ns, blksize.
static void fill_stat(const double *a, uint64_t ino, struct stat *st) {
  memset(st, 0, sizeof *st);
  st->st_ino = ino;
  st->st_mode = (mode_t)a[0];
  st->st_nlink = (nlink_t)a[1];
  st->st_uid = (uid_t)a[2];
  st->st_gid = (gid_t)a[3];
  st->st_size = (off_t)a[4];
  st->st_atim.tv_sec = (time_t)a[5];
  st->st_atim.tv_nsec = (long)a[6];
  st->st_mtim.tv_sec = (time_t)a[7];
  st->st_mtim.tv_nsec = (long)a[8];
  st->st_ctim.tv_sec = (time_t)a[9];
  st->st_ctim.tv_nsec = (long)a[10];
  st->st_blksize = (blksize_t)a[11];
  st->st_blocks = (st->st_size + 511) / 512;
}

// (session, req, ino, generation, entryTimeout, attrTimeout) of replyEntry and replyCreate
static void fill_entry(session *s, napi_env env, napi_value *argv, struct fuse_entry_param *e) {
  memset(e, 0, sizeof *e);
  e->ino = u64_of(env, argv[2]);
  e->generation = (unsigned long)num_of(env, argv[3]);
  e->entry_timeout = num_of(env, argv[4]);
  e->attr_timeout = num_of(env, argv[5]);
  fill_stat(s->out_args, e->ino, &e->attr);
}

// (fh, openFlags) of replyOpen and replyCreate; openFlags: 1 direct_io, 2 keep_cache,
// 4 nonseekable
static void fill_open(napi_env env, napi_value fh, napi_value flags, struct fuse_file_info *fi) {
  memset(fi, 0, sizeof *fi);
  fi->fh = u64_of(env, fh);
  int bits = (int)num_of(env, flags);
  fi->direct_io = (bits & 1) != 0;
  fi->keep_cache = (bits & 2) != 0;
  fi->nonseekable = (bits & 4) != 0;
}

// The replies that carry one number: replyErr(session, req, errno),
// replyWrite(session, req, count), replyXattr(session, req, size).
#define REPLY_NUMBER(name, call, type)                                                             \
  static napi_value name(napi_env env, napi_callback_info info) {                                  \
    napi_value argv[3];                                                                            \
    if (!get_args(env, info, 3, argv)) return NULL;                                                \
    return int_result(env, call(req_of(env, argv[1]), (type)num_of(env, argv[2])));                \
  }
REPLY_NUMBER(reply_err, fuse_reply_err, int)
REPLY_NUMBER(reply_write, fuse_reply_write, size_t)
REPLY_NUMBER(reply_xattr, fuse_reply_xattr, size_t)

// replyEntry(session, req, ino, generation, entryTimeout, attrTimeout); stat in out-args
static napi_value reply_entry(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  session *s = session_args(env, info, 6, argv);
  if (!s) return NULL;
  struct fuse_entry_param e;
  fill_entry(s, env, argv, &e);
  return int_result(env, fuse_reply_entry(req_of(env, argv[1]), &e));
}

// replyCreate(session, req, ino, generation, entryTimeout, attrTimeout, fh, openFlags)
static napi_value reply_create(napi_env env, napi_callback_info info) {
  napi_value argv[8];
  session *s = session_args(env, info, 8, argv);
  if (!s) return NULL;
  struct fuse_entry_param e;
  fill_entry(s, env, argv, &e);
  struct fuse_file_info fi;
  fill_open(env, argv[6], argv[7], &fi);
  return int_result(env, fuse_reply_create(req_of(env, argv[1]), &e, &fi));
}

// replyAttr(session, req, ino, attrTimeout); stat in out-args
static napi_value reply_attr(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  session *s = session_args(env, info, 4, argv);
  if (!s) return NULL;
  struct stat st;
  fill_stat(s->out_args, u64_of(env, argv[2]), &st);
  return int_result(env, fuse_reply_attr(req_of(env, argv[1]), &st, num_of(env, argv[3])));
}

// replyOpen(session, req, fh, openFlags)
static napi_value reply_open(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  if (!get_args(env, info, 4, argv)) return NULL;
  struct fuse_file_info fi;
  fill_open(env, argv[2], argv[3], &fi);
  return int_result(env, fuse_reply_open(req_of(env, argv[1]), &fi));
}

// replyBuf(session, req, bytes?): the bytes are written to the kernel before this returns
static napi_value reply_buf(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!get_args(env, info, 3, argv)) return NULL;
  void *data = NULL;
  size_t len = 0;
  bool is_typed = false;
  napi_is_typedarray(env, argv[2], &is_typed);
  if (is_typed) {
    napi_typedarray_type type;
    napi_value ab;
    size_t offset;
    CHECK(napi_get_typedarray_info(env, argv[2], &type, &len, &data, &ab, &offset));
  }
  return int_result(env, fuse_reply_buf(req_of(env, argv[1]), data, len));
}


// replyReadlink(session, req, target)
static napi_value reply_readlink(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!get_args(env, info, 3, argv)) return NULL;
  size_t len = 0;
  CHECK(napi_get_value_string_utf8(env, argv[2], NULL, 0, &len));
  char *text = malloc(len + 1);
  if (!text) return int_result(env, fuse_reply_err(req_of(env, argv[1]), ENOMEM));
  napi_get_value_string_utf8(env, argv[2], text, len + 1, &len);
  int rc = fuse_reply_readlink(req_of(env, argv[1]), text);
  free(text);
  return int_result(env, rc);
}

// replyStatfs(session, req); bsize, blocks, bfree, bavail, files, ffree, namemax in out-args
static napi_value reply_statfs(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  session *s = session_args(env, info, 2, argv);
  if (!s) return NULL;
  const double *a = s->out_args;
  struct statvfs st;
  memset(&st, 0, sizeof st);
  st.f_bsize = (unsigned long)a[0];
  st.f_frsize = (unsigned long)a[0];
  st.f_blocks = (fsblkcnt_t)a[1];
  st.f_bfree = (fsblkcnt_t)a[2];
  st.f_bavail = (fsblkcnt_t)a[3];
  st.f_files = (fsfilcnt_t)a[4];
  st.f_ffree = (fsfilcnt_t)a[5];
  st.f_favail = (fsfilcnt_t)a[5];
  st.f_namemax = (unsigned long)a[6];
  return int_result(env, fuse_reply_statfs(req_of(env, argv[1]), &st));
}


// replyLock(session, req, type, start, len, pid)
static napi_value reply_lock(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  if (!get_args(env, info, 6, argv)) return NULL;
  struct flock lk;
  memset(&lk, 0, sizeof lk);
  lk.l_type = (short)num_of(env, argv[2]);
  lk.l_whence = SEEK_SET;
  lk.l_start = (off_t)num_of(env, argv[3]);
  lk.l_len = (off_t)num_of(env, argv[4]);
  lk.l_pid = (pid_t)num_of(env, argv[5]);
  return int_result(env, fuse_reply_lock(req_of(env, argv[1]), &lk));
}

// releaseSlot(session, slot): JavaScript is done with a write slot's bytes.
static napi_value release_slot(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  session *s = session_args(env, info, 2, argv);
  if (!s) return NULL;
  int slot = (int)num_of(env, argv[1]);
  if (!s->slot_mem || slot < 0 || (size_t)slot * s->slot_size >= s->slot_mem_len) {
    char msg[96];
    snprintf(msg, sizeof msg, "releaseSlot: no write slot %d (there are %d)", slot, s->nslots);
    napi_throw_range_error(env, NULL, msg);
    return NULL;
  }
  give_slot(s, slot);
  return NULL;
}

// writeFailed(session, fh): a write of file handle `fh` failed; JavaScript answers its writes.
static napi_value write_failed_js(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  session *s = session_args(env, info, 2, argv);
  if (!s) return NULL;
  uint64_t fh = u64_of(env, argv[1]);
  if (write_failed(s, fh)) return NULL;
  uint64_t *grown = realloc(s->failed_fh, (s->nfailed + 1) * sizeof *grown);
  if (grown) {
    s->failed_fh = grown;
    s->failed_fh[s->nfailed++] = fh;
  }
  if (!grown) napi_throw_error(env, "ENOMEM", "writeFailed: out of memory");
  return NULL;
}

// connInfo(session) → { protoMajor, protoMinor, maxWrite, readdirplus }: what INIT agreed
// (protoMajor 0: no INIT yet).
static napi_value conn_info(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  session *s = session_args(env, info, 1, argv);
  if (!s) return NULL;
  unsigned major = __atomic_load_n(&s->proto_major, __ATOMIC_ACQUIRE);
  napi_value o, v;
  CHECK(napi_create_object(env, &o));
#define SET_UINT(key, value)                                                                       \
  CHECK(napi_create_uint32(env, major ? (value) : 0, &v));                                         \
  CHECK(napi_set_named_property(env, o, key, v));
#define SET_BOOL(key, value)                                                                       \
  CHECK(napi_get_boolean(env, major && (value), &v));                                              \
  CHECK(napi_set_named_property(env, o, key, v));
  SET_UINT("protoMajor", major)
  SET_UINT("protoMinor", s->proto_minor)
  SET_UINT("maxWrite", s->max_write)
  SET_BOOL("readdirplus", (s->want & FUSE_CAP_READDIRPLUS) != 0)
  return o;
}

static void push_notice(session *s, notice *n) {
  pthread_mutex_lock(&s->mu);
  if (s->notify_stop) {
    pthread_mutex_unlock(&s->mu);
    free(n->name);
    free(n);
    return;
  }
  if (s->tail)
    s->tail->next = n;
  else
    s->head = n;
  s->tail = n;
  pthread_cond_signal(&s->cv);
  pthread_mutex_unlock(&s->mu);
}

// notifyInode(session, ino, off, len): drop cached attributes and data [off, off+len) (len 0: all)
static napi_value notify_inode(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  session *s = session_args(env, info, 4, argv);
  if (!s) return NULL;
  notice *n = calloc(1, sizeof *n);
  if (!n) return NULL;
  n->ino = u64_of(env, argv[1]);
  n->off = (int64_t)num_of(env, argv[2]);
  n->len = (int64_t)num_of(env, argv[3]);
  push_notice(s, n);
  return NULL;
}

// notifyEntry(session, parent, name): drop the cached name (and its negative entry)
static napi_value notify_entry(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  session *s = session_args(env, info, 3, argv);
  if (!s) return NULL;
  size_t len = 0;
  CHECK(napi_get_value_string_utf8(env, argv[2], NULL, 0, &len));
  notice *n = calloc(1, sizeof *n);
  if (!n) return NULL;
  n->name = malloc(len + 1);
  if (!n->name) {
    free(n);
    return NULL;
  }
  napi_get_value_string_utf8(env, argv[2], n->name, len + 1, &len);
  n->ino = u64_of(env, argv[1]);
  push_notice(s, n);
  return NULL;
}

// Throw an Error with `msg` and `errno` (negative, as Node's own errors carry it).
static void throw_error(napi_env env, int err, const char *msg) {
  napi_value m, e, v;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
  napi_create_error(env, NULL, m, &e);
  napi_create_int32(env, -err, &v);
  napi_set_named_property(env, e, "errno", v);
  napi_throw(env, e);
}

// throw_error with "what: <strerror>".
static void throw_errno(napi_env env, int err, const char *what) {
  char msg[512];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  throw_error(env, err, msg);
}

// A session whose mount failed: what it holds so far, JavaScript references included.
static void free_session(napi_env env, session *s) {
  napi_ref *refs[] = {&s->in_args_ref, &s->out_args_ref, &s->slots_ref, &s->dispatch_ref,
                      &s->resource_ref};
  for (size_t i = 0; i < sizeof refs / sizeof *refs; i++)
    if (*refs[i]) napi_delete_reference(env, *refs[i]);
  if (s->actx) napi_async_destroy(env, s->actx);
  free(s->free_slots);
  free(s->failed_fh);
  pthread_mutex_destroy(&s->mu);
  pthread_cond_destroy(&s->cv);
  free(s);
}

// Take `slots` (a Buffer) as write slots of `slot_size` bytes each; false if it is not one.
static bool set_slots(napi_env env, session *s, napi_value slots, size_t slot_size) {
  void *mem = NULL;
  size_t len = 0;
  if (napi_get_buffer_info(env, slots, &mem, &len) != napi_ok || slot_size == 0) return false;
  size_t n = len / slot_size;
  if (n == 0) return true; // none: every write is copied to the heap
  s->free_slots = malloc(n * sizeof *s->free_slots);
  if (!s->free_slots) return true;
  for (size_t i = 0; i < n; i++) s->free_slots[i] = (int)(n - 1 - i);
  s->nfree = s->nslots = (int)n;
  s->slot_mem = mem;
  s->slot_size = slot_size;
  s->slot_mem_len = n * slot_size;
  napi_create_reference(env, slots, 1, &s->slots_ref);
  return true;
}

// mount(mountpoint, options, dispatch, inArgs: Float64Array, outArgs: Float64Array,
//       maxBackground, writeSlots: Buffer, slotSize) → session. Mounts now (fuse_session_mount)
// and serves the device from this thread's event loop (on_fuse_readable).
static napi_value mount_fs(napi_env env, napi_callback_info info) {
  napi_value argv[8];
  if (!get_args(env, info, 8, argv)) return NULL;
  if (!load_libfuse()) {
    throw_error(env, ENOSYS, libfuse_error);
    return NULL;
  }
  char mnt[4096], opts[4096];
  size_t len;
  CHECK(napi_get_value_string_utf8(env, argv[0], mnt, sizeof mnt, &len));
  CHECK(napi_get_value_string_utf8(env, argv[1], opts, sizeof opts, &len));

  session *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->cv, NULL);
  s->max_background = (unsigned)num_of(env, argv[5]);
  if (!set_slots(env, s, argv[6], (size_t)num_of(env, argv[7]))) {
    free_session(env, s);
    napi_throw_type_error(env, NULL, "writeSlots must be a Buffer and slotSize a positive number");
    return NULL;
  }

  for (int i = 0; i < 2; i++) {
    napi_typedarray_type type;
    size_t length, offset;
    void *data;
    napi_value ab;
    if (napi_get_typedarray_info(env, argv[3 + i], &type, &length, &data, &ab, &offset) != napi_ok ||
        type != napi_float64_array || length < NARGS) {
      free_session(env, s);
      napi_throw_type_error(env, NULL, "in/out args must be Float64Arrays of 16");
      return NULL;
    }
    if (i == 0) {
      s->in_args = data;
      napi_create_reference(env, argv[3], 1, &s->in_args_ref);
    } else {
      s->out_args = data;
      napi_create_reference(env, argv[4], 1, &s->out_args_ref);
    }
  }

  char *fuse_argv[] = {(char *)"tessera", (char *)"-o", opts, NULL};
  struct fuse_args args = FUSE_ARGS_INIT(opts[0] ? 3 : 1, fuse_argv);
  s->se = fuse_session_new(&args, &OPS, sizeof OPS, s);
  fuse_opt_free_args(&args);
  if (!s->se) {
    free_session(env, s);
    char msg[4200];
    snprintf(msg, sizeof msg, "libfuse refused the mount options \"%s\" (it names the bad one on stderr)", opts);
    throw_error(env, EINVAL, msg);
    return NULL;
  }
  errno = 0;
  if (fuse_session_mount(s->se, mnt) != 0) {
    int err = errno ? errno : EIO;
    fuse_session_destroy(s->se);
    free_session(env, s);
    throw_errno(env, err, "fuse_session_mount");
    return NULL;
  }

  napi_value name;
  napi_create_string_utf8(env, "tessera-fuse", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, argv[2], NULL, name, 0, 1, NULL, NULL, s, call_js, &s->tsfn) !=
      napi_ok) {
    fuse_session_destroy(s->se);
    umount2(mnt, MNT_DETACH);
    free_session(env, s);
    return NULL;
  }
  // Requests are read on this thread (on_fuse_readable) from the non-blocking device.
  napi_value resource, rname;
  uv_loop_t *loop = NULL;
  int fd = fuse_session_fd(s->se);
  s->env = env;
  if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0 ||
      napi_create_object(env, &resource) != napi_ok ||
      napi_create_string_utf8(env, "tessera-fuse-request", NAPI_AUTO_LENGTH, &rname) != napi_ok ||
      napi_create_reference(env, argv[2], 1, &s->dispatch_ref) != napi_ok ||
      napi_create_reference(env, resource, 1, &s->resource_ref) != napi_ok ||
      napi_async_init(env, resource, rname, &s->actx) != napi_ok ||
      napi_get_uv_event_loop(env, &loop) != napi_ok || uv_poll_init(loop, &s->poll, fd) != 0) {
    napi_release_threadsafe_function(s->tsfn, napi_tsfn_abort);
    fuse_session_destroy(s->se);
    umount2(mnt, MNT_DETACH);
    free_session(env, s);
    throw_error(env, EIO, "cannot watch /dev/fuse on the event loop");
    return NULL;
  }
  pthread_create(&s->notify_thread, NULL, notify_main, s);
  s->notify_started = true;
  s->poll.data = s;
  s->polling = true;
  uv_poll_start(&s->poll, UV_READABLE, on_fuse_readable);

  napi_value ext;
  CHECK(napi_create_external(env, s, NULL, NULL, &ext));
  return ext;
}

// unmount(path) → 0 or errno: detach the mount (the kernel then ends the session; reading the
// device reports OP_EXITED once every open file of the mount is closed).
static napi_value unmount_path(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  char mnt[4096];
  size_t len;
  CHECK(napi_get_value_string_utf8(env, argv[0], mnt, sizeof mnt, &len));
  return int_result(env, umount2(mnt, MNT_DETACH) == 0 ? 0 : errno);
}

// destroy(session): after OP_EXITED and once every request has been answered, free it all.
static napi_value destroy_session(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  session *s = session_args(env, info, 1, argv);
  if (!s || s->destroyed) return NULL;
  s->destroyed = true;
  if (s->notify_started) {
    pthread_mutex_lock(&s->mu);
    s->notify_stop = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->notify_thread, NULL);
  }
  end_polling(s);
  fuse_session_destroy(s->se); // also closes /dev/fuse
  napi_release_threadsafe_function(s->tsfn, napi_tsfn_release);
  napi_delete_reference(env, s->in_args_ref);
  napi_delete_reference(env, s->out_args_ref);
  if (s->slots_ref) napi_delete_reference(env, s->slots_ref);
  napi_delete_reference(env, s->dispatch_ref);
  napi_delete_reference(env, s->resource_ref);
  napi_async_destroy(env, s->actx);
  // The session struct is left allocated: a stale External may still name it (tiny, once).
  return NULL;
}

#define EXPORT_FN(name, fn)                                                                        \
  do {                                                                                             \
    napi_value f;                                                                                  \
    CHECK(napi_create_function(env, name, NAPI_AUTO_LENGTH, fn, NULL, &f));                        \
    CHECK(napi_set_named_property(env, exports, name, f));                                        \
  } while (0)

static napi_value init(napi_env env, napi_value exports) {
  EXPORT_FN("mount", mount_fs);
  EXPORT_FN("unmount", unmount_path);
  EXPORT_FN("destroy", destroy_session);
  EXPORT_FN("replyErr", reply_err);
  EXPORT_FN("replyEntry", reply_entry);
  EXPORT_FN("replyCreate", reply_create);
  EXPORT_FN("replyAttr", reply_attr);
  EXPORT_FN("replyOpen", reply_open);
  EXPORT_FN("replyBuf", reply_buf);
  EXPORT_FN("replyWrite", reply_write);
  EXPORT_FN("replyReadlink", reply_readlink);
  EXPORT_FN("replyStatfs", reply_statfs);
  EXPORT_FN("replyXattr", reply_xattr);
  EXPORT_FN("replyLock", reply_lock);
  EXPORT_FN("notifyInode", notify_inode);
  EXPORT_FN("notifyEntry", notify_entry);
  EXPORT_FN("releaseSlot", release_slot);
  EXPORT_FN("writeFailed", write_failed_js);
  EXPORT_FN("connInfo", conn_info);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
