/**
 * AES-256-GCM sealing of whole messages, for the sealed data channel: a typed wrapper over the
 * `tessera_seal` N-API addon (`native/tessera_seal.c`), which runs the OpenSSL built into Node
 * over the caller's own memory (in place if asked), with one cipher context per key and
 * direction set up once. Per call that is a fraction of a microsecond plus ~0.2 ms per MiB,
 * where `node:crypto` allocates a cipher and copies every message.
 *
 * Loading never throws: {@link aeadAvailable} says whether the addon is there (it is built by
 * `npm ci` on Linux only) and {@link aeadLoadError} why not.
 *
 * @module
 */
import { FsError } from '../core/fs-error.ts';
import { loadAddon } from '../core/native-addon.ts';

/** AES-256 key length in bytes. */
export const AEAD_KEY_BYTES = 32;
/** GCM nonce (IV) length in bytes: the 96-bit nonce GCM is defined for. */
export const AEAD_NONCE_BYTES = 12;
/** Authentication tag length in bytes (never truncated). */
export const AEAD_TAG_BYTES = 16;

declare const keyHandleBrand: unique symbol;
type KeyHandle = { readonly [keyHandleBrand]: true };

/** aeadSeal and aeadOpen take the same arguments, in this order. */
type SealCall<R> = (
  key: KeyHandle,
  nonce: Uint8Array,
  aad: Uint8Array,
  src: Uint8Array,
  dst: Uint8Array,
  tag: Uint8Array,
) => R;

/** The raw addon surface; see `native/tessera_seal.c`. */
interface SealBinding {
  aeadKey(key: Uint8Array): KeyHandle;
  aeadKeyDestroy(key: KeyHandle): void;
  aeadSeal: SealCall<void>;
  aeadOpen: SealCall<boolean>;
}

const loaded = loadAddon({ name: 'tessera_seal' });
const native = loaded.exports as SealBinding | undefined;

/** Whether the addon loaded. `false` (never a throw) on non-Linux or when it was not built. */
export const aeadAvailable: boolean = native !== undefined;
/** Why the addon did not load; `undefined` when it did. */
export const aeadLoadError: Error | undefined = loaded.error;

const NO_AAD = new Uint8Array(0);

/**
 * The buffers of one {@link AeadKey.seal} or {@link AeadKey.open}. Every one is a `Uint8Array`
 * (a `Buffer` is one); each is read or written where it lies, nothing is copied.
 */
export interface AeadMessage {
  /** 12 bytes. Must never repeat under one key (see {@link AeadKey}). */
  nonce: Uint8Array;
  /** Authenticated, not encrypted (a header, a sequence number…). Empty when omitted. */
  aad?: Uint8Array;
  /** The plaintext to seal, or the ciphertext to open. At most 2^31 - 1 bytes. */
  src: Uint8Array;
  /**
   * Receives as many bytes as `src` has; the rest of it is left alone. It may be the very same
   * memory as `src` (in place); a view that overlaps `src` at another offset throws.
   */
  dst: Uint8Array;
  /** 16 bytes: written by seal (it must not overlap `dst`), checked by open. */
  tag: Uint8Array;
}

/**
 * An AES-256-GCM key, ready to seal and open messages synchronously on the calling thread.
 *
 * Guarantees: {@link AeadKey.seal} output opens with any standard AES-256-GCM implementation
 * (`node:crypto`'s `aes-256-gcm` with the same key, nonce, AAD and 16-byte tag) and the other way
 * round; {@link AeadKey.open} returns `true` only when key, nonce, AAD, ciphertext and tag all
 * match, and on `false` the `src.length` bytes of `dst` are zeroed, so unauthenticated plaintext
 * never reaches the caller (in place, that wipes the ciphertext too).
 *
 * Not guaranteed, the caller's job: **a nonce must never be used twice under one key** (GCM
 * then leaks the XOR of the plaintexts and lets the authentication key be recovered); a counter
 * per key and direction does it. Replays and reordering are not detected here either.
 *
 * The addon keeps no copy of the raw key, only the cipher's expanded key schedule, which is
 * wiped by {@link AeadKey.close} or else when the key is garbage-collected; the caller may wipe
 * its own key bytes once {@link AeadKey.create} returns.
 *
 * Bad arguments throw a `TypeError` (not a `Uint8Array`) or `RangeError` (a wrong length, `dst`
 * shorter than `src`, overlapping buffers) whose message names the argument; any use after
 * {@link AeadKey.close} throws an `Error` with code `ERR_INVALID_STATE`.
 */
export class AeadKey {
  readonly #binding: SealBinding;
  readonly #handle: KeyHandle;
  #closed = false;

  private constructor(binding: SealBinding, handle: KeyHandle) {
    this.#binding = binding;
    this.#handle = handle;
  }

  /**
   * Sets up `key` (32 bytes). Throws `FsError` ENOSYS when the addon is not available (see
   * {@link aeadAvailable}).
   */
  static create(opts: { key: Uint8Array }): AeadKey {
    if (!native) {
      throw FsError.ENOSYS(
        'aead',
        undefined,
        `the tessera_seal addon is not loaded: ${aeadLoadError?.message}`,
      );
    }
    return new AeadKey(native, native.aeadKey(opts.key));
  }

  /** Encrypts `src` into `dst` and writes the authentication tag into `tag`. */
  seal(msg: AeadMessage): void {
    this.#binding.aeadSeal(this.#handle, msg.nonce, msg.aad ?? NO_AAD, msg.src, msg.dst, msg.tag);
  }

  /**
   * Decrypts `src` into `dst` and checks the tag: `true` when authentic, `false` (with `dst`
   * zeroed) when anything was altered or does not match.
   */
  open(msg: AeadMessage): boolean {
    return this.#binding.aeadOpen(this.#handle, msg.nonce, msg.aad ?? NO_AAD, msg.src, msg.dst, msg.tag);
  }

  /** Whether {@link AeadKey.close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Wipes the key schedule now; later seal/open throw. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#binding.aeadKeyDestroy(this.#handle);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }
}
