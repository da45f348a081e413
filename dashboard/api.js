// The jobs API as the page calls it: bearer token handling (asked for on a 401, kept
// in sessionStorage), JSON requests that pass the API's browser checks (same-origin
// fetch, Content-Type: application/json only with a body), and the live event
// stream (GET /api/events) read with fetch() and a ReadableStream, since
// EventSource cannot send an Authorization header.

const TOKEN_KEY = "orca.token";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

let askingForToken = null;  // one dialog at a time, shared by every waiting call

function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

function headers(extra) {
  const h = Object.assign({ Accept: "application/json" }, extra || {});
  const t = token();
  if (t) h.Authorization = "Bearer " + t;
  return h;
}

// Shows the token dialog; resolves once the user gave one.
function askForToken(reason) {
  if (askingForToken) return askingForToken;
  const dialog = document.getElementById("token-dialog");
  const form = document.getElementById("token-form");
  const input = document.getElementById("token-input");
  const why = document.getElementById("token-reason");
  why.hidden = !reason;
  why.textContent = reason || "";
  input.value = "";
  askingForToken = new Promise((resolve) => {
    const done = (event) => {
      event.preventDefault();
      const value = input.value.trim();
      if (!value) return;
      sessionStorage.setItem(TOKEN_KEY, value);
      form.removeEventListener("submit", done);
      dialog.close();
      askingForToken = null;
      resolve();
    };
    form.addEventListener("submit", done);
    // Escape would close the dialog without a token: the page cannot work without one.
    dialog.addEventListener("cancel", (e) => e.preventDefault(), { once: true });
    dialog.showModal();
    input.focus();
  });
  return askingForToken;
}

async function errorOf(response) {
  let message = response.status + " " + response.statusText;
  try {
    const body = await response.json();
    if (body && body.error) message = body.error;
  } catch (_) {
    // not JSON: keep the status line
  }
  return new ApiError(response.status, message);
}

// A call to the API; resolves to the parsed JSON body. Rejects with ApiError (its
// status: 404 for a route this server does not have, 409 a refused transition...).
// A 401 asks for a token and tries again.
export async function api(method, path, body) {
  for (;;) {
    const init = { method, headers: headers(), credentials: "same-origin" };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    if (response.status === 401) {
      await askForToken(token() ? "The token was refused: give another." : "");
      continue;
    }
    if (!response.ok) throw await errorOf(response);
    return response.status === 204 ? null : response.json();
  }
}

export const get = (path) => api("GET", path);
export const post = (path, body) => api("POST", path, body);

// Reads GET /api/events until stop() is called, reconnecting with backoff (1 s
// doubling to 30 s). handlers: {event name: fn(data)}; onState(text) tells the
// connection's state: "live", "reconnecting", or "unavailable" when the server has
// no event stream (404): the caller then polls instead.
export function subscribe(handlers, onState) {
  let stopped = false;
  let controller = null;
  let delay = 1000;

  const dispatch = (name, data) => {
    const fn = handlers[name || "message"];
    if (!fn) return;
    let value = data;
    try {
      value = JSON.parse(data);
    } catch (_) {
      // a non-JSON data field is passed as text
    }
    fn(value);
  };

  const run = async () => {
    while (!stopped) {
      controller = new AbortController();
      try {
        const response = await fetch("/api/events", {
          headers: headers({ Accept: "text/event-stream" }),
          signal: controller.signal,
          cache: "no-store",
        });
        if (response.status === 401) {
          await askForToken(token() ? "The token was refused: give another." : "");
          continue;
        }
        if (response.status === 404 || response.status === 405) {
          onState("unavailable");
          return;
        }
        if (!response.ok || !response.body) throw new Error("status " + response.status);
        onState("live");
        delay = 1000;
        await readStream(response.body, dispatch);
      } catch (e) {
        if (stopped) return;
      }
      if (stopped) return;
      onState("reconnecting");
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 30000);
    }
  };
  run();
  return () => {
    stopped = true;
    if (controller) controller.abort();
  };
}

// The text/event-stream format (HTML's "server-sent events"): lines "event: NAME",
// "data: TEXT" (several are joined by newlines), a blank line ends an event, a line
// starting with ':' is a comment.
async function readStream(body, dispatch) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let name = "";
  let data = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let newline;
    while ((newline = buffer.search(/\r\n|\n|\r/)) >= 0) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + (buffer.startsWith("\r\n", newline) ? 2 : 1));
      if (line === "") {
        if (data.length) dispatch(name, data.join("\n"));
        name = "";
        data = [];
      } else if (!line.startsWith(":")) {
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let text = colon < 0 ? "" : line.slice(colon + 1);
        if (text.startsWith(" ")) text = text.slice(1);
        if (field === "event") name = text;
        else if (field === "data") data.push(text);
      }
    }
  }
}
