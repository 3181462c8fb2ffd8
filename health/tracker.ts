/**
 * Rise/fall hysteresis of one node (HAProxy's habit): `fall` consecutive failures to go down,
 * `rise` consecutive successes to come back. The very first result sets the state at once, so
 * a prober that starts (or restarts) reports within one interval instead of rise intervals.
 */
export class RiseFall {
  private state: boolean | undefined;
  private streak = 0;

  constructor(private readonly rise: number, private readonly fall: number) {}

  get up(): boolean | undefined {
    return this.state;
  }

  /** Records one result; true when the state changed (including the first result). */
  record(ok: boolean): boolean {
    if (this.state === undefined) {
      this.state = ok;
      this.streak = 0;
      return true;
    }
    if (ok === this.state) {
      this.streak = 0;
      return false;
    }
    this.streak++;
    if (this.streak >= (ok ? this.rise : this.fall)) {
      this.state = ok;
      this.streak = 0;
      return true;
    }
    return false;
  }
}
