// How a result is shown, keyed by the renderer a task kind declares (TaskKind.renderer in
// inference/kinds/base.py; sandbox/selectors.py puts it in the page's declaration). A renderer takes
// the response body and a context
//   { field: the response field it draws (the kind's first required one), body: the request body,
//     quote: the request parameter an answer is marked in, or null, streaming: text still arriving }
// and returns the nodes to show. A list input gets a list out: each of the response's fields is then a list
// with one entry per input, in order, and the renderer draws one section per input.
import { el } from "./dom.js";

// One input's value, or a list input's values, as [values, isList].
const entries = (value, isList) => (isList ? [value, true] : [[value], false]);

function perInput(values, isList, draw) {
  if (!isList) return draw(values[0], 0);
  return values.map((value, i) => el("section", { class: "sb-item", "data-testid": "result-item" },
    el("h3", { text: `Input ${i + 1}` }), ...draw(value, i)));
}

// Labels, strongest first, comma-separated ("joy, love"), each with its score where the response has `scores`.
function labels(result, { field }) {
  const [values, isList] = entries(result[field], Array.isArray(result[field]));
  const scores = isList ? result.scores || [] : [result.scores];
  return perInput(values, isList, (value, i) => {
    const known = scores[i] || {};
    const list = el("ul", { class: "sb-chips" });
    for (const label of String(value).split(",").map((s) => s.trim()).filter(Boolean)) {
      const chip = el("li", { class: "sb-chip", "data-testid": "label-chip" }, label);
      if (label in known) chip.append(el("span", { class: "sb-score", text: known[label].toFixed(2) }));
      list.append(chip);
    }
    return [list];
  });
}

// Label -> probability as bars, highest first. `unmatched` (closed-set models) holds the labels that match
// no class of the model: one list of labels for one input, one such list per input for a list of inputs,
// at the same depth as the probabilities.
function probabilities(result, { field }) {
  const isList = Array.isArray(result[field]);
  const [values] = entries(result[field], isList);
  const unmatched = isList ? result.unmatched || [] : [result.unmatched];
  return perInput(values, isList, (value, i) => {
    const rows = Object.entries(value || {}).sort((a, b) => b[1] - a[1]);
    const chart = el("ul", { class: "sb-bars", "aria-label": "Probabilities, highest first" });
    for (const [label, p] of rows) {
      const bar = el("span", { class: "sb-bar" });
      bar.style.width = `${Math.max(p * 100, 0.5)}%`; // CSSOM, allowed by the CSP (a style attribute is not)
      chart.append(el("li", { "data-testid": "probability-bar" }, el("span", { class: "sb-bar-label", text: label }),
        el("span", { class: "sb-bar-track" }, bar), el("span", { class: "sb-bar-value", text: `${(p * 100).toFixed(1)}%` })));
    }
    const out = [chart];
    const missing = [].concat(unmatched[i] || []);
    if (missing.length) {
      out.push(el("p", { class: "help sb-unmatched", "data-testid": "unmatched", text: `No class of this model `
        + `matches ${missing.join(", ")} (no probability given). A zero-shot model such as CLIP takes any label.` }));
    }
    return out;
  });
}

// Generated texts: one, several (num_generations), or several per input; all listed in order.
function generations(result, { field, streaming }) {
  const list = el("ol", { class: "sb-generations" });
  for (const text of [].concat(result[field]).flat()) list.append(el("li", { "data-testid": "generation" }, el("p", { text })));
  if (streaming) list.classList.add("streaming");
  return [list];
}

// A vector (a list of numbers), or one per input: its dimension, its start, and a button to copy it whole.
function vector(result, { field }) {
  const value = result[field] || [];
  const isList = Array.isArray(value[0]);
  const [values] = entries(value, isList);
  return perInput(values, isList, (numbers) => {
    const text = JSON.stringify(numbers);
    const code = el("code", { text: `${text.slice(0, 400)}${text.length > 400 ? "…" : ""}` });
    const copy = el("button", { type: "button", text: "Copy vector" });
    copy.addEventListener("click", async () => { await navigator.clipboard.writeText(text); copy.textContent = "Copied"; });
    return [el("p", { text: `Dimension ${numbers.length}`, "data-testid": "vector-dim" }), el("pre", { class: "sb-vector" }, code), copy];
  });
}

// An answer, marked in the request's `quote` input when it is a span of it.
function answer(result, { field, body, quote }) {
  const isList = Array.isArray(result[field]);
  const [values] = entries(result[field], isList);
  const sources = quote ? [].concat(body[quote] || []) : [];
  return perInput(values, isList, (value, i) => {
    const text = String(value || "");
    const context = String(sources[isList ? i : 0] || "");
    const out = [el("p", { class: "sb-answer" }, el("strong", { text: "Answer: " }), text)];
    const at = text ? context.toLowerCase().indexOf(text.toLowerCase()) : -1;
    if (at >= 0) {
      out.push(el("blockquote", { class: "sb-context" }, context.slice(0, at),
        el("mark", { text: context.slice(at, at + text.length) }), context.slice(at + text.length)));
    } else if (context) {
      out.push(el("p", { class: "help", text: `The answer is not a span of the ${quote} (the model wrote it).` }));
    }
    return out;
  });
}

// A text (a summary, ...), or one per input.
function text(result, { field }) {
  const isList = Array.isArray(result[field]);
  const [values] = entries(result[field], isList);
  return perInput(values, isList, (value) => [el("p", { class: "sb-summary", text: String(value) })]);
}

// A chat's answer: the assistant's message (one per choice), a note when max_tokens cut it, and the tokens
// read and written. While it streams, the field holds the text so far.
function chat(result, { field, streaming }) {
  const value = result[field];
  const bubble = (content, live) => el("div", { class: `sb-msg sb-msg-assistant${live ? " streaming" : ""}`,
    "data-testid": "chat-answer" }, el("strong", { text: "Assistant" }), el("p", { text: String(content) }));
  if (typeof value === "string") return [bubble(value, streaming)];
  const out = [];
  (value || []).forEach((choice, i) => {
    if (value.length > 1) out.push(el("h3", { text: `Answer ${i + 1}` }));
    out.push(bubble(choice.message.content, false));
    if (choice.finish_reason === "length") {
      out.push(el("p", { class: "help", "data-testid": "chat-cut", text: "The answer was cut at max_tokens." }));
    }
  });
  if (result.usage) {
    out.push(el("p", { class: "help", "data-testid": "chat-usage", text: `${result.usage.prompt_tokens} prompt tokens `
      + `+ ${result.usage.completion_tokens} completion tokens = ${result.usage.total_tokens}` }));
  }
  return out;
}

function json(result) {
  return [el("pre", { text: JSON.stringify(result, null, 2) })];
}

export const renderers = { labels, probabilities, generations, vector, answer, text, chat, json };

// The nodes for `result` of the kind declared by `decl` (the page's declaration): its renderer, its output
// field and quoted input; the JSON itself for a renderer name this script does not know.
export function render(decl, result, { body = {}, streaming = false } = {}) {
  const draw = renderers[decl.renderer] || json;
  return draw(result, { field: decl.output_field, quote: decl.quote, body, streaming });
}
