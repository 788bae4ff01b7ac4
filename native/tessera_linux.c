// tessera_linux: the Linux syscalls Node has no API for — extended attributes,
// open-file-description (OFD) byte-range locks, non-blocking flock(2), inotify, a batched lstat
// of many names of one directory, page-cache-bypassing (O_DIRECT) bulk writes and renameat2's
// RENAME_NOREPLACE — exposed through N-API.
//
// The JS surface is deliberately raw (numbers, Buffers, an external handle); the typed,
// validated API lives in src/sources/local/linux-native.ts.
//
// Errors are Node-style: an Error with .code (the errno name as libuv spells it, so
// 'ENOTSUP' not 'EOPNOTSUPP', exactly like Node's own fs errors), .errno (negative),
// .syscall and, when there is one, .path.

#define _GNU_SOURCE // F_OFD_SETLK / F_OFD_GETLK
#define NAPI_VERSION 8 // async cleanup hooks
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <uv.h>

// Bail out of a binding function when an N-API call fails; N-API has already left an
// exception pending (or there is nothing sensible left to do), so returning NULL is enough.
#define CHECK(call)                                                                                \
  do {                                                                                             \
    if ((call) != napi_ok) return NULL;                                                            \
  } while (0)

// ---------------------------------------------------------------------------------------------
// Errors

static napi_value errno_error(napi_env env, int err, const char *syscall, const char *path) {
  char name[64], text[128];
  uv_err_name_r(-err, name, sizeof name);
  uv_strerror_r(-err, text, sizeof text);
  const char *fmt = path ? "%s: %s, %s '%s'" : "%s: %s, %s";
  int len = snprintf(NULL, 0, fmt, name, text, syscall, path);
  char *msg = malloc((size_t)len + 1);
  if (!msg) return NULL;
  snprintf(msg, (size_t)len + 1, fmt, name, text, syscall, path);

  napi_value code, message, error, v;
  napi_status s = napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code);
  if (s == napi_ok) s = napi_create_string_utf8(env, msg, (size_t)len, &message);
  free(msg);
  if (s != napi_ok || napi_create_error(env, code, message, &error) != napi_ok) return NULL;
  if (napi_create_int32(env, -err, &v) == napi_ok) napi_set_named_property(env, error, "errno", v);
  if (napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &v) == napi_ok)
    napi_set_named_property(env, error, "syscall", v);
  if (path && napi_create_string_utf8(env, path, NAPI_AUTO_LENGTH, &v) == napi_ok)
    napi_set_named_property(env, error, "path", v);
  return error;
}

static void throw_errno(napi_env env, int err, const char *syscall, const char *path) {
  napi_value e = errno_error(env, err, syscall, path);
  if (e) napi_throw(env, e);
}

// ---------------------------------------------------------------------------------------------
// Argument helpers (the TS wrapper validates first; these only keep C memory-safe)

// Throws a TypeError with code EINVAL (a programming error: the TS wrapper validates first).
static bool invalid(napi_env env, const char *what) {
  napi_throw_type_error(env, "EINVAL", what);
  return false;
}

static bool out_of_memory(napi_env env) {
  napi_throw_error(env, "ENOMEM", "out of memory");
  return false;
}

// Copies a JS string into a fresh NUL-terminated heap buffer (caller frees). An embedded
// NUL would silently truncate the path the kernel sees, so it is refused outright.
static bool get_string(napi_env env, napi_value v, const char *what, char **out) {
  size_t len, got;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) return invalid(env, what);
  char *buf = malloc(len + 1);
  if (!buf) return out_of_memory(env);
  napi_get_value_string_utf8(env, v, buf, len + 1, &got);
  if (strlen(buf) != got) {
    free(buf);
    return invalid(env, what);
  }
  *out = buf;
  return true;
}

static bool get_int32(napi_env env, napi_value v, const char *what, int32_t *out) {
  return napi_get_value_int32(env, v, out) == napi_ok || invalid(env, what);
}

static bool get_int64(napi_env env, napi_value v, const char *what, int64_t *out) {
  return napi_get_value_int64(env, v, out) == napi_ok || invalid(env, what);
}

// ---------------------------------------------------------------------------------------------
// Async operations: xattrs, OFD locks, flock and rename without replacing, run on the libuv
// thread pool

typedef enum { OP_GET, OP_SET, OP_LIST, OP_REMOVE, OP_SETLK, OP_GETLK, OP_FLOCK, OP_RENAME } op_kind;

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  op_kind kind;
  const char *syscall;
  char *path; // NULL: operate on fd
  int fd;
  char *name; // the xattr name, or the new path (OP_RENAME)
  char *data; // value in (OP_SET) or result out (OP_GET / OP_LIST)
  size_t data_len;
  int flags; // xattr flags (OP_SET) or the flock operation (OP_FLOCK)
  struct flock lk;
  int err;
} op_t;

static void op_free(op_t *op) {
  free(op->path);
  free(op->name);
  free(op->data);
  free(op);
}

// One lgetxattr/fgetxattr/llistxattr/flistxattr call; size 0 asks for the needed size.
static ssize_t op_fetch_once(op_t *op, char *buf, size_t size) {
  if (op->kind == OP_GET)
    return op->path ? lgetxattr(op->path, op->name, buf, size) : fgetxattr(op->fd, op->name, buf, size);
  return op->path ? llistxattr(op->path, buf, size) : flistxattr(op->fd, buf, size);
}

// get/list: size the buffer, then fetch. The value can grow between the two calls (ERANGE),
// so retry a few times rather than report a spurious error.
static void op_fetch(op_t *op) {
  op->err = ERANGE;
  for (int attempt = 0; attempt < 8 && op->err == ERANGE; attempt++) {
    ssize_t n = op_fetch_once(op, NULL, 0), m = -1;
    char *buf = n >= 0 ? malloc(n > 0 ? (size_t)n : 1) : NULL;
    if (n >= 0 && !buf) errno = ENOMEM;
    if (buf) m = op_fetch_once(op, buf, (size_t)n);
    if (m >= 0) {
      op->data = buf;
      op->data_len = (size_t)m;
      op->err = 0;
      return;
    }
    free(buf);
    op->err = errno;
  }
}

static void op_execute(napi_env env, void *arg) {
  (void)env; // no N-API calls off the main thread
  op_t *op = arg;
  int r = 0;
  switch (op->kind) {
  case OP_GET:
  case OP_LIST:
    op_fetch(op);
    return;
  case OP_SET:
    r = op->path ? lsetxattr(op->path, op->name, op->data, op->data_len, op->flags)
                 : fsetxattr(op->fd, op->name, op->data, op->data_len, op->flags);
    break;
  case OP_REMOVE:
    r = op->path ? lremovexattr(op->path, op->name) : fremovexattr(op->fd, op->name);
    break;
  case OP_SETLK:
    r = fcntl(op->fd, F_OFD_SETLK, &op->lk);
    // POSIX allows EACCES for a conflicting lock; callers test for EAGAIN only.
    if (r < 0 && errno == EACCES) errno = EAGAIN;
    break;
  case OP_GETLK:
    r = fcntl(op->fd, F_OFD_GETLK, &op->lk);
    break;
  case OP_FLOCK:
    // Never blocks a pool thread: a conflict is EWOULDBLOCK (== EAGAIN on Linux).
    r = flock(op->fd, op->flags | LOCK_NB);
    break;
  case OP_RENAME:
    // One atomic rename that fails EEXIST instead of replacing: what publishing an exclusively
    // created file needs, in one job instead of link + unlink. A filesystem without the flag
    // answers EINVAL (NFS, CIFS, older FUSE): the caller falls back to link + unlink.
    r = renameat2(AT_FDCWD, op->path, AT_FDCWD, op->name, RENAME_NOREPLACE);
    break;
  }
  if (r < 0) op->err = errno;
}

static bool set_number(napi_env env, napi_value obj, const char *key, double n) {
  napi_value v;
  return napi_create_double(env, n, &v) == napi_ok && napi_set_named_property(env, obj, key, v) == napi_ok;
}

static napi_value op_result(napi_env env, op_t *op) {
  napi_value v, item;
  switch (op->kind) {
  case OP_GET:
    CHECK(napi_create_buffer_copy(env, op->data_len, op->data, NULL, &v));
    return v;
  case OP_LIST: {
    // The kernel returns "name1\0name2\0..."; every name is NUL-terminated.
    CHECK(napi_create_array(env, &v));
    uint32_t i = 0;
    for (size_t off = 0; off < op->data_len; i++) {
      size_t len = strnlen(op->data + off, op->data_len - off);
      CHECK(napi_create_string_utf8(env, op->data + off, len, &item));
      CHECK(napi_set_element(env, v, i, item));
      off += len + 1;
    }
    return v;
  }
  case OP_GETLK:
    if (op->lk.l_type == F_UNLCK) {
      CHECK(napi_get_null(env, &v));
      return v;
    }
    // pid: -1 for an OFD lock; the owner's pid for a classic process-associated lock.
    CHECK(napi_create_object(env, &v));
    if (!set_number(env, v, "type", op->lk.l_type) || !set_number(env, v, "start", (double)op->lk.l_start) ||
        !set_number(env, v, "length", (double)op->lk.l_len) || !set_number(env, v, "pid", op->lk.l_pid))
      return NULL;
    return v;
  default:
    CHECK(napi_get_undefined(env, &v));
    return v;
  }
}

static void op_complete(napi_env env, napi_status status, void *arg) {
  op_t *op = arg;
  napi_value v = NULL;
  bool ok = status == napi_ok && op->err == 0;
  if (ok) {
    v = op_result(env, op);
    if (!v) {
      ok = false;
      napi_get_and_clear_last_exception(env, &v);
    }
  } else {
    v = errno_error(env, op->err ? op->err : EIO, op->syscall, op->path);
  }
  if (!v) napi_get_undefined(env, &v);
  if (ok) napi_resolve_deferred(env, op->deferred, v);
  else napi_reject_deferred(env, op->deferred, v);
  napi_delete_async_work(env, op->work);
  op_free(op);
}

// Make the promise a job settles and queue the job on the thread pool; the promise, or NULL
// when any step failed (nothing is queued then, and a created deferred is simply dropped).
static napi_value queue_job(napi_env env, const char *name, napi_async_execute_callback execute,
                            napi_async_complete_callback complete, void *data, napi_async_work *work,
                            napi_deferred *deferred) {
  napi_value promise, resource_name;
  if (napi_create_promise(env, deferred, &promise) != napi_ok ||
      napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource_name) != napi_ok ||
      napi_create_async_work(env, NULL, resource_name, execute, complete, data, work) != napi_ok)
    return NULL;
  if (napi_queue_async_work(env, *work) != napi_ok) {
    napi_delete_async_work(env, *work);
    return NULL;
  }
  return promise;
}

// Settle a job's promise that has no value: resolved with undefined, or rejected with the
// errno error of `err` (EIO when the job itself could not run).
static void settle_void(napi_env env, napi_deferred deferred, napi_status status, int err,
                        const char *syscall, const char *path) {
  napi_value v = NULL;
  if (status == napi_ok && err == 0) {
    napi_get_undefined(env, &v);
    napi_resolve_deferred(env, deferred, v);
    return;
  }
  v = errno_error(env, err ? err : EIO, syscall, path);
  if (!v) napi_get_undefined(env, &v);
  napi_reject_deferred(env, deferred, v);
}

// Parses the JS arguments of one binding into an op and queues it. Argument layouts:
//   xattr: (pathOrFd, name?, value?, flags?) with name/value/flags as the kind needs
//   locks: (fd, type, start, length)
//   flock: (fd, operation) with operation LOCK_SH, LOCK_EX or LOCK_UN
//   rename: (from, to)
static napi_value op_start(napi_env env, napi_callback_info info, op_kind kind, bool by_fd,
                           const char *syscall) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  op_t *op = calloc(1, sizeof *op);
  if (!op) return out_of_memory(env), NULL;
  op->kind = kind;
  op->syscall = syscall;
  op->fd = -1;
  bool ok = by_fd ? get_int32(env, argv[0], "fd must be an integer", &op->fd)
                  : get_string(env, argv[0], "path must be a string without NUL", &op->path);
  if (ok && (kind == OP_GET || kind == OP_SET || kind == OP_REMOVE))
    ok = get_string(env, argv[1], "name must be a string without NUL", &op->name);
  if (ok && kind == OP_RENAME) ok = get_string(env, argv[1], "to must be a string without NUL", &op->name);
  if (ok && kind == OP_SET) {
    // Copied: the caller may reuse its buffer before the worker thread runs.
    void *src;
    size_t len;
    if (napi_get_typedarray_info(env, argv[2], NULL, &len, &src, NULL, NULL) != napi_ok)
      ok = invalid(env, "value must be a Uint8Array");
    else if (!(op->data = malloc(len > 0 ? len : 1)))
      ok = out_of_memory(env);
    else {
      memcpy(op->data, src, len);
      op->data_len = len;
      ok = get_int32(env, argv[3], "flags must be an integer", &op->flags);
    }
  }
  if (ok && (kind == OP_SETLK || kind == OP_GETLK)) {
    int32_t type;
    int64_t start, len;
    ok = get_int32(env, argv[1], "lock type must be an integer", &type) &&
         get_int64(env, argv[2], "start must be an integer", &start) &&
         get_int64(env, argv[3], "length must be an integer", &len);
    op->lk.l_type = (short)type;
    op->lk.l_whence = SEEK_SET;
    op->lk.l_start = (off_t)start;
    op->lk.l_len = (off_t)len;
    op->lk.l_pid = 0; // required by F_OFD_*: anything else is EINVAL
  }
  if (ok && kind == OP_FLOCK) {
    ok = get_int32(env, argv[1], "flock operation must be an integer", &op->flags);
    if (ok && op->flags != LOCK_SH && op->flags != LOCK_EX && op->flags != LOCK_UN)
      ok = invalid(env, "flock operation must be LOCK_SH, LOCK_EX or LOCK_UN");
  }
  napi_value promise =
      ok ? queue_job(env, syscall, op_execute, op_complete, op, &op->work, &op->deferred) : NULL;
  if (!promise) op_free(op);
  return promise;
}

#define OP_BINDING(fn, kind, by_fd)                                                                \
  static napi_value js_##fn(napi_env env, napi_callback_info info) {                               \
    return op_start(env, info, kind, by_fd, #fn);                                                  \
  }
OP_BINDING(lgetxattr, OP_GET, false)
OP_BINDING(fgetxattr, OP_GET, true)
OP_BINDING(lsetxattr, OP_SET, false)
OP_BINDING(fsetxattr, OP_SET, true)
OP_BINDING(llistxattr, OP_LIST, false)
OP_BINDING(flistxattr, OP_LIST, true)
OP_BINDING(lremovexattr, OP_REMOVE, false)
OP_BINDING(fremovexattr, OP_REMOVE, true)

static napi_value js_ofd_setlk(napi_env env, napi_callback_info info) {
  return op_start(env, info, OP_SETLK, true, "fcntl");
}
static napi_value js_ofd_getlk(napi_env env, napi_callback_info info) {
  return op_start(env, info, OP_GETLK, true, "fcntl");
}
static napi_value js_flock(napi_env env, napi_callback_info info) {
  return op_start(env, info, OP_FLOCK, true, "flock");
}
static napi_value js_rename_noreplace(napi_env env, napi_callback_info info) {
  return op_start(env, info, OP_RENAME, false, "rename");
}

// ---------------------------------------------------------------------------------------------
// Inotify: one non-blocking inotify fd watched by a uv_poll on Node's own loop, so events
// arrive on the main thread with no extra thread and no polling. Raw event records go to JS
// in one Buffer per read(); the wrapper parses them.

typedef struct {
  napi_env env;
  uv_poll_t poll;
  int fd;
  napi_ref on_data;
  napi_async_context ctx;
  napi_async_cleanup_hook_handle cleanup;
  bool closing;   // uv_close requested: no more reads, refs released
  bool closed;    // uv_close callback ran, fd closed
  bool finalized; // the JS external is gone
  char buf[64 * 1024];
} inotify_t;

// The struct outlives whichever of (handle closed, JS external collected) comes first.
static void inotify_maybe_free(inotify_t *self) {
  if (self->closed && self->finalized) free(self);
}

static void inotify_on_closed(uv_handle_t *handle) {
  inotify_t *self = handle->data;
  // The fd may only be closed once libuv has dropped it from epoll, i.e. here.
  close(self->fd);
  self->fd = -1;
  self->closed = true;
  // Also signals completion when the close was started by the env cleanup hook.
  if (self->cleanup) napi_remove_async_cleanup_hook(self->cleanup);
  self->cleanup = NULL;
  inotify_maybe_free(self);
}

static void inotify_start_close(inotify_t *self) {
  if (self->closing) return;
  self->closing = true;
  napi_delete_reference(self->env, self->on_data);
  napi_async_destroy(self->env, self->ctx);
  uv_close((uv_handle_t *)&self->poll, inotify_on_closed);
}

// Worker threads must close their handles before their loop closes, or Node aborts.
static void inotify_on_env_cleanup(napi_async_cleanup_hook_handle handle, void *arg) {
  (void)handle;
  inotify_start_close(arg);
}

static void inotify_on_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  inotify_t *self = data;
  self->finalized = true;
  inotify_start_close(self); // dropped without close(): do not leak the fd
  inotify_maybe_free(self);
}

static void inotify_on_readable(uv_poll_t *handle, int status, int events) {
  (void)events;
  inotify_t *self = handle->data;
  if (status < 0) {
    // An epoll-level failure would repeat on every loop turn; stop rather than spin.
    uv_poll_stop(handle);
    return;
  }
  napi_env env = self->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  // Drain until EAGAIN: epoll is level-triggered, but one wake-up per burst is cheaper.
  // The callback may close() us, so re-check before every read.
  while (!self->closing) {
    ssize_t n = read(self->fd, self->buf, sizeof self->buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    napi_value chunk, fn, recv, ignored;
    if (napi_create_buffer_copy(env, (size_t)n, self->buf, NULL, &chunk) != napi_ok ||
        napi_get_reference_value(env, self->on_data, &fn) != napi_ok ||
        napi_get_global(env, &recv) != napi_ok)
      break;
    // make_callback (not call_function): runs the microtask/nextTick queues afterwards and
    // keeps async_hooks context, as for any native-initiated callback.
    if (napi_make_callback(env, self->ctx, recv, fn, 1, &chunk, &ignored) != napi_ok) {
      napi_value exc;
      if (napi_get_and_clear_last_exception(env, &exc) == napi_ok) napi_fatal_exception(env, exc);
      break;
    }
  }
  napi_close_handle_scope(env, scope);
}

// Fetches up to `argc` arguments of an inotify binding; the first one is the handle.
static inotify_t *inotify_args(napi_env env, napi_callback_info info, size_t argc, napi_value *argv) {
  void *data = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (napi_get_value_external(env, argv[0], &data) != napi_ok || !data)
    return invalid(env, "not an inotify handle"), NULL;
  return data;
}

// inotifyOpen(onData: (chunk: Buffer) => void) -> handle. The handle starts unref'd.
static napi_value js_inotify_open(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], external;
  napi_valuetype type;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  CHECK(napi_typeof(env, argv[0], &type));
  if (type != napi_function) return invalid(env, "onData must be a function"), NULL;
  uv_loop_t *loop;
  CHECK(napi_get_uv_event_loop(env, &loop));

  inotify_t *self = calloc(1, sizeof *self);
  if (!self) return out_of_memory(env), NULL;
  self->env = env;
  self->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (self->fd < 0) {
    throw_errno(env, errno, "inotify_init1", NULL);
    free(self);
    return NULL;
  }
  napi_value resource_name;
  int uverr = 0;
  if (napi_create_string_utf8(env, "TesseraInotify", NAPI_AUTO_LENGTH, &resource_name) != napi_ok ||
      napi_create_reference(env, argv[0], 1, &self->on_data) != napi_ok ||
      (uverr = uv_poll_init(loop, &self->poll, self->fd)) != 0) {
    if (uverr) throw_errno(env, -uverr, "uv_poll_init", NULL);
    if (self->on_data) napi_delete_reference(env, self->on_data);
    close(self->fd);
    free(self);
    return NULL;
  }
  // From here on the poll handle exists, so every failure path goes through uv_close.
  self->poll.data = self;
  uv_unref((uv_handle_t *)&self->poll);
  if (napi_async_init(env, NULL, resource_name, &self->ctx) != napi_ok ||
      napi_add_async_cleanup_hook(env, inotify_on_env_cleanup, self, &self->cleanup) != napi_ok ||
      (uverr = uv_poll_start(&self->poll, UV_READABLE, inotify_on_readable)) != 0 ||
      napi_create_external(env, self, inotify_on_finalize, NULL, &external) != napi_ok) {
    if (uverr) throw_errno(env, -uverr, "uv_poll_start", NULL);
    self->finalized = true; // no external will ever own it
    inotify_start_close(self);
    return NULL;
  }
  return external;
}

// inotifyAdd(handle, path, mask) -> wd
static napi_value js_inotify_add(napi_env env, napi_callback_info info) {
  napi_value argv[3], result;
  inotify_t *self = inotify_args(env, info, 3, argv);
  char *path = NULL;
  uint32_t mask;
  if (!self || !get_string(env, argv[1], "path must be a string without NUL", &path)) return NULL;
  if (napi_get_value_uint32(env, argv[2], &mask) != napi_ok) {
    free(path);
    return invalid(env, "mask must be an integer"), NULL;
  }
  // Symlinks are never followed: a watch must not reach outside the export through one.
  int wd = self->closing ? (errno = EBADF, -1) : inotify_add_watch(self->fd, path, mask | IN_DONT_FOLLOW);
  if (wd < 0) throw_errno(env, errno, "inotify_add_watch", path);
  free(path);
  if (wd < 0) return NULL;
  CHECK(napi_create_int32(env, wd, &result));
  return result;
}

// inotifyRemove(handle, wd). A watch the kernel already dropped (file deleted, fs unmounted)
// is EINVAL; after close() every watch is gone. Both are what the caller wanted anyway.
static napi_value js_inotify_remove(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t wd;
  inotify_t *self = inotify_args(env, info, 2, argv);
  if (!self || !get_int32(env, argv[1], "wd must be an integer", &wd)) return NULL;
  if (!self->closing && inotify_rm_watch(self->fd, wd) < 0 && errno != EINVAL)
    throw_errno(env, errno, "inotify_rm_watch", NULL);
  return NULL;
}

static napi_value js_inotify_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  inotify_t *self = inotify_args(env, info, 1, argv);
  if (self) inotify_start_close(self);
  return NULL;
}

// inotifyRef(handle, keepAlive): whether the watch alone keeps the event loop alive.
static napi_value js_inotify_ref(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  bool keep;
  inotify_t *self = inotify_args(env, info, 2, argv);
  if (!self || napi_get_value_bool(env, argv[1], &keep) != napi_ok) return NULL;
  if (!self->closing) {
    if (keep) uv_ref((uv_handle_t *)&self->poll);
    else uv_unref((uv_handle_t *)&self->poll);
  }
  return NULL;
}

// ---------------------------------------------------------------------------------------------
// Direct writes: the bulk of a big sequential write through a second descriptor of the same
// file opened with O_DIRECT, so the bytes go from one reused buffer to the device instead of
// into freshly allocated page-cache pages (whose allocation, not the copy, is what a buffered
// write of a new file mostly costs). The bytes are copied into a per-thread staging buffer
// first: O_DIRECT needs block-aligned memory and the caller's buffers are arbitrary slices.
// Bytes past the last whole block go through the file's own descriptor, buffered.

#define DIRECT_ALIGN 4096
#define DIRECT_STAGE (4u << 20)

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref parts_ref; // keeps the caller's buffers alive until the job is done
  int fd;             // a duplicate made at the call, so the job writes the file fd named then
  int64_t offset;
  size_t nparts;
  struct iovec *parts;
  const char *syscall;
  int err;
} direct_write_t;

// Filesystems whose O_DIRECT goes straight to a local block device (linux/magic.h values,
// kernel ABI). Elsewhere it gains nothing (tmpfs: the bytes land in memory pages anyway) or
// costs (NFS, CIFS: a synchronous round trip per write instead of write-behind), so the
// file is refused like one whose filesystem has no O_DIRECT.
static bool direct_fs(unsigned long type) {
  switch (type) {
  case 0xEF53:     // ext2/3/4
  case 0x58465342: // xfs
  case 0x9123683E: // btrfs
  case 0xF2F52010: // f2fs
  case 0xCA451A4E: // bcachefs
    return true;
  default:
    return false;
  }
}

// One staging buffer per thread-pool thread, made at its first direct write and kept: a fresh
// buffer per job would fault in new pages every time, the very cost direct writes avoid.
static __thread char *direct_stage;

static void direct_write_free(napi_env env, direct_write_t *w) {
  if (w->parts_ref) napi_delete_reference(env, w->parts_ref);
  if (w->fd >= 0) close(w->fd);
  free(w->parts);
  free(w);
}

// pwrite all of buf at `at`, again after a short write.
static int pwrite_all(int fd, const char *buf, size_t len, off_t at) {
  while (len > 0) {
    ssize_t r = pwrite(fd, buf, len, at);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return errno;
    if (r == 0) return EIO;
    buf += r;
    len -= (size_t)r;
    at += r;
  }
  return 0;
}

static void direct_write_execute(napi_env env, void *arg) {
  (void)env;
  direct_write_t *w = arg;
  if (w->err) return; // the dup failed
  size_t total = 0;
  for (size_t i = 0; i < w->nparts; i++) total += w->parts[i].iov_len;
  size_t bulk = total & ~(size_t)(DIRECT_ALIGN - 1);
  size_t part = 0, in_part = 0; // the next byte to write: parts[part] at in_part
  off_t at = (off_t)w->offset;
  if (bulk > 0) {
    struct statfs sfs;
    if (fstatfs(w->fd, &sfs) != 0 || !direct_fs((unsigned long)sfs.f_type)) {
      w->err = EINVAL;
      w->syscall = "open";
      return;
    }
    if (!direct_stage) {
      void *p = NULL;
      if ((w->err = posix_memalign(&p, DIRECT_ALIGN, DIRECT_STAGE)) != 0) {
        w->syscall = "posix_memalign";
        return;
      }
      direct_stage = p;
    }
    char path[40];
    snprintf(path, sizeof path, "/proc/self/fd/%d", w->fd);
    int dfd = open(path, O_WRONLY | O_DIRECT | O_CLOEXEC);
    if (dfd < 0) {
      w->err = errno;
      w->syscall = "open";
      return;
    }
    for (size_t left = bulk; left > 0 && w->err == 0;) {
      size_t n = left < DIRECT_STAGE ? left : DIRECT_STAGE;
      for (size_t filled = 0; filled < n;) {
        size_t take = w->parts[part].iov_len - in_part;
        if (take > n - filled) take = n - filled;
        memcpy(direct_stage + filled, (char *)w->parts[part].iov_base + in_part, take);
        filled += take;
        in_part += take;
        if (in_part == w->parts[part].iov_len) part++, in_part = 0;
      }
      ssize_t r;
      do r = pwrite(dfd, direct_stage, n, at);
      while (r < 0 && errno == EINTR);
      if (r < 0) w->err = errno, w->syscall = "pwrite";
      // A short direct write (a full disk) ends unaligned: the rest goes buffered, where a
      // full disk gives its ENOSPC.
      else if ((size_t)r < n) w->err = pwrite_all(w->fd, direct_stage + r, n - (size_t)r, at + r),
                              w->syscall = "pwrite";
      at += (off_t)n;
      left -= n;
    }
    close(dfd);
    if (w->err) return;
  }
  for (; part < w->nparts && w->err == 0; part++, in_part = 0) {
    w->err = pwrite_all(w->fd, (char *)w->parts[part].iov_base + in_part,
                        w->parts[part].iov_len - in_part, at);
    at += (off_t)(w->parts[part].iov_len - in_part);
    w->syscall = "pwrite";
  }
}

static void direct_write_complete(napi_env env, napi_status status, void *arg) {
  direct_write_t *w = arg;
  settle_void(env, w->deferred, status, w->err, w->syscall ? w->syscall : "pwrite", NULL);
  napi_delete_async_work(env, w->work);
  direct_write_free(env, w);
}

// writeDirect(fd, parts: Uint8Array[], offset) → Promise<void>; offset a multiple of 4096.
static napi_value js_write_direct(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  direct_write_t *w = calloc(1, sizeof *w);
  if (!w) return out_of_memory(env), NULL;
  w->fd = -1;
  uint32_t n = 0;
  int32_t fd = -1;
  bool is_array = false;
  bool ok = get_int32(env, argv[0], "fd must be an integer", &fd) &&
            get_int64(env, argv[2], "offset must be an integer", &w->offset);
  if (ok && (w->offset < 0 || w->offset % DIRECT_ALIGN != 0))
    ok = invalid(env, "offset must be a multiple of 4096");
  if (ok && (napi_is_array(env, argv[1], &is_array) != napi_ok || !is_array ||
             napi_get_array_length(env, argv[1], &n) != napi_ok))
    ok = invalid(env, "parts must be an array of Uint8Array");
  if (ok && !(w->parts = calloc(n > 0 ? n : 1, sizeof *w->parts))) ok = out_of_memory(env);
  for (uint32_t i = 0; ok && i < n; i++) {
    napi_value item;
    size_t len;
    void *data;
    if (napi_get_element(env, argv[1], i, &item) != napi_ok ||
        napi_get_typedarray_info(env, item, NULL, &len, &data, NULL, NULL) != napi_ok)
      ok = invalid(env, "parts must be an array of Uint8Array");
    else
      w->parts[i] = (struct iovec){.iov_base = data, .iov_len = len};
  }
  w->nparts = n;
  // The caller's descriptor may be closed, and its number reused, while the job waits for a
  // thread: the job works on a duplicate made now. A bad fd rejects (EBADF, "dup").
  if (ok && (w->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0) w->err = errno, w->syscall = "dup";
  if (ok) ok = napi_create_reference(env, argv[1], 1, &w->parts_ref) == napi_ok;
  napi_value promise = ok ? queue_job(env, "writeDirect", direct_write_execute, direct_write_complete, w,
                                      &w->work, &w->deferred)
                          : NULL;
  if (!promise) direct_write_free(env, w);
  return promise;
}

// ---------------------------------------------------------------------------------------------
// Module

// ---------------------------------------------------------------------------------------------
// Batched lstat: many names of one directory in one thread-pool job (statx against the
// directory's fd), the figures written into an ArrayBuffer the caller reads through typed
// arrays — no request, stats object or Date per entry.
//
// Layout for n entries (the caller allocates n * STAT_BATCH_BYTES):
//   double  nums[5n]   mode, nlink, uid, gid, size
//   int64_t big[6n]    dev, ino, atime, mtime, ctime, birthtime (times in ns since the epoch)
//   int32_t errs[n]    0, or the entry's errno

#define STAT_NUMS 5
#define STAT_BIGS 6
#define STAT_BATCH_BYTES (STAT_NUMS * 8 + STAT_BIGS * 8 + 4)

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref out_ref;
  char *dir;
  char *names; // n NUL-terminated names back to back
  size_t names_len;
  size_t n;
  uint8_t *out;
  int err; // opening the directory failed
} stat_batch_t;

static void stat_batch_free(napi_env env, stat_batch_t *b) {
  if (b->out_ref) napi_delete_reference(env, b->out_ref);
  free(b->dir);
  free(b->names);
  free(b);
}

static int64_t ns_of(struct statx_timestamp t) {
  return (int64_t)t.tv_sec * 1000000000 + (int64_t)t.tv_nsec;
}

// The figures of `sx` into entry i of n of a stat-batch layout (a batch's or createTemp's).
static void put_statx(uint8_t *out, size_t n, size_t i, const struct statx *sx) {
  double *nu = (double *)out + STAT_NUMS * i;
  nu[0] = sx->stx_mode;
  nu[1] = sx->stx_nlink;
  nu[2] = sx->stx_uid;
  nu[3] = sx->stx_gid;
  nu[4] = (double)sx->stx_size;
  int64_t *bi = (int64_t *)(out + STAT_NUMS * 8 * n) + STAT_BIGS * i;
  bi[0] = (int64_t)makedev(sx->stx_dev_major, sx->stx_dev_minor);
  bi[1] = (int64_t)sx->stx_ino;
  bi[2] = ns_of(sx->stx_atime);
  bi[3] = ns_of(sx->stx_mtime);
  bi[4] = ns_of(sx->stx_ctime);
  bi[5] = ns_of(sx->stx_btime);
}

static void stat_batch_execute(napi_env env, void *arg) {
  (void)env;
  stat_batch_t *b = arg;
  int dfd = open(b->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) {
    b->err = errno;
    return;
  }
  int32_t *errs = (int32_t *)(b->out + (STAT_NUMS + STAT_BIGS) * 8 * b->n);
  const char *name = b->names;
  for (size_t i = 0; i < b->n; i++) {
    struct statx sx;
    // The flags and mask libuv's lstat uses, so every figure is the one fs.lstat gives.
    if (statx(dfd, name, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS | STATX_BTIME, &sx) != 0) {
      errs[i] = errno;
    } else {
      errs[i] = 0;
      put_statx(b->out, b->n, i, &sx);
    }
    name += strlen(name) + 1;
  }
  close(dfd);
}

static void stat_batch_complete(napi_env env, napi_status status, void *arg) {
  stat_batch_t *b = arg;
  settle_void(env, b->deferred, status, b->err, "open", b->dir);
  napi_delete_async_work(env, b->work);
  stat_batch_free(env, b);
}

// (dir, names, count, out): names is `count` names each followed by a NUL; out an ArrayBuffer
// of count * STAT_BATCH_BYTES bytes, kept alive until the promise settles.
static napi_value js_stat_batch(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  stat_batch_t *b = calloc(1, sizeof *b);
  if (!b) return out_of_memory(env), NULL;
  bool ok = get_string(env, argv[0], "dir must be a string without NUL", &b->dir);
  int64_t count = 0;
  if (ok) ok = get_int64(env, argv[2], "count must be an integer", &count);
  if (ok && count < 0) ok = invalid(env, "count must not be negative");
  b->n = (size_t)count;
  if (ok) {
    // Names contain NULs as separators, so they are read as raw UTF-8 (not get_string).
    size_t len;
    if (napi_get_value_string_utf8(env, argv[1], NULL, 0, &len) != napi_ok) ok = invalid(env, "names must be a string");
    else if (!(b->names = malloc(len + 1))) ok = out_of_memory(env);
    else {
      napi_get_value_string_utf8(env, argv[1], b->names, len + 1, &b->names_len);
      size_t seen = 0;
      for (size_t i = 0; i < b->names_len; i++) seen += b->names[i] == '\0';
      if (seen != b->n || (b->names_len > 0 && b->names[b->names_len - 1] != '\0'))
        ok = invalid(env, "names must be count NUL-terminated names");
    }
  }
  if (ok) {
    void *data;
    size_t len;
    if (napi_get_arraybuffer_info(env, argv[3], &data, &len) != napi_ok || len < b->n * STAT_BATCH_BYTES)
      ok = invalid(env, "out must be an ArrayBuffer of count * STAT_BATCH_BYTES bytes");
    else {
      b->out = data;
      ok = napi_create_reference(env, argv[3], 1, &b->out_ref) == napi_ok;
    }
  }
  napi_value promise = ok ? queue_job(env, "statBatch", stat_batch_execute, stat_batch_complete, b, &b->work,
                                      &b->deferred)
                          : NULL;
  if (!promise) stat_batch_free(env, b);
  return promise;
}

// ---------------------------------------------------------------------------------------------
// A small file's create and its publishing close, one thread-pool job each (instead of three
// rounds of jobs for the create and two for the close): each round costs a file ~30 µs of wall
// time and each job ~20 µs of CPU to wake a pool worker, which for `cp -r` of small files is
// most of the node's share of the time.

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref out_ref;
  char *dir;      // the directory's path as the id map has it
  char *name;     // the name the file gets at close
  char *tmp_name; // the temp name it is created under
  uint64_t dev, ino;
  int flags, mode;
  uint8_t *out; // one stat-batch entry
  int result;   // the fd; CREATE_MOVED; CREATE_EXISTS (the entry's stat in out)
  int err;
  const char *syscall;
  char *err_path;
} create_temp_t;

#define CREATE_MOVED (-1)
#define CREATE_EXISTS (-2)

static void create_temp_free(napi_env env, create_temp_t *c) {
  if (c->out_ref) napi_delete_reference(env, c->out_ref);
  free(c->dir);
  free(c->name);
  free(c->tmp_name);
  free(c->err_path);
  free(c);
}

// The path of `name` in the job's directory, for an error (NULL when out of memory).
static char *child_path(const char *dir, const char *name) {
  size_t a = strlen(dir), b = strlen(name);
  char *p = malloc(a + b + 2);
  if (!p) return NULL;
  memcpy(p, dir, a);
  size_t at = a > 0 && dir[a - 1] == '/' ? a : (p[a] = '/', a + 1);
  memcpy(p + at, name, b + 1);
  return p;
}

static void create_temp_fail(create_temp_t *c, const char *syscall, const char *name) {
  c->err = errno;
  c->syscall = syscall;
  c->err_path = child_path(c->dir, name);
}

static void create_temp_execute(napi_env env, void *arg) {
  (void)env;
  create_temp_t *c = arg;
  // The directory by a descriptor that never follows a final symlink: the checks below and the
  // temp file all concern the one directory whose identity was checked, even if its path is
  // swapped meanwhile. Not the directory the id map knows (gone, replaced, a symlink now):
  // the caller resolves it again.
  int dfd = open(c->dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  struct statx sx;
  if (dfd < 0 || statx(dfd, "", AT_EMPTY_PATH, STATX_TYPE | STATX_INO, &sx) != 0 ||
      makedev(sx.stx_dev_major, sx.stx_dev_minor) != c->dev || sx.stx_ino != c->ino) {
    if (dfd >= 0) close(dfd);
    c->result = CREATE_MOVED;
    return;
  }
  if (statx(dfd, c->name, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS | STATX_BTIME, &sx) == 0) {
    put_statx(c->out, 1, 0, &sx);
    c->result = CREATE_EXISTS;
    close(dfd);
    return;
  }
  if (errno != ENOENT) {
    create_temp_fail(c, "lstat", c->name);
    close(dfd);
    return;
  }
  int fd = openat(dfd, c->tmp_name, c->flags, (mode_t)c->mode);
  if (fd < 0) {
    create_temp_fail(c, "open", c->tmp_name);
    close(dfd);
    return;
  }
  bool ok = statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS | STATX_BTIME, &sx) == 0;
  if (!ok) create_temp_fail(c, "fstat", c->tmp_name);
  if (ok && (sx.stx_mode & 07777) != (unsigned)c->mode) {
    // The process umask narrowed the mode.
    ok = fchmod(fd, (mode_t)c->mode) == 0;
    if (!ok) create_temp_fail(c, "fchmod", c->tmp_name);
    if (ok && !(ok = statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS | STATX_BTIME, &sx) == 0))
      create_temp_fail(c, "fstat", c->tmp_name);
  }
  if (!ok) {
    // No stray temp file and no descriptor left behind.
    close(fd);
    unlinkat(dfd, c->tmp_name, 0);
    close(dfd);
    return;
  }
  put_statx(c->out, 1, 0, &sx);
  c->result = fd;
  close(dfd);
}

static void create_temp_complete(napi_env env, napi_status status, void *arg) {
  create_temp_t *c = arg;
  napi_value v = NULL;
  if (status == napi_ok && c->err == 0 && napi_create_int32(env, c->result, &v) == napi_ok) {
    napi_resolve_deferred(env, c->deferred, v);
  } else {
    if (status == napi_ok && c->err == 0 && c->result >= 0) {
      // Made but cannot be answered: no stray temp file, no descriptor left behind.
      close(c->result);
      char *path = child_path(c->dir, c->tmp_name);
      if (path) unlink(path);
      free(path);
    }
    // The job never ran (status): nothing was opened.
    v = errno_error(env, c->err ? c->err : EIO, c->syscall ? c->syscall : "open",
                    c->err_path ? c->err_path : c->dir);
    if (!v) napi_get_undefined(env, &v);
    napi_reject_deferred(env, c->deferred, v);
  }
  napi_delete_async_work(env, c->work);
  create_temp_free(env, c);
}

// createTemp(dir, dev: bigint, ino: bigint, name, tmpName, flags, mode, out: ArrayBuffer of
// STAT_BATCH_BYTES) → Promise<number>: the new temp file's fd (its stat in out), CREATE_MOVED
// (the directory is not that dev/ino any more) or CREATE_EXISTS (name exists: its stat in out).
static napi_value js_create_temp(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  create_temp_t *c = calloc(1, sizeof *c);
  if (!c) return out_of_memory(env), NULL;
  bool lossless;
  bool ok = get_string(env, argv[0], "dir must be a string without NUL", &c->dir);
  if (ok && (napi_get_value_bigint_uint64(env, argv[1], &c->dev, &lossless) != napi_ok || !lossless ||
             napi_get_value_bigint_uint64(env, argv[2], &c->ino, &lossless) != napi_ok || !lossless))
    ok = invalid(env, "dev and ino must be unsigned 64-bit bigints");
  if (ok) ok = get_string(env, argv[3], "name must be a string without NUL", &c->name);
  if (ok) ok = get_string(env, argv[4], "tmpName must be a string without NUL", &c->tmp_name);
  if (ok) ok = get_int32(env, argv[5], "flags must be an integer", &c->flags);
  if (ok) ok = get_int32(env, argv[6], "mode must be an integer", &c->mode);
  if (ok && (c->mode & ~07777)) ok = invalid(env, "mode must be permission bits only");
  if (ok) {
    void *data;
    size_t len;
    if (napi_get_arraybuffer_info(env, argv[7], &data, &len) != napi_ok || len < STAT_BATCH_BYTES)
      ok = invalid(env, "out must be an ArrayBuffer of STAT_BATCH_BYTES bytes");
    else {
      c->out = data;
      ok = napi_create_reference(env, argv[7], 1, &c->out_ref) == napi_ok;
    }
  }
  // Always a new file that is never a controlling terminal nor inherited by a child.
  c->flags |= O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
  napi_value promise = ok ? queue_job(env, "createTemp", create_temp_execute, create_temp_complete, c,
                                      &c->work, &c->deferred)
                          : NULL;
  if (!promise) create_temp_free(env, c);
  return promise;
}

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref data_ref; // keeps the caller's buffer alive until the job is done
  int fd;
  const char *data;
  size_t len;
  int64_t offset;
  char *from, *to;
  bool no_replace;
  int err;
  const char *syscall;
} close_publish_t;

static void close_publish_free(napi_env env, close_publish_t *p) {
  if (p->data_ref) napi_delete_reference(env, p->data_ref);
  free(p->from);
  free(p->to);
  free(p);
}

static void close_publish_execute(napi_env env, void *arg) {
  (void)env;
  close_publish_t *p = arg;
  if (p->len > 0 && (p->err = pwrite_all(p->fd, p->data, p->len, (off_t)p->offset)) != 0) {
    // The descriptor stays open: a close whose write fails leaves the handle open.
    p->syscall = "pwrite";
    return;
  }
  // As a close in JS: its error is not the caller's (Linux frees the descriptor either way),
  // and nothing on this path needed the data on disk.
  close(p->fd);
  int r = p->no_replace ? renameat2(AT_FDCWD, p->from, AT_FDCWD, p->to, RENAME_NOREPLACE)
                        : rename(p->from, p->to);
  if (r != 0) p->err = errno, p->syscall = "rename";
}

static void close_publish_complete(napi_env env, napi_status status, void *arg) {
  close_publish_t *p = arg;
  // status != napi_ok: the job never ran, so the descriptor is still open ("pwrite": the
  // caller keeps it).
  settle_void(env, p->deferred, status, p->err, p->syscall ? p->syscall : "pwrite",
              p->syscall && strcmp(p->syscall, "rename") == 0 ? p->from : NULL);
  napi_delete_async_work(env, p->work);
  close_publish_free(env, p);
}

// closePublish(fd, data: Uint8Array | null, offset, from, to, noReplace) → Promise<void>.
static napi_value js_close_publish(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  close_publish_t *p = calloc(1, sizeof *p);
  if (!p) return out_of_memory(env), NULL;
  napi_valuetype type;
  bool ok = get_int32(env, argv[0], "fd must be an integer", &p->fd) &&
            get_int64(env, argv[2], "offset must be an integer", &p->offset);
  if (ok && p->offset < 0) ok = invalid(env, "offset must not be negative");
  if (ok && napi_typeof(env, argv[1], &type) == napi_ok && type != napi_null) {
    void *data;
    if (napi_get_typedarray_info(env, argv[1], NULL, &p->len, &data, NULL, NULL) != napi_ok)
      ok = invalid(env, "data must be a Uint8Array or null");
    else {
      p->data = data;
      ok = napi_create_reference(env, argv[1], 1, &p->data_ref) == napi_ok;
    }
  }
  if (ok) ok = get_string(env, argv[3], "from must be a string without NUL", &p->from);
  if (ok) ok = get_string(env, argv[4], "to must be a string without NUL", &p->to);
  if (ok && napi_get_value_bool(env, argv[5], &p->no_replace) != napi_ok)
    ok = invalid(env, "noReplace must be a boolean");
  napi_value promise = ok ? queue_job(env, "closePublish", close_publish_execute, close_publish_complete, p,
                                      &p->work, &p->deferred)
                          : NULL;
  if (!promise) close_publish_free(env, p);
  return promise;
}

static napi_value init(napi_env env, napi_value exports) {
  static const struct {
    const char *name;
    napi_callback fn;
  } fns[] = {
      {"lgetxattr", js_lgetxattr},       {"fgetxattr", js_fgetxattr},
      {"lsetxattr", js_lsetxattr},       {"fsetxattr", js_fsetxattr},
      {"llistxattr", js_llistxattr},     {"flistxattr", js_flistxattr},
      {"lremovexattr", js_lremovexattr}, {"fremovexattr", js_fremovexattr},
      {"ofdSetLock", js_ofd_setlk},      {"ofdGetLock", js_ofd_getlk},
      {"flock", js_flock},
      {"inotifyOpen", js_inotify_open},  {"inotifyAdd", js_inotify_add},
      {"inotifyRemove", js_inotify_remove}, {"inotifyClose", js_inotify_close},
      {"inotifyRef", js_inotify_ref},    {"statBatch", js_stat_batch},
      {"writeDirect", js_write_direct},  {"renameNoReplace", js_rename_noreplace},
      {"createTemp", js_create_temp},    {"closePublish", js_close_publish},
  };
  // The kernel's values, so the TS side can check its own copies against them.
#define K(c) {#c, c}
  static const struct {
    const char *name;
    uint32_t value;
  } consts[] = {
      K(XATTR_CREATE), K(XATTR_REPLACE), K(F_RDLCK), K(F_WRLCK), K(F_UNLCK), K(LOCK_SH), K(LOCK_EX), K(LOCK_UN),
      K(IN_ACCESS), K(IN_MODIFY), K(IN_ATTRIB), K(IN_CLOSE_WRITE), K(IN_MOVED_FROM),
      K(IN_MOVED_TO), K(IN_CREATE), K(IN_DELETE), K(IN_DELETE_SELF), K(IN_MOVE_SELF),
      K(IN_Q_OVERFLOW), K(IN_IGNORED), K(IN_ISDIR), K(IN_ONLYDIR), K(IN_DONT_FOLLOW),
      K(IN_EXCL_UNLINK), K(STAT_BATCH_BYTES),
  };
  napi_value v, constants;
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    CHECK(napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &v));
    CHECK(napi_set_named_property(env, exports, fns[i].name, v));
  }
  CHECK(napi_create_object(env, &constants));
  for (size_t i = 0; i < sizeof consts / sizeof consts[0]; i++) {
    CHECK(napi_create_uint32(env, consts[i].value, &v));
    CHECK(napi_set_named_property(env, constants, consts[i].name, v));
  }
  CHECK(napi_set_named_property(env, exports, "constants", constants));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
