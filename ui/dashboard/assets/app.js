// caddy-paas dashboard. The pages come rendered from the server; this
// script only sends the actions: each one is a fetch() to the public API
// with the session's X-CSRF-Token, and says what happened in the status
// line. Data is written into the page with textContent, never as HTML.
(function () {
  "use strict";

  var API = meta("api-prefix") || "/api/v1";
  var CSRF = meta("csrf-token");
  var ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
  var MASK = "********";
  var MAX_LOG_LINES = 5000;
  var FLASH = "paas-flash";

  function meta(name) {
    var m = document.querySelector('meta[name="' + name + '"]');
    return m ? m.getAttribute("content") : "";
  }

  // The status line.
  var statusLine = document.getElementById("status");
  function say(msg, kind) {
    if (!statusLine) return;
    statusLine.textContent = msg;
    statusLine.className = "status " + (kind || "ok");
  }

  // flashThen shows msg after a reload or on the page at url. Never a
  // secret: it goes through sessionStorage.
  function flashThen(msg, url) {
    try { sessionStorage.setItem(FLASH, msg); } catch (e) { /* private mode */ }
    if (url) location.assign(url); else location.reload();
  }
  function showFlash() {
    var msg = null;
    try { msg = sessionStorage.getItem(FLASH); sessionStorage.removeItem(FLASH); } catch (e) { /* private mode */ }
    if (msg) say(msg, "ok");
  }

  function ApiError(status, message, code) {
    this.status = status;
    this.message = message;
    this.code = code || "";
  }

  // call sends one API request and answers its JSON; an error status
  // throws the API's own {"error"} message.
  async function call(method, path, body) {
    var headers = { "Accept": "application/json" };
    if (CSRF) headers["X-CSRF-Token"] = CSRF;
    var opts = { method: method, headers: headers, credentials: "same-origin", cache: "no-store" };
    if (body instanceof FormData) {
      // The browser sets the multipart Content-Type with its boundary.
      opts.body = body;
    } else if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    var resp;
    try {
      resp = await fetch(API + path, opts);
    } catch (e) {
      throw new ApiError(0, "The server could not be reached: check the connection and try again.");
    }
    var data = null;
    try { data = await resp.json(); } catch (e) { data = null; }
    if (!resp.ok) {
      var msg = data && typeof data.error === "string" && data.error ? data.error : "The request failed (HTTP " + resp.status + ").";
      throw new ApiError(resp.status, msg, data && data.code);
    }
    return data;
  }

  function field(form, name) {
    var el = form.elements.namedItem(name);
    return el ? el.value.trim() : "";
  }

  function invalid(msg) { return new ApiError(0, msg); }


  // parseEnv reads KEY=value lines ("export " and quotes allowed, # starts
  // a comment) and checks every key.
  function parseEnv(text) {
    var out = { keys: [], values: {} };
    var lines = text.split(/\r?\n/);
    for (var i = 0; i < lines.length; i++) {
      var line = lines[i].trim();
      if (!line || line.charAt(0) === "#") continue;
      if (line.indexOf("export ") === 0) line = line.slice(7).trim();
      var eq = line.indexOf("=");
      if (eq < 0) throw invalid("Line " + (i + 1) + ": expected KEY=value.");
      var key = line.slice(0, eq).trim();
      var value = line.slice(eq + 1);
      if (value.length >= 2 && (value.charAt(0) === '"' || value.charAt(0) === "'") && value.charAt(value.length - 1) === value.charAt(0)) {
        value = value.slice(1, -1);
      }
      checkKey(key, "Line " + (i + 1));
      if (Object.prototype.hasOwnProperty.call(out.values, key)) throw invalid("Line " + (i + 1) + ": " + key + " appears twice.");
      out.keys.push(key);
      out.values[key] = value;
    }
    return out;
  }

  function checkKey(key, where) {
    if (!ENV_KEY.test(key)) {
      throw invalid(where + ": \"" + key + "\" is not a valid variable name (letters, digits and _, not starting with a digit).");
    }
  }

  // The actions of the forms, by data-action. Each answers the message
  // to show, or leaves the page.
  var actions = {
    setup: async function (f) {
      var body = { token: field(f, "token"), email: field(f, "email"), password: f.elements.namedItem("password").value };
      if (field(f, "name")) body.name = field(f, "name");
      await call("POST", "/auth/setup", body);
      flashThen("Welcome: your admin account is ready.", "/");
    },

    login: async function (f) {
      var body = { email: field(f, "email"), password: f.elements.namedItem("password").value };
      var second = f.querySelector("[data-totp]");
      if (!second.hidden) {
        if (field(f, "totp_code")) body.totp_code = field(f, "totp_code");
        if (field(f, "recovery_code")) body.recovery_code = field(f, "recovery_code");
      }
      try {
        await call("POST", "/auth/login", body);
      } catch (e) {
        if (e.code === "totp_required") {
          second.hidden = false;
          f.elements.namedItem("totp_code").focus();
          return "Enter the code from your authenticator app, or a recovery code.";
        }
        throw e;
      }
      var next = f.dataset.next || "/";
      if (next.charAt(0) !== "/" || next.charAt(1) === "/" || next.charAt(1) === "\\") next = "/";
      location.assign(next);
    },

    "accept-invite": async function (f) {
      var body = { token: field(f, "token"), password: f.elements.namedItem("password").value };
      if (field(f, "name")) body.name = field(f, "name");
      await call("POST", "/auth/invites/accept", body);
      flashThen("Welcome: your account is ready.", "/");
    },

    logout: async function () {
      await call("POST", "/auth/logout");
      location.assign("/login");
    },

    "create-app": async function (f) {
      var env = parseEnv(f.elements.namedItem("env").value);
      var source = field(f, "source") || "image";
      var name = field(f, "name");
      var body = { name: name, team: field(f, "team") };
      var port = field(f, "port");
      if (port) body.port = parseInt(port, 10);
      if (env.keys.length) body.env = env.values;
      var appURL = "/apps/" + encodeURIComponent(name);
      if (source === "git") {
        body.git = { url: field(f, "git_url") };
        if (field(f, "git_ref")) body.git.ref = field(f, "git_ref");
        if (field(f, "git_username")) body.git.username = field(f, "git_username");
        var token = f.elements.namedItem("git_token").value;
        if (token) body.git.token = token;
        var g = await call("POST", "/apps", body);
        flashThen("App " + g.name + " created from " + body.git.url + ": its first build has started.", "/apps/" + encodeURIComponent(g.name));
        return;
      }
      if (source === "upload") {
        var input = f.elements.namedItem("archive");
        var file = input.files && input.files[0];
        if (!file) throw invalid("Choose a .zip or .tar.gz archive to upload.");
        if (!/\.(zip|tar\.gz|tgz)$/i.test(file.name)) throw invalid("The archive must be a .zip or a .tar.gz file.");
        // A retry after a failed upload keeps the app made the first time.
        if (f.dataset.created !== name) {
          await call("POST", "/apps", body);
          f.dataset.created = name;
        }
        say("App " + name + " created; uploading " + file.name + "…", "ok");
        var data = new FormData();
        data.append("source", file, file.name);
        var d;
        try {
          d = await call("POST", "/apps/" + encodeURIComponent(name) + "/deploys", data);
        } catch (e) {
          throw new ApiError(e.status, "App " + name + " was created, but the upload failed: " + e.message + " Try again, or open the app's page.", e.code);
        }
        flashThen("Archive uploaded: " + (d && d.version ? "version " + d.version + " of " : "") + name + " is building.", appURL);
        return;
      }
      body.image = field(f, "image");
      var app = await call("POST", "/apps", body);
      flashThen("App " + app.name + " created: its first deploy has started.", "/apps/" + encodeURIComponent(app.name));
    },

    deploy: async function (f) {
      var image = field(f, "image");
      var d = await call("POST", "/apps/" + f.dataset.app + "/deploys", image ? { image: image } : {});
      flashThen("Deploy of version " + d.version + " started.");
    },

    "env-save": async function (f) {
      var patch = envEditors.get(f).patch();
      if (!patch.count) return "Nothing to save: no variable changed.";
      var deploy = f.elements.namedItem("env-deploy") || document.getElementById("env-deploy");
      var v = await call("PATCH", "/apps/" + f.dataset.app + "/env", { env: patch.env, deploy: !!(deploy && deploy.checked) });
      var msg = "Environment saved (" + patch.set + " set, " + patch.removed + " removed)";
      msg += v && v.deployment ? ": deploy " + v.deployment + " started." : ": it applies on the next deploy.";
      flashThen(msg);
    },

    "add-domains": async function (f) {
      var domains = field(f, "domains").split(/[\s,]+/).filter(Boolean);
      if (!domains.length) throw invalid("Enter at least one domain.");
      await call("POST", "/apps/" + f.dataset.app + "/domains", { domains: domains });
      flashThen("Added " + domains.join(", ") + ". Point their DNS here; the certificate follows on the first visit.");
    },

    scale: async function (f) {
      var n = parseInt(field(f, "replicas"), 10);
      if (!(n >= 1)) throw invalid("Replicas must be a number, at least 1.");
      await call("POST", "/apps/" + f.dataset.app + "/scale", { replicas: n });
      flashThen("Scaled to " + n + (n === 1 ? " replica." : " replicas."));
    },

    "delete-app": async function (f) {
      if (field(f, "confirm") !== f.dataset.name) throw invalid("Type the app's name exactly to confirm.");
      await call("DELETE", "/apps/" + f.dataset.app);
      flashThen("App " + f.dataset.name + " deleted.", "/");
    },

    // settings sends only the fields that differ from what the page
    // showed (each field's default value).
    settings: async function (f) {
      var patch = {}, changed = [];
      var port = f.elements.namedItem("port");
      if (port.value.trim() !== port.defaultValue) {
        var n = parseInt(port.value, 10);
        if (!(n >= 1 && n <= 65535)) throw invalid("The port must be a number from 1 to 65535.");
        patch.port = n;
        changed.push("port " + n);
      }
      var health = f.elements.namedItem("health_path");
      if (health.value.trim() !== health.defaultValue) {
        patch.health_path = health.value.trim();
        changed.push(patch.health_path ? "health check " + patch.health_path : "no health check");
      }
      var mem = f.elements.namedItem("memory");
      if (mem.value.trim() !== mem.defaultValue) {
        var m = mem.value.trim();
        if (m && !/^\d+(\.\d+)? ?[kmgtKMGT]?(i?[bB])?$/.test(m)) throw invalid("The memory limit must be a size such as 512m or 1g.");
        patch.memory = m || 0;
        changed.push(m ? "memory limit " + m : "no memory limit");
      }
      var cpus = f.elements.namedItem("cpus");
      if (cpus.value.trim() !== cpus.defaultValue) {
        var c = cpus.value.trim() === "" ? 0 : parseFloat(cpus.value);
        if (!(c >= 0 && c <= 1024)) throw invalid("CPUs must be a number such as 0.5 or 2.");
        patch.cpus = c;
        changed.push(c ? c + " CPUs" : "no CPU limit");
      }
      var hsts = f.elements.namedItem("hsts");
      if (hsts.checked !== hsts.defaultChecked) {
        patch.hsts = hsts.checked;
        changed.push("HSTS " + (hsts.checked ? "on" : "off"));
      }
      var www = f.elements.namedItem("www_redirect");
      var wwwWas = "";
      Array.prototype.forEach.call(www.options, function (o) { if (o.defaultSelected) wwwWas = o.value; });
      if (www.value !== wwwWas) {
        patch.www_redirect = www.value;
        changed.push("www redirect " + (www.value || "off"));
      }
      var mm = f.elements.namedItem("maintenance");
      var msg = f.elements.namedItem("maintenance_message");
      if (mm.checked !== mm.defaultChecked || msg.value !== msg.defaultValue) {
        patch.maintenance = { enabled: mm.checked, message: msg.value };
        changed.push("maintenance " + (mm.checked ? "on" : "off"));
      }
      if (!changed.length) return "Nothing to save: no setting changed.";
      var v = await call("PATCH", "/apps/" + f.dataset.app, patch);
      var done = "Settings saved: " + changed.join(", ") + ".";
      if (v && v.deployment) done += " Deploy " + v.deployment + " started.";
      flashThen(done);
    },

    "add-redirect": async function (f) {
      var body = { to: field(f, "to"), status: parseInt(field(f, "status"), 10) || 308 };
      if (!body.to) throw invalid("Enter where the redirect goes.");
      if (field(f, "from")) body.from = field(f, "from");
      if (field(f, "path_prefix")) body.path_prefix = field(f, "path_prefix");
      if (f.elements.namedItem("drop_path").checked) body.drop_path = true;
      var r = await call("POST", "/apps/" + f.dataset.app + "/redirects", body);
      flashThen("Redirect added: " + (r && r.from ? r.from : "every host") + (r && r.path_prefix ? r.path_prefix : "") + " goes to " + (r ? r.to : body.to) + ".");
    },

    "change-password": async function (f) {
      var next = f.elements.namedItem("new_password").value;
      if (next !== f.elements.namedItem("repeat_password").value) throw invalid("The two new passwords differ.");
      await call("POST", "/me/password", { current_password: f.elements.namedItem("current_password").value, new_password: next });
      flashThen("Password changed. Every session has ended: log in with the new password.", "/login");
    },

    "totp-begin": async function (f) {
      var enr = await call("POST", "/me/totp");
      var box = document.querySelector("[data-totp-enroll]");
      box.querySelector("[data-totp-secret]").textContent = enr.secret;
      box.querySelector("[data-totp-url]").textContent = enr.otpauth_url;
      box.hidden = false;
      f.hidden = true;
      document.getElementById("totp-code").focus();
      return "Two-factor enrollment started: confirm it with a code from your authenticator app.";
    },

    "totp-confirm": async function (f) {
      var res = await call("POST", "/me/totp/confirm", { code: field(f, "code") });
      var out = document.querySelector("[data-recovery]");
      out.textContent = "";
      var p = document.createElement("p");
      p.textContent = "Two-factor authentication is on. Keep these recovery codes somewhere safe: each replaces a code once, and they are shown only now.";
      out.appendChild(p);
      var list = document.createElement("ul");
      list.className = "plain";
      (res.recovery_codes || []).forEach(function (c) {
        var li = document.createElement("li");
        var code = document.createElement("code");
        code.textContent = c;
        li.appendChild(code);
        list.appendChild(li);
      });
      out.appendChild(list);
      out.hidden = false;
      document.querySelector("[data-totp-enroll]").hidden = true;
      return "Two-factor authentication is on.";
    },

    "totp-disable": async function (f) {
      await call("POST", "/me/totp/disable", { password: f.elements.namedItem("password").value });
      flashThen("Two-factor authentication is off.");
    },

    "create-team": async function (f) {
      var t = await call("POST", "/teams", { name: field(f, "name") });
      flashThen("Team " + t.name + " created: you are its owner.");
    },

    "add-member": async function (f) {
      var res = await call("POST", "/teams/" + f.dataset.team + "/members", { email: field(f, "email"), role: field(f, "role") });
      if (res && res.invite_token) {
        once(f, "No account has this e-mail yet. Send " + res.invite_email + " this invitation token; they sign up with it on the login page. It is shown only now:", res.invite_token);
        f.reset();
        return "Invitation made for " + res.invite_email + ".";
      }
      flashThen((res && res.member ? res.member.email + " added as " + res.member.role : "Member added") + ".");
    },

    "create-token": async function (f) {
      var days = parseInt(field(f, "expires_in_days"), 10);
      var body = { name: field(f, "name"), team: field(f, "team"), scope: field(f, "scope") };
      if (days) body.expires_in_days = days;
      var t = await call("POST", "/tokens", body);
      once(f, "The token " + t.name + " (" + t.scope + ", team " + t.team + "). Copy it now: it is not shown again.", t.token);
      f.reset();
      return "Token " + t.name + " created. Reload the page to see it in the list.";
    }
  };

  // once shows a value that the API shows only once (a token), in the
  // <output> that follows the form.
  function once(form, text, value) {
    var out = form.nextElementSibling;
    if (!out || !out.hasAttribute("data-output")) return;
    out.textContent = "";
    var p = document.createElement("p");
    p.textContent = text;
    var code = document.createElement("code");
    code.textContent = value;
    out.appendChild(p);
    out.appendChild(code);
    out.hidden = false;
  }

  async function run(form, fn) {
    var buttons = Array.prototype.slice.call(form.querySelectorAll("button"));
    var was = buttons.map(function (b) { return b.disabled; });
    buttons.forEach(function (b) { b.disabled = true; });
    say("Working…", "ok");
    try {
      var msg = await fn(form);
      if (msg) say(msg, "ok");
    } catch (e) {
      failed(e);
    } finally {
      buttons.forEach(function (b, i) { b.disabled = was[i]; });
    }
  }

  function failed(e) {
    var msg = e && e.message ? e.message : "Something went wrong.";
    if (e instanceof ApiError && e.status === 401 && CSRF) {
      // The session ended: log in again, and come back.
      flashThen(msg, "/login?next=" + encodeURIComponent(location.pathname));
      return;
    }
    say(msg, "error");
  }

  document.addEventListener("submit", function (ev) {
    var f = ev.target;
    var fn = actions[f.dataset.action];
    if (!fn) return; // a plain form, such as the audit filter
    ev.preventDefault();
    run(f, fn);
  });

  // Buttons with data-method and data-path call the API directly; the
  // body is made of their data-arg-* attributes.
  document.addEventListener("click", function (ev) {
    var b = ev.target.closest ? ev.target.closest("button[data-method][data-path]") : null;
    if (!b) return;
    ev.preventDefault();
    if (b.dataset.confirm && !window.confirm(b.dataset.confirm)) return;
    var body;
    Object.keys(b.dataset).forEach(function (k) {
      if (k.indexOf("arg") === 0 && k.length > 3) {
        body = body || {};
        body[k.charAt(3).toLowerCase() + k.slice(4)] = b.dataset[k];
      }
    });
    b.disabled = true;
    say("Working…", "ok");
    call(b.dataset.method, b.dataset.path, body).then(function () {
      flashThen((b.dataset.done || "Done") + ".");
    }, function (e) {
      b.disabled = false;
      failed(e);
    });
  });

  // The "New app" form's source choice shows one pane; the others are
  // disabled, so their required fields wait.
  document.querySelectorAll("[data-source-choice]").forEach(function (choice) {
    function show() {
      var f = choice.form;
      f.querySelectorAll("[data-source-pane]").forEach(function (pane) {
        var on = pane.dataset.sourcePane === choice.value;
        pane.hidden = !on;
        pane.disabled = !on;
      });
      var submit = f.querySelector('button[type="submit"]');
      if (submit) submit.textContent = choice.value === "upload" ? "Create and upload" : choice.value === "git" ? "Create and build" : "Create and deploy";
    }
    choice.addEventListener("change", show);
    // A choice the browser restored on going back.
    if (choice.value !== "image") show();
  });

  // The delete form's button waits for the app's name.
  document.querySelectorAll('form[data-action="delete-app"]').forEach(function (f) {
    var input = f.elements.namedItem("confirm");
    var button = f.querySelector('button[type="submit"]');
    input.addEventListener("input", function () { button.disabled = input.value.trim() !== f.dataset.name; });
  });

  // The env editor: key/value rows (values masked, "unchanged" when left
  // empty) and a raw .env view; the rows are the state, the raw view is
  // made from them and read back into them.
  var envEditors = new Map();
  var newRowCount = 0;

  function envEditor(form) {
    var rows = form.querySelector("[data-env-rows]");
    var raw = form.querySelector("textarea");
    var empty = form.querySelector("[data-env-empty]");
    var panes = { kv: form.querySelector('[data-env-pane="kv"]'), raw: form.querySelector('[data-env-pane="raw"]') };

    function allRows() { return Array.prototype.slice.call(rows.querySelectorAll("tr[data-env-row]")); }

    function addRow(key, value) {
      newRowCount++;
      var tr = document.createElement("tr");
      tr.setAttribute("data-env-row", "");
      tr.setAttribute("data-new", "");
      var keyCell = document.createElement("td");
      var keyLabel = document.createElement("label");
      keyLabel.className = "visually-hidden";
      keyLabel.htmlFor = "env-new-key-" + newRowCount;
      keyLabel.textContent = "Key of the new variable";
      var keyInput = document.createElement("input");
      keyInput.id = keyLabel.htmlFor;
      keyInput.setAttribute("data-env-key", "");
      keyInput.autocomplete = "off";
      keyInput.spellcheck = false;
      keyInput.placeholder = "KEY";
      keyInput.value = key || "";
      keyCell.appendChild(keyLabel);
      keyCell.appendChild(keyInput);
      var valueCell = document.createElement("td");
      var valueLabel = document.createElement("label");
      valueLabel.className = "visually-hidden";
      valueLabel.htmlFor = "env-new-value-" + newRowCount;
      valueLabel.textContent = "Value of the new variable";
      var valueInput = document.createElement("input");
      valueInput.id = valueLabel.htmlFor;
      valueInput.setAttribute("data-env-value", "");
      valueInput.autocomplete = "off";
      valueInput.spellcheck = false;
      valueInput.value = value || "";
      valueCell.appendChild(valueLabel);
      valueCell.appendChild(valueInput);
      var removeCell = document.createElement("td");
      var remove = document.createElement("button");
      remove.type = "button";
      remove.className = "secondary";
      remove.textContent = "Remove";
      remove.addEventListener("click", function () { tr.remove(); refresh(); });
      removeCell.appendChild(remove);
      tr.appendChild(keyCell);
      tr.appendChild(valueCell);
      tr.appendChild(removeCell);
      tr.appendChild(document.createElement("td"));
      rows.appendChild(tr);
      refresh();
      return keyInput;
    }

    function refresh() { if (empty) empty.hidden = allRows().length > 0; }

    // state reads the rows: existing keys with a new value (or null for
    // unchanged) and a removal flag, then the new rows.
    function state() {
      return allRows().map(function (tr) {
        var value = tr.querySelector("[data-env-value]");
        if (tr.hasAttribute("data-new")) {
          return { key: tr.querySelector("[data-env-key]").value.trim(), value: value.value, isNew: true };
        }
        var changed = value.value !== "" && value.value !== value.dataset.revealed;
        return { key: tr.dataset.key, value: changed ? value.value : null, revealed: value.dataset.revealed, remove: tr.querySelector("[data-env-remove]").checked };
      });
    }

    function toRaw() {
      raw.value = state().filter(function (e) { return !e.remove && !(e.isNew && !e.key); }).map(function (e) {
        if (e.isNew || e.value !== null) return e.key + "=" + e.value;
        return e.key + "=" + (e.revealed !== undefined ? e.revealed : MASK);
      }).join("\n");
    }

    function fromRaw() {
      var parsed = parseEnv(raw.value);
      allRows().forEach(function (tr) {
        if (tr.hasAttribute("data-new")) { tr.remove(); return; }
        var key = tr.dataset.key;
        var value = tr.querySelector("[data-env-value]");
        var has = Object.prototype.hasOwnProperty.call(parsed.values, key);
        tr.querySelector("[data-env-remove]").checked = !has;
        if (has) {
          var v = parsed.values[key];
          value.value = v === MASK ? (value.dataset.revealed || "") : v;
        }
        delete parsed.values[key];
      });
      parsed.keys.forEach(function (k) {
        if (Object.prototype.hasOwnProperty.call(parsed.values, k)) addRow(k, parsed.values[k]);
      });
      refresh();
    }

    function show(view) {
      if (view === "raw" && panes.raw.hidden) toRaw();
      if (view === "kv" && panes.kv.hidden) fromRaw();
      panes.kv.hidden = view !== "kv";
      panes.raw.hidden = view !== "raw";
      form.querySelectorAll("[data-env-view]").forEach(function (b) {
        b.setAttribute("aria-pressed", String(b.dataset.envView === view));
      });
    }

    // patch is the change to send: values set, keys removed (null).
    function patch() {
      if (!panes.raw.hidden) fromRaw();
      var env = {}, seen = {}, set = 0, removed = 0;
      state().forEach(function (e, i) {
        if (e.isNew && !e.key && !e.value) return;
        if (e.isNew) checkKey(e.key, "Row " + (i + 1));
        if (e.remove) {
          env[e.key] = null;
          removed++;
          return;
        }
        if (seen[e.key]) throw invalid(e.key + " appears twice.");
        seen[e.key] = true;
        if (e.value !== null) {
          if (env[e.key] === null) removed--;
          env[e.key] = e.value;
          set++;
        }
      });
      return { env: env, set: set, removed: removed, count: set + removed };
    }

    form.addEventListener("click", function (ev) {
      var t = ev.target;
      if (t.matches("[data-env-view]")) {
        try { show(t.dataset.envView); } catch (e) { failed(e); }
      } else if (t.matches("[data-env-add]")) {
        addRow("", "").focus();
      } else if (t.matches("[data-env-reveal]")) {
        reveal(form, t.closest("tr"));
      }
    });

    return { patch: patch };
  }

  async function reveal(form, tr) {
    var key = tr.dataset.key;
    try {
      var res = await call("POST", "/apps/" + form.dataset.app + "/env/" + encodeURIComponent(key) + "/reveal");
      var input = tr.querySelector("[data-env-value]");
      input.dataset.revealed = res.value;
      input.value = res.value;
      input.type = "text";
      say("The value of " + key + " is shown. Revealing is recorded in the audit log.", "ok");
    } catch (e) {
      failed(e);
    }
  }

  document.querySelectorAll('form[data-action="env-save"]').forEach(function (f) {
    envEditors.set(f, envEditor(f));
  });

  // Logs: server-sent events, one line each, written as text. The search
  // box hides the lines that do not match.
  var streams = {};

  function matches(line, q) { return !q || line.textContent.toLowerCase().indexOf(q) >= 0; }

  function follow(el) {
    var url = el.dataset.stream;
    var es = null;
    var lines = 0;

    function append(text) {
      var atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
      var line = document.createElement("div");
      line.textContent = text;
      line.hidden = !matches(line, el.dataset.filter || "");
      el.appendChild(line);
      lines++;
      while (el.childNodes.length > MAX_LOG_LINES) el.removeChild(el.firstChild);
      if (atBottom) el.scrollTop = el.scrollHeight;
    }

    function stop() {
      if (es) { es.close(); es = null; }
    }

    function start() {
      stop();
      el.textContent = "";
      lines = 0;
      es = new EventSource(url);
      es.onmessage = function (ev) { append(ev.data); };
      es.addEventListener("end", function () {
        stop();
        if (el.dataset.live) {
          // The deploy this page watched has ended: show its outcome.
          setTimeout(function () { flashThen("The deploy has finished."); }, 800);
        }
      });
      es.onerror = function () {
        if (!es) return;
        // No automatic reconnection: it would repeat the log from its
        // start.
        stop();
        if (lines === 0) explain(url); else say("The log stream stopped. Reload the page to follow it again.", "error");
      };
    }

    streams[el.id || url] = { start: start, stop: stop };
    start();
  }

  // explain asks the API, without streaming, why a stream gave nothing,
  // and shows its error message.
  async function explain(url) {
    var u = new URL(url, location.href);
    u.searchParams.delete("follow");
    if (u.searchParams.has("tail")) u.searchParams.set("tail", "1");
    try {
      var resp = await fetch(u.toString(), { headers: { "Accept": "application/json" }, credentials: "same-origin", cache: "no-store" });
      if (!resp.ok) {
        var data = null;
        try { data = await resp.json(); } catch (e) { data = null; }
        say(data && data.error ? data.error : "The log could not be read (HTTP " + resp.status + ").", "error");
      }
    } catch (e) {
      say("The server could not be reached.", "error");
    }
  }

  document.querySelectorAll(".log[data-stream]").forEach(follow);

  document.querySelectorAll("[data-log-filter]").forEach(function (input) {
    var el = document.getElementById(input.dataset.logFilter);
    input.addEventListener("input", function () {
      var q = input.value.trim().toLowerCase();
      el.dataset.filter = q;
      Array.prototype.forEach.call(el.children, function (line) { line.hidden = !matches(line, q); });
    });
  });

  document.querySelectorAll("[data-log-follow]").forEach(function (box) {
    box.addEventListener("change", function () {
      var s = streams[box.dataset.logFollow];
      if (!s) return;
      if (box.checked) { s.start(); say("Following the logs.", "ok"); } else { s.stop(); say("Stopped following the logs.", "ok"); }
    });
  });

  showFlash();
})();
