// tessera_seal: AES-256-GCM sealing of whole messages, in place or into another buffer, with the
// OpenSSL that Node itself exports (its headers are on node-gyp's include path and its EVP
// symbols are resolved against the node binary at load time: no libcrypto of the system).
//
// Why not node:crypto: createCipheriv allocates a cipher object and copies every message; here
// one EVP context per key and direction is set up once, and each call only sets the nonce and
// runs the (VAES/AES-NI) cipher over the caller's memory.
//
// The JS surface is raw (an external key handle and Uint8Arrays); the typed API is
// src/protocol/aead.ts. Bad arguments throw a TypeError (not a Uint8Array, not a key) or a
// RangeError (a wrong length, overlapping buffers) whose message names the argument.

#define NAPI_VERSION 8 // napi_type_tag_object
#include <limits.h>
#include <stdarg.h>
#include <node_api.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_BYTES 32
#define NONCE_BYTES 12
#define TAG_BYTES 16

#define CHECK(call)                                                                                \
  do {                                                                                             \
    if ((call) != napi_ok) return NULL;                                                            \
  } while (0)

// Marks the externals made by aeadKey, so that no other external is taken for a key.
static const napi_type_tag KEY_TAG = {0x7465737365726131ULL, 0x6165616432353667ULL};

// The key lives only inside the two contexts' key schedules; OpenSSL's GCM context free
// cleanses them. `enc` is NULL once the key is destroyed.
typedef struct {
  EVP_CIPHER_CTX *enc;
  EVP_CIPHER_CTX *dec;
} aead_key;

// ---------------------------------------------------------------------------------------------
// Errors

static bool throw_fmt(napi_env env, bool range, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static bool throw_fmt(napi_env env, bool range, const char *code, const char *fmt, ...) {
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (range)
    napi_throw_range_error(env, code, msg);
  else
    napi_throw_type_error(env, code, msg);
  return false;
}

// An EVP call that should not fail did: drop OpenSSL's error queue so that nothing stale is left
// for node:crypto, and throw a plain Error.
static void throw_openssl(napi_env env, const char *fn, const char *call) {
  ERR_clear_error();
  char msg[128];
  snprintf(msg, sizeof msg, "%s: OpenSSL %s failed", fn, call);
  napi_throw_error(env, "ERR_CRYPTO_OPERATION_FAILED", msg);
}

// ---------------------------------------------------------------------------------------------
// Arguments

typedef struct {
  uint8_t *data; // may be NULL when len is 0
  size_t len;
} bytes;

static bool get_bytes(napi_env env, napi_value v, const char *fn, const char *what, bytes *out) {
  bool is_typed = false;
  napi_typedarray_type type;
  napi_value ab;
  size_t offset;
  void *data = NULL;
  if (napi_is_typedarray(env, v, &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, v, &type, &out->len, &data, &ab, &offset) != napi_ok ||
      type != napi_uint8_array) {
    return throw_fmt(env, false, "ERR_INVALID_ARG_TYPE", "%s: %s must be a Uint8Array", fn, what);
  }
  if (out->len > INT_MAX) {
    return throw_fmt(env, true, "ERR_OUT_OF_RANGE", "%s: %s is %zu bytes, more than the %d the cipher takes",
                     fn, what, out->len, INT_MAX);
  }
  out->data = data;
  return true;
}

static bool get_fixed(napi_env env, napi_value v, const char *fn, const char *what, size_t len, bytes *out) {
  if (!get_bytes(env, v, fn, what, out)) return false;
  if (out->len != len)
    return throw_fmt(env, true, "ERR_OUT_OF_RANGE", "%s: %s must be %zu bytes, got %zu", fn, what, len, out->len);
  return true;
}

static bool overlap(bytes a, bytes b) {
  if (a.len == 0 || b.len == 0) return false;
  uintptr_t a0 = (uintptr_t)a.data, b0 = (uintptr_t)b.data;
  return a0 < b0 + b.len && b0 < a0 + a.len;
}

// Any aeadKey external, destroyed or not.
static bool get_key_any(napi_env env, napi_value v, const char *fn, aead_key **out) {
  napi_valuetype t;
  bool tagged = false;
  void *p = NULL;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external ||
      napi_check_object_type_tag(env, v, &KEY_TAG, &tagged) != napi_ok || !tagged ||
      napi_get_value_external(env, v, &p) != napi_ok) {
    return throw_fmt(env, false, "ERR_INVALID_ARG_TYPE", "%s: key must be a key made by aeadKey", fn);
  }
  *out = p;
  return true;
}

static bool get_key(napi_env env, napi_value v, const char *fn, aead_key **out) {
  if (!get_key_any(env, v, fn, out)) return false;
  if (!(*out)->enc) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s: key was destroyed", fn);
    napi_throw_error(env, "ERR_INVALID_STATE", msg);
    return false;
  }
  return true;
}

// The arguments of aeadSeal and aeadOpen: (key, nonce, aad, src, dst, tag).
typedef struct {
  aead_key *key;
  bytes nonce, aad, src, dst, tag;
} call_args;

// Missing arguments arrive as undefined (napi_get_cb_info fills them in) and fail their check.
static bool get_call_args(napi_env env, napi_callback_info info, const char *fn, call_args *a) {
  size_t argc = 6;
  napi_value argv[6];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return false;
  if (!get_key(env, argv[0], fn, &a->key) || !get_fixed(env, argv[1], fn, "nonce", NONCE_BYTES, &a->nonce) ||
      !get_bytes(env, argv[2], fn, "aad", &a->aad) || !get_bytes(env, argv[3], fn, "src", &a->src) ||
      !get_bytes(env, argv[4], fn, "dst", &a->dst) || !get_fixed(env, argv[5], fn, "tag", TAG_BYTES, &a->tag)) {
    return false;
  }
  if (a->dst.len < a->src.len) {
    return throw_fmt(env, true, "ERR_OUT_OF_RANGE", "%s: dst is %zu bytes, shorter than src (%zu)", fn,
                     a->dst.len, a->src.len);
  }
  a->dst.len = a->src.len; // only that much is written
  // The cipher streams src into dst front to back: the very same memory is fine, a shifted
  // view of it would overwrite input before it is read.
  if (a->src.data != a->dst.data && overlap(a->src, a->dst))
    return throw_fmt(env, true, "ERR_INVALID_ARG_VALUE", "%s: src and dst partly overlap", fn);
  return true;
}

// ---------------------------------------------------------------------------------------------
// Keys

static void key_free_contexts(aead_key *k) {
  EVP_CIPHER_CTX_free(k->enc); // each cleanses its key schedule
  EVP_CIPHER_CTX_free(k->dec);
  k->enc = k->dec = NULL;
}

static void key_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  key_free_contexts(data);
  free(data);
}

static napi_value js_aead_key(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  bytes key;
  if (!get_fixed(env, argv[0], "aeadKey", "key", KEY_BYTES, &key)) return NULL;
  aead_key *k = calloc(1, sizeof *k);
  if (!k) {
    napi_throw_error(env, "ENOMEM", "aeadKey: out of memory");
    return NULL;
  }
  // Each direction keeps its own context with the key schedule expanded once; a call then only
  // sets the nonce (EVP_*Init_ex with NULL cipher and key keeps the schedule).
  k->enc = EVP_CIPHER_CTX_new();
  k->dec = EVP_CIPHER_CTX_new();
  if (!k->enc || !k->dec || EVP_EncryptInit_ex(k->enc, EVP_aes_256_gcm(), NULL, key.data, NULL) != 1 ||
      EVP_DecryptInit_ex(k->dec, EVP_aes_256_gcm(), NULL, key.data, NULL) != 1) {
    key_free_contexts(k);
    free(k);
    throw_openssl(env, "aeadKey", "EVP_CipherInit_ex");
    return NULL;
  }
  napi_value external;
  if (napi_create_external(env, k, key_finalize, NULL, &external) != napi_ok) {
    key_finalize(env, k, NULL);
    return NULL;
  }
  CHECK(napi_type_tag_object(env, external, &KEY_TAG));
  return external;
}

// Wipes the key now rather than at garbage collection; later calls with it throw. Idempotent.
static napi_value js_aead_key_destroy(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  aead_key *k;
  if (get_key_any(env, argv[0], "aeadKeyDestroy", &k)) key_free_contexts(k);
  return NULL;
}

// ---------------------------------------------------------------------------------------------
// Seal and open

// The nonce, the AAD and the bytes through `c`, either direction (EVP_Cipher* follow the
// context's); NULL, or the call that failed.
static const char *gcm_run(EVP_CIPHER_CTX *c, const call_args *a) {
  int outl;
  if (EVP_CipherInit_ex(c, NULL, NULL, NULL, a->nonce.data, -1) != 1) return "EVP_CipherInit_ex";
  if (a->aad.len > 0 && EVP_CipherUpdate(c, NULL, &outl, a->aad.data, (int)a->aad.len) != 1)
    return "EVP_CipherUpdate (aad)";
  if (a->src.len > 0 && EVP_CipherUpdate(c, a->dst.data, &outl, a->src.data, (int)a->src.len) != 1)
    return "EVP_CipherUpdate";
  return NULL;
}

static napi_value js_aead_seal(napi_env env, napi_callback_info info) {
  call_args a;
  if (!get_call_args(env, info, "aeadSeal", &a)) return NULL;
  // The tag is written last: over the ciphertext it would corrupt it without a word.
  if (overlap(a.tag, a.dst)) {
    throw_fmt(env, true, "ERR_INVALID_ARG_VALUE", "aeadSeal: tag overlaps dst");
    return NULL;
  }
  EVP_CIPHER_CTX *c = a.key->enc;
  uint8_t none[1];
  int outl;
  const char *failed = gcm_run(c, &a);
  if (!failed && EVP_EncryptFinal_ex(c, none, &outl) != 1) // GCM writes nothing here
    failed = "EVP_EncryptFinal_ex";
  else if (!failed && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_BYTES, a.tag.data) != 1)
    failed = "EVP_CTRL_GCM_GET_TAG";
  if (failed) throw_openssl(env, "aeadSeal", failed);
  return NULL;
}

static napi_value js_aead_open(napi_env env, napi_callback_info info) {
  call_args a;
  if (!get_call_args(env, info, "aeadOpen", &a)) return NULL;
  // Copied first, so that a tag lying inside dst is read before the plaintext overwrites it.
  uint8_t tag[TAG_BYTES], none[1];
  memcpy(tag, a.tag.data, TAG_BYTES);
  EVP_CIPHER_CTX *c = a.key->dec;
  int outl;
  bool ok = false;
  const char *failed = gcm_run(c, &a);
  if (!failed && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_BYTES, tag) != 1)
    failed = "EVP_CTRL_GCM_SET_TAG";
  else if (!failed)
    ok = EVP_DecryptFinal_ex(c, none, &outl) == 1;
  // Unauthenticated plaintext never leaves this function.
  if (!ok) {
    if (a.dst.len > 0) OPENSSL_cleanse(a.dst.data, a.dst.len);
    ERR_clear_error();
  }
  if (failed) {
    throw_openssl(env, "aeadOpen", failed);
    return NULL;
  }
  napi_value result;
  CHECK(napi_get_boolean(env, ok, &result));
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  static const struct {
    const char *name;
    napi_callback fn;
  } fns[] = {
      {"aeadKey", js_aead_key},
      {"aeadKeyDestroy", js_aead_key_destroy},
      {"aeadSeal", js_aead_seal},
      {"aeadOpen", js_aead_open},
  };
  napi_value v;
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    CHECK(napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &v));
    CHECK(napi_set_named_property(env, exports, fns[i].name, v));
  }
  const struct {
    const char *name;
    uint32_t value;
  } consts[] = {{"KEY_BYTES", KEY_BYTES}, {"NONCE_BYTES", NONCE_BYTES}, {"TAG_BYTES", TAG_BYTES}};
  for (size_t i = 0; i < sizeof consts / sizeof consts[0]; i++) {
    CHECK(napi_create_uint32(env, consts[i].value, &v));
    CHECK(napi_set_named_property(env, exports, consts[i].name, v));
  }
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
