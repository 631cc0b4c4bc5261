import { ApiError, get, query } from "../api";
import { candleChart, chartLegend, type ChartOptions } from "../chart";
import { formatDateTime, h } from "../dom";
import { smaPeriods } from "../indicators";
import type { RouteContext } from "../router";
import type { CandleSeries, Page, Signal, SymbolSummary, TrendPublic, TrendSummary } from "../types";

const POLL_MS = 5000;
// Range shown -> candle width, so a chart has at most a few hundred candles.
const RANGES: { key: string; label: string; hours: number; interval: string; seconds: number }[] = [
  { key: "1h", label: "Last hour (1-minute candles)", hours: 1, interval: "1m", seconds: 60 },
  { key: "6h", label: "Last 6 hours (5-minute candles)", hours: 6, interval: "5m", seconds: 300 },
  { key: "24h", label: "Last day (15-minute candles)", hours: 24, interval: "15m", seconds: 900 },
  { key: "7d", label: "Last week (1-hour candles)", hours: 168, interval: "1h", seconds: 3600 },
];

function trendBadge(trend: string): HTMLElement {
  const text = { up: "▲ up", down: "▼ down", flat: "■ flat" }[trend] ?? trend;
  return h("span", { className: `badge trend-${trend}` }, text);
}

/** Poll `tick` every few seconds while the tab is visible; returns the stopper. */
function poll(tick: () => Promise<void>): () => void {
  let timer: number | undefined;
  let stopped = false;
  const loop = async () => {
    if (stopped) return;
    if (!document.hidden) await tick().catch(() => undefined);
    if (!stopped) timer = window.setTimeout(loop, POLL_MS);
  };
  timer = window.setTimeout(loop, POLL_MS);
  return () => {
    stopped = true;
    window.clearTimeout(timer);
  };
}

export async function stockListPage({ main, signal }: RouteContext): Promise<() => void> {
  const body = h("tbody", {});
  const status = h("p", { className: "status", role: "status" });
  main.append(
    h("h1", {}, "Stocks"),
    h("p", { className: "hint" }, "Symbols the platform has received ticks for, with the trend of their moving averages. Updates live."),
    status,
    h("div", { className: "table-wrap" },
      h("table", { id: "symbols" },
        h("caption", { className: "visually-hidden" }, "Symbols and their trends"),
        h("thead", {}, h("tr", {},
          h("th", { scope: "col" }, "Symbol"), h("th", { scope: "col" }, "Trend"), h("th", { scope: "col" }, "Price"),
          h("th", { scope: "col" }, "Ticks"), h("th", { scope: "col" }, "Last tick"))),
        body)),
  );
  async function refresh(): Promise<void> {
    const [trends, symbols] = await Promise.all([
      get<{ items: TrendSummary[] }>("/trends", signal),
      get<{ items: SymbolSummary[] }>("/stocks/symbols", signal),
    ]);
    const bySymbol = new Map(trends.items.map((t) => [t.symbol, t]));
    const names = [...new Set([...symbols.items.map((s) => s.symbol), ...bySymbol.keys()])].sort();
    const ticks = new Map(symbols.items.map((s) => [s.symbol, s]));
    body.replaceChildren(...names.map((name) => {
      const trend = bySymbol.get(name);
      const summary = ticks.get(name);
      return h("tr", {},
        h("th", { scope: "row" }, h("a", { href: `#/stocks/${encodeURIComponent(name)}` }, name)),
        h("td", {}, trend ? trendBadge(trend.trend) : "—"),
        h("td", { className: "num" }, trend?.price?.toFixed(2) ?? "—"),
        h("td", { className: "num" }, String(summary?.tick_count ?? trend?.ticks_seen ?? 0)),
        h("td", {}, summary ? formatDateTime(summary.last_tick_at) : "—"));
    }));
    status.textContent = names.length
      ? `${names.length} symbol${names.length === 1 ? "" : "s"}.`
      : "No ticks yet. Send some: .venv/bin/regatta produce --symbols AAPL,MSFT";
  }
  await refresh();
  return poll(refresh);
}

export async function stockPage({ main, params, query: search, signal }: RouteContext): Promise<() => void> {
  const symbol = params.symbol.toUpperCase();
  const range = RANGES.find((r) => r.key === search.get("range")) ?? RANGES[0];
  const select = h("select", { id: "stock-range" },
    RANGES.map((r) => h("option", { value: r.key, selected: r.key === range.key }, r.label)));
  select.addEventListener("change", () => {
    location.hash = `/stocks/${encodeURIComponent(symbol)}?range=${select.value}`;
  });
  const chartBox = h("figure", { className: "chart-box", id: "chart" });
  const indicatorList = h("dl", { className: "indicators", id: "indicators" });
  const signalList = h("ol", { className: "rows", id: "signals" });
  const live = h("p", { className: "status", role: "status", id: "stock-live" }, "Loading…");
  const headline = h("p", { className: "lead", id: "stock-headline" });

  main.append(
    h("p", { className: "crumbs" }, h("a", { href: "#/stocks" }, "← All symbols")),
    h("div", { className: "page-head" }, h("h1", {}, symbol),
      h("div", { className: "field inline" }, h("label", { for: "stock-range" }, "Range"), select)),
    headline,
    chartBox,
    live,
    h("div", { className: "columns" },
      h("section", { "aria-labelledby": "indicators-heading" },
        h("h2", { id: "indicators-heading" }, "Indicators at the last tick"), indicatorList),
      h("section", { "aria-labelledby": "signals-heading" },
        h("h2", { id: "signals-heading" }, "Recent signals"), signalList)),
  );

  let last: SymbolSummary | undefined;
  async function refresh(): Promise<void> {
    const [symbols, trends] = await Promise.all([
      get<{ items: SymbolSummary[] }>("/stocks/symbols", signal),
      get<{ items: TrendSummary[] }>("/trends", signal),
    ]);
    last = symbols.items.find((s) => s.symbol === symbol) ?? last;
    // Asked only once the trend service knows the symbol, so a fresh symbol is no 404.
    let trend: TrendPublic | null = null;
    if (trends.items.some((t) => t.symbol === symbol)) {
      try {
        trend = await get<TrendPublic>(`/trends/${encodeURIComponent(symbol)}`, signal);
      } catch (error) {
        if (!(error instanceof ApiError && error.status === 404)) throw error;
      }
    }
    const signals = trend
      ? (await get<Page<Signal>>(`/trends/${encodeURIComponent(symbol)}/signals?limit=50`, signal)).items
      : [];
    // Live: the window ends now; for a symbol whose ticks stopped earlier, at its last tick.
    const lastTick = last ? Date.parse(last.last_tick_at) : Date.now();
    const end = Math.min(Date.now(), lastTick + range.seconds * 1000) + 1000;
    const start = end - range.hours * 3600_000;
    const series = await get<CandleSeries>(
      `/stocks/${encodeURIComponent(symbol)}/candles${query({ interval: range.interval, from: new Date(start).toISOString(), to: new Date(end).toISOString() })}`,
      signal);
    const indicators = trend?.indicators ?? {};
    const [smaShort, smaLong] = smaPeriods(indicators);
    const options: ChartOptions = { symbol, intervalSeconds: range.seconds, smaShort, smaLong, bbPeriod: 20, bbStddev: 2 };
    chartBox.replaceChildren(candleChart(series.items, signals, options),
      h("figcaption", {}, chartLegend(options)));
    headline.replaceChildren(
      trend ? trendBadge(trend.trend) : "",
      trend?.price != null ? ` ${trend.price.toFixed(2)}` : "",
      trend?.as_of ? h("span", { className: "meta" }, ` at ${formatDateTime(trend.as_of, { timeStyle: "medium" })}`) : "");
    indicatorList.replaceChildren(...Object.entries(indicators).flatMap(([name, value]) => [
      h("dt", {}, name.replace(/_/g, " ").toUpperCase()),
      h("dd", {}, value === null ? "warming up" : value.toFixed(2)),
    ]));
    if (!trend) indicatorList.replaceChildren(h("p", {}, "The trend service has not processed a tick of this symbol yet."));
    signalList.replaceChildren(...signals.map((s) =>
      h("li", { className: `row signal-${s.direction}` },
        h("p", {}, h("strong", {}, s.direction === "up" ? "▲ Golden cross" : "▼ Death cross"), ` at ${s.price.toFixed(2)}`),
        h("p", { className: "meta" }, `${formatDateTime(s.at, { timeStyle: "medium" })} · SMA ${s.short.toFixed(2)} / ${s.long.toFixed(2)}`))));
    if (!signals.length) signalList.replaceChildren(h("li", { className: "row" }, "No crossover yet."));
    live.textContent = `Live: updated ${new Date().toLocaleTimeString()}; refreshes every ${POLL_MS / 1000} s.`;
  }
  await refresh();
  return poll(refresh);
}
