"""The Insights page in a browser over 60 days x 1,000,000 events.

    make bench-insights-page                             # 1,000,000 events, 5 warm passes
    python bench/bench_insights_page.py --events 200000 --repeat 3

1. Starts an emulator, provisions the stack and the demo users, generates ``--events`` over
   ``--days`` days ending today (UTC) straight into the lake's raw zone (the generator's
   objects, plus a business event for every 50), and compacts them all (`Compactor.run_once`
   until a run finds nothing pending): how long each step took.
2. Starts the insights API (its own lake copy, cold) and the gateway serving web/dist on one
   origin, signs in as the admin demo user in headless Chromium, and measures per pass:
   ``open``: navigating to the Insights page (its default range, the last 30 days);
   ``60 days`` and ``7 days``: choosing that range in the page's own Range control;
   ``funnel``: a funnel of three steps built in the funnel builder ("Show funnel", 60 days).
   Each is timed from the action until the page says every panel is rendered (the router
   marks ``main`` ready once every panel's report is in) and the DOM holds the data: six
   tiles, a chart with points, rows in every table, the funnel's steps, business KPIs.
   Every report request the page makes is timed from Playwright's request events. The first
   pass is the cold one (the API syncs its copy and derives the sessions on first use); then
   ``--repeat`` warm passes, p50/p95 per measure.
3. Checks what the page shows against the API: the overview's tiles for the same window,
   the funnel's visits per step. A page that renders nothing fails the bench.
4. CPU per page load of the API process, the gateway and the emulator (user + system), and
   the page's main-thread task time (Chromium's Performance metrics), beside the load
   average.

Target: a warm 60-day page fully rendered in under 2 s (p95 of the warm passes).
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import os
import random
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_insights import percentile, platform_events  # noqa: E402
from bench.loadgen import CpuMeter  # noqa: E402
from devkit.browser import CHROMIUM, CHROMIUM_ARGS, DESKTOP, DIST, WebPage, build_web  # noqa: E402
from devkit.cognito import DEMO_USERS, sign_in  # noqa: E402
from devkit.emulator import Emulator  # noqa: E402
from devkit.testing import LocalStack, ServiceProcess, auth_header, start_local_stack  # noqa: E402
from services.insights.compact import build_compactor  # noqa: E402
from services.insights.generate import Options, clickstream, raw_objects, write_raw  # noqa: E402
from services.insights.lake.layout import raw_key  # noqa: E402
from services.insights.settings import InsightsSettings  # noqa: E402
from shared.aws import AwsClients  # noqa: E402

TARGET_S = 2.0
ADMIN = next(u for u in DEMO_USERS if u.admin)
PANELS = ("overview", "timeseries", "pages", "referrers", "continents", "countries", "devices",
          "browsers", "events", "funnel", "business")
TABLES = ("pages", "referrers", "continents", "countries", "devices", "browsers", "events")
FUNNEL = ("/home", "/cart", "event:purchase")
MEASURES = ("open (30 days)", "60 days", "funnel (60 days)", "7 days")
# What "rendered with data" means on the page (web/src/pages/insights.ts): the problems, none
# when every panel is loaded without an error and holds what its report answered.
EVIDENCE = """([panels, tables]) => {
  const problems = [];
  const all = (selector) => document.querySelectorAll(selector);
  for (const name of panels) {
    const panel = document.getElementById(`insights-${name}`);
    if (!panel || panel.dataset.loaded !== "true") {
      problems.push(`${name}: not loaded`);
      continue;
    }
    const error = panel.querySelector(".error:not(:empty)");
    if (error) problems.push(`${name}: ${error.textContent}`);
  }
  if (all("#insights-overview .tile").length !== 6) problems.push("overview: no tiles");
  const chart = document.querySelector("#insights-timeseries svg.chart");
  if (!chart || !(Number(chart.dataset.points) > 0) || !(Number(chart.dataset.total) > 0))
    problems.push("timeseries: no points");
  for (const name of tables) {
    const table = document.querySelector(`#insights-${name} table.bars`);
    if (!table || !(Number(table.dataset.rows) > 0)) problems.push(`${name}: no rows`);
  }
  const funnel = document.querySelector("#funnel-result ol.funnel");
  if (!funnel || !(Number(funnel.dataset.steps) > 0)) problems.push("funnel: no steps");
  if (!all("#insights-business .tile").length) problems.push("business: no KPIs");
  return problems;
}"""
READY = """route => { const main = document.getElementById("main");
  return !!main && main.dataset.route === route && main.dataset.ready === "true" }"""
FUNNEL_READY = """steps => { const result = document.getElementById("funnel-result");
  const list = result && result.querySelector("ol.funnel");
  return !!list && result.getAttribute("aria-busy") === "false"
    && Number(list.dataset.steps) === steps.length
    && [...list.querySelectorAll("li strong")].map((s) => s.textContent).join()
       === steps.join() }"""
TILES = """() => Object.fromEntries([...document.querySelectorAll("#insights-overview .tile")]
  .map((t) => [t.dataset.metric, t.querySelector("dd").textContent]))"""
FUNNEL_VISITS = """() => [...document.querySelectorAll("#funnel-result ol.funnel li")]
  .map((li) => [li.querySelector("strong").textContent,
                Number(li.textContent.match(/([\\d,]+) visits/)[1].replace(/,/g, ""))])"""


@dataclass
class Load:
    """One measured page load: wall seconds, its report requests, CPU by process."""

    measure: str
    seconds: float
    requests: list[tuple[str, float]]  # (report, ms from request start to response end)
    cpu: dict[str, float]
    main_thread_ms: float


@dataclass
class Recorder:
    """The report requests a page makes (Playwright's request events)."""

    started: int = 0
    finished: list[tuple[str, float]] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # every answer >= 400 of the pass

    def attach(self, page: Any) -> None:
        def is_report(request: Any) -> bool:
            return "/insights/reports/" in request.url

        def on_request(request: Any) -> None:
            if is_report(request):
                self.started += 1

        def on_finished(request: Any) -> None:
            if is_report(request):
                self.finished.append((report_name(request.url), request.timing["responseEnd"]))

        def on_failed(request: Any) -> None:
            if is_report(request):
                self.failed.append(f"{report_name(request.url)}: {request.failure}")

        async def on_response(response: Any) -> None:
            if response.status >= 400:
                self.refused.append(f"HTTP {response.status} {response.request.method} "
                                    f"{response.url}")
            if is_report(response.request) and response.status != 200:
                self.failed.append(f"{report_name(response.url)}: HTTP {response.status} "
                                   f"{(await response.text())[:300]}")

        page.on("request", on_request)
        page.on("requestfinished", on_finished)
        page.on("requestfailed", on_failed)
        page.on("response", on_response)

    def reset(self) -> None:
        self.started, self.finished, self.failed = 0, [], []

    async def settled(self) -> list[tuple[str, float]]:
        """The requests of the load, once every one started has finished (or failed)."""
        deadline = time.monotonic() + 30
        while len(self.finished) + len(self.failed) < self.started:
            assert time.monotonic() < deadline, "report requests did not finish"
            await asyncio.sleep(0.01)
        assert not self.failed, "report requests failed:\n" + "\n".join(self.failed)
        return list(self.finished)


def report_name(url: str) -> str:
    """/insights/reports/breakdown?by=page&... -> "breakdown page"."""
    path, _, query = url.partition("?")
    name = path.rsplit("/", 1)[1]
    params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
    if name == "breakdown":
        return f"breakdown {params.get('by', '')}"
    if name == "timeseries":
        return f"timeseries {params.get('metric', '')}/{params.get('interval', '')}"
    return name


async def generate_and_compact(args: argparse.Namespace, stack: LocalStack,
                               work: Path) -> None:
    """The clickstream straight into raw/web, business events into raw/platform, then
    compaction runs until nothing is pending."""
    os.environ.update({**stack.env, "INSIGHTS_LAKE_CACHE_DIR": str(work / "compactor")})
    settings = InsightsSettings.load()
    bucket = stack.resources.bucket("insights-lake")
    async with AwsClients(settings) as aws:
        s3 = await aws.client("s3")
        started = time.perf_counter()
        options = Options(events=args.events, days=args.days, end=args.end, seed=args.seed)
        written = await write_raw(s3, bucket, raw_objects(
            clickstream(options), per_object=args.per_object, rng=random.Random(args.seed)))
        platform = platform_events(args.events // 50, args.end, args.days, args.seed)
        for first in range(0, len(platform), 5000):
            chunk = platform[first:first + 5000]
            await s3.put_object(Bucket=bucket, Key=raw_key("platform", datetime.now(UTC)),
                                Body=gzip.compress(b"\n".join(orjson.dumps(e) for e in chunk)))
        generated = time.perf_counter() - started
        first_day = args.end - timedelta(days=args.days - 1)
        print(f"generated {written:,} events over {args.days} days ({first_day} .. {args.end})"
              f" and {len(platform):,} business events into the raw zone: "
              f"{generated:.1f} s")
        compactor = await build_compactor(aws, bucket=bucket,
                                          state_table=stack.resources.table("insights-state"))
        started = time.perf_counter()
        runs, objects, rows = 0, 0, 0
        while True:
            report = await compactor.run_once()
            if report is None:  # the lease is another runner's (there is none here)
                await asyncio.sleep(1)
                continue
            runs += 1
            if not report.objects:
                break
            objects, rows = objects + report.objects, rows + report.written
        seconds = time.perf_counter() - started
        print(f"compacted {objects} objects ({rows:,} rows) in {runs} runs (the last found "
              f"nothing pending): {seconds:.1f} s, {rows / seconds:,.0f} rows/s")


async def admin_token(stack: LocalStack) -> str:
    async with AwsClients(stack.settings) as aws:
        answer = await sign_in(aws, stack.settings.cognito_client_id, ADMIN.username,
                               ADMIN.password)
    token: str = answer["AccessToken"]
    return token


def number(text: str) -> int:
    return int(text.replace(",", "").strip())


async def check_overview(ui: WebPage, http: httpx.AsyncClient, window: tuple[str, str],
                         label: str) -> int:
    """The tiles equal the API's overview of the same window; the page views shown."""
    tiles = await ui.page.evaluate(TILES)
    answer = await http.get("/insights/reports/overview",
                            params={"from": window[0], "to": window[1], "tz": "UTC"})
    answer.raise_for_status()
    api = answer.json()
    for key in ("visitors", "visits", "pageviews", "events"):
        shown = number(tiles[key])
        assert shown == api[key], f"{label}: the page shows {key} {shown:,}, the API {api[key]:,}"
    assert api["pageviews"] > 0, f"{label}: no page views in the window: {api}"
    return number(tiles["pageviews"])


async def check_funnel(ui: WebPage, http: httpx.AsyncClient, window: tuple[str, str]) -> None:
    shown = await ui.page.evaluate(FUNNEL_VISITS)
    answer = await http.get("/insights/reports/funnel", params={
        "from": window[0], "to": window[1], "tz": "UTC", "steps": ",".join(FUNNEL)})
    answer.raise_for_status()
    api = [[s["step"], s["visits"]] for s in answer.json()["items"]]
    assert shown == api, f"funnel: the page shows {shown}, the API {api}"
    assert api[0][1] > 0, f"funnel: no visits reach the first step: {api}"


class Bench:
    def __init__(self, page: WebPage, cdp: Any, meter: CpuMeter, recorder: Recorder) -> None:
        self.ui, self.cdp, self.meter, self.recorder = page, cdp, meter, recorder

    async def main_thread(self) -> float:
        metrics = (await self.cdp.send("Performance.getMetrics"))["metrics"]
        return float(next(m["value"] for m in metrics if m["name"] == "TaskDuration"))

    async def measure(self, name: str, action: Callable[[], Awaitable[None]],
                      done: Callable[[], Awaitable[None]]) -> Load:
        self.recorder.reset()
        task = await self.main_thread()
        self.meter.start()
        started = time.perf_counter()
        await action()
        await done()
        seconds = time.perf_counter() - started
        self.meter.stop()
        requests = await self.recorder.settled()
        task = await self.main_thread() - task
        return Load(name, seconds, requests, dict(self.meter.used), task * 1000)

    async def rendered(self, route: str) -> None:
        await self.ui.page.wait_for_function(READY, arg=route, polling="raf")
        problems = await self.ui.page.evaluate(EVIDENCE, [list(PANELS), list(TABLES)])
        if problems:
            shot = await self.ui.screenshot("bench-insights-page")
            raise AssertionError(f"{route}: the page rendered without data: {problems} "
                                 f"(screenshot {shot.name} in test-artifacts/web)")


async def one_pass(browser: Any, base_url: str, meter: CpuMeter, http: httpx.AsyncClient,
                   today: str) -> list[Load]:
    """Sign in (not timed), then the four measures, each checked against the API."""
    context = await browser.new_context(viewport=DESKTOP, timezone_id="UTC", locale="en-US",
                                        base_url=base_url)
    context.set_default_timeout(180_000)
    try:
        ui = WebPage(await context.new_page(), base_url).attach()
        recorder = Recorder()
        recorder.attach(ui.page)
        cdp = await context.new_cdp_session(ui.page)
        await cdp.send("Performance.enable")
        # Then the home page, which asks no API (the recipes list would: no recipes API here).
        await ui.sign_in(ADMIN.username, ADMIN.password, next_route="/")
        await ui.page.wait_for_function(READY, arg="/")
        bench = Bench(ui, cdp, meter, recorder)
        page = ui.page
        day = datetime.fromisoformat(today).date()

        def window(days: int) -> tuple[str, str]:
            return str(day - timedelta(days=days - 1)), today

        def route(days: int) -> str:
            first, last = window(days)
            return f"/insights?from={first}&to={last}&tz=UTC&metric=visitors"

        async def open_page() -> None:
            await page.evaluate("location.hash = '/insights'")

        loads = [await bench.measure(MEASURES[0], open_page,
                                     lambda: bench.rendered("/insights"))]
        await check_overview(ui, http, window(30), "30 days")
        loads.append(await bench.measure(
            MEASURES[1], lambda: page.select_option("#insights-preset", "60"),
            lambda: bench.rendered(route(60))))
        await check_overview(ui, http, window(60), "60 days")

        steps = page.locator("#funnel-steps li")
        while await steps.count() > 2:
            await steps.last.get_by_role("button", name="Remove this step").click()
        await steps.nth(0).locator("input").fill(FUNNEL[0])
        await steps.nth(1).locator("input").fill(FUNNEL[1])
        await page.get_by_role("button", name="Add step").click()
        await steps.nth(2).locator("input").fill(FUNNEL[2])
        loads.append(await bench.measure(
            MEASURES[2], lambda: page.get_by_role("button", name="Show funnel").click(),
            lambda: page.wait_for_function(FUNNEL_READY, arg=list(FUNNEL), polling="raf")))
        await check_funnel(ui, http, window(60))

        loads.append(await bench.measure(
            MEASURES[3], lambda: page.select_option("#insights-preset", "7"),
            lambda: bench.rendered(route(7))))
        await check_overview(ui, http, window(7), "7 days")
        unexpected = [e for e in ui.errors if "/insights/events" not in e.url]
        assert not unexpected, "console errors: " + "; ".join(
            f"{e.text} ({e.url})" for e in unexpected) + "; answers >= 400: " + "; ".join(
            recorder.refused)
        return loads
    finally:
        await context.close()


def summary(loads: list[Load]) -> str:
    times = [load.seconds for load in loads]
    if len(times) == 1:
        return f"{times[0]:>7.2f} {'':>7}"
    return f"{statistics.median(times):>7.2f} {percentile(times, 0.95):>7.2f}"


def print_results(cold: list[Load], warm: list[Load], repeat: int) -> None:
    by_measure: dict[str, list[Load]] = defaultdict(list)
    for load in warm:
        by_measure[load.measure].append(load)
    print(f"\n2. the page in headless Chromium: the first pass (cold: the API syncs its copy and "
          f"derives the sessions), then {repeat} warm passes; seconds from the action until "
          "every panel is rendered with data")
    print(f"   {'measure':<18} {'pass':<6} {'p50 s':>7} {'p95 s':>7} {'requests':>8} "
          f"{'API CPU ms':>10} {'gateway ms':>10} {'emulator ms':>11} {'page main ms':>12}")
    rows = [(load.measure, "cold", [load]) for load in cold]
    rows += [(name, "warm", by_measure[name]) for name in MEASURES]
    for name, kind, loads in rows:
        def mean(key: str, of: list[Load] = loads) -> float:
            return statistics.fmean(load.cpu[key] for load in of) * 1000

        print(f"   {name:<18} {kind:<6} {summary(loads)} {len(loads[0].requests):>8} "
              f"{mean('API'):>10.0f} {mean('gateway'):>10.0f} {mean('emulator'):>11.0f} "
              f"{statistics.fmean(load.main_thread_ms for load in loads):>12.0f}")
    print("   (CPU: user + system per page load, mean; 'page main' is Chromium's main-thread "
          "task time for the page)")
    print("\n   report requests (ms from request start to response end, as the browser saw "
          "them; the page sends them together)")
    for name in ("open (30 days)", "60 days", "7 days"):
        first = next(load for load in cold if load.measure == name)
        per: dict[str, list[float]] = defaultdict(list)
        for load in by_measure[name]:
            for report, ms in load.requests:
                per[report].append(ms)
        print(f"   {name}: " + ", ".join(
            f"{report} {statistics.median(ms):.0f}/{percentile(ms, 0.95):.0f}"
            for report, ms in sorted(per.items(), key=lambda kv: statistics.median(kv[1])))
              + " (warm p50/p95)")
        print("      cold: " + ", ".join(f"{report} {ms:.0f}" for report, ms in
                                         sorted(first.requests, key=lambda r: r[1])))
    funnel = [ms for load in by_measure["funnel (60 days)"] for _, ms in load.requests]
    print(f"   funnel (60 days): the one request p50 {statistics.median(funnel):.0f} ms, "
          f"p95 {percentile(funnel, 0.95):.0f} ms (cold {cold[2].requests[0][1]:.0f})")
    sixty = [load.seconds for load in by_measure["60 days"]]
    p95 = percentile(sixty, 0.95)
    print(f"\n   target: a warm 60-day page fully rendered in under {TARGET_S:.0f} s: p95 "
          f"{p95:.2f} s -> {'met' if p95 < TARGET_S else 'MISSED'}")


async def run(args: argparse.Namespace) -> int:
    problem = build_web()
    if problem:
        print(f"cannot build the web app: {problem}")
        return 2
    if not CHROMIUM.exists():
        print(f"{CHROMIUM} is missing (apt-get install -y chromium)")
        return 2
    from playwright.async_api import async_playwright

    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; "
          f"{args.events:,} events over {args.days} days, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    with tempfile.TemporaryDirectory(prefix="bench-insights-page-") as folder:
        work = Path(folder)
        with Emulator(log_path=work / "moto.log") as emulator:
            stack = await start_local_stack(emulator, DEMO_USERS)
            print("\n1. the lake")
            await generate_and_compact(args, stack, work)
            env = {**stack.env, "LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1",
                   "INSIGHTS_LAKE_CACHE_DIR": str(work / "api")}
            api = ServiceProcess.api("services.insights.main:app", env,
                                     log_path=work / "insights.log")
            gateway = ServiceProcess.gateway(env, {"insights": api}, DIST,
                                             log_path=work / "gateway.log")
            with api, gateway:
                assert api.process and gateway.process and emulator.process
                meter = CpuMeter({"API": api.process.pid, "gateway": gateway.process.pid,
                                  "emulator": emulator.process.pid})
                token = await admin_token(stack)
                load_before = os.getloadavg()[0]
                async with (async_playwright() as playwright,
                            httpx.AsyncClient(base_url=gateway.url, timeout=120,
                                              headers=auth_header(token)) as http):
                    browser = await playwright.chromium.launch(
                        executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
                    today = str(args.end)
                    cold = await one_pass(browser, gateway.url, meter, http, today)
                    warm: list[Load] = []
                    for _ in range(args.repeat):
                        warm += await one_pass(browser, gateway.url, meter, http, today)
                    await browser.close()
                load_after = os.getloadavg()[0]
            print_results(cold, warm, args.repeat)
            print("\n3. checked against the API every pass: the overview's tiles (visitors, "
                  "visits, page views, events) for 30, 60 and 7 days, the funnel's visits per "
                  "step: equal")
    print(f"\nload average: {load_before:.1f} when the browser started, {load_after:.1f} after "
          f"({os.cpu_count()} CPUs)")
    return 0


def main() -> int:
    cli = argparse.ArgumentParser(description=__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.add_argument("--events", type=int, default=1_000_000)
    cli.add_argument("--days", type=int, default=60)
    cli.add_argument("--seed", type=int, default=7)
    cli.add_argument("--per-object", type=int, default=5000)
    cli.add_argument("--repeat", type=int, default=5, help="warm passes after the cold one")
    args = cli.parse_args()
    args.end = datetime.now(UTC).date()  # the page's ranges end today (UTC in the browser)
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
