// The conversation control of a `messages` parameter (a chat): a system prompt, the turns so far and the
// user's next message. Its value is the messages list the API takes; after an answer, the conversation
// goes on (the answer joins the turns and the next message starts empty).
import { $, el } from "./dom.js";

export function chatWidget(root, changed) {
  const system = $("[data-chat-system]", root);
  const log = $("[data-chat-log]", root);
  const input = $("[data-chat-input]", root);
  let turns = []; // the earlier user and assistant messages

  function draw() {
    log.replaceChildren(...turns.map((turn) => el("li", { class: `sb-msg sb-msg-${turn.role}`, "data-testid": `chat-${turn.role}` },
      el("strong", { text: turn.role === "user" ? "You" : "Assistant" }), el("p", { text: turn.content }))));
  }

  // The request's messages: the system prompt (if any), the turns, the user's new message (if any).
  function messages() {
    const out = [];
    if (system.value.trim()) out.push({ role: "system", content: system.value });
    out.push(...turns);
    if (input.value.trim()) out.push({ role: "user", content: input.value });
    return out.length ? out : null;
  }

  // Show a messages list (the example, or nothing to reset): a leading system message goes to the system
  // prompt, a last user message to the input, the rest to the turns.
  function set(value) {
    const list = Array.isArray(value) ? value : [];
    turns = [];
    system.value = "";
    input.value = "";
    list.forEach((message, i) => {
      if (i === 0 && message.role === "system") system.value = message.content;
      else if (i === list.length - 1 && message.role === "user") input.value = message.content;
      else turns.push({ role: message.role, content: message.content });
    });
    draw();
  }

  // The answer to `body` came: the conversation goes on from it.
  function answered(body, result) {
    const sent = Array.isArray(body.messages) ? body.messages : [];
    turns = sent.filter((message, i) => !(i === 0 && message.role === "system"));
    const reply = result && Array.isArray(result.choices) ? result.choices[0] : null;
    if (reply) turns.push({ role: "assistant", content: reply.message.content });
    input.value = "";
    draw();
    changed();
  }

  $("[data-chat-clear]", root).addEventListener("click", () => { turns = []; input.value = ""; draw(); changed(); });
  return { messages, set, answered };
}
