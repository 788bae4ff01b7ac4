import type { Invalidation, InvalidationListener } from './source.ts';

/** Fan-out of invalidations to `watch` subscribers; a throwing listener never stops the rest. */
export class WatchHub {
  readonly #listeners = new Set<InvalidationListener>();

  /** Subscribe; returns the unsubscribe function. */
  add(listener: InvalidationListener): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /** Whether anyone listens (so sources can skip scanning when nobody does). */
  get active(): boolean {
    return this.#listeners.size > 0;
  }

  emit(event: Invalidation): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch {
        // A subscriber's failure is its own; the others still hear about the change.
      }
    }
  }

  clear(): void {
    this.#listeners.clear();
  }
}
