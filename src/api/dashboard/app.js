// The batch-import dashboard: sign in with an API key, upload CSVs, follow the imports.
// Plain browser JavaScript with no dependencies; the API is this page's own origin, and
// every path is relative so the page also works behind a proxy that adds a path prefix.

const API = "api/v1/";
const KEY_STORAGE = "batch-import.api-key";
const LIST_LIMIT = 50;
// The list is read again this often, for jobs uploaded elsewhere and as a fallback when a
// stream drops.
const REFRESH_MS = 5000;
// A browser keeps about six connections per server over HTTP/1.1, and each event stream
// holds one: follow a few jobs live and leave the rest to the periodic refresh.
const MAX_STREAMS = 3;

const KINDS = { opportunities: "Opportunities", contacts: "Contacts", sales_targets: "Sales targets" };
const STATES = { queued: "Queued", running: "Running", completed: "Completed", failed: "Failed", cancelled: "Cancelled" };
const TERMINAL = new Set(["completed", "failed", "cancelled"]);
const STATUS_LABELS = {
  400: "The server refused the request",
  401: "Not signed in",
  403: "Not allowed",
  404: "Not found",
  409: "Not possible now",
  413: "File too large",
  429: "Too many requests",
  503: "Service unavailable",
  507: "Storage full",
};

const $ = (id) => document.getElementById(id);
const numbers = new Intl.NumberFormat();
const times = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

const session = {
  key: null,
  jobs: new Map(), // id → the job as the API last showed it
  streams: new Map(), // id → AbortController of its event stream
  timer: null,
  wanted: null, // the job of the `#job=<id>` fragment
  file: null, // the file picked or dropped
  upload: null, // the XMLHttpRequest of the upload under way
  total: null, // X-Total-Count of the job list
  admin: false, // whether the key is an administrator's (offers the admin-only actions)
  endings: new Map(), // id → the callbacks waiting for that job to end
};

/** An API answer other than success, with the server's own words in `detail`. */
class ApiError extends Error {
  constructor(status, detail) {
    const label = STATUS_LABELS[status] || (status >= 500 ? "Server error" : `Error ${status}`);
    super(detail ? `${label}: ${detail}` : `${label} (HTTP ${status}).`);
    this.status = status;
    this.detail = detail;
  }
}

/** The message of a JSend body: `message` for `error`, `data.message` (or `data`) for `fail`. */
function jsendMessage(body) {
  if (!body || typeof body !== "object") return null;
  if (typeof body.message === "string") return body.message;
  if (typeof body.data === "string") return body.data;
  if (body.data && typeof body.data.message === "string") return body.data.message;
  return null;
}

async function errorOf(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // Not JSON (a proxy's page, say): the status alone must do.
  }
  return new ApiError(response.status, jsendMessage(body));
}

const unreachable = () =>
  new ApiError(0, "the server could not be reached; check the connection and try again");

/** `fetch` of an API path with the key; rejects with an ApiError unless the answer is 2xx. */
async function api(path, options = {}) {
  const headers = new Headers(options.headers);
  headers.set("Authorization", session.key);
  if (!headers.has("Accept")) headers.set("Accept", "application/json");
  let response;
  try {
    response = await fetch(API + path, { ...options, headers, cache: "no-store" });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw unreachable();
  }
  if (!response.ok) {
    const error = await errorOf(response);
    if (error.status === 401 && session.key) keyRejected(error);
    throw error;
  }
  return response;
}

function show(element, text, kind) {
  element.textContent = text || "";
  element.hidden = !text;
  element.classList.toggle("error", kind === "error");
  element.classList.toggle("success", kind === "success");
}

// ---- Signing in and out -------------------------------------------------------------

async function signIn(key) {
  session.key = key;
  await refreshJobs(); // proves the key: 401 for a wrong one
  sessionStorage.setItem(KEY_STORAGE, key);
  $("sign-in").hidden = true;
  $("session").hidden = false;
  loadRole(); // draws the admin-only actions once known; the page works meanwhile
  session.timer = setInterval(() => {
    if (document.visibilityState === "visible") refreshJobs().catch(listFailed);
  }, REFRESH_MS);
  route();
}

function signOut(message) {
  clearInterval(session.timer);
  session.timer = null;
  for (const controller of session.streams.values()) controller.abort();
  session.streams.clear();
  session.upload?.abort();
  session.jobs.clear();
  session.key = null;
  session.total = null;
  session.admin = false;
  session.endings.clear();
  $("session-label").textContent = "Signed in";
  sessionStorage.removeItem(KEY_STORAGE);
  $("jobs").replaceChildren();
  show($("jobs-message"), "");
  show($("upload-message"), "");
  $("upload-form").reset();
  pickFile(null);
  $("app").hidden = true;
  $("session").hidden = true;
  leaveSetup();
  $("sign-in").hidden = false;
  $("api-key").value = "";
  show($("sign-in-error"), message, "error");
  $("api-key").focus();
}

/** Learns whether the key is an administrator's, shows it, and draws the jobs again with
 *  (or without) the actions only an administrator may take. The API has no "who am I": a
 *  member key lists only itself among the keys, an admin key every key of its tenant. */
async function loadRole() {
  const key = session.key;
  let admin = false;
  try {
    const response = await api("keys?limit=1");
    const body = await response.json();
    const total = Number(response.headers.get("X-Total-Count")) || body.data.length;
    admin = total > 1 || body.data[0]?.role === "admin";
  } catch (error) {
    // Not known: the admin-only buttons stay hidden, and the API decides anyway.
    if (error.status === 401) return;
  }
  if (session.key !== key) return;
  session.admin = admin;
  $("session-label").textContent = admin ? "Signed in · admin" : "Signed in · member";
  for (const job of session.jobs.values()) {
    const item = document.getElementById(`job-${job.id}`);
    if (item) drawJob(item, job);
  }
}

/** A key that worked stops working (revoked, say): back to the sign-in form. */
function keyRejected(error) {
  if ($("sign-in").hidden) signOut(`Signed out: ${error.detail || "the API key is no longer valid"}.`);
}

async function submitSignIn(event) {
  event.preventDefault();
  const key = $("api-key").value.trim();
  if (!key) {
    show($("sign-in-error"), "Enter your API key.", "error");
    return;
  }
  const button = $("sign-in-button");
  button.disabled = true;
  show($("sign-in-error"), "");
  try {
    await signIn(key);
    $("api-key").value = "";
  } catch (error) {
    session.key = null;
    const text = error.status === 401 ? `Sign-in failed: ${error.detail}` : error.message;
    show($("sign-in-error"), text, "error");
    $("api-key").select();
  } finally {
    button.disabled = false;
  }
}

// ---- The job list -------------------------------------------------------------------

async function refreshJobs() {
  const key = session.key;
  const response = await api(`jobs?limit=${LIST_LIMIT}`);
  const body = await response.json();
  if (session.key !== key) return; // signed out (or in with another key) meanwhile
  session.total = Number(response.headers.get("X-Total-Count")) || body.data.length;
  for (const job of body.data) updateJob(job);
  show($("jobs-message"), "");
  renderListInfo();
  followMore();
}

function listFailed(error) {
  if (error.status !== 401) show($("jobs-message"), `The list could not be updated. ${error.message}`, "error");
}

function renderListInfo() {
  $("jobs-empty").hidden = session.jobs.size > 0;
  const more = session.total - Math.min(session.total, LIST_LIMIT);
  show($("jobs-more"), more > 0 ? `Showing the newest ${LIST_LIMIT} of ${numbers.format(session.total)} imports.` : "");
}

/** Records a job as the API shows it and draws it; newest first. */
function updateJob(job) {
  const previous = session.jobs.get(job.id);
  // A job event does not count the jobs ahead (null): a job still queued keeps the count the
  // list (or the job's own answer) last gave, until the next refresh brings a new one.
  if (job.state === "queued" && job.jobs_ahead == null && previous?.state === "queued") {
    job.jobs_ahead = previous.jobs_ahead;
  }
  session.jobs.set(job.id, job);
  let item = document.getElementById(`job-${job.id}`);
  if (!item) {
    item = $("job-template").content.firstElementChild.cloneNode(true);
    item.id = `job-${job.id}`;
    item.dataset.jobId = job.id;
    item.dataset.created = Date.parse(job.created_at);
    item.tabIndex = -1;
    item.querySelector("[data-action=download]").addEventListener("click", () => downloadErrors(job.id));
    item.querySelector("[data-action=unprocessed]").addEventListener("click", () => downloadUnprocessed(job.id));
    item.querySelector("[data-action=cancel]").addEventListener("click", () => cancelJob(job.id));
    setUpUndo(item, job.id);
    setUpFailedRows(item, job.id);
    const older = [...$("jobs").children].find((other) => Number(other.dataset.created) < Number(item.dataset.created));
    $("jobs").insertBefore(item, older || null);
  }
  if (!previous || JSON.stringify(previous) !== JSON.stringify(job)) drawJob(item, job);
  // A notice about a run in progress ("stopping…") is over once the job is.
  if (TERMINAL.has(job.state) && previous && !TERMINAL.has(previous.state)) show(field(item, "notice"), "");
  if (session.wanted === job.id) item.classList.add("highlight");
  // The undone job says how its revert is going.
  const undone = job.reverts_job_id && !job.dry_run && session.jobs.get(job.reverts_job_id);
  const undoneItem = undone && document.getElementById(`job-${undone.id}`);
  if (undoneItem && undone.reverted_by_job_id === job.id) drawRevert(undoneItem, undone);
  if (TERMINAL.has(job.state)) {
    for (const ended of session.endings.get(job.id) || []) ended(job);
    session.endings.delete(job.id);
  }
}

/** Resolves with the job once it has ended, as its event stream or the periodic refresh
 *  shows it. */
function whenEnded(id) {
  const job = session.jobs.get(id);
  if (job && TERMINAL.has(job.state)) return Promise.resolve(job);
  return new Promise((resolve) => session.endings.set(id, [...(session.endings.get(id) || []), resolve]));
}

function field(item, name) {
  return item.querySelector(`[data-field=${name}]`);
}

const count = (value) => (value === null || value === undefined ? "—" : numbers.format(value));

function drawJob(item, job) {
  item.dataset.state = job.state;
  field(item, "state").textContent = STATES[job.state] || job.state;
  // A named job shows its name; the file's name moves to the line below.
  field(item, "file").textContent = job.name || job.file_name;
  field(item, "kind").textContent = KINDS[job.kind] || job.kind;
  let meta = `${job.name ? `${job.file_name} · ` : ""}Uploaded ${times.format(new Date(job.created_at))}`;
  if (job.started_at && job.finished_at) {
    meta += ` · took ${duration(new Date(job.finished_at) - new Date(job.started_at))}`;
  }
  field(item, "meta").textContent = `${meta} · job ${job.id.slice(0, 8)}`;
  field(item, "meta").title = `Job ${job.id}`;

  // The row count of a file is known only at its end; the API measures progress in bytes of
  // the file read by the committed chunks, a true percentage (progress_percent).
  const bar = field(item, "bar");
  const progress = field(item, "progress");
  bar.hidden = false;
  bar.max = 100;
  if (job.state === "queued") {
    bar.value = 0;
    progress.textContent = `Waiting for a worker${aheadText(job.jobs_ahead)}`;
  } else if (job.state === "running") {
    bar.value = job.progress_percent;
    // A revert job's progress counts the rows it has undone, not bytes of a file.
    const done = job.reverts_job_id ? "rows done" : "rows read";
    progress.textContent = `${job.progress_percent}% · ${count(job.rows_processed)} ${done}`;
  } else if (job.state === "completed") {
    bar.value = 100;
    progress.textContent = "100%";
  } else {
    bar.hidden = true;
    progress.textContent =
      job.state === "cancelled"
        ? `Stopped at ${job.progress_percent}%, after ${count(job.rows_processed)} rows`
        : job.reverts_job_id
          ? "Not completed"
          : "Not imported";
  }
  bar.setAttribute("aria-label", `Progress of ${job.file_name}`);

  // A cancelled job counted only the rows it read before it stopped.
  field(item, "total-label").textContent = job.state === "cancelled" ? "Rows read" : "Rows in the file";
  field(item, "total").textContent = count(job.total_original_rows);
  field(item, "imported").textContent = count(job.total_imported_rows);
  field(item, "errors").textContent = count(job.total_error_rows);
  field(item, "created").textContent = count(job.created_rows);
  field(item, "updated").textContent = count(job.updated_rows);
  field(item, "unchanged").textContent = count(job.unchanged_rows);
  // A check (validate_only) stored nothing: its counts say what an import would do.
  field(item, "dry-run").hidden = !job.dry_run;
  field(item, "imported").previousElementSibling.textContent = job.dry_run ? "Would import" : "Imported";
  // The reason a job failed is an error; why one was cancelled is plain information.
  show(field(item, "error"), job.error, job.state === "failed" ? "error" : undefined);
  let email = "";
  if (job.email_sent_at) email = `The error report was emailed ${times.format(new Date(job.email_sent_at))}.`;
  else if (job.email_error) email = `The error report could not be emailed: ${job.email_error}`;
  show(field(item, "email"), email);
  item.querySelector("[data-action=download]").hidden = !job.error_file;
  // Cancelled and failed jobs offer the rows they never got to, to upload again.
  item.querySelector("[data-action=unprocessed]").hidden = !job.unprocessed_file;
  item.querySelector("[data-action=cancel]").hidden = TERMINAL.has(job.state);
  drawErrorSummary(item, job);
  drawCorrections(item, job);
  drawRevert(item, job);
}

/** " · 3 jobs ahead" for a queued job's count of the jobs likely to start before it (of
 *  any tenant; the API gives only the count); nothing when it is not known. */
function aheadText(ahead) {
  if (ahead === null || ahead === undefined) return "";
  if (ahead === 0) return " · next in line";
  return ` · ${numbers.format(ahead)} ${ahead === 1 ? "job" : "jobs"} ahead`;
}

/** Entries of a job's error_summary shown under its counts; the rest are summed up. */
const SUMMARY_SHOWN = 5;

/** "412 rows: invalid_date in Close Date", one line per problem code and column. */
function drawErrorSummary(item, job) {
  const list = field(item, "error-summary");
  const entries = job.error_summary || [];
  const lines = entries.slice(0, SUMMARY_SHOWN).map((entry) => {
    const where = entry.column === null ? "" : ` in ${entry.column}`;
    return `${count(entry.rows)} ${entry.rows === 1 ? "row" : "rows"}: ${entry.code}${where}`;
  });
  if (entries.length > SUMMARY_SHOWN) {
    lines.push(`and ${entries.length - SUMMARY_SHOWN} more kinds of problem`);
  }
  // textContent only: column names come from the uploaded file.
  list.replaceChildren(
    ...lines.map((line) => {
      const li = document.createElement("li");
      li.textContent = line;
      return li;
    }),
  );
  list.hidden = lines.length === 0;
}

function duration(ms) {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${seconds % 60} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

function notice(id, text, kind) {
  const item = document.getElementById(`job-${id}`);
  if (item) show(field(item, "notice"), text, kind);
}

// ---- Live updates: the job's Server-Sent Events, read with fetch ---------------------

/** Opens streams for the newest unfinished jobs, up to MAX_STREAMS at once. */
function followMore() {
  const waiting = [...session.jobs.values()]
    .filter((job) => !TERMINAL.has(job.state) && !session.streams.has(job.id))
    .sort((a, b) => (a.created_at < b.created_at ? 1 : -1));
  for (const job of waiting) {
    if (session.streams.size >= MAX_STREAMS) break;
    follow(job.id);
  }
}

/** EventSource cannot send the Authorization header, so the stream is read with fetch. */
async function follow(id) {
  const controller = new AbortController();
  session.streams.set(id, controller);
  try {
    const response = await api(`jobs/${encodeURIComponent(id)}/events`, {
      headers: { Accept: "text/event-stream" },
      signal: controller.signal,
    });
    setLive(id, true);
    await readEvents(response.body, (event, data) => {
      if (event === "job") updateJob(JSON.parse(data));
      else if (event === "error") notice(id, jsendMessage(JSON.parse(data)), "error");
    });
  } catch {
    // Aborted at sign-out, refused or cut: the periodic refresh takes over and opens the
    // stream again while the job runs (not at once, which could loop on a failing server).
    return;
  } finally {
    if (session.streams.get(id) === controller) session.streams.delete(id);
    setLive(id, false);
  }
  // The job is over: its slot can follow another one.
  if (session.key && TERMINAL.has(session.jobs.get(id)?.state)) followMore();
}

function setLive(id, live) {
  const item = document.getElementById(`job-${id}`);
  if (item) field(item, "live").hidden = !live;
}

/** Parses a `text/event-stream` body, calling `onEvent(type, data)` for each event. */
async function readEvents(body, onEvent) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let type = "message";
  let data = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    const lines = buffer.split("\n");
    buffer = lines.pop(); // the unfinished last line waits for more
    for (const raw of lines) {
      const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
      if (line === "") {
        if (data.length) onEvent(type, data.join("\n"));
        type = "message";
        data = [];
        continue;
      }
      if (line.startsWith(":")) continue; // a keep-alive comment
      const colon = line.indexOf(":");
      const name = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (name === "event") type = value;
      else if (name === "data") data.push(value);
    }
  }
}

// ---- Job actions --------------------------------------------------------------------

/** The error CSV needs the Authorization header: fetched here, saved from a Blob URL. */
function downloadErrors(id) {
  return downloadCsv(id, "download", "errors", "The failed rows");
}

/** The rows a cancelled or failed job never got to, byte for byte as uploaded. */
function downloadUnprocessed(id) {
  return downloadCsv(id, "unprocessed", "unprocessed", "The rows not imported");
}

/** Saves the job's `{file}.csv` as `{file}-{id}.csv`; `what` names it in the notice. */
async function downloadCsv(id, action, file, what) {
  const item = document.getElementById(`job-${id}`);
  const button = item.querySelector(`[data-action=${action}]`);
  button.disabled = true;
  try {
    const response = await api(`jobs/${encodeURIComponent(id)}/${file}.csv`, {
      headers: { Accept: "text/csv" },
    });
    const blob = await response.blob();
    const url = URL.createObjectURL(blob);
    const link = document.createElement("a");
    link.href = url;
    link.download = `${file}-${id}.csv`;
    document.body.append(link);
    link.click();
    link.remove();
    // The download starts after click() returns; the URL must live until it has.
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
    notice(id, `${what} were downloaded.`, "success");
  } catch (error) {
    notice(id, `${what} could not be downloaded. ${error.message}`, "error");
  } finally {
    button.disabled = false;
  }
}

async function cancelJob(id) {
  const job = session.jobs.get(id);
  const question = job.reverts_job_id
    ? `Cancel this undo (“${job.file_name}”)? Rows already undone stay undone.`
    : `Cancel the import of “${job.file_name}”? Rows already imported stay.`;
  if (!window.confirm(question)) return;
  const button = document.getElementById(`job-${id}`).querySelector("[data-action=cancel]");
  button.disabled = true;
  try {
    const response = await api(`jobs/${encodeURIComponent(id)}/cancel`, { method: "POST" });
    const body = await response.json();
    updateJob(body.data);
    if (!TERMINAL.has(body.data.state)) {
      notice(id, "Stopping after the rows being imported now…");
      followMore();
    }
  } catch (error) {
    notice(id, `The import could not be cancelled. ${error.message}`, "error");
  } finally {
    button.disabled = false;
  }
}

// ---- Undoing an import: a check of the revert first, then the revert itself ----------

/** Shows `text` in the plural or singular: `plural(3, "row", "rows")` is "3 rows". */
const plural = (n, one, many) => `${count(n)} ${n === 1 ? one : many}`;

function setUpUndo(item, id) {
  const button = item.querySelector("[data-action=undo]");
  button.addEventListener("click", () => checkUndo(item, id));
  item.querySelector("[data-action=keep-import]").addEventListener("click", () => {
    endUndo(item);
    button.focus();
  });
  item.querySelector("[data-action=confirm-undo]").addEventListener("click", () => confirmUndo(item, id));
}

/** What a revert job shows (the job it undoes, its own counts) and what a reverted job
 *  shows (the job that undid it); the Undo button where an admin may use it. */
function drawRevert(item, job) {
  const revert = Boolean(job.reverts_job_id);
  field(item, "revert-badge").hidden = !revert;
  field(item, "import-counts").hidden = revert;
  field(item, "revert-counts").hidden = !revert;
  if (revert) {
    // A check (validate_only) counts what the revert would do and changes nothing.
    field(item, "deleted-label").textContent = job.dry_run ? "Would delete" : "Deleted";
    field(item, "restored-label").textContent = job.dry_run ? "Would restore" : "Restored";
    field(item, "deleted").textContent = count(job.deleted_rows);
    field(item, "restored").textContent = count(job.restored_rows);
    field(item, "conflicts").textContent = count(job.conflict_rows);
  }
  drawJobLink(item, "reverts", job.reverts_job_id);
  drawJobLink(item, "reverted-by", job.reverted_by_job_id);
  // The revert that undid this job, or is undoing it, or tried: a failed or cancelled one
  // leaves the job to be undone again.
  const by = job.reverted_by_job_id && session.jobs.get(job.reverted_by_job_id);
  const retry = Boolean(by) && (by.state === "failed" || by.state === "cancelled");
  const undoing = Boolean(by) && !TERMINAL.has(by.state);
  field(item, "reverted-by-text").textContent = retry
    ? `Undo ${by.state} in`
    : undoing
      ? "Being undone by"
      : "Undone by";
  // A revert job's failed rows are its conflicts: rows another job changed since, left as
  // they are. There is nothing to correct in them.
  field(item, "failed-title").textContent = revert ? "Conflicts: rows changed since" : "Fix failed rows";
  field(item, "failed-hint").textContent = revert
    ? "Another job changed these rows after the import: the undo left them as they are."
    : "Correct the marked cells, then submit: the rows you changed are imported again as a new " +
      "import, and rows that still fail show up there to fix again.";
  item.querySelector("[data-action=correct]").hidden = revert;
  item.querySelector("[data-action=cancel]").textContent = revert ? "Cancel undo" : "Cancel import";
  item.dataset.revert = String(revert);
  const undoable =
    session.admin && TERMINAL.has(job.state) && !job.dry_run && !revert && (!job.reverted_by_job_id || retry);
  // Hidden while its check or confirmation is shown, and once the API said no.
  item.querySelector("[data-action=undo]").hidden = !undoable || Boolean(item.dataset.undo);
  if (!undoable && item.dataset.undo === "confirm") endUndo(item);
}

/** The `name` line with its link to job `id`, hidden without one. */
function drawJobLink(item, name, id) {
  field(item, name).hidden = !id;
  if (!id) return;
  const link = field(item, `${name}-link`);
  link.href = `#job=${id}`;
  link.textContent = `job ${id.slice(0, 8)}`;
}

/** Starts the revert as a check (`validate_only`), follows that job to its end, and asks
 *  with its counts. */
async function checkUndo(item, id) {
  item.dataset.undo = "checking";
  item.querySelector("[data-action=undo]").hidden = true;
  field(item, "undo").hidden = false;
  field(item, "undo-choice").hidden = true;
  const text = field(item, "undo-text");
  show(text, "Checking what undoing this import would do…");
  show(field(item, "notice"), "");
  let check;
  try {
    check = await startRevert(id, true);
  } catch (error) {
    refusedUndo(item, id, error);
    return;
  }
  const ended = await whenEnded(check.id);
  if (item.dataset.undo !== "checking") return; // signed out meanwhile
  if (ended.state !== "completed") {
    endUndo(item);
    const why = ended.error ? `: ${ended.error}` : ".";
    notice(id, `The check of the undo did not complete (${STATES[ended.state].toLowerCase()})${why}`, "error");
    return;
  }
  item.dataset.undo = "confirm";
  show(
    text,
    `${plural(ended.deleted_rows, "row", "rows")} created by this import will be deleted, ` +
      `${plural(ended.restored_rows, "row it changed will be restored to its", "rows it changed will be restored to their")} previous values, ` +
      `${plural(ended.conflict_rows, "row", "rows")} changed since will be left alone (conflicts).`,
  );
  field(item, "undo-choice").hidden = false;
  item.querySelector("[data-action=keep-import]").focus();
}

/** Runs the revert for real and opens its job, followed live like any job. */
async function confirmUndo(item, id) {
  const buttons = field(item, "undo-choice").querySelectorAll("button");
  for (const button of buttons) button.disabled = true;
  try {
    const revert = await startRevert(id, false);
    endUndo(item);
    notice(id, `Undoing this import as job ${revert.id.slice(0, 8)}.`, "success");
    history.replaceState(null, "", `#job=${revert.id}`);
    openWanted();
    readJob(id); // it now names its revert, which neither answer above says
  } catch (error) {
    refusedUndo(item, id, error);
  } finally {
    for (const button of buttons) button.disabled = false;
  }
}

/** `POST /jobs/{id}/revert`: the new revert job joins the list and is followed. */
async function startRevert(id, check) {
  const response = await api(`jobs/${encodeURIComponent(id)}/revert?validate_only=${check}`, { method: "POST" });
  const job = (await response.json()).data;
  updateJob(job);
  session.total = (session.total || 0) + 1;
  renderListInfo();
  followMore();
  return job;
}

/** The API said no (in its own words): reverted already, changes no longer kept, …; the
 *  button stays away for this job, whose state is read again. */
function refusedUndo(item, id, error) {
  endUndo(item);
  if (error.status === 409) item.dataset.undo = "refused";
  item.querySelector("[data-action=undo]").hidden = error.status === 409;
  notice(id, `The import cannot be undone. ${error.message}`, "error");
  readJob(id);
}

/** Reads the job again and draws it; on failure the periodic refresh does it anyway. */
function readJob(id) {
  api(`jobs/${encodeURIComponent(id)}`)
    .then((response) => response.json())
    .then((body) => updateJob(body.data))
    .catch(() => {});
}

/** Closes the question; the Undo button shows again where it may. */
function endUndo(item) {
  if (item.dataset.undo !== "refused") delete item.dataset.undo;
  field(item, "undo").hidden = true;
  field(item, "undo-choice").hidden = true;
  show(field(item, "undo-text"), "");
  const job = session.jobs.get(item.dataset.jobId);
  if (job) drawRevert(item, job);
}

// ---- Fixing failed rows: an editable table of them, sent as a correction -------------

/** Failed rows loaded at a time (`GET /jobs/{id}/errors`). */
const FAILED_PAGE = 100;

function setUpFailedRows(item, id) {
  const details = field(item, "failed-rows");
  details.addEventListener("toggle", () => {
    if (details.open && !item.dataset.failedLoaded) loadFailedRows(item, id);
  });
  item.querySelector("[data-action=more-rows]").addEventListener("click", () => loadFailedRows(item, id));
  item.querySelector("[data-action=correct]").addEventListener("click", () => submitCorrections(item, id));
}

/** The job a correction fixes, the corrections of a job, and the table's place. */
function drawCorrections(item, job) {
  field(item, "parent").hidden = !job.parent_job_id;
  if (job.parent_job_id) {
    const link = field(item, "parent-link");
    link.href = `#job=${job.parent_job_id}`;
    link.textContent = `job ${job.parent_job_id.slice(0, 8)}`;
  }
  const corrections = field(item, "corrections");
  const list = job.corrections || [];
  corrections.replaceChildren();
  if (list.length) {
    corrections.append(list.length === 1 ? "Corrected by " : `Corrected by ${list.length} imports: `);
    for (const correction of list) {
      const link = document.createElement("a");
      link.href = `#job=${correction.id}`;
      link.textContent = `job ${correction.id.slice(0, 8)}`;
      corrections.append(link);
    }
  }
  corrections.hidden = list.length === 0;
  // Failed rows can be corrected once the job has ended; the table loads when opened.
  field(item, "failed-rows").hidden = !(TERMINAL.has(job.state) && job.total_error_rows > 0);
}

function headerCell(text) {
  const cell = document.createElement("th");
  cell.scope = "col";
  cell.textContent = text;
  return cell;
}

/** Appends the next page of the job's failed rows to its table. */
async function loadFailedRows(item, id) {
  const info = field(item, "failed-info");
  const offset = Number(item.dataset.failedOffset || 0);
  try {
    const response = await api(`jobs/${encodeURIComponent(id)}/errors?limit=${FAILED_PAGE}&offset=${offset}`);
    const rows = (await response.json()).data;
    const total = Number(response.headers.get("X-Total-Count")) || rows.length;
    item.dataset.failedLoaded = "true";
    if (!item.failedColumns && rows.length) {
      // Every failed row has the file's header, in its order.
      item.failedColumns = Object.keys(rows[0].values);
      field(item, "failed-head").replaceChildren(headerCell("Line"), ...item.failedColumns.map(headerCell));
    }
    const body = field(item, "failed-body");
    const readOnly = item.dataset.revert === "true";
    for (const row of rows) body.append(failedRow(row, item.failedColumns, readOnly));
    const shown = offset + rows.length;
    item.dataset.failedOffset = String(shown);
    const failed = session.jobs.get(id)?.total_error_rows || total;
    const stored = failed > total ? ` (the first ${numbers.format(total)} of ${numbers.format(failed)} are kept as data: fix the rest in the error CSV)` : "";
    show(info, `Showing ${numbers.format(shown)} of ${numbers.format(total)} failed rows${stored}.`);
    item.querySelector("[data-action=more-rows]").hidden = shown >= total;
  } catch (error) {
    show(info, `The failed rows could not be loaded. ${error.message}`, "error");
  }
}

/** One failed row: its line, then an input per column; cells with a problem are marked
 *  and say it (textContent only: values and names come from the uploaded file). A revert
 *  job's rows (`readOnly`) are shown, not edited, with the code of their problem. */
function failedRow(row, columns, readOnly) {
  const tr = document.createElement("tr");
  tr.dataset.line = String(row.line);
  const lineCell = document.createElement("td");
  lineCell.textContent = String(row.line);
  tr.append(lineCell);
  const said = (problem) => (readOnly ? `${problem.code}: ${problem.message}` : problem.message);
  const byColumn = new Map();
  for (const problem of row.problems) {
    if (problem.column === null) {
      const note = document.createElement("span");
      note.className = "cell-problem";
      note.dataset.codes = problem.code;
      note.textContent = said(problem);
      lineCell.append(note);
    } else {
      byColumn.set(problem.column, [...(byColumn.get(problem.column) || []), problem]);
    }
  }
  for (const column of columns) {
    const cell = document.createElement("td");
    const input = document.createElement("input");
    input.type = "text";
    input.value = row.values[column] ?? "";
    input.dataset.original = input.value;
    input.dataset.column = column;
    input.readOnly = readOnly;
    input.setAttribute("aria-label", `Line ${row.line}, ${column}`);
    input.addEventListener("input", () => cell.classList.toggle("edited", input.value !== input.dataset.original));
    cell.append(input);
    const problems = byColumn.get(column);
    if (problems) {
      const messages = problems.map(said).join("; ");
      cell.classList.add("problem");
      input.title = messages;
      const note = document.createElement("span");
      note.className = "cell-problem";
      note.dataset.codes = problems.map((problem) => problem.code).join(" ");
      note.textContent = messages;
      cell.append(note);
    }
    tr.append(cell);
  }
  return tr;
}

/** Posts the rows with a changed cell (only their changed cells) as a correction; the
 *  correction joins the list and is followed like an upload. */
async function submitCorrections(item, id) {
  const message = field(item, "correct-message");
  const rows = [];
  for (const tr of field(item, "failed-body").children) {
    const values = {};
    for (const input of tr.querySelectorAll("input")) {
      if (input.value !== input.dataset.original) values[input.dataset.column] = input.value;
    }
    if (Object.keys(values).length) rows.push({ line: Number(tr.dataset.line), values });
  }
  if (!rows.length) {
    show(message, "Change a cell first: only the rows you change are sent.", "error");
    return;
  }
  const button = item.querySelector("[data-action=correct]");
  button.disabled = true;
  show(message, "");
  try {
    const response = await api(`jobs/${encodeURIComponent(id)}/corrections`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ rows }),
    });
    const correction = (await response.json()).data;
    // The table is read afresh next time: the corrected rows stay failed rows of this job.
    field(item, "failed-rows").open = false;
    field(item, "failed-body").replaceChildren();
    delete item.dataset.failedLoaded;
    delete item.dataset.failedOffset;
    const sent = rows.length === 1 ? "1 corrected row was" : `${numbers.format(rows.length)} corrected rows were`;
    notice(id, `${sent} sent as a new import.`, "success");
    updateJob(correction);
    session.total = (session.total || 0) + 1;
    renderListInfo();
    const parent = await api(`jobs/${encodeURIComponent(id)}`);
    updateJob((await parent.json()).data);
    history.replaceState(null, "", `#job=${correction.id}`);
    openWanted();
    followMore();
  } catch (error) {
    show(message, `The corrections were refused. ${error.message}`, "error");
  } finally {
    button.disabled = false;
  }
}

// ---- The `#job=<id>` link (the error report email links here) ------------------------

function wantedFromHash() {
  const match = /^#job=([0-9a-fA-F-]{36})$/.exec(window.location.hash);
  return match ? match[1].toLowerCase() : null;
}

async function openWanted() {
  for (const item of document.querySelectorAll(".job.highlight")) item.classList.remove("highlight");
  session.wanted = wantedFromHash();
  const id = session.wanted;
  if (!id || !session.key) return;
  if (!session.jobs.has(id)) {
    try {
      const response = await api(`jobs/${id}`);
      const job = (await response.json()).data;
      if (!session.key) return;
      updateJob(job);
      followMore();
    } catch (error) {
      show($("jobs-message"), `The linked import could not be shown. ${error.message}`, "error");
      return;
    }
  }
  const item = document.getElementById(`job-${id}`);
  item.classList.add("highlight");
  item.scrollIntoView({ block: "center" });
  item.focus({ preventScroll: true });
}

// ---- Uploading ----------------------------------------------------------------------

/** The mapping textarea as an object of strings, `null` when empty; throws a readable Error. */
function parseMapping(text) {
  if (!text.trim()) return null;
  let value;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Error(`The column mapping is not valid JSON (${error.message}).`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new Error('The column mapping must be a JSON object, like {"Deal": "Opportunity Name"}.');
  }
  for (const [column, target] of Object.entries(value)) {
    if (typeof target !== "string") {
      throw new Error(`In the column mapping, “${column}” must map to a field name in quotes.`);
    }
  }
  return Object.keys(value).length ? value : null;
}

function pickFile(file) {
  session.file = file || null;
  $("file-info").textContent = file
    ? `${file.name} · ${numbers.format(Math.ceil(file.size / 1024))} KB`
    : "…or drop the file here.";
}

function submitUpload(event) {
  event.preventDefault();
  const message = $("upload-message");
  const mappingBox = $("mapping");
  mappingBox.removeAttribute("aria-invalid");
  if (!session.file) {
    show(message, "Choose a CSV file first.", "error");
    return;
  }
  let mapping;
  try {
    mapping = parseMapping(mappingBox.value);
  } catch (error) {
    $("mapping-details").open = true;
    mappingBox.setAttribute("aria-invalid", "true");
    mappingBox.focus();
    show(message, error.message, "error");
    return;
  }
  const kind = $("kind").value;
  const query = new URLSearchParams();
  if ($("send-error-email").checked) query.set("send_error_email", "true");
  if ($("validate-only").checked) query.set("validate_only", "true");
  if (mapping) query.set("mapping", JSON.stringify(mapping));
  const form = new FormData();
  const name = $("job-name").value.trim();
  if (name) form.append("name", name);
  form.append("file", session.file, session.file.name);

  // XMLHttpRequest, not fetch: only it reports the bytes sent.
  const request = new XMLHttpRequest();
  session.upload = request;
  const queryText = query.toString();
  request.open("POST", `${API}${kind}/upload${queryText ? `?${queryText}` : ""}`);
  request.setRequestHeader("Authorization", session.key);
  request.setRequestHeader("Accept", "application/json");
  request.responseType = "json";
  const bar = $("upload-bar");
  const fileName = session.file.name;
  request.upload.onprogress = (progress) => {
    if (!progress.lengthComputable) return;
    bar.max = progress.total;
    bar.value = progress.loaded;
    $("upload-percent").textContent = `${Math.floor((100 * progress.loaded) / progress.total)}%`;
  };
  request.onload = () => {
    if (request.status === 200 || request.status === 202) {
      const job = request.response.data;
      show(message, `“${fileName}” was uploaded; its import is ${job.state}.`, "success");
      // The kind, the email box and the mapping stay for the next file; a name does not.
      $("job-name").value = "";
      $("file").value = "";
      pickFile(null);
      history.replaceState(null, "", `#job=${job.id}`);
      session.wanted = job.id;
      updateJob(job);
      session.total = (session.total || 0) + 1;
      renderListInfo();
      openWanted();
      followMore();
    } else {
      const error = new ApiError(request.status, jsendMessage(request.response));
      if (error.status === 401) keyRejected(error);
      show(message, `The upload was refused. ${error.message}`, "error");
    }
  };
  request.onerror = () => {
    show(
      message,
      "The upload did not complete: the server could not be reached or closed the connection " +
        "(a file over the size limit ends that way too).",
      "error",
    );
  };
  request.onloadend = () => {
    session.upload = null;
    $("upload-button").disabled = false;
    $("upload-progress").hidden = true;
  };
  $("upload-button").disabled = true;
  bar.max = 100;
  bar.value = 0;
  $("upload-percent").textContent = "0%";
  $("upload-progress").hidden = false;
  show(message, "");
  request.send(form);
}

function setUpDropZone() {
  const zone = $("drop-zone");
  // A file dropped beside the zone would make the browser leave the page to show it.
  for (const type of ["dragover", "drop"]) window.addEventListener(type, (event) => event.preventDefault());
  zone.addEventListener("dragover", (event) => {
    event.dataTransfer.dropEffect = "copy";
    zone.classList.add("dragging");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", (event) => {
    zone.classList.remove("dragging");
    const files = event.dataTransfer.files;
    if (!files.length) return;
    $("file").files = files;
    pickFile(files[0]);
  });
}

// ---- Setup → API keys (`#setup/keys`) ------------------------------------------------

const SETUP_HASH = "#setup/keys";
const KEYS_LIMIT = 100;
const ROLES = { admin: "Admin", member: "Member" };
const KEY_STATES = { active: "Active", expired: "Expired", revoked: "Revoked" };

/** Shows the page the fragment names: the keys for `#setup/keys`, the imports otherwise. */
function route() {
  const setup = window.location.hash === SETUP_HASH;
  $("app").hidden = setup;
  $("setup-keys").hidden = !setup;
  const [current, other] = setup ? ["nav-keys", "nav-imports"] : ["nav-imports", "nav-keys"];
  $(current).setAttribute("aria-current", "page");
  $(other).removeAttribute("aria-current");
  if (setup) loadKeys().catch(keysFailed);
  else openWanted();
}

/** Signing out: nothing of the keys page may stay, the new secret least of all. */
function leaveSetup() {
  forgetSecret();
  $("setup-keys").hidden = true;
  $("keys").replaceChildren();
  $("key-form").reset();
  $("key-form").hidden = true;
  show($("key-form-message"), "");
  show($("keys-message"), "");
  show($("keys-more"), "");
}

function keysFailed(error) {
  if (error.status !== 401) show($("keys-message"), `The keys could not be listed. ${error.message}`, "error");
}

/** The key this tab signed in with is the listed one with the same prefix (the API shows
 *  each key's first ten characters, never the key). */
const ownPrefix = () => (session.key || "").slice(0, 10);

async function loadKeys() {
  const key = session.key;
  const response = await api(`keys?limit=${KEYS_LIMIT}`);
  const body = await response.json();
  if (session.key !== key) return;
  const total = Number(response.headers.get("X-Total-Count")) || body.data.length;
  const own = body.data.find((view) => view.prefix === ownPrefix());
  // A member key lists only itself, so more than one key means an admin's.
  const admin = own ? own.role === "admin" : total > 1;
  $("key-form").hidden = !admin;
  $("keys-intro").textContent = admin
    ? "Keys sign in to this page and to the API. Admin keys can upload, cancel and manage keys; member keys can read."
    : "This is your key. Only an administrator's key can see the tenant's other keys and create new ones.";
  $("keys").replaceChildren(...body.data.map((view) => keyRow(view, admin)));
  show($("keys-more"), total > body.data.length ? `Showing the newest ${KEYS_LIMIT} of ${numbers.format(total)} keys.` : "");
}

const when = (value) => (value ? times.format(new Date(value)) : "—");
const keyName = (view) => view.label || view.prefix;

function keyRow(view, admin) {
  const row = $("key-template").content.firstElementChild.cloneNode(true);
  row.id = `key-${view.id}`;
  row.dataset.keyId = view.id;
  row.dataset.state = view.state;
  const own = view.prefix === ownPrefix();
  row.classList.toggle("current", own);
  // textContent only: labels and emails are whatever people typed.
  const set = (name, text) => {
    row.querySelector(`[data-field=${name}]`).textContent = text;
  };
  set("label", view.label || "—");
  set("role", ROLES[view.role] || view.role);
  set("email", view.email);
  set("prefix", `${view.prefix}…`);
  set("created-by", view.created_by_email || (view.created_by ? "a key since removed" : "an operator"));
  set("created", when(view.created_at));
  set("last-used", view.last_used_at ? when(view.last_used_at) : "never");
  set("expires", view.expires_at ? when(view.expires_at) : "never");
  set("state", KEY_STATES[view.state] || view.state);
  const revoke = row.querySelector("[data-action=revoke]");
  const confirm = row.querySelector("[data-field=confirm]");
  revoke.hidden = view.state === "revoked" || !(admin || own);
  revoke.addEventListener("click", () => {
    row.querySelector("[data-field=confirm-text]").textContent = own
      ? `Revoke “${keyName(view)}”, the key you are signed in with? You will be signed out.`
      : `Revoke “${keyName(view)}”? It stops working at once.`;
    revoke.hidden = true;
    confirm.hidden = false;
    row.querySelector("[data-action=keep]").focus();
  });
  row.querySelector("[data-action=keep]").addEventListener("click", () => {
    confirm.hidden = true;
    revoke.hidden = false;
    revoke.focus();
  });
  row.querySelector("[data-action=confirm-revoke]").addEventListener("click", () => revokeKey(view, row));
  return row;
}

async function revokeKey(view, row) {
  const buttons = row.querySelectorAll("button");
  for (const button of buttons) button.disabled = true;
  try {
    const response = await api(`keys/${encodeURIComponent(view.id)}`, { method: "DELETE" });
    const revoked = (await response.json()).data;
    show($("keys-message"), `The key “${keyName(revoked)}” was revoked: it no longer works.`, "success");
    await loadKeys();
  } catch (error) {
    if (error.status === 401) return; // signed out: it was this tab's own key
    show($("keys-message"), `The key “${keyName(view)}” was not revoked. ${error.message}`, "error");
    for (const button of buttons) button.disabled = false;
    row.querySelector("[data-field=confirm]").hidden = true;
    row.querySelector("[data-action=revoke]").hidden = false;
  }
}

async function submitKey(event) {
  event.preventDefault();
  const message = $("key-form-message");
  const labelBox = $("key-label");
  labelBox.removeAttribute("aria-invalid");
  const label = labelBox.value.trim();
  if (!label) {
    labelBox.setAttribute("aria-invalid", "true");
    labelBox.focus();
    show(message, "Give the key a label, so that people can tell it from the others.", "error");
    return;
  }
  const body = { label, role: $("key-role").value };
  const email = $("key-email").value.trim();
  if (email) body.email = email;
  // A date input gives the day; the key stops working as that day starts, in UTC.
  const expires = $("key-expires").value;
  if (expires) body.expires_at = `${expires}T00:00:00Z`;
  const button = $("key-create");
  button.disabled = true;
  show(message, "");
  try {
    const response = await api("keys", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    const created = (await response.json()).data;
    $("key-secret-value").textContent = created.secret;
    show($("key-copy-message"), "");
    $("key-secret").hidden = false;
    $("key-form").reset();
    show(message, `The ${ROLES[created.role].toLowerCase()} key “${created.label}” was created for ${created.email}.`, "success");
    $("key-copy").focus();
    await loadKeys();
  } catch (error) {
    show(message, `The key was not created. ${error.message}`, "error");
  } finally {
    button.disabled = false;
  }
}

async function copySecret() {
  const element = $("key-secret-value");
  try {
    await navigator.clipboard.writeText(element.textContent);
    show($("key-copy-message"), "Copied to the clipboard.");
  } catch {
    // No clipboard permission (an insecure origin, say): select it for Ctrl+C instead.
    const range = document.createRange();
    range.selectNodeContents(element);
    window.getSelection().removeAllRanges();
    window.getSelection().addRange(range);
    show($("key-copy-message"), "The browser did not allow copying: the key is selected, copy it with Ctrl+C (⌘C).");
  }
}

/** The secret leaves the page once it is saved (and at sign-out). */
function forgetSecret() {
  $("key-secret-value").textContent = "";
  $("key-secret").hidden = true;
  show($("key-copy-message"), "");
}

// ---- Start --------------------------------------------------------------------------

function start() {
  $("sign-in-form").addEventListener("submit", submitSignIn);
  $("sign-out").addEventListener("click", () => signOut(""));
  $("upload-form").addEventListener("submit", submitUpload);
  $("file").addEventListener("change", () => pickFile($("file").files[0]));
  $("refresh").addEventListener("click", () => refreshJobs().catch(listFailed));
  window.addEventListener("hashchange", () => {
    if (session.key) route();
  });
  $("key-form").addEventListener("submit", submitKey);
  $("keys-refresh").addEventListener("click", () => {
    show($("keys-message"), "");
    loadKeys().catch(keysFailed);
  });
  $("key-copy").addEventListener("click", copySecret);
  $("key-secret-done").addEventListener("click", forgetSecret);
  setUpDropZone();
  const saved = sessionStorage.getItem(KEY_STORAGE);
  if (saved) {
    signIn(saved).catch((error) => {
      session.key = null;
      if (error.status === 401) sessionStorage.removeItem(KEY_STORAGE);
      show($("sign-in-error"), `Sign-in failed: ${error.detail || error.message}`, "error");
    });
  } else {
    $("api-key").focus();
  }
}

start();
