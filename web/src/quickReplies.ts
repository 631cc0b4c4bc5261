// Buttons for the answers Meety is waiting for, read from its reply (state, slot, last prompt).

import type { ChatReply } from "./types";

const CLOCK = String.raw`\d{1,2}(?::\d{2})? [AP]M`;
const CANDIDATES = new RegExp(`^(${CLOCK}(?: or ${CLOCK})+)\\?$`);
const WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"];

export function quickReplies(reply: ChatReply | null): string[] {
  if (!reply) return ["Book a meeting"];
  const { state, slot_to_elicit: slot, intent } = reply.dialog;
  const last = reply.messages.at(-1) ?? "";
  if (state === "ConfirmIntent") return ["Yes", "No"];
  if (["Fulfilled", "Failed", "Close"].includes(state)) return ["Book another meeting"];
  if (state === "ElicitSlot" && slot === "time") {
    if (last.endsWith("Shall I book that?")) return ["Yes", "No"];
    const ambiguous = CANDIDATES.exec(last);
    if (ambiguous) return ambiguous[1].split(" or ");
  }
  if (state === "ElicitSlot" && slot === "duration_minutes") return ["30 minutes", "60 minutes"];
  if (state === "ElicitSlot" && slot === "date" && last.startsWith("Which day")) return WEEKDAYS;
  if (state === "ElicitIntent" && !intent) return ["Book a meeting"];
  if (state === "ElicitIntent" || state === "ElicitSlot") return ["Cancel"];
  return [];
}
