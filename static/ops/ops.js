/* /ops/ live dashboard: one websocket, a deduplicated activity feed, panel refresh by domain.
 *
 * Server messages (opsportal/dashboard/consumers.py):
 *   {type: "hello", domains}, {type: "event", domain, text, event: {id, type, at, aggregate, data}},
 *   {type: "caught_up", count, complete}, {type: "pong"}, {type: "error", detail}.
 * On every (re)connect the page asks for what it missed: {type: "catch_up", after: <last event id>}.
 */
(function () {
  "use strict";

  var root = document.getElementById("ops-dashboard");
  if (!root) return;
  var feed = document.getElementById("ops-feed");
  var statusEl = document.getElementById("ops-connection");
  var MAX_FEED = parseInt(feed.dataset.maxItems || "100", 10);
  var MAX_SEEN = 1000;
  var BACKOFF_MIN_MS = 500;
  var BACKOFF_MAX_MS = 15000;
  var REFRESH_DEBOUNCE_MS = 200;

  var seen = new Set();
  var lastEventId = root.dataset.cursor || null;
  var socket = null;
  var attempts = 0;
  var everConnected = false;
  var reconnectTimer = null;
  var refreshTimers = new Map();

  feed.querySelectorAll("[data-event-id]").forEach(function (li) { seen.add(li.dataset.eventId); });

  function setStatus(state, text) {
    statusEl.dataset.state = state;
    statusEl.textContent = text;
  }

  function remember(id) {
    seen.add(id);
    if (seen.size > MAX_SEEN) seen.delete(seen.values().next().value);
  }

  function fallbackText(event) {
    // The server sends msg.text (opsportal/dashboard/sentences.py); this is only for an older server.
    var parts = String(event.type || "event").split(".");
    var words = parts.join(" ").replace(/_/g, " ");
    var data = event.data || {};
    var name = data.name || data.slug || data.username || data.title || "";
    return (words.charAt(0).toUpperCase() + words.slice(1) + (name ? " " + name : "")).trim();
  }

  function eventItem(domain, event, text) {
    // Built with textContent only: event data is never parsed as HTML.
    var li = document.createElement("li");
    li.className = "ops-event ops-new";
    li.dataset.eventId = event.id;
    li.dataset.domain = domain;
    li.dataset.eventType = event.type;
    var time = document.createElement("time");
    time.dateTime = event.at;
    time.textContent = String(event.at).slice(11, 19);
    var sentence = document.createElement("span");
    sentence.className = "ops-text";
    sentence.textContent = text || fallbackText(event);
    var meta = document.createElement("span");
    meta.className = "ops-meta";
    var dom = document.createElement("span");
    dom.className = "ops-domain";
    dom.textContent = domain;
    var type = document.createElement("code");
    type.className = "ops-type";
    type.textContent = event.type;
    meta.append(dom, " ", type);
    li.append(time, " ", sentence, " ", meta);
    return li;
  }

  function refreshPanel(el) {
    var key = el.dataset.panelKey;
    clearTimeout(refreshTimers.get(key));
    refreshTimers.set(key, setTimeout(function () {
      var body = el.querySelector(".ops-panel-body");
      if (window.htmx) {
        // The panel body is the source too: with no source htmx uses document.body for every call,
        // and a second panel refreshing while the first is in flight would be dropped.
        window.htmx.ajax("GET", el.dataset.panelUrl, { source: body, target: body, swap: "innerHTML" });
      }
    }, REFRESH_DEBOUNCE_MS));
  }

  function refreshDomain(domain) {
    root.querySelectorAll("[data-panel-url]").forEach(function (el) {
      var d = el.dataset.panelDomain;
      if (d === "*" || domain === "*" || d === domain) refreshPanel(el);
    });
  }

  function onEvent(domain, event, text) {
    if (!event || !event.id || seen.has(event.id)) return;
    remember(event.id);
    lastEventId = event.id;
    var li = eventItem(domain, event, text);
    feed.prepend(li);
    setTimeout(function () { li.classList.remove("ops-new"); }, 5000);
    while (feed.children.length > MAX_FEED) feed.lastElementChild.remove();
    refreshDomain(domain);
  }

  function onMessage(msg) {
    if (msg.type === "event") {
      onEvent(msg.domain, msg.event, msg.text);
    } else if (msg.type === "hello") {
      attempts = 0;
      setStatus("open", "live");
    } else if (msg.type === "caught_up" && !msg.complete) {
      refreshDomain("*"); // the feed alone cannot rebuild the panels: re-read them all
    } else if (msg.type === "error") {
      console.warn("ops socket:", msg.detail);
    }
  }

  function scheduleReconnect() {
    attempts += 1;
    var ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * Math.pow(2, attempts - 1));
    var delay = Math.round(ceiling / 2 + Math.random() * ceiling / 2);
    setStatus("reconnecting", "reconnecting in " + Math.ceil(delay / 1000) + " s…");
    reconnectTimer = setTimeout(connect, delay);
  }

  function connect() {
    reconnectTimer = null;
    var scheme = location.protocol === "https:" ? "wss:" : "ws:";
    var ws = new WebSocket(scheme + "//" + location.host + root.dataset.wsPath);
    socket = ws;
    setStatus(everConnected ? "reconnecting" : "connecting", everConnected ? "reconnecting…" : "connecting…");
    ws.onopen = function () {
      ws.send(JSON.stringify({ type: "catch_up", after: lastEventId }));
      if (everConnected) refreshDomain("*"); // state may have moved on while we were away
      everConnected = true;
    };
    ws.onmessage = function (e) {
      var msg;
      try { msg = JSON.parse(e.data); } catch (err) { return; }
      onMessage(msg);
    };
    ws.onclose = function () {
      if (socket !== ws) return;
      socket = null;
      scheduleReconnect();
    };
  }

  window.addEventListener("online", function () {
    if (reconnectTimer !== null) { clearTimeout(reconnectTimer); connect(); }
  });

  // A small handle for debugging from the console (and for browser tests).
  window.opsDashboard = {
    get socket() { return socket; },
    get lastEventId() { return lastEventId; },
  };

  connect();
})();
