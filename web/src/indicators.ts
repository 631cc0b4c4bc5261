// Moving averages and Bollinger bands over candle closes, for the chart's overlays. The trend
// service computes the same indicators over every tick; the chart draws them per candle.

/** Simple moving average; null until `period` values are in (TA-Lib's convention). */
export function sma(values: number[], period: number): (number | null)[] {
  const out: (number | null)[] = [];
  let sum = 0;
  values.forEach((value, i) => {
    sum += value;
    if (i >= period) sum -= values[i - period];
    out.push(i >= period - 1 ? sum / period : null);
  });
  return out;
}

export interface Band {
  upper: number | null;
  middle: number | null;
  lower: number | null;
}

/** Bollinger bands: SMA ± k population standard deviations. */
export function bollinger(values: number[], period: number, k: number): Band[] {
  const middle = sma(values, period);
  return values.map((_, i) => {
    const mean = middle[i];
    if (mean === null) return { upper: null, middle: null, lower: null };
    let squares = 0;
    for (let j = i - period + 1; j <= i; j += 1) squares += (values[j] - mean) ** 2;
    const deviation = Math.sqrt(squares / period) * k;
    return { upper: mean + deviation, middle: mean, lower: mean - deviation };
  });
}

/** The periods the trend service is configured with, read from its indicator names. */
export function smaPeriods(indicators: Record<string, unknown>): [number, number] {
  const periods = Object.keys(indicators)
    .map((name) => /^sma_(\d+)$/.exec(name)?.[1])
    .filter((p): p is string => !!p)
    .map(Number)
    .sort((a, b) => a - b);
  return periods.length >= 2 ? [periods[0], periods[periods.length - 1]] : [5, 20];
}
