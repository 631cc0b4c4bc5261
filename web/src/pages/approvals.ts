import { ApiError, get, query, request } from "../api";
import { currentUser } from "../auth";
import { h, toast } from "../dom";
import type { RouteContext } from "../router";
import type { Meeting, Page } from "../types";

function when(meeting: Meeting): string {
  return `${meeting.start_time.slice(0, 5)}–${meeting.end_time.slice(0, 5)} (${meeting.duration_minutes} min, ${meeting.timezone})`;
}

function longDate(isoDate: string): string {
  const [year, month, day] = isoDate.split("-").map(Number);
  return new Date(Date.UTC(year, month - 1, day)).toLocaleDateString(undefined, {
    weekday: "long", year: "numeric", month: "long", day: "numeric", timeZone: "UTC",
  });
}

function today(): string {
  const now = new Date();
  return `${now.getFullYear()}-${String(now.getMonth() + 1).padStart(2, "0")}-${String(now.getDate()).padStart(2, "0")}`;
}

export async function approvalsPage({ main, signal }: RouteContext): Promise<void> {
  const user = currentUser();
  main.append(h("h1", {}, "Meeting approvals"));
  if (!user?.isAdmin) {
    main.append(h("p", {}, "Only admins approve meetings. ",
      h("a", { href: "#/signin?next=%2Fadmin%2Fmeetings" }, "Sign in as an admin"), "."));
    return;
  }
  const pendingList = h("ul", { className: "rows", id: "pending-list", "aria-live": "polite" });
  const pendingStatus = h("p", { className: "status", role: "status" });
  const calendar = h("div", { id: "approved-calendar", className: "calendar" });
  const calendarStatus = h("p", { className: "status", role: "status" });
  main.append(
    h("section", { "aria-labelledby": "pending-heading" },
      h("h2", { id: "pending-heading" }, "Waiting for a decision"), pendingStatus, pendingList),
    h("section", { "aria-labelledby": "approved-heading" },
      h("h2", { id: "approved-heading" }, "Approved meetings from today"), calendarStatus, calendar),
  );

  async function decide(meeting: Meeting, status: "approved" | "rejected" | "cancelled", row: HTMLElement): Promise<void> {
    const error = row.querySelector<HTMLElement>(".error")!;
    row.querySelectorAll("button").forEach((b) => (b.disabled = true));
    error.textContent = "";
    try {
      await request<Meeting>(`/meetings/${meeting.id}`, { method: "PATCH", body: { status } });
      toast(`${meeting.attendee_name}'s meeting ${status}.`);
      await Promise.all([loadPending(), loadApproved()]);
    } catch (failure) {
      error.textContent = failure instanceof ApiError && failure.status === 409
        ? `Not possible: ${failure.detail}`
        : `Could not change it: ${(failure as Error).message}`;
      row.querySelectorAll("button").forEach((b) => (b.disabled = false));
    }
  }

  function pendingRow(meeting: Meeting): HTMLElement {
    const row = h("li", { className: "row", "data-meeting-id": meeting.id },
      h("div", {},
        h("p", {}, h("strong", {}, meeting.attendee_name), ` · ${meeting.email}`),
        h("p", { className: "meta" }, `${longDate(meeting.date)}, ${when(meeting)}`)),
      h("div", { className: "actions" },
        h("button", { type: "button", className: "button", "aria-label": `Approve ${meeting.attendee_name} on ${meeting.date}` }, "Approve"),
        h("button", { type: "button", className: "button secondary", "aria-label": `Reject ${meeting.attendee_name} on ${meeting.date}` }, "Reject")),
      h("p", { className: "error", role: "alert" }));
    const [approve, reject] = row.querySelectorAll("button");
    approve.addEventListener("click", () => void decide(meeting, "approved", row));
    reject.addEventListener("click", () => void decide(meeting, "rejected", row));
    return row;
  }

  function approvedRow(meeting: Meeting): HTMLElement {
    const row = h("li", { className: "row", "data-meeting-id": meeting.id },
      h("div", {},
        h("p", {}, h("strong", {}, when(meeting)), ` ${meeting.attendee_name} · ${meeting.email}`)),
      h("div", { className: "actions" },
        h("button", { type: "button", className: "button danger", "aria-label": `Cancel ${meeting.attendee_name} on ${meeting.date}` }, "Cancel meeting")),
      h("p", { className: "error", role: "alert" }));
    row.querySelector("button")!.addEventListener("click", () => void decide(meeting, "cancelled", row));
    return row;
  }

  async function loadPending(): Promise<void> {
    const items: Meeting[] = [];
    let cursor: string | null = null;
    do {
      const page: Page<Meeting> = await get<Page<Meeting>>(`/meetings/pending${query({ limit: 100, cursor })}`, signal);
      items.push(...page.items);
      cursor = page.next_cursor;
    } while (cursor && items.length < 500);
    pendingList.replaceChildren(...items.map(pendingRow));
    pendingStatus.textContent = items.length ? `${items.length} waiting.` : "Nothing is waiting for a decision.";
  }

  async function loadApproved(): Promise<void> {
    const items: Meeting[] = [];
    let cursor: string | null = null;
    do {
      const page: Page<Meeting> = await get<Page<Meeting>>(
        `/meetings${query({ status: "approved", from: today(), limit: 100, cursor })}`, signal);
      items.push(...page.items);
      cursor = page.next_cursor;
    } while (cursor && items.length < 500);
    const byDay = new Map<string, Meeting[]>();
    for (const meeting of items) byDay.set(meeting.date, [...(byDay.get(meeting.date) ?? []), meeting]);
    calendar.replaceChildren(...[...byDay].map(([day, meetings]) =>
      h("section", { className: "day", "aria-label": longDate(day) },
        h("h3", {}, longDate(day)),
        h("ul", { className: "rows" }, meetings.map(approvedRow)))));
    calendarStatus.textContent = items.length ? `${items.length} approved.` : "No approved meetings ahead.";
  }

  await Promise.all([loadPending(), loadApproved()]);
}
