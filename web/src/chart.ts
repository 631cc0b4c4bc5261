// A candlestick chart in SVG: candles, two SMAs, Bollinger bands and signal markers.

import { h, svg } from "./dom";
import { bollinger, sma } from "./indicators";
import type { Candle, Signal } from "./types";

const WIDTH = 900;
const HEIGHT = 380;
const PAD = { top: 16, right: 64, bottom: 28, left: 28 };

export interface ChartOptions {
  symbol: string;
  intervalSeconds: number;
  smaShort: number;
  smaLong: number;
  bbPeriod: number;
  bbStddev: number;
}

function path(points: [number, number][]): string {
  return points.map(([x, y], i) => `${i ? "L" : "M"}${x.toFixed(1)},${y.toFixed(1)}`).join("");
}

function niceTicks(low: number, high: number, count: number): number[] {
  const span = high - low || 1;
  const step0 = span / count;
  const magnitude = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= step0) ?? step0;
  const ticks = [];
  for (let v = Math.ceil(low / step) * step; v <= high; v += step) ticks.push(v);
  return ticks;
}

export function candleChart(candles: Candle[], signals: Signal[], options: ChartOptions): Element {
  const closes = candles.map((c) => c.close);
  const short = sma(closes, options.smaShort);
  const long = sma(closes, options.smaLong);
  const bands = bollinger(closes, options.bbPeriod, options.bbStddev);
  const last = candles.at(-1);
  const label = last
    ? `${options.symbol} price chart: ${candles.length} candles, last close ${last.close.toFixed(2)}, ${signals.length} signals shown`
    : `${options.symbol}: no candles in this range`;
  const root = svg("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", "aria-label": label, class: "chart", "data-candles": candles.length, "data-signals": 0 });
  root.append(svg("title", {}, document.createTextNode(label)));
  if (!candles.length) {
    const text = svg("text", { x: WIDTH / 2, y: HEIGHT / 2, "text-anchor": "middle", class: "chart-empty" });
    text.textContent = "No ticks in this range yet";
    root.append(text);
    return root;
  }

  const values = candles.flatMap((c) => [c.high, c.low]);
  bands.forEach((b) => b.upper !== null && b.lower !== null && values.push(b.upper, b.lower));
  let low = Math.min(...values);
  let high = Math.max(...values);
  const margin = (high - low || high * 0.01 || 1) * 0.06;
  low -= margin;
  high += margin;
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const step = plotW / Math.max(candles.length, 1);
  const x = (i: number) => PAD.left + step * (i + 0.5);
  const y = (v: number) => PAD.top + (1 - (v - low) / (high - low)) * plotH;

  const grid = svg("g", { class: "grid" });
  for (const tick of niceTicks(low, high, 5)) {
    grid.append(svg("line", { x1: PAD.left, x2: WIDTH - PAD.right, y1: y(tick), y2: y(tick) }));
    const text = svg("text", { x: WIDTH - PAD.right + 6, y: y(tick) + 4 });
    text.textContent = tick.toFixed(tick < 10 ? 2 : 1);
    grid.append(text);
  }
  const labelEvery = Math.max(1, Math.ceil(candles.length / 6));
  candles.forEach((candle, i) => {
    if (i % labelEvery) return;
    const text = svg("text", { x: x(i), y: HEIGHT - 8, "text-anchor": "middle" });
    text.textContent = new Date(candle.start).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
    grid.append(text);
  });
  root.append(grid);

  const upper = bands.flatMap((b, i) => (b.upper === null ? [] : [[x(i), y(b.upper)] as [number, number]]));
  const lower = bands.flatMap((b, i) => (b.lower === null ? [] : [[x(i), y(b.lower)] as [number, number]]));
  if (upper.length > 1) {
    root.append(svg("path", { d: `${path(upper)}${path([...lower].reverse()).replace(/^M/, "L")}Z`, class: "band" }));
    root.append(svg("path", { d: path(upper), class: "band-edge" }), svg("path", { d: path(lower), class: "band-edge" }));
  }

  const body = Math.max(1, Math.min(step * 0.7, 14));
  const candlesGroup = svg("g", { class: "candles" });
  candles.forEach((c, i) => {
    const rising = c.close >= c.open;
    const top = y(Math.max(c.open, c.close));
    const bottom = y(Math.min(c.open, c.close));
    candlesGroup.append(svg("g", { class: rising ? "up" : "down" },
      svg("line", { x1: x(i), x2: x(i), y1: y(c.high), y2: y(c.low) }),
      svg("rect", { x: x(i) - body / 2, y: top, width: body, height: Math.max(bottom - top, 1) })));
  });
  root.append(candlesGroup);

  for (const [series, cls] of [[short, "sma-short"], [long, "sma-long"]] as const) {
    const points = series.flatMap((v, i) => (v === null ? [] : [[x(i), y(v)] as [number, number]]));
    if (points.length > 1) root.append(svg("path", { d: path(points), class: cls }));
  }

  const markers = svg("g", { class: "signals" });
  const seconds = options.intervalSeconds * 1000;
  let shown = 0;
  for (const signal of signals) {
    const at = Date.parse(signal.at);
    const i = candles.findIndex((c) => at >= Date.parse(c.start) && at < Date.parse(c.start) + seconds);
    if (i < 0) continue;
    shown += 1;
    const cx = x(i);
    const cy = y(signal.price);
    const d = signal.direction === "up"
      ? `M${cx},${cy + 6}l-7,12h14z`
      : `M${cx},${cy - 6}l-7,-12h14z`;
    const marker = svg("path", { d, class: `signal ${signal.direction}` });
    marker.append(svg("title", {}, document.createTextNode(signal.message)));
    markers.append(marker);
  }
  root.append(markers);
  root.setAttribute("data-signals", String(shown));
  return root;
}

export function chartLegend(options: ChartOptions): HTMLElement {
  return h("ul", { className: "legend", "aria-label": "Legend" },
    h("li", { className: "sma-short" }, `SMA ${options.smaShort}`),
    h("li", { className: "sma-long" }, `SMA ${options.smaLong}`),
    h("li", { className: "band" }, `Bollinger ${options.bbPeriod}, ${options.bbStddev}σ`),
    h("li", { className: "signal-up" }, "▲ golden cross"),
    h("li", { className: "signal-down" }, "▼ death cross"));
}

// --- insights: a time series (area and line) --------------------------------------------------

export interface SeriesPoint {
  bucket: string;
  value: number;
}

export interface SeriesOptions {
  metric: string;
  interval: "hour" | "day";
  timeZone?: string;
}

const SERIES_HEIGHT = 260;
const SERIES_PAD = { top: 14, right: 56, bottom: 28, left: 16 };

function bucketLabel(bucket: string, interval: "hour" | "day", timeZone?: string): string {
  const date = new Date(bucket);
  if (Number.isNaN(date.getTime())) return bucket;
  return interval === "hour"
    ? date.toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", timeZone })
    : date.toLocaleDateString(undefined, { month: "short", day: "numeric", timeZone });
}

/** One metric over time: an area under a line, a dot per bucket (its value in a tooltip).
 *  Draws at most a few thousand points (60 days by hour), in one path. */
export function timeSeriesChart(points: SeriesPoint[], options: SeriesOptions): SVGElement {
  const total = points.reduce((sum, p) => sum + p.value, 0);
  const label = points.length
    ? `${options.metric} per ${options.interval}: ${points.length} points, ${total.toLocaleString()} in total, at most ${Math.max(...points.map((p) => p.value)).toLocaleString()}`
    : `${options.metric}: no data in this range`;
  const root = svg("svg", { viewBox: `0 0 ${WIDTH} ${SERIES_HEIGHT}`, role: "img", "aria-label": label, class: "chart series", "data-points": points.length, "data-total": total });
  root.append(svg("title", {}, document.createTextNode(label)));
  if (!points.length) {
    const text = svg("text", { x: WIDTH / 2, y: SERIES_HEIGHT / 2, "text-anchor": "middle", class: "chart-empty" });
    text.textContent = "No events in this range yet";
    root.append(text);
    return root;
  }
  const high = Math.max(1, ...points.map((p) => p.value)) * 1.08;
  const plotW = WIDTH - SERIES_PAD.left - SERIES_PAD.right;
  const plotH = SERIES_HEIGHT - SERIES_PAD.top - SERIES_PAD.bottom;
  const step = points.length > 1 ? plotW / (points.length - 1) : 0;
  const x = (i: number) => SERIES_PAD.left + (points.length > 1 ? step * i : plotW / 2);
  const y = (v: number) => SERIES_PAD.top + (1 - v / high) * plotH;

  const grid = svg("g", { class: "grid" });
  for (const tick of niceTicks(0, high, 4)) {
    grid.append(svg("line", { x1: SERIES_PAD.left, x2: WIDTH - SERIES_PAD.right, y1: y(tick), y2: y(tick) }));
    const text = svg("text", { x: WIDTH - SERIES_PAD.right + 6, y: y(tick) + 4 });
    text.textContent = tick >= 10_000 ? `${Math.round(tick / 1000)}k` : String(Math.round(tick * 100) / 100);
    grid.append(text);
  }
  const labelEvery = Math.max(1, Math.ceil(points.length / 7));
  points.forEach((point, i) => {
    if (i % labelEvery) return;
    const text = svg("text", { x: x(i), y: SERIES_HEIGHT - 8, "text-anchor": "middle" });
    text.textContent = bucketLabel(point.bucket, options.interval, options.timeZone);
    grid.append(text);
  });
  root.append(grid);

  const line: [number, number][] = points.map((p, i) => [x(i), y(p.value)]);
  const baseline = y(0);
  root.append(svg("path", { d: `${path(line)}L${x(points.length - 1).toFixed(1)},${baseline}L${x(0).toFixed(1)},${baseline}Z`, class: "area" }));
  root.append(svg("path", { d: path(line), class: "line" }));
  // A hover target per point only while they stay readable; the line carries the rest.
  if (points.length <= 400) {
    const dots = svg("g", { class: "dots" });
    points.forEach((p, i) => {
      const dot = svg("circle", { cx: x(i), cy: y(p.value), r: points.length > 90 ? 1.5 : 3 });
      dot.append(svg("title", {}, document.createTextNode(`${bucketLabel(p.bucket, options.interval, options.timeZone)}: ${p.value.toLocaleString()}`)));
      dots.append(dot);
    });
    root.append(dots);
  }
  return root;
}
