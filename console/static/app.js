// The cloudwallet operator console. Plain JavaScript, no libraries: every
// page is built with h() (text goes in as text, never as HTML), every call
// goes to the public REST API with the operator token, and the token lives
// in this tab's sessionStorage only.
"use strict";

const TOKEN = "cloudwallet.operatorToken";
const main = document.getElementById("main");
const errorBox = document.getElementById("error");
let refreshTimer = null; // the cluster page's refresh; stopped on every route change

// h builds an element: h("a", {href: "#"}, "text", child, ...).
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c !== null && c !== undefined) el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

class ApiError extends Error {
  constructor(httpStatus, code, message) {
    super(message);
    this.httpStatus = httpStatus;
    this.code = code;
  }
}

// api calls the REST API with the operator token; a non-2xx answer throws
// an ApiError with the answer's code and message.
async function api(method, path, body) {
  const opts = { method, headers: { Authorization: "Bearer " + sessionStorage.getItem(TOKEN) } };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, opts);
  } catch (e) {
    throw new ApiError(0, "NETWORK_ERROR", "the server did not answer: " + e.message);
  }
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
  if (!res.ok) {
    const code = (data && data.status) || "HTTP_" + res.status;
    const message = (data && data.message) || text || res.statusText;
    throw new ApiError(res.status, code, message);
  }
  return data;
}

function showError(e) {
  errorBox.replaceChildren();
  if (!e) { errorBox.hidden = true; return; }
  const code = e.code || "ERROR";
  const status = e.httpStatus ? e.httpStatus + " " : "";
  errorBox.append(h("span", {}, status), h("code", { class: "error-code" }, code), ": ", h("span", { class: "error-message" }, e.message));
  errorBox.hidden = false;
}

// guarded runs an action and shows its error, if any.
async function guarded(fn) {
  try {
    showError(null);
    await fn();
  } catch (e) {
    showError(e);
  }
}

const p = (project, path) => "/projects/" + encodeURIComponent(project) + path;
const when = (ms) => (ms ? new Date(ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC") : "");
const field = (label, input) => h("label", {}, label, input);

// pager renders page links for a page answer and calls go(page).
function pager(pg, go) {
  const pages = Math.max(1, Math.ceil(pg.total / pg.pageSize));
  return h("div", { class: "pager" },
    h("button", { type: "button", class: "quiet", disabled: pg.page === 0, onclick: () => go(pg.page - 1) }, "Previous"),
    h("span", {}, `page ${pg.page + 1} of ${pages} (${pg.total})`),
    h("button", { type: "button", class: "quiet", disabled: pg.page + 1 >= pages, onclick: () => go(pg.page + 1) }, "Next"));
}

// ---- sign-in ---------------------------------------------------------------

function signIn() {
  const token = h("input", { id: "token", type: "password", autocomplete: "off", required: true });
  main.replaceChildren(
    h("h2", {}, "Sign in"),
    h("p", { class: "muted" }, "The operator token is in the first node's data dir (operator.token). It stays in this tab only."),
    h("form", {
      id: "signin", onsubmit: (ev) => {
        ev.preventDefault();
        guarded(async () => {
          sessionStorage.setItem(TOKEN, token.value.trim());
          try {
            await api("GET", "/projects");
          } catch (e) {
            sessionStorage.removeItem(TOKEN);
            throw e;
          }
          go("#/projects");
        });
      },
    }, field("Operator token", token), h("button", { type: "submit" }, "Sign in")));
  token.focus();
}

document.getElementById("signout").addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN);
  go("#/signin");
});

// go shows a page: by changing the hash, or again if it is the page shown.
function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

// ---- projects and key pairs --------------------------------------------------

async function projects() {
  const list = await api("GET", "/projects");
  const name = h("input", { id: "new-project-name", required: true, maxlength: 200 });
  const groups = h("input", { id: "new-project-groups", type: "number", min: 1, value: 1 });
  main.replaceChildren(
    h("h2", {}, "Projects"),
    h("table", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "Id"), h("th", { class: "num" }, "Groups"), h("th", {}, "Created")),
      list.map((x) => h("tr", {}, h("td", {}, h("a", { href: "#/projects/" + x.id }, x.name)), h("td", {}, x.id),
        h("td", { class: "num" }, x.groups), h("td", {}, when(x.createdAt))))),
    h("h2", {}, "New project"),
    h("form", {
      id: "create-project", onsubmit: (ev) => {
        ev.preventDefault();
        guarded(async () => {
          const made = await api("POST", "/projects", { name: name.value, groups: Number(groups.value) });
          location.hash = "#/projects/" + made.id;
        });
      },
    }, field("Name", name), field("Shard groups", groups), h("button", { type: "submit" }, "Create")));
}

async function project(id) {
  const [proj, keys] = await Promise.all([api("GET", p(id, "")), api("GET", p(id, "/key-pairs"))]);
  const name = h("input", { id: "rename-project", value: proj.name, required: true, maxlength: 200 });
  const keyName = h("input", { id: "new-key-name", required: true, maxlength: 200 });
  const secretBox = h("div", { id: "new-key" });
  const custId = h("input", { id: "customer-search", required: true });
  const txId = h("input", { id: "tx-lookup", required: true });
  main.replaceChildren(
    h("h2", {}, "Project ", proj.name),
    h("p", { class: "muted" }, `${proj.id} · ${proj.groups} shard group(s) · created ${when(proj.createdAt)}`),
    h("form", {
      onsubmit: (ev) => {
        ev.preventDefault();
        guarded(async () => { await api("PUT", p(id, "/name"), { name: name.value }); await project(id); });
      },
    }, field("Name", name), h("button", { type: "submit" }, "Rename")),
    h("nav", {},
      h("a", { href: `#/projects/${id}/customers` }, "Customers"),
      h("a", { href: `#/projects/${id}/transactions` }, "Transactions")),
    h("h2", {}, "Assets"),
    h("table", {}, h("tr", {}, h("th", {}, "Code"), h("th", {}, "Name"), h("th", {}, "Id"), h("th", { class: "num" }, "Fractions"), h("th", {}, "Used")),
      (proj.assets || []).map((a) => h("tr", {}, h("td", {}, a.code), h("td", {}, a.name), h("td", {}, a.id), h("td", { class: "num" }, a.fractions), h("td", {}, a.used ? "yes" : "no")))),
    h("h2", {}, "Find"),
    h("form", {
      id: "find-customer", onsubmit: (ev) => { ev.preventDefault(); location.hash = `#/projects/${id}/customers/${encodeURIComponent(custId.value.trim())}`; },
    }, field("Customer id", custId), h("button", { type: "submit" }, "Find customer")),
    h("form", {
      id: "find-transaction", onsubmit: (ev) => { ev.preventDefault(); location.hash = `#/projects/${id}/transactions/${encodeURIComponent(txId.value.trim())}`; },
    }, field("Transaction id or referenceId", txId), h("button", { type: "submit" }, "Find transaction")),
    h("h2", {}, "Key pairs"),
    h("table", { id: "key-pairs" }, h("tr", {}, h("th", {}, "Name"), h("th", {}, "Id"), h("th", {}, "Created"), h("th", {}, "")),
      keys.map((k) => h("tr", {}, h("td", {}, k.name), h("td", {}, k.id), h("td", {}, when(k.createdAt)),
        h("td", {}, h("button", {
          type: "button", class: "danger", "aria-label": "Delete key pair " + k.name, onclick: () => {
            if (!confirm(`Delete key pair ${k.name}? Its keys stop working at once.`)) return;
            guarded(async () => { await api("DELETE", p(id, "/key-pairs/" + k.id)); await project(id); });
          },
        }, "Delete"))))),
    h("form", {
      id: "create-key", onsubmit: (ev) => {
        ev.preventDefault();
        guarded(async () => {
          const k = await api("POST", p(id, "/key-pairs"), { name: keyName.value });
          await project(id);
          document.getElementById("new-key").replaceChildren(...secrets(k));
        });
      },
    }, field("New key pair name", keyName), h("button", { type: "submit" }, "Create key pair")),
    secretBox);
}

// secrets shows a new key pair's secrets: once, never again.
function secrets(k) {
  const row = (label, value, id) => h("p", {}, label, ": ", h("code", { id }, value), " ",
    h("button", { type: "button", class: "quiet", onclick: () => navigator.clipboard && navigator.clipboard.writeText(value) }, "Copy"));
  return [h("div", { class: "secret", role: "status" },
    h("strong", {}, "Copy these now: they are shown once and cannot be read again."),
    row("Access Key", k.accessKey, "new-access-key"), row("Signature key", k.signatureKey, "new-signature-key"))];
}

// ---- customers, wallets, entries ---------------------------------------------

async function customers(id, page = 0) {
  const pg = await api("GET", p(id, `/customers?page=${page}&pageSize=20`));
  main.replaceChildren(
    h("h2", {}, h("a", { href: "#/projects/" + id }, "Project"), " · Customers"),
    h("table", {}, h("tr", {}, h("th", {}, "Id"), h("th", {}, "Name"), h("th", {}, "Status"), h("th", {}, "Created")),
      pg.items.map((c) => h("tr", {}, h("td", {}, h("a", { href: `#/projects/${id}/customers/${encodeURIComponent(c.id)}` }, c.id)),
        h("td", {}, c.name), h("td", {}, c.status), h("td", {}, when(c.createdAt))))),
    pager(pg, (n) => guarded(() => customers(id, n))));
}

async function customer(id, cid) {
  const path = p(id, "/customers/" + encodeURIComponent(cid));
  const [c, wallets] = await Promise.all([api("GET", path), api("GET", path + "/wallets")]);
  const act = (label, fn, cls) => h("button", { type: "button", class: cls, onclick: () => guarded(async () => { await fn(); await customer(id, cid); }) }, label);
  main.replaceChildren(
    h("h2", {}, h("a", { href: "#/projects/" + id }, "Project"), " · Customer ", c.id),
    h("p", {}, "Status: ", h("strong", { id: "customer-status" }, c.status), c.name ? ` · ${c.name}` : ""),
    h("div", { class: "pager" },
      c.status === "Active" ? act("Suspend", () => api("POST", path + "/suspend")) : null,
      c.status === "Suspended" ? act("Resume", () => api("POST", path + "/resume", [])) : null,
      c.status !== "Deleted" ? act("Delete", () => {
        if (!confirm(`Delete customer ${c.id}? Its name and description are wiped; this cannot be undone.`)) return Promise.resolve();
        return api("DELETE", path);
      }, "danger") : null),
    h("h2", {}, "Wallets"),
    walletTable(id, wallets));
}

function walletTable(id, wallets) {
  return h("table", {}, h("tr", {}, h("th", {}, "Id"), h("th", {}, "Name"), h("th", {}, "Asset"), h("th", {}, "Status"), h("th", { class: "num" }, "Balance")),
    wallets.map((w) => h("tr", {}, h("td", {}, h("a", { href: `#/projects/${id}/wallets/${w.id}` }, w.id)), h("td", {}, w.name),
      h("td", {}, w.assetId), h("td", {}, w.status), h("td", { class: "num" }, w.balance))));
}

async function wallet(id, wid, page = 0) {
  const path = p(id, "/wallets/" + encodeURIComponent(wid));
  const [w, pg] = await Promise.all([api("GET", path), api("GET", path + `/entries?page=${page}&pageSize=20`)]);
  const status = h("select", { id: "wallet-status" }, ["Open", "Suspended", "Closed"].map((s) => h("option", { value: s, selected: s === w.status }, s)));
  main.replaceChildren(
    h("h2", {}, h("a", { href: "#/projects/" + id }, "Project"), " · Wallet ", w.id),
    h("p", {}, "Balance: ", h("strong", { id: "wallet-balance" }, w.balance),
      w.availableBalance !== undefined ? [" · available: ", h("strong", {}, w.availableBalance)] : "",
      ` · ${w.status} · asset ${w.assetId}`, w.customerId ? [" · customer ", h("a", { href: `#/projects/${id}/customers/${encodeURIComponent(w.customerId)}` }, w.customerId)] : " · system wallet"),
    h("form", {
      onsubmit: (ev) => {
        ev.preventDefault();
        guarded(async () => { await api("PUT", path + "/status", { status: status.value }); await wallet(id, wid, page); });
      },
    }, field("Status", status), h("button", { type: "submit" }, "Set status")),
    h("h2", {}, "Entries"),
    h("table", { id: "entries" }, h("tr", {}, h("th", {}, "Time"), h("th", {}, "Type"), h("th", { class: "num" }, "Amount"), h("th", { class: "num" }, "Balance after"), h("th", {}, "Transaction"), h("th", {}, "Counterparty")),
      pg.items.map((e) => h("tr", {}, h("td", {}, when(e.createdAt)), h("td", {}, e.type), h("td", { class: "num" }, e.amount),
        h("td", { class: "num" }, e.balance), h("td", {}, h("a", { href: `#/projects/${id}/transactions/${e.transactionId}` }, e.transactionId)), h("td", {}, e.counterpartyWalletId || "")))),
    pager(pg, (n) => guarded(() => wallet(id, wid, n))));
}

// ---- transactions ------------------------------------------------------------

function txRow(id, t) {
  const err = t.error ? `${t.error.code} at operation ${t.error.operationIndex}: ${t.error.message}` : "";
  return h("tr", {}, h("td", {}, h("a", { href: `#/projects/${id}/transactions/${t.id}` }, t.id)), h("td", {}, t.referenceId),
    h("td", {}, t.status), h("td", {}, when(t.createdAt)), h("td", { class: "tx-error" }, err));
}

async function transactions(id, page = 0, from = "", to = "", status = "") {
  const q = `page=${page}&pageSize=20` + (from ? "&from=" + Date.parse(from) : "") + (to ? "&to=" + Date.parse(to) : "") +
    (status ? "&status=" + status : "");
  const pg = await api("GET", p(id, "/transactions?" + q));
  const fromIn = h("input", { type: "datetime-local", value: from }), toIn = h("input", { type: "datetime-local", value: to });
  const statusIn = h("select", { id: "tx-status-filter" },
    ["", "Completed", "Failed", "Held", "Voided", "Expired"].map((v) => h("option", { value: v, selected: v === status }, v || "any")));
  main.replaceChildren(
    h("h2", {}, h("a", { href: "#/projects/" + id }, "Project"), " · Transactions"),
    h("form", { id: "tx-filter", onsubmit: (ev) => { ev.preventDefault(); guarded(() => transactions(id, 0, fromIn.value, toIn.value, statusIn.value)); } },
      field("From", fromIn), field("To (before)", toIn), field("Status", statusIn), h("button", { type: "submit" }, "Filter")),
    h("table", {}, h("tr", {}, h("th", {}, "Id"), h("th", {}, "ReferenceId"), h("th", {}, "Status"), h("th", {}, "Created"), h("th", {}, "Failure")),
      pg.items.map((t) => txRow(id, t))),
    pager(pg, (n) => guarded(() => transactions(id, n, from, to, status))));
}

// holdTerms shows a hold's terms and, while it is Held, its capture and
// void (a void asks first: it releases the reservation for good).
function holdTerms(id, t) {
  if (!t.hold) return "";
  const end = (verb) => () => guarded(async () => {
    await api("POST", p(id, `/transactions/${t.id}/${verb}`));
    await transaction(id, t.id);
  });
  return h("p", { id: "tx-hold" }, "Hold: ",
    t.hold.expiresAt ? `expires ${when(t.hold.expiresAt)}` : "never expires",
    t.hold.finishedAt ? ` · ended ${when(t.hold.finishedAt)}` : "",
    t.status === "Held" ? h("span", {}, " ",
      h("button", { type: "button", id: "tx-capture", onclick: end("capture") }, "Capture"), " ",
      h("button", { type: "button", id: "tx-void", onclick: () => { if (confirm(`Void hold ${t.id}? Its reservation is released.`)) end("void")(); } }, "Void")) : "");
}

// transaction looks a transaction up by its id, else by its referenceId.
async function transaction(id, key) {
  let t;
  try {
    t = await api("GET", p(id, "/transactions/" + encodeURIComponent(key)));
  } catch (e) {
    if (e.httpStatus !== 404) throw e;
    const pg = await api("GET", p(id, "/transactions?page=0&referenceId=" + encodeURIComponent(key)));
    if (!pg.items.length) throw e;
    t = pg.items[0];
  }
  main.replaceChildren(
    h("h2", {}, h("a", { href: "#/projects/" + id }, "Project"), " · Transaction ", t.id),
    h("p", {}, "ReferenceId: ", h("strong", { id: "tx-reference" }, t.referenceId), " · status: ", h("strong", { id: "tx-status" }, t.status), " · ", when(t.createdAt)),
    t.error ? h("p", { class: "secret", id: "tx-failure" }, "Failed: ", h("code", {}, t.error.code), ` at operation ${t.error.operationIndex}: ${t.error.message}`) : "",
    holdTerms(id, t),
    h("table", {}, h("tr", {}, h("th", {}, "#"), h("th", {}, "Type"), h("th", {}, "Source"), h("th", {}, "Destination"), h("th", { class: "num" }, "Amount")),
      t.operations.map((o, i) => h("tr", { class: t.error && t.error.operationIndex === i ? "failed" : "" }, h("td", {}, i), h("td", {}, o.type),
        h("td", {}, o.sourceWalletId ? h("a", { href: `#/projects/${id}/wallets/${o.sourceWalletId}` }, o.sourceWalletId) : ""),
        h("td", {}, o.destinationWalletId ? h("a", { href: `#/projects/${id}/wallets/${o.destinationWalletId}` }, o.destinationWalletId) : ""),
        h("td", { class: "num" }, o.amount)))));
}

// ---- cluster -----------------------------------------------------------------

const samples = []; // {t, count, buckets} from /metrics, for the chart
async function sample() {
  const res = await fetch("/metrics", { headers: { Authorization: "Bearer " + sessionStorage.getItem(TOKEN) } });
  if (!res.ok) return;
  const text = await res.text();
  let count = 0;
  const buckets = new Map();
  for (const line of text.split("\n")) {
    if (line.startsWith("cloudwallet_http_request_duration_seconds_count")) count += Number(line.split(" ").pop());
    else if (line.startsWith("cloudwallet_http_request_duration_seconds_bucket")) {
      const le = /le="([^"]+)"/.exec(line)[1];
      buckets.set(le, (buckets.get(le) || 0) + Number(line.split(" ").pop()));
    }
  }
  samples.push({ t: Date.now(), count, buckets });
  if (samples.length > 61) samples.shift();
}

// rates turns consecutive samples into requests/s and p99 (ms).
function rates() {
  const out = [];
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1], b = samples[i], dt = (b.t - a.t) / 1000;
    const n = b.count - a.count;
    let p99 = 0;
    if (n > 0) {
      const les = [...b.buckets.keys()].filter((k) => k !== "+Inf").map(Number).sort((x, y) => x - y);
      for (const le of les) {
        const key = [...b.buckets.keys()].find((k) => Number(k) === le);
        if (b.buckets.get(key) - (a.buckets.get(key) || 0) >= 0.99 * n) { p99 = le * 1000; break; }
      }
    }
    out.push({ rps: n / dt, p99 });
  }
  return out;
}

function chart(canvas, points) {
  const ctx = canvas.getContext("2d"), W = canvas.width, H = canvas.height;
  ctx.clearRect(0, 0, W, H);
  const line = (vals, color, label, y0) => {
    const max = Math.max(1, ...vals);
    ctx.strokeStyle = color; ctx.beginPath();
    vals.forEach((v, i) => { const x = (i / Math.max(1, vals.length - 1)) * (W - 10) + 5, y = H - 20 - (v / max) * (H - 40); i ? ctx.lineTo(x, y) : ctx.moveTo(x, y); });
    ctx.stroke();
    ctx.fillStyle = color; ctx.font = "13px system-ui";
    ctx.fillText(`${label}: ${vals.length ? Math.round(vals[vals.length - 1]) : 0} (max ${Math.round(max)})`, 8, y0);
  };
  line(points.map((p) => p.rps), "#0b57d0", "requests/s", 16);
  line(points.map((p) => p.p99), "#b3261e", "p99 ms", 32);
}

async function cluster() {
  const [st, ready] = await Promise.all([api("GET", "/cluster"), fetch("/readyz").then(async (r) => ({ ok: r.ok, text: await r.text() }))]);
  await sample();
  const canvas = h("canvas", { id: "chart", width: 640, height: 180, role: "img", "aria-label": "requests per second and p99 latency, sampled from /metrics every 2 seconds" });
  main.replaceChildren(
    h("h2", {}, "Cluster"),
    h("p", {}, "Readiness of this node: ", h("strong", { id: "readiness" }, ready.ok ? "ready" : "not ready"), ready.ok ? "" : h("span", { class: "muted" }, " ", ready.text)),
    h("p", { class: "muted" }, `Answered by ${st.node}; ${st.replicas} replicas per group; layout version ${st.layoutVersion}. Refreshes every 2 s.`),
    canvas,
    ...st.groups.flatMap((g) => [
      h("h2", {}, g.meta ? `Group ${g.group} (meta)` : `Group ${g.group} (${g.shards} shards)`, g.leader ? ` · leader ${g.leader}, term ${g.term}` : " · no leader", g.error ? ` · ${g.error}` : ""),
      h("table", { class: "group" }, h("tr", {}, h("th", {}, "Node"), h("th", {}, "Address"), h("th", {}, "Suffrage"), h("th", {}, "Role"), h("th", { class: "num" }, "Term"), h("th", { class: "num" }, "Applied")),
        g.nodes.map((n) => h("tr", {}, h("td", {}, n.id), h("td", {}, n.addr), h("td", {}, n.suffrage), h("td", {}, n.error ? "unreachable" : n.state),
          h("td", { class: "num" }, n.term || ""), h("td", { class: "num" }, n.appliedIndex || ""))))]));
  chart(canvas, rates());
  refreshTimer = setTimeout(() => { if (location.hash === "#/cluster") guarded(cluster); }, 2000);
}

// ---- routing -----------------------------------------------------------------

async function route() {
  clearTimeout(refreshTimer);
  const signedIn = !!sessionStorage.getItem(TOKEN);
  document.getElementById("nav").hidden = !signedIn;
  if (!signedIn) { showError(null); signIn(); return; }
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  await guarded(async () => {
    switch (true) {
      case parts[0] === "cluster": return cluster();
      case parts[0] === "projects" && parts.length === 1: return projects();
      case parts[0] === "projects" && parts.length === 2: return project(parts[1]);
      case parts[2] === "customers" && parts.length === 3: return customers(parts[1]);
      case parts[2] === "customers" && parts.length === 4: return customer(parts[1], parts[3]);
      case parts[2] === "wallets" && parts.length === 4: return wallet(parts[1], parts[3]);
      case parts[2] === "transactions" && parts.length === 3: return transactions(parts[1]);
      case parts[2] === "transactions" && parts.length === 4: return transaction(parts[1], parts[3]);
      default: location.hash = "#/projects";
    }
  });
}

window.addEventListener("hashchange", route);
route();
