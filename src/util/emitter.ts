// One typed event stream: events are a discriminated union on `type`; listeners take every event
// or those of one type. A listener that throws is reported and does not stop the others, nor the
// work that emitted the event.

type Listener<E> = (event: E) => void;

export class Emitter<E extends { type: string }> {
  private readonly listeners = new Set<Listener<E>>();

  /** Every event; returns the function that unsubscribes. */
  on(listener: Listener<E>): () => void;
  /** Events of one type. */
  on<T extends E['type']>(type: T, listener: Listener<Extract<E, { type: T }>>): () => void;
  on(typeOrListener: string | Listener<E>, maybeListener?: Listener<never>): () => void {
    const listener: Listener<E> =
      typeof typeOrListener === 'function'
        ? typeOrListener
        : (e) => {
            if (e.type === typeOrListener) (maybeListener as Listener<E>)(e);
          };
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(event: E): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(event);
      } catch (e) {
        console.error(`a listener of "${event.type}" events failed:`, e);
      }
    }
  }
}
