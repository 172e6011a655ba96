/**
 * How refusal events are sampled under a flood (D371): at most one event a minute per key and `perMinute` a minute
 * in all, counted in this process. A refusal that is not taken writes nothing, so a flood costs a map lookup per
 * request, never a write. Each kind of refusal keeps its own sampler, so a flood of one cannot silence another.
 */
export class RefusalSampler {
  private readonly seen = new Set<string>();
  private minute = 0;
  private count = 0;

  constructor(private readonly perMinute = 60) {}

  /** Whether this refusal is to be written: the first of its key this minute, and the minute's budget not spent. */
  take(key: string, now: number): boolean {
    const m = Math.floor(now / 60000);
    if (m !== this.minute) {
      this.minute = m;
      this.count = 0;
      this.seen.clear();
    }
    if (this.count >= this.perMinute || this.seen.has(key)) return false;
    this.seen.add(key);
    this.count++;
    return true;
  }
}
