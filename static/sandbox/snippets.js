// The request view: the form's request as curl, Python and JavaScript, updated as the form changes.
// The snippets run as shown (with the key filled in); long data URIs are shortened on screen only.
import { $, $$ } from "./dom.js";

const shQuote = (s) => `'${s.replace(/'/g, `'\\''`)}'`;
const pyLiteral = (json) => json.replace(/("(?:[^"\\]|\\.)*")|\b(true|false|null)\b/g,
  (m, str, word) => str || { true: "True", false: "False", null: "None" }[word]);

// language: "curl", "python" or "js"; url: the task endpoint; key: the x-api-key text; body: the JSON body.
export function snippet(language, { url, key, body }) {
  const json = JSON.stringify(body, null, 2);
  if (language === "curl") {
    return `curl -X POST ${shQuote(url)} \\\n  -H ${shQuote(`x-api-key: ${key}`)} \\\n`
      + `  -H 'Content-Type: application/json' \\\n  -d ${shQuote(json)}`;
  }
  if (language === "python") {
    const indented = pyLiteral(json).replace(/\n/g, "\n    ");
    return `import requests\n\nresponse = requests.post(\n    ${JSON.stringify(url)},\n`
      + `    headers={"x-api-key": ${JSON.stringify(key)}},\n    json=${indented},\n)\nprint(response.json())`;
  }
  return `const response = await fetch(${JSON.stringify(url)}, {\n  method: "POST",\n`
    + `  headers: { "x-api-key": ${JSON.stringify(key)}, "Content-Type": "application/json" },\n`
    + `  body: JSON.stringify(${json.replace(/\n/g, "\n  ")}),\n});\nconsole.log(await response.json());`;
}

export const shorten = (text) => text.replace(/(data:[\w/+.-]+;base64,)([A-Za-z0-9+/=]{48,})/g,
  (m, head, data) => `${head}${data.slice(0, 32)}…`);

// Wires the request view (toggle, key, language tabs, copy); returns update(), to call when the form changes.
export function requestView({ url, body, form }) {
  const view = $("#request-view");
  let lang = "curl";
  let full = "";

  const keyText = () => {
    const prefix = $("#req-key").value;
    return prefix ? `${prefix}.********` : "your-api-key";
  };

  function update() {
    if (view.hidden) return;
    full = snippet(lang, { url, key: keyText(), body: body() });
    $("#snippet code").textContent = shorten(full);
    $("#snippet").dataset.full = full;
    $("#req-url").textContent = url;
    $("#req-key-text").textContent = keyText();
  }

  function show(visible) {
    view.hidden = !visible;
    form.hidden = visible;
    $("#toggle-request").setAttribute("aria-pressed", String(visible));
    update();
    (visible ? $(`#tab-${lang}`) : $("#toggle-request")).focus();
  }

  $("#toggle-request").addEventListener("click", () => show(view.hidden));
  $("#back-to-form").addEventListener("click", () => show(false));
  $("#req-key").addEventListener("change", update);
  const tabs = $$("[role=tab]");
  const select = (tab) => {
    tabs.forEach((t) => { t.setAttribute("aria-selected", String(t === tab)); t.tabIndex = t === tab ? 0 : -1; });
    lang = tab.dataset.lang;
    update();
  };
  tabs.forEach((tab, i) => {
    tab.addEventListener("click", () => select(tab));
    tab.addEventListener("keydown", (event) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (!step) return;
      const next = tabs[(i + step + tabs.length) % tabs.length];
      select(next);
      next.focus();
    });
  });
  $("#copy-snippet").addEventListener("click", async (event) => {
    const button = event.currentTarget;
    try { await navigator.clipboard.writeText(full); button.textContent = "Copied"; }
    catch (err) { button.textContent = "Select and copy"; }
    setTimeout(() => { button.textContent = "Copy"; }, 1500);
  });
  return { update };
}
