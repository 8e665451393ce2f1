// The sandbox page: a form generated from a task kind's declaration (the JSON the page embeds, from
// sandbox/selectors.py), run on the public API with the session, and the same request as curl, Python
// and JavaScript. Nothing here knows a task kind: what differs between kinds is in the declaration.
import { $, el } from "./dom.js";
import { sandboxForm } from "./form.js";
import { render } from "./renderers.js";
import { execute } from "./run.js";
import { requestView } from "./snippets.js";

const decl = JSON.parse($("#kind-declaration").textContent);
const formNode = $("#sandbox-form");
const output = $("#output");
const progress = $("#progress");
const apiUrl = `${location.origin}/api/${decl.name}`;

const selectedModel = () => {
  const current = $(".sb-models a[aria-current]");
  return current ? current.dataset.model : decl.default_model;
};

let view = null;
const form = sandboxForm(decl, formNode, () => view && view.update());
const requestBody = () => form.requestBody(selectedModel());
view = requestView({ url: apiUrl, body: requestBody, form: formNode, openai: decl.openai,
  model: selectedModel, base: location.origin });

// The kind streams, and with these values the stream carries the text as it is written.
const streamsText = () => decl.streams
  && Object.entries(decl.stream_text_when).every(([name, value]) => form.effectiveValue(name) === value);

function show(result, body, streaming) {
  output.replaceChildren(...render(decl, result, { body, streaming }));
}

async function run(event) {
  event.preventDefault();
  formNode.querySelectorAll("[aria-invalid]").forEach((field) => field.removeAttribute("aria-invalid"));
  const body = requestBody();
  const started = performance.now();
  const seconds = () => ((performance.now() - started) / 1000).toFixed(1);
  const tick = () => { progress.textContent = `Running… ${seconds()} s`; };
  tick();
  const timer = setInterval(tick, 100);
  $("#run").disabled = true;
  try {
    const result = await execute(apiUrl, body, {
      stream: streamsText(),
      onText: (text) => show({ [decl.output_field]: text }, body, true),
    });
    show(result, body, false);
    form.answered(body, result);
    progress.textContent = `Done in ${seconds()} s`;
  } catch (err) {
    output.replaceChildren(el("p", { class: "sb-error", role: "alert", text: err.message || String(err) }));
    progress.textContent = "Failed";
  } finally {
    clearInterval(timer);
    $("#run").disabled = false;
  }
}

formNode.addEventListener("submit", run);
$("#reset").addEventListener("click", form.reset);
$("#use-example").addEventListener("click", form.useExample);
