import { ApiError, request } from "../api";
import { h } from "../dom";
import { quickReplies } from "../quickReplies";
import type { RouteContext } from "../router";
import type { ChatReply, Meeting } from "../types";

interface Said {
  who: "you" | "meety";
  text: string;
}

const STORAGE_KEY = "regatta.chat";

interface Conversation {
  sessionId: string | null;
  said: Said[];
  last: ChatReply | null;
}

function load(): Conversation {
  try {
    return JSON.parse(sessionStorage.getItem(STORAGE_KEY) ?? "") as Conversation;
  } catch {
    return { sessionId: null, said: [], last: null };
  }
}

function meetingCard(meeting: Meeting): HTMLElement {
  return h("div", { className: "card meeting-card", "data-meeting-id": meeting.id },
    h("p", {}, h("strong", {}, "Request sent: "), `${meeting.attendee_name}, ${meeting.date} ${meeting.start_time.slice(0, 5)}–${meeting.end_time.slice(0, 5)} (${meeting.timezone})`),
    h("p", { className: "meta" }, `Status: ${meeting.status}. An admin approves or rejects it; ${meeting.email} gets the answer.`));
}

export function chatPage({ main }: RouteContext): void {
  const conversation = load();
  const timezone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const log = h("ol", { className: "chat-log", id: "chat-log", role: "log", "aria-live": "polite", "aria-label": "Conversation with Meety" });
  const replies = h("div", { className: "quick-replies", id: "quick-replies", role: "group", "aria-label": "Quick replies" });
  const input = h("input", { id: "chat-input", name: "text", autocomplete: "off", maxlength: 1024, placeholder: "I'd like to book a meeting tomorrow at 10am" });
  const send = h("button", { type: "submit", className: "button" }, "Send");
  const error = h("p", { className: "error", role: "alert" });
  const form = h("form", { className: "chat-form" },
    h("label", { for: "chat-input", className: "visually-hidden" }, "Message to Meety"), input, send);
  const restart = h("button", { type: "button", className: "button secondary" }, "New conversation");

  function save(): void {
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify(conversation));
  }

  function bubble(said: Said): HTMLElement {
    return h("li", { className: `bubble ${said.who}` },
      h("span", { className: "visually-hidden" }, said.who === "you" ? "You said: " : "Meety said: "), said.text);
  }

  function showReplies(): void {
    replies.replaceChildren(...quickReplies(conversation.last).map((text) =>
      h("button", { type: "button", className: "button chip", onclick: () => void say(text) }, text)));
  }

  async function say(text: string): Promise<void> {
    const trimmed = text.trim();
    if (!trimmed) return;
    error.textContent = "";
    const mine: Said = { who: "you", text: trimmed };
    conversation.said.push(mine);
    log.append(bubble(mine));
    input.value = "";
    send.disabled = true;
    replies.querySelectorAll("button").forEach((b) => (b.disabled = true));
    try {
      const body: Record<string, string> = { text: trimmed, timezone };
      if (conversation.sessionId) body.session_id = conversation.sessionId;
      const { data } = await request<ChatReply>("/meetings/chat", { method: "POST", body });
      conversation.sessionId = data.session_id;
      conversation.last = data;
      for (const message of data.messages) {
        const said: Said = { who: "meety", text: message };
        conversation.said.push(said);
        log.append(bubble(said));
      }
      if (data.meeting) log.append(h("li", { className: "bubble meety" }, meetingCard(data.meeting)));
      save();
    } catch (failure) {
      error.textContent = failure instanceof ApiError && failure.status === 409
        ? "Meety is still answering your previous message; try again in a moment."
        : `Meety could not answer: ${(failure as Error).message}`;
    } finally {
      send.disabled = false;
      showReplies();
      log.lastElementChild?.scrollIntoView({ block: "nearest" });
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void say(input.value);
  });
  restart.addEventListener("click", () => {
    conversation.sessionId = null;
    conversation.said = [];
    conversation.last = null;
    save();
    log.replaceChildren();
    showReplies();
    input.focus();
  });

  log.append(...conversation.said.map(bubble));
  showReplies();
  main.append(
    h("div", { className: "page-head" }, h("h1", {}, "Book a meeting with Meety"), restart),
    h("p", { className: "hint" }, `Tell Meety your name, a date, a time, how long and your e-mail, in any order. Times are read in ${timezone}.`),
    h("section", { className: "chat", "aria-label": "Chat" }, log, replies, error, form),
  );
}
