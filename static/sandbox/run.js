// Running a job on the public API with the session: a plain answer, a 202 then polling the job,
// or server-sent events (`text` events grow the output, `done` ends it).
import { csrfToken } from "./dom.js";

async function post(url, body, stream) {
  return fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: {
      "Content-Type": "application/json", "X-CSRFToken": csrfToken(),
      Accept: stream ? "text/event-stream" : "application/json",
    },
    body: JSON.stringify(stream ? { ...body, stream: true } : body),
  });
}

// The API's error message in plain words; the fields it names are marked invalid.
async function errorMessage(response) {
  try {
    const data = await response.json();
    for (const name of Object.keys((data && data.error && data.error.fields) || {})) {
      const field = document.getElementById(`f-${name}`);
      if (field) field.setAttribute("aria-invalid", "true");
    }
    if (data && data.error && data.error.message) return data.error.message;
  } catch (err) { /* not JSON: fall through */ }
  return `The server answered ${response.status} ${response.statusText || ""}`.trim() + ".";
}

async function pollJob(id) {
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const response = await fetch(`/sandbox/jobs/${id}/`, { credentials: "same-origin" });
    if (!response.ok) throw new Error(await errorMessage(response));
    const job = await response.json();
    if (job.status === "succeeded") return job.result;
    if (["failed", "cancelled"].includes(job.status)) throw new Error(job.error || `The job ${job.status}.`);
  }
}

async function readStream(response, onText) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const chunk = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const event = (chunk.match(/^event: (.*)$/m) || [])[1];
      const data = JSON.parse((chunk.match(/^data: (.*)$/m) || [, "{}"])[1]);
      if (event === "text") onText(data.output);
      else if (event === "done") return data;
      else if (event === "error") throw new Error(data.message || "The job failed.");
    }
  }
  throw new Error("The stream ended before the job finished.");
}

// The job's result; with stream, onText(text so far) is called as the text is written.
// Throws an Error whose message is the API's, in plain words.
export async function execute(url, body, { stream = false, onText = () => {} } = {}) {
  const response = await post(url, body, stream);
  if (!response.ok) throw new Error(await errorMessage(response));
  if ((response.headers.get("Content-Type") || "").startsWith("text/event-stream")) {
    return readStream(response, onText);
  }
  if (response.status === 202) return pollJob((await response.json()).id);
  return response.json();
}
