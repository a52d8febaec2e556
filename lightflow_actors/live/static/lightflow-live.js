/*
 * lightflow-live.js: the browser side of lightflow live sessions. No framework.
 *
 * Three parts, in this order:
 *  1. merge: the client state and patch merge of specs/live-diff.md §4, a line-by-line
 *     port of lightflow_actors/live/_merge.py (the Python reference is the oracle; a
 *     test runs both on the same patches). Pure: it also runs under node.
 *  2. morph: applies the merged HTML to the page, keeping elements by position or id,
 *     and keeping what the user types unless the server changed that value.
 *  3. LiveSocket: the wire (specs/wire.md frames, specs/live-wire.md profile): join,
 *     events (lf-click, lf-submit, lf-change with lf-debounce, lf-keydown with
 *     lf-key), acks, heartbeats, reconnect with backoff, rejoin after a session crash,
 *     form recovery, loading states (class lf-loading), live navigation (lf-patch,
 *     lf-navigate links, back/forward).
 */
(function (global) {
  "use strict";

  // ---------------------------------------------------------------- 1. merge

  var MAX_DEPTH = 128;

  function PatchError(path, problem) {
    this.name = "PatchError";
    this.path = path;
    this.problem = problem;
    this.message = "invalid patch at " + path + ": " + problem;
  }
  PatchError.prototype = Object.create(Error.prototype);

  function has(obj, key) { return Object.prototype.hasOwnProperty.call(obj, key); }
  function isObject(v) { return v !== null && typeof v === "object" && !Array.isArray(v); }
  function describe(v) {
    if (v === null || v === undefined) return "null";
    if (typeof v === "boolean") return "a boolean";
    if (typeof v === "string") return "a string";
    if (typeof v === "number") return "a number";
    return Array.isArray(v) ? "an array" : "an object";
  }
  function isInt(v) { return typeof v === "number" && Number.isInteger(v); }

  /** Client state: statics by template id, and the tree (null before the first patch). */
  function emptyState() { return { templates: new Map(), root: null }; }

  /** Merge `patch` (a parsed live-diff patch) into `state`; returns a new state. */
  function applyPatch(state, patch) {
    if (!isObject(patch)) throw new PatchError("$", "a patch must be an object");
    Object.keys(patch).forEach(function (k) {
      if (k !== "t" && k !== "r") throw new PatchError("$." + k, "unknown key in a patch");
    });
    var templates = state.templates;
    if (has(patch, "t")) {
      if (!isObject(patch.t)) throw new PatchError("$.t", "expected an object");
      templates = new Map(templates);
      Object.keys(patch.t).forEach(function (key) {
        if (!/^(0|[1-9][0-9]{0,9})$/.test(key) || Number(key) > 2147483647) {
          throw new PatchError("$.t." + key, "not a template id");
        }
        var id = Number(key), statics = patch.t[key];
        if (!Array.isArray(statics) || !statics.every(function (s) { return typeof s === "string"; })) {
          throw new PatchError("$.t." + id, "statics must be an array of strings");
        }
        if (statics.length === 0) throw new PatchError("$.t." + id, "statics must hold at least one string");
        var known = templates.get(id);
        if (known !== undefined && (known.length !== statics.length ||
            known.some(function (s, i) { return s !== statics[i]; }))) {
          throw new PatchError("$.t." + id, "redefines a template id the client already holds");
        }
        templates.set(id, statics.slice());
      });
    }
    var root = state.root;
    if (has(patch, "r") && patch.r !== null) {
      if (!isObject(patch.r)) throw new PatchError("$.r", "expected an object");
      var merged = value(templates, root, patch.r, "$.r", 0);
      if (typeof merged === "string" || merged.kind !== "node") {
        throw new PatchError("$.r", "the root must be a template node, not a comprehension");
      }
      root = merged;
    }
    return { templates: templates, root: root };
  }

  function value(templates, current, incoming, path, depth) {
    if (typeof incoming === "string") return incoming;
    if (!isObject(incoming)) throw new PatchError(path, "expected a string or an object, got " + describe(incoming));
    if (depth >= MAX_DEPTH) throw new PatchError(path, "nested deeper than " + MAX_DEPTH + " levels");
    if (has(incoming, "s")) return full(templates, incoming, path, depth);
    if (current && current.kind === "node") {
      var width = templates.get(current.template_id).length - 1;
      return { kind: "node", template_id: current.template_id,
               values: dynamics(templates, current.values, width, incoming, path, depth, null) };
    }
    if (current && current.kind === "comp") return compChanges(templates, current, incoming, path, depth);
    throw new PatchError(path, 'a change (no "s") for a slot that holds ' +
      (current === null || current === undefined ? "nothing" : "text") + '; a new node must carry "s"');
  }

  function staticsOf(templates, node, path) {
    var id = node.s;
    if (!isInt(id)) throw new PatchError(path + ".s", "expected a template id, got " + describe(id));
    var statics = templates.get(id);
    if (statics === undefined) throw new PatchError(path + ".s", "template id " + id + " was never sent in t");
    return [id, statics];
  }

  function full(templates, node, path, depth) {
    var found = staticsOf(templates, node, path), id = found[0], width = found[1].length - 1;
    if (!has(node, "e")) {
      if (Object.keys(node).length !== width + 1) {
        throw new PatchError(path, "a new node of template " + id + " needs keys 0.." + (width - 1));
      }
      return { kind: "node", template_id: id, values: dynamics(templates, null, width, node, path, depth, "s") };
    }
    var extra = Object.keys(node).filter(function (k) { return k !== "s" && k !== "e" && k !== "k"; }).sort();
    if (extra.length) throw new PatchError(path + "." + extra[0], "unknown key in a new comprehension");
    var entriesIn = node.e;
    if (!Array.isArray(entriesIn)) throw new PatchError(path + ".e", "expected an array, got " + describe(entriesIn));
    var positional = !has(node, "k"), keys;
    if (positional) {
      keys = entriesIn.map(function (_, i) { return String(i); });
    } else {
      keys = keyList(node.k, path + ".k");
      if (keys.length !== entriesIn.length) {
        throw new PatchError(path + ".k", keys.length + " keys for " + entriesIn.length + " entries");
      }
    }
    var entries = new Map();
    keys.forEach(function (key, i) {
      entries.set(key, fullEntry(templates, entriesIn[i], width, path + ".e." + i, depth));
    });
    return { kind: "comp", template_id: id, keys: keys, entries: entries, positional: positional };
  }

  function keyList(keys, path) {
    if (!Array.isArray(keys)) throw new PatchError(path, "expected an array of keys, got " + describe(keys));
    var seen = new Set();
    keys.forEach(function (key, i) {
      if (typeof key !== "string") throw new PatchError(path + "." + i, "a key must be a string, got " + describe(key));
      if (seen.has(key)) throw new PatchError(path + "." + i, "key " + JSON.stringify(key) + " appears twice");
      seen.add(key);
    });
    return keys.slice();
  }

  function fullEntry(templates, entry, width, path, depth) {
    if (!isObject(entry)) throw new PatchError(path, "expected an entry object, got " + describe(entry));
    if (Object.keys(entry).length !== width) {
      throw new PatchError(path, "a new entry needs keys 0.." + (width - 1) + ", got " + Object.keys(entry).length + " keys");
    }
    return dynamics(templates, null, width, entry, path, depth, null);
  }

  function dynamics(templates, current, width, changes, path, depth, skip) {
    var values = current ? current.slice() : new Array(width).fill(null);
    Object.keys(changes).forEach(function (key) {
      if (key === skip) return;
      var index = parseIndex(key, width, path);
      values[index] = value(templates, values[index], changes[key], path + "." + key, depth + 1);
    });
    for (var i = 0; i < values.length; i++) {
      if (values[i] === null) throw new PatchError(path + "." + i, "missing in a new node");
    }
    return values;
  }

  function parseIndex(key, width, path) {
    // Canonical decimal only ("7", not "07" or "+7"), as _merge._parse_index.
    if (!/^(0|[1-9][0-9]*)$/.test(key)) throw new PatchError(path + "." + key, "not a dynamic index");
    var index = Number(key);
    if (index >= width) throw new PatchError(path + "." + key, "index out of range: the template has " + width + " dynamics");
    return index;
  }

  function array(v, path) {
    if (!Array.isArray(v)) throw new PatchError(path, "expected an array, got " + describe(v));
    return v;
  }

  function op(item, length, path) {
    if (!Array.isArray(item) || item.length !== length) throw new PatchError(path, "expected an array of " + length + " items");
    if (typeof item[0] !== "string") throw new PatchError(path + ".0", "a key must be a string, got " + describe(item[0]));
    if (!isInt(item[1]) || item[1] < 0) throw new PatchError(path + ".1", "an index must be a non-negative integer");
    return item;
  }

  function compChanges(templates, current, changes, path, depth) {
    var extra = Object.keys(changes).filter(function (k) { return "dmiu".indexOf(k) < 0 || k.length !== 1; }).sort();
    if (extra.length) throw new PatchError(path + "." + extra[0], "unknown key in comprehension changes");
    var width = templates.get(current.template_id).length - 1;
    var entries = new Map(current.entries), removed = new Set(), placements = [];
    array(has(changes, "d") ? changes.d : [], path + ".d").forEach(function (key, i) {
      if (typeof key !== "string" || !entries.has(key)) {
        throw new PatchError(path + ".d." + i, "deletes " + JSON.stringify(key) + ", which the client does not hold");
      }
      entries.delete(key);
      removed.add(key);
    });
    array(has(changes, "m") ? changes.m : [], path + ".m").forEach(function (item, i) {
      var move = op(item, 2, path + ".m." + i);
      if (!entries.has(move[0]) || removed.has(move[0])) {
        throw new PatchError(path + ".m." + i, "moves " + JSON.stringify(move[0]) + ", which the client does not hold");
      }
      removed.add(move[0]);
      placements.push([move[1], move[0]]);
    });
    array(has(changes, "i") ? changes.i : [], path + ".i").forEach(function (item, i) {
      var insert = op(item, 3, path + ".i." + i);
      if (entries.has(insert[0])) {
        throw new PatchError(path + ".i." + i, "inserts " + JSON.stringify(insert[0]) + ", which the client already holds");
      }
      entries.set(insert[0], fullEntry(templates, insert[2], width, path + ".i." + i + ".2", depth + 1));
      placements.push([insert[1], insert[0]]);
    });
    var keys = current.keys;
    if (placements.length || removed.size) {
      var order = current.keys.filter(function (k) { return !removed.has(k); });
      placements.sort(function (a, b) { return a[0] - b[0] || (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0); });
      placements.forEach(function (p, n) {
        if (p[0] > order.length || (n && placements[n - 1][0] === p[0])) {
          throw new PatchError(path, "cannot place " + JSON.stringify(p[1]) + " at index " + p[0]);
        }
        order.splice(p[0], 0, p[1]);
      });
      keys = order;
      if (current.positional && keys.some(function (k, i) { return k !== String(i); })) {
        throw new PatchError(path, "a positional list can only grow or shrink at its end");
      }
    }
    var updates = has(changes, "u") ? changes.u : {};
    if (!isObject(updates)) throw new PatchError(path + ".u", "expected an object, got " + describe(updates));
    Object.keys(updates).forEach(function (key) {
      var entry = entries.get(key), change = updates[key];
      if (entry === undefined) throw new PatchError(path + ".u." + key, "updates an entry the client does not hold");
      if (!isObject(change)) throw new PatchError(path + ".u." + key, "expected an object, got " + describe(change));
      entries.set(key, dynamics(templates, entry, width, change, path + ".u." + key, depth + 1, null));
    });
    return { kind: "comp", template_id: current.template_id, keys: keys, entries: entries, positional: current.positional };
  }

  /** The HTML the client shows for `state` (§4.6): what client_html returns in Python. */
  function toHtml(state) {
    if (!state.root) return "";
    var out = [];
    writeValues(state.templates, state.templates.get(state.root.template_id), state.root.values, out);
    return out.join("");
  }

  function writeValues(templates, statics, values, out) {
    out.push(statics[0]);
    for (var i = 0; i < values.length; i++) {
      var v = values[i];
      if (typeof v === "string") {
        out.push(v);
      } else if (v.kind === "node") {
        writeValues(templates, templates.get(v.template_id), v.values, out);
      } else {
        var st = templates.get(v.template_id);
        for (var k = 0; k < v.keys.length; k++) writeValues(templates, st, v.entries.get(v.keys[k]), out);
      }
      out.push(statics[i + 1]);
    }
  }

  var merge = { applyPatch: applyPatch, toHtml: toHtml, emptyState: emptyState, PatchError: PatchError };
  if (typeof module === "object" && module.exports) module.exports = merge;
  if (typeof document === "undefined") return;

  // ---------------------------------------------------------------- 2. morph

  /** Make `root`'s children match `html`. `opts.force`: a form whose values the server
   *  sets; `opts.answered`: elements whose event this patch answers (their own state,
   *  a checkbox's tick, follows the server even when focused). */
  function morph(root, html, opts) {
    var template = document.createElement("template");
    template.innerHTML = html;
    morphChildren(root, template.content, opts);
  }

  function morphChildren(from, to, opts) {
    var byId = new Map();
    for (var c = from.firstElementChild; c; c = c.nextElementSibling) if (c.id) byId.set(c.id, c);
    var cur = from.firstChild, next = to.firstChild;
    while (next) {
      var following = next.nextSibling, match = null;
      if (next.nodeType === 1 && next.id) {
        var found = byId.get(next.id);
        if (found && found.tagName === next.tagName && found.parentNode === from) match = found;
      } else if (cur && cur.nodeType === next.nodeType &&
                 (cur.nodeType !== 1 || (cur.tagName === next.tagName && !cur.id))) {
        match = cur;
      }
      if (match) {
        if (match === cur) cur = cur.nextSibling; else from.insertBefore(match, cur);
        morphNode(match, next, opts);
      } else {
        from.insertBefore(next, cur);
      }
      next = following;
    }
    while (cur) { var gone = cur; cur = cur.nextSibling; from.removeChild(gone); }
  }

  function morphNode(a, b, opts) {
    if (a.nodeType !== 1) { if (a.nodeValue !== b.nodeValue) a.nodeValue = b.nodeValue; return; }
    var oldValue = a.getAttribute("value"), oldChecked = a.hasAttribute("checked"), i, attr;
    for (i = a.attributes.length - 1; i >= 0; i--) {
      attr = a.attributes[i];
      if (!b.hasAttribute(attr.name)) a.removeAttribute(attr.name);
    }
    for (i = 0; i < b.attributes.length; i++) {
      attr = b.attributes[i];
      if (a.getAttribute(attr.name) !== attr.value) a.setAttribute(attr.name, attr.value);
    }
    var tag = a.tagName;
    // A field keeps what the user typed unless the server changed its value, or the
    // server answers a submit of its form (opts.force); a focused field only then.
    var forced = !!(opts.force && a.form === opts.force) ||
                 !!(opts.answered && opts.answered.indexOf(a) >= 0);
    var focused = a === document.activeElement;
    if (tag === "TEXTAREA") {
      var text = b.textContent;
      var changed = a.defaultValue !== text;
      if (changed) a.defaultValue = text;
      if (forced || (!focused && changed)) a.value = text;
      return;
    }
    if (tag !== "INPUT") morphChildren(a, b, opts);
    if (tag === "INPUT" && (a.type === "checkbox" || a.type === "radio")) {
      // A toggle is not typing: focus (a click focuses it) protects nothing here, so
      // the tick follows the server whenever the server changed it, or answered it.
      var checked = b.hasAttribute("checked");
      if (forced || !focused || oldChecked !== checked) a.checked = checked;
    } else if (tag === "INPUT") {
      var v = b.getAttribute("value") || "";
      if ((forced || (!focused && oldValue !== b.getAttribute("value"))) && a.value !== v) a.value = v;
    } else if (tag === "SELECT" && (forced || !focused)) {
      var selected = b.querySelector("option[selected]");
      if (selected) a.value = selected.value;
    }
  }

  // ---------------------------------------------------------------- 3. LiveSocket

  // Reconnect backoff (each x[0.5, 1) jitter). It stops growing at 2 s so a page finds a
  // restarted server within 2 s of it answering; the jitter spreads a crowd of pages.
  var BACKOFF_MS = [100, 250, 500, 1000, 2000];
  var HEARTBEAT_MS = 15000, SILENCE_MS = 45000;
  // Acks are lazy and cumulative (specs/live-wire.md §8): one ack covers every frame
  // received, sent once 16 frames or 64 KB wait for it, else 5 s after the first. The
  // server holds its patches back at 32 frames or 256 KB, so it never waits on us.
  var ACK_EVERY = 16, ACK_BYTES = 65536, ACK_DELAY_MS = 5000;
  // A join the server refuses (its token key changed, the view is gone) reloads the page,
  // as Phoenix does for a stale session; the count in sessionStorage keeps a page that
  // keeps being refused from reloading in a tight loop.
  var RELOAD_KEY = "lightflow:reloads", RELOAD_DELAYS_MS = [0, 1000, 5000, 15000, 30000];
  var RELOAD_WINDOW_MS = 120000;

  function formValues(form) {
    var out = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.disabled) return;
      var type = el.type;
      if (type === "checkbox") out[el.name] = el.checked;
      else if (type === "radio") { if (el.checked) out[el.name] = el.value; }
      else if (el.tagName === "SELECT" && el.multiple) {
        out[el.name] = Array.prototype.map.call(el.selectedOptions, function (o) { return o.value; });
      } else if (type !== "submit" && type !== "button" && type !== "file" && type !== "reset") {
        out[el.name] = el.value;
      }
    });
    return out;
  }

  /** lf-value-* attributes of an element, as an object ({"lf-value-id": "7"} -> {id: "7"}). */
  function attrValues(el) {
    var out = {};
    for (var i = 0; i < el.attributes.length; i++) {
      var name = el.attributes[i].name;
      if (name.indexOf("lf-value-") === 0) out[name.slice(9)] = el.attributes[i].value;
    }
    return out;
  }

  function LiveSocket(root) {
    var data = root.dataset;
    this.root = root;
    this.url = new URL(data.lfSocket, global.location.href);
    this.url.protocol = this.url.protocol === "https:" ? "wss:" : "ws:";
    this.base = data.lfBase || "";
    this.view = data.lfView;
    this.session = data.lfSession;
    this.token = data.lfToken;
    this.state = emptyState();
    this.ws = null;
    this.seqOut = 0;
    this.joined = false;
    this.everJoined = false;
    this.joinSeq = null;        // seq of the Mount frame of the join in progress
    this.attempt = 0;
    this.lastIn = 0;
    this.lastOut = 0;
    this.ackOwed = 0;           // instruction frames received since our last ack
    this.ackBytes = 0;
    this.ackUpto = 0;
    this.ackTimer = null;
    this.pending = new Map();   // submit ref -> {el, form}
    this.timers = new Map();    // debounced element -> timeout id
    this.bind();
    this.connect();
    var self = this;
    setInterval(function () { self.heartbeat(); }, HEARTBEAT_MS / 3);
  }

  LiveSocket.prototype.status = function (name) {
    var list = this.root.classList;
    ["lf-connected", "lf-disconnected", "lf-closed"].forEach(function (c) { list.toggle(c, c === "lf-" + name); });
    this.root.setAttribute("data-lf-status", name);
  };

  LiveSocket.prototype.connect = function () {
    var self = this, ws = new WebSocket(this.url.href);
    this.ws = ws;
    this.seqOut = 0;
    this.ackOwed = this.ackBytes = this.ackUpto = 0;
    clearTimeout(this.ackTimer);
    this.ackTimer = null;
    ws.onopen = function () {
      self.lastIn = Date.now();
      self.frame({ kind: "hello", versions: [1] });
    };
    ws.onmessage = function (event) { if (ws === self.ws) self.receive(event.data); };
    ws.onclose = function () {
      if (ws !== self.ws || self.closing) return;
      self.ws = null;
      self.joined = false;
      self.status("disconnected");
      self.retry(function () { self.connect(); });
    };
  };

  LiveSocket.prototype.retry = function (action) {
    var base = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    this.attempt += 1;
    setTimeout(action, base / 2 + Math.random() * base / 2);
  };

  LiveSocket.prototype.frame = function (frame) {
    if (!this.ws || this.ws.readyState !== 1) return null;
    this.seqOut += 1;
    var out = { kind: frame.kind, v: 1, seq: this.seqOut };
    Object.keys(frame).forEach(function (k) { if (k !== "kind") out[k] = frame[k]; });
    this.ws.send(JSON.stringify(out));
    this.lastOut = Date.now();
    return this.seqOut;
  };

  LiveSocket.prototype.instruction = function (instruction) {
    return this.frame({ kind: "instruction", instruction: instruction });
  };

  LiveSocket.prototype.join = function () {
    var params = {};
    new URL(global.location.href).searchParams.forEach(function (v, k) { params[k] = v; });
    this.joinSeq = this.instruction({ op: "mount", id: this.session, target: this.view,
                                      params: { token: this.token, params: params } });
    this.instruction({ op: "render" });
  };

  /** Reload the page (a new session id and token), unless reloads came too often. */
  LiveSocket.prototype.reload = function (why) {
    var store = global.sessionStorage, now = Date.now(), seen = { count: 0, at: 0 };
    try { seen = JSON.parse(store.getItem(RELOAD_KEY) || "null") || seen; } catch (e) { /* reset */ }
    var count = now - seen.at > RELOAD_WINDOW_MS ? 0 : seen.count;
    var delay = RELOAD_DELAYS_MS[Math.min(count, RELOAD_DELAYS_MS.length - 1)];
    try { store.setItem(RELOAD_KEY, JSON.stringify({ count: count + 1, at: now + delay })); } catch (e) { /* no storage */ }
    console.warn("lightflow: the server refused to join (" + why + "); reloading" +
                 (delay ? " in " + delay + " ms" : ""));
    this.status("closed");
    this.closing = true;
    if (this.ws) this.ws.close();
    setTimeout(function () { global.location.reload(); }, delay);
  };

  LiveSocket.prototype.heartbeat = function () {
    if (!this.ws || this.ws.readyState !== 1) return;
    var now = Date.now();
    if (now - this.lastIn > SILENCE_MS) { this.ws.close(); return; }
    if (now - this.lastOut > HEARTBEAT_MS) this.frame({ kind: "ping" });
  };

  LiveSocket.prototype.receive = function (text) {
    var frame;
    try { frame = JSON.parse(text); } catch (e) { return; }
    this.lastIn = Date.now();
    switch (frame.kind) {
      case "welcome": this.join(); break;
      case "ping": this.frame({ kind: "pong", echo: frame.seq }); break;
      case "error": this.onError(frame); break;
      case "close": if (this.ws) this.ws.close(); break;
      case "instruction":
        this.onInstruction(frame.instruction);
        this.owe(frame.seq, text.length);
        break;
      default: break;   // ack, pong
    }
  };

  /** Count a frame to acknowledge; ack now at ACK_EVERY frames or ACK_BYTES, else soon. */
  LiveSocket.prototype.owe = function (seq, size) {
    var self = this;
    this.ackUpto = seq;
    this.ackOwed += 1;
    this.ackBytes += size;
    if (this.ackOwed >= ACK_EVERY || this.ackBytes >= ACK_BYTES) { this.ack(); return; }
    if (this.ackTimer === null) this.ackTimer = setTimeout(function () { self.ack(); }, ACK_DELAY_MS);
  };

  LiveSocket.prototype.ack = function () {
    clearTimeout(this.ackTimer);
    this.ackTimer = null;
    if (!this.ackOwed) return;
    this.ackOwed = this.ackBytes = 0;
    this.frame({ kind: "ack", upto: this.ackUpto });
  };

  LiveSocket.prototype.onInstruction = function (ins) {
    if (ins.op === "render") this.onRender(ins.view);
    else if (ins.op === "patch") this.onPatch(ins.diff);
    else if (ins.op === "shutdown") this.onShutdown(ins);
  };

  LiveSocket.prototype.onRender = function (view) {
    var saved = this.everJoined ? this.captureForms() : [];
    try {
      this.state = applyPatch(emptyState(), view.d);
    } catch (e) {
      console.error("lightflow: cannot apply the full render", e);
      if (this.ws) this.ws.close();
      return;
    }
    this.session = view.session || this.session;
    this.render(view.ref ? this.settle(view.ref) : null);
    this.joined = true;
    this.everJoined = true;
    this.attempt = 0;
    this.joinSeq = null;
    try { global.sessionStorage.removeItem(RELOAD_KEY); } catch (e) { /* no storage */ }
    this.status("connected");
    if (view.title) document.title = view.title;
    this.recoverForms(saved);
    if (view.nav) this.follow(view.nav);
    this.emit("lf:joined", {});
  };

  LiveSocket.prototype.onPatch = function (diff) {
    if (!this.joined) return;   // waiting for a Render: it replaces everything
    var settled = diff.ref ? this.settle(diff.ref) : null;
    if (diff.d) {
      try {
        this.state = applyPatch(this.state, diff.d);
      } catch (e) {
        // All or nothing (§4.5): the state is unchanged; ask for a full render.
        console.warn("lightflow: " + e.message);
        this.joined = false;
        this.instruction({ op: "render" });
        return;
      }
    }
    // The answer to a submit sets its form's fields to the server's values even when
    // the HTML did not change (a draft cleared on the server was already "" there).
    if (diff.d || settled) this.render(settled);
    if (diff.title) document.title = diff.title;
    if (diff.nav) this.follow(diff.nav);
    this.emit("lf:patched", { ref: diff.ref || null });
  };

  LiveSocket.prototype.onShutdown = function (ins) {
    this.joined = false;
    if (ins.reason === "error") {
      // The session crashed; the page stays and the view is mounted again.
      this.status("disconnected");
      var self = this;
      this.retry(function () { if (self.ws && self.ws.readyState === 1) self.join(); });
    } else {
      this.status("closed");
    }
  };

  LiveSocket.prototype.onError = function (frame) {
    if (this.joinSeq !== null && frame.ref === this.joinSeq) {
      // The Mount itself was refused (token, view, params): retrying the same join can
      // only be refused again, so the page must be loaded anew.
      this.reload(frame.code + ": " + frame.message);
      return;
    }
    if (frame.ref !== undefined && frame.ref !== null) this.settle(String(frame.ref));
    console.warn("lightflow: " + frame.code + ": " + frame.message);
    this.emit("lf:error", { code: frame.code, message: frame.message, path: frame.path || null });
  };

  LiveSocket.prototype.render = function (settled) {
    morph(this.root, toHtml(this.state),
          { force: settled ? settled.form : null, answered: settled ? settled.els : null });
    this.pending.forEach(function (p) { p.el.classList.add("lf-loading"); });
  };

  LiveSocket.prototype.emit = function (name, detail) {
    this.root.dispatchEvent(new CustomEvent(name, { detail: detail, bubbles: true }));
  };

  // -- events and loading states

  LiveSocket.prototype.push = function (el, event, payload, form) {
    if (!this.joined) return;
    var seq = this.instruction({ op: "submit", event: event, payload: payload, ref: String(this.seqOut + 1) });
    if (seq === null) return;
    el.classList.add("lf-loading");
    el.setAttribute("aria-busy", "true");
    this.pending.set(String(seq), { el: el, form: form || null });
  };

  /** End the loading state of every event up to `ref`; returns what they were sent by
   *  ({form: a submitted form or null, els: the elements}), or null if none was pending. */
  LiveSocket.prototype.settle = function (ref) {
    var upto = Number(ref), form = null, els = [];
    this.pending.forEach(function (p, key) {
      if (Number(key) > upto) return;
      p.el.classList.remove("lf-loading");
      p.el.removeAttribute("aria-busy");
      els.push(p.el);
      if (p.form) form = p.form;
    });
    this.pending.forEach(function (p, key, map) { if (Number(key) <= upto) map.delete(key); });
    return els.length ? { form: form, els: els } : null;
  };

  LiveSocket.prototype.bind = function () {
    var self = this, root = this.root;
    function inside(el) { return el && root.contains(el); }
    document.addEventListener("click", function (e) {
      var link = e.target.closest && e.target.closest("a[lf-patch], a[lf-navigate]");
      if (inside(link) && !e.metaKey && !e.ctrlKey && !e.shiftKey) {
        e.preventDefault();
        var url = new URL(link.href, global.location.href);
        if (link.hasAttribute("lf-patch")) self.patchTo(url, true); else self.navigate(url, true);
        return;
      }
      var el = e.target.closest && e.target.closest("[lf-click]");
      if (!inside(el)) return;
      // A checkbox or radio keeps its native toggle (preventing it would untick the box
      // the user just ticked); the answer then sets it to what the server rendered.
      var toggle = el.tagName === "INPUT" && (el.type === "checkbox" || el.type === "radio");
      if (!toggle) e.preventDefault();
      self.push(el, el.getAttribute("lf-click"), attrValues(el));
    });
    document.addEventListener("submit", function (e) {
      var form = e.target;
      if (!inside(form) || !form.hasAttribute("lf-submit")) return;
      e.preventDefault();
      clearTimeout(self.timers.get(form));   // a pending debounced change is superseded
      self.push(form, form.getAttribute("lf-submit"), formValues(form), form);
    });
    function changed(e) {
      var el = e.target, host = el.closest && el.closest("[lf-change]");
      if (!inside(host)) return;
      // Text fields report "input" as the user types; toggles and selects report
      // "change" (they fire both, so each kind listens to one).
      var toggle = el.type === "checkbox" || el.type === "radio" || el.tagName === "SELECT";
      if ((e.type === "change") !== toggle) return;
      var delay = Number(el.getAttribute("lf-debounce") || host.getAttribute("lf-debounce") || 0);
      var payload = function () {
        var values = host.tagName === "FORM" ? formValues(host) : {};
        if (host.tagName !== "FORM" && el.name) values[el.name] = el.type === "checkbox" ? el.checked : el.value;
        values._target = el.name || "";
        return values;
      };
      clearTimeout(self.timers.get(host));
      if (delay > 0) {
        self.timers.set(host, setTimeout(function () { self.push(host, host.getAttribute("lf-change"), payload()); }, delay));
      } else {
        self.push(host, host.getAttribute("lf-change"), payload());
      }
    }
    document.addEventListener("input", changed);
    document.addEventListener("change", changed);
    document.addEventListener("keydown", function (e) {
      var el = e.target.closest && e.target.closest("[lf-keydown]");
      if (!inside(el)) return;
      var only = el.getAttribute("lf-key");
      if (only && only !== e.key) return;
      var payload = attrValues(el);
      payload.key = e.key;
      if ("value" in el) payload.value = el.value;
      self.push(el, el.getAttribute("lf-keydown"), payload);
    });
    global.addEventListener("popstate", function () {
      var url = new URL(global.location.href);
      if (self.viewOf(url) === self.view) self.patchTo(url, false); else self.navigate(url, false);
    });
  };

  // -- form recovery (after a rejoin the new session learns what the forms hold)

  LiveSocket.prototype.captureForms = function () {
    return Array.prototype.map.call(this.root.querySelectorAll("form[lf-change][id]"), function (form) {
      return { id: form.id, event: form.getAttribute("lf-change"), values: formValues(form) };
    });
  };

  LiveSocket.prototype.recoverForms = function (saved) {
    var self = this;
    saved.forEach(function (s) {
      var form = document.getElementById(s.id);
      if (!form || !self.root.contains(form)) return;
      Object.keys(s.values).forEach(function (name) {
        var field = form.elements.namedItem(name);
        if (!field || field.length !== undefined) return;
        if (field.type === "checkbox") field.checked = !!s.values[name]; else field.value = s.values[name];
      });
      var payload = formValues(form);
      payload._target = "";
      self.push(form, s.event, payload);
    });
  };

  // -- navigation

  /** The live view a URL belongs to (one path segment under data-lf-base), or null. */
  LiveSocket.prototype.viewOf = function (url) {
    if (url.origin !== global.location.origin) return null;
    var prefix = this.base + "/";
    if (url.pathname.indexOf(prefix) !== 0) return null;
    var rest = url.pathname.slice(prefix.length);
    return rest && rest.indexOf("/") < 0 ? decodeURIComponent(rest) : null;
  };

  LiveSocket.prototype.patchTo = function (url, push) {
    if (push) global.history.pushState({}, "", url.href);
    var params = {};
    url.searchParams.forEach(function (v, k) { params[k] = v; });
    this.instruction({ op: "patch", diff: { params: params } });
  };

  LiveSocket.prototype.navigate = function (url, push) {
    var view = this.viewOf(url);
    if (view === null || !this.ws || this.ws.readyState !== 1) { global.location.assign(url.href); return; }
    if (push) global.history.pushState({}, "", url.href);
    if (this.joined) this.instruction({ op: "shutdown", reason: "normal", detail: "navigate" });
    this.joined = false;
    this.view = view;
    this.root.setAttribute("data-lf-view", view);
    this.join();
  };

  LiveSocket.prototype.follow = function (nav) {
    var url = new URL(global.location.href);
    if (nav.kind === "redirect") { global.location.assign(nav.to); return; }
    var params = nav.params || {};
    var query = new URLSearchParams(params).toString();
    if (nav.kind === "patch") {
      url.search = query;
      global.history[nav.replace ? "replaceState" : "pushState"]({}, "", url.href);
      return;
    }
    var target = new URL(this.base + "/" + encodeURIComponent(nav.to) + (query ? "?" + query : ""), url);
    if (nav.replace) global.history.replaceState({}, "", target.href);
    this.navigate(target, !nav.replace);
  };

  function start() {
    var root = document.querySelector("[data-lf-root]");
    if (root && !global.lightflowLive) global.lightflowLive = { socket: new LiveSocket(root), merge: merge };
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})(typeof window !== "undefined" ? window : globalThis);
