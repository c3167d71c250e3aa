// Types for the parts of benchmark.js (2.1.4, CommonJS, no bundled types) that the bench uses.
declare module 'benchmark' {
  namespace Benchmark {
    interface Options {
      /** Seconds a benchmark may run for (benchmark.js default 5). */
      maxTime?: number;
      /** Seconds each sample must run for at least. */
      minTime?: number;
      /** Samples to take at least (default 5). */
      minSamples?: number;
      initCount?: number;
      async?: boolean;
      defer?: boolean;
      delay?: number;
    }
    interface Stats {
      /** Seconds per operation. */
      mean: number;
      deviation: number;
      moe: number;
      /** Relative margin of error, percent. */
      rme: number;
      sem: number;
      variance: number;
      /** Seconds per operation, one entry per sample. */
      sample: number[];
    }
  }
  class Benchmark {
    constructor(name: string, fn: () => void, options?: Benchmark.Options);
    static readonly version: string;
    readonly name: string;
    /** Operations per second. */
    readonly hz: number;
    readonly stats: Benchmark.Stats;
    readonly count: number;
    readonly cycles: number;
    readonly aborted: boolean;
    readonly error?: unknown;
    run(options?: { async?: boolean }): Benchmark;
  }
  export = Benchmark;
}
