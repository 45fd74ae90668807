// caddy-paas dashboard: the terminal page. It opens the API's WebSocket
// <api>/apps/{name}/terminal on this site (the session cookie goes along;
// the API authorizes the socket before it upgrades) and bridges it to an
// xterm.js Terminal: binary messages carry the TTY's bytes both ways, text
// messages are JSON controls ({"type":"resize","cols":N,"rows":M}). The
// socket closes normally, with a reason, when the command ends.
//
// xterm.js and its fit addon are vendored (scripts/assets.sh) and loaded
// before this script; they define the globals Terminal and FitAddon.
(function () {
  "use strict";

  var form = document.querySelector("form[data-terminal]");
  if (!form) return;

  var API = meta("api-prefix") || "/api/v1";
  var screen = document.getElementById("terminal-screen");
  var state = document.getElementById("terminal-state");
  var openButton = form.querySelector('button[type="submit"]');
  var closeButton = form.querySelector("[data-terminal-close]");
  var encoder = new TextEncoder();
  // How long after Escape a Tab leaves the terminal instead of reaching
  // the command.
  var LEAVE_MS = 2000;

  var term = null;
  var fit = null;
  // session is the open socket and what the page knows of it, or null.
  var session = null;

  function meta(name) {
    var m = document.querySelector('meta[name="' + name + '"]');
    return m ? m.getAttribute("content") : "";
  }

  function show(msg, kind) {
    state.textContent = msg;
    state.className = "terminal-state" + (kind ? " " + kind : "");
  }

  if (typeof window.Terminal !== "function" || !window.FitAddon || typeof window.WebSocket !== "function") {
    show("The terminal cannot run in this browser: xterm.js or WebSockets are missing.", "error");
    openButton.disabled = true;
    return;
  }

  // args splits the command on white space. The API takes an argument
  // array (one cmd parameter per argument) and runs it without a shell.
  function args(text) {
    return text.split(/\s+/).filter(Boolean);
  }

  function socketURL(cmd, replica) {
    var q = new URLSearchParams();
    cmd.forEach(function (a) { q.append("cmd", a); });
    if (replica) q.set("replica", replica);
    // data-app is the app's name already escaped for a path.
    return (location.protocol === "https:" ? "wss:" : "ws:") + "//" + location.host +
      API + "/apps/" + form.dataset.app + "/terminal?" + q.toString();
  }

  function send(data) {
    if (session && session.ws.readyState === WebSocket.OPEN) session.ws.send(data);
  }

  function sendSize() {
    if (term) send(JSON.stringify({ type: "resize", cols: term.cols, rows: term.rows }));
  }

  // leaveKey lets a keyboard user out of the terminal, which otherwise
  // takes Tab for the command: Escape (sent on as usual), then Tab or
  // Shift+Tab moves the focus as it does elsewhere on the page. It listens
  // on the terminal's box in the capture phase, so that xterm.js never
  // sees that Tab (a key that xterm saw go down and not up would leave it
  // waiting for the key's release).
  var escapeAt = -1;
  function leaveKey(ev) {
    if (ev.key === "Escape") {
      escapeAt = ev.timeStamp;
    } else if (ev.key === "Tab" && escapeAt >= 0 && ev.timeStamp - escapeAt < LEAVE_MS) {
      escapeAt = -1;
      ev.stopPropagation(); // not for xterm: the browser moves the focus
    } else if (ev.key !== "Shift") {
      escapeAt = -1;
    }
  }

  function refit() {
    if (!term || screen.hidden) return;
    try { fit.fit(); } catch (e) { /* not laid out yet */ }
  }

  function makeTerminal() {
    term = new window.Terminal({
      cursorBlink: true,
      scrollback: 5000,
      fontSize: 14,
      fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", monospace'
    });
    fit = new window.FitAddon.FitAddon();
    term.loadAddon(fit);
    term.onData(function (data) { send(encoder.encode(data)); });
    // Some mouse reports are bytes, one per character.
    term.onBinary(function (data) {
      var b = new Uint8Array(data.length);
      for (var i = 0; i < data.length; i++) b[i] = data.charCodeAt(i) & 255;
      send(b);
    });
    term.onResize(sendSize);
    screen.addEventListener("keydown", leaveKey, true);
    screen.hidden = false;
    term.open(screen);
    if (term.textarea) term.textarea.setAttribute("aria-label", "Terminal input");
    if (typeof window.ResizeObserver === "function") {
      new ResizeObserver(refit).observe(screen);
    } else {
      window.addEventListener("resize", refit);
    }
  }

  // note writes a line of the page's own into the terminal, dimmed.
  function note(text) {
    if (term) term.write("\r\n\x1b[2m[" + text.replace(/[\x00-\x1f\x7f]/g, "") + "]\x1b[0m\r\n");
  }

  function capital(s) {
    return s.charAt(0).toUpperCase() + s.slice(1);
  }

  function connect(cmd, replica) {
    if (session) return;
    if (!term) makeTerminal(); else term.reset();
    term.options.disableStdin = false;
    term.options.cursorBlink = true;
    refit();
    var url = socketURL(cmd, replica);
    var ws;
    try {
      ws = new WebSocket(url);
    } catch (e) {
      show("The terminal could not be opened: " + e.message, "error");
      return;
    }
    ws.binaryType = "arraybuffer";
    var s = { ws: ws, opened: false, closing: false };
    session = s;
    openButton.disabled = true;
    closeButton.disabled = false;
    show("Connecting…");

    ws.onopen = function () {
      s.opened = true;
      show("Connected: " + cmd.join(" ") + (replica ? " (replica " + replica + ")" : "") + ".");
      sendSize();
      term.focus();
    };
    ws.onmessage = function (ev) {
      if (ev.data instanceof ArrayBuffer) term.write(new Uint8Array(ev.data));
    };
    // An error is always followed by close, which says what happened.
    ws.onclose = function (ev) {
      session = null;
      var hadFocus = screen.contains(document.activeElement) || document.activeElement === closeButton;
      openButton.disabled = false;
      closeButton.disabled = true;
      term.options.disableStdin = true;
      term.options.cursorBlink = false;
      if (hadFocus) openButton.focus();
      if (s.closing) {
        show("Closed: the command was ended.");
        note("closed");
      } else if (!s.opened) {
        explain(url);
      } else if (ev.code === 1000) {
        var why = ev.reason || "the command ended";
        show(capital(why) + ".");
        note(why);
      } else {
        var lost = "the connection was lost" + (ev.reason ? ": " + ev.reason : " (code " + ev.code + ")");
        show(capital(lost) + ".", "error");
        note(lost);
      }
    };
  }

  // explain finds out why a socket did not open: a browser learns nothing
  // of a refused upgrade. The same address without the upgrade is
  // authorized as the socket was; if that passes, the API answers that
  // it wants a WebSocket, and the refusal was the replica's or the
  // command's.
  async function explain(url) {
    var resp;
    var data = null;
    try {
      resp = await fetch(url.replace(/^ws/, "http"), { headers: { "Accept": "application/json" }, credentials: "same-origin", cache: "no-store" });
      try { data = await resp.json(); } catch (e) { data = null; }
    } catch (e) {
      show("The server could not be reached: check the connection and try again.", "error");
      return;
    }
    var msg = data && typeof data.error === "string" ? data.error : "";
    if (resp.status === 401) {
      show("Your session has ended: reload the page and log in again.", "error");
    } else if (resp.status === 400 && /websocket/i.test(msg)) {
      show("The terminal could not be opened: no replica of the app is running" +
        (form.elements.namedItem("replica") ? " (or none has the container id you gave)" : "") +
        ", or the command could not start in it.", "error");
    } else if (msg) {
      show("The terminal could not be opened: " + msg, "error");
    } else {
      show("The terminal could not be opened (HTTP " + resp.status + ").", "error");
    }
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var cmd = args(form.elements.namedItem("cmd").value);
    if (!cmd.length) {
      show("Enter a command, such as /bin/sh.", "error");
      return;
    }
    var field = form.elements.namedItem("replica");
    connect(cmd, field ? field.value.trim() : "");
  });

  closeButton.addEventListener("click", function () {
    if (!session) return;
    session.closing = true;
    show("Closing…");
    session.ws.close(1000, "closed by the user");
  });
})();
