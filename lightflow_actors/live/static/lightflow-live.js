/*
 * lightflow-live.js: the browser side of lightflow live sessions. No framework.
 *
 * Three parts, in this order:
 *  1. merge: the client state and patch merge of specs/live-diff.md §4, a line-by-line
 *     port of lightflow_actors/live/_merge.py (the Python reference is the oracle; a
 *     test runs both on the same patches). Pure: it also runs under node.
 *  2. morph: applies the merged HTML to the page, keeping elements by position or id,
 *     and keeping what the user types unless the server changed that value.
 *     2b. the sticky state JS commands leave on elements, which the morph re-applies.
 *     2c. the painter: a patch re-renders and morphs only the elements it changed.
 *     2d. the fewest moves for the live elements a re-ordered keyed list keeps.
 *     2e. values painted in place: a node whose changed values are attribute values or
 *         the only text of their element gets them set, with no HTML parsed.
 *  3. LiveSocket: the wire (specs/wire.md frames, specs/live-wire.md profile): join,
 *     events (lf-click, lf-submit, lf-change with lf-debounce, lf-keydown with
 *     lf-key), acks, heartbeats, reconnect with backoff, rejoin after a session crash,
 *     form recovery, loading states (class lf-loading), live navigation (lf-patch,
 *     lf-navigate links, back/forward).
 *  4. JS commands: the client side of lightflow_actors.live.JS (no round trip).
 *  5. hooks: lf-hook elements bound to the hook objects given in the options; events
 *     the server pushes (PushEvent).
 *  6. bindings beyond the basic ones: lf-throttle, lf-focus/lf-blur, lf-window-*,
 *     lf-click-away, lf-disable-with (lf-update="ignore" lives in the morph).
 *  8b. lf-viewport-top / lf-viewport-bottom (infinite scroll).
 * 11. page-loading events, lf-capture-click, lf-trigger-action, a hook's pushEventTo,
 *     upload and uploadTo.
 * 10. transports: the WebSocket, and its fallbacks when it is blocked (server-sent
 *     events + POST, long-polling) behind the same WebSocket-like interface; the
 *     upgrade back to a WebSocket.
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

  /** Client state: statics by template id, the tree (null before the first patch), and
   *  the live components by cid. */
  function emptyState() { return { templates: new Map(), root: null, components: new Map() }; }

  /** Merge `patch` (a parsed live-diff patch) into `state`; returns a new state. */
  function applyPatch(state, patch) {
    if (!isObject(patch)) throw new PatchError("$", "a patch must be an object");
    Object.keys(patch).forEach(function (k) {
      if (k !== "t" && k !== "r" && k !== "c") throw new PatchError("$." + k, "unknown key in a patch");
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
    // Live components (§7). A slot may name any component the client holds after the
    // patch: those it held and those the patch sends, less those it deletes.
    var components = state.components || new Map(), available = components;
    var ctx = { templates: templates, available: available };
    if (has(patch, "c")) {
      if (!isObject(patch.c)) throw new PatchError("$.c", "expected an object");
      var cids = Object.keys(patch.c);
      cids.forEach(function (key) {
        if (!/^[1-9][0-9]{0,9}$/.test(key) || Number(key) > 2147483647) {
          throw new PatchError("$.c." + key, "not a component id");
        }
      });
      cids = cids.map(Number).sort(function (a, b) { return a - b; });
      available = ctx.available = new Set(components.keys());
      cids.forEach(function (cid) {
        if (patch.c[String(cid)] === null) available.delete(cid); else available.add(cid);
      });
      var merged = new Map(components);
      cids.forEach(function (cid) {
        var incoming = patch.c[String(cid)], path = "$.c." + cid;
        if (incoming === null) {
          if (!components.has(cid)) throw new PatchError(path, "deletes component " + cid + ", which the client does not hold");
          merged.delete(cid);
          return;
        }
        var node = value(ctx, merged.get(cid), incoming, path, 0);
        if (typeof node !== "object" || node.kind !== "node") throw new PatchError(path, "a component must be a template node");
        merged.set(cid, node);
      });
      components = merged;
    }
    var root = state.root;
    if (has(patch, "r") && patch.r !== null) {
      if (!isObject(patch.r)) throw new PatchError("$.r", "expected an object");
      var mergedRoot = value(ctx, root, patch.r, "$.r", 0);
      if (typeof mergedRoot !== "object" || mergedRoot.kind !== "node") {
        throw new PatchError("$.r", "the root must be a template node, not a comprehension");
      }
      root = mergedRoot;
    }
    return { templates: templates, root: root, components: components };
  }

  function value(ctx, current, incoming, path, depth) {
    var templates = ctx.templates;
    if (typeof incoming === "string") return incoming;
    if (isInt(incoming)) {
      if (!ctx.available.has(incoming)) {
        throw new PatchError(path, "names component " + incoming + ", which the client does not hold");
      }
      return incoming;
    }
    if (!isObject(incoming)) throw new PatchError(path, "expected a string, a component id or an object, got " + describe(incoming));
    if (depth >= MAX_DEPTH) throw new PatchError(path, "nested deeper than " + MAX_DEPTH + " levels");
    if (has(incoming, "s")) return full(ctx, incoming, path, depth);
    if (current && current.kind === "node") {
      var width = templates.get(current.template_id).length - 1;
      return { kind: "node", template_id: current.template_id,
               values: dynamics(ctx, current.values, width, incoming, path, depth, null) };
    }
    if (current && current.kind === "comp") return compChanges(ctx, current, incoming, path, depth);
    if (current && current.kind === "stream") {
      var ks = Object.keys(incoming);
      if (ks.length !== 1 || ks[0] !== "x") throw new PatchError(path, 'a change to a stream holds only "x"');
      return streamOps(ctx, current, incoming.x, path + ".x", depth);
    }
    throw new PatchError(path, 'a change (no "s") for a slot that holds ' +
      (current === null || current === undefined ? "nothing" : typeof current === "string" ? "text" : "a component") +
      '; a new node must carry "s"');
  }

  /** Stream operations, in order (§8): ["r"], ["d", key], ["u", key, entry],
   *  ["i", key, at, entry] or ["i", key, at, entry, limit]. The server keeps none of it. */
  function streamOps(ctx, current, ops, path, depth) {
    var width = ctx.templates.get(current.template_id).length - 1;
    var keys = current.keys.slice(), entries = new Map(current.entries);
    array(ops, path).forEach(function (op, n) {
      var at = path + "." + n;
      if (!Array.isArray(op) || op.length === 0 || typeof op[0] !== "string") {
        throw new PatchError(at, "expected an operation array starting with its kind");
      }
      var kind = op[0];
      if (kind === "r" && op.length === 1) {
        keys = []; entries = new Map();
      } else if (kind === "d" && op.length === 2 && typeof op[1] === "string") {
        if (entries.has(op[1])) { entries.delete(op[1]); keys.splice(keys.indexOf(op[1]), 1); }
      } else if (kind === "u" && op.length === 3 && typeof op[1] === "string") {
        var updated = fullEntry(ctx, op[2], width, at + ".2", depth + 1);
        if (entries.has(op[1])) entries.set(op[1], updated);
      } else if (kind === "i" && (op.length === 4 || op.length === 5) && typeof op[1] === "string") {
        var key = op[1], pos = op[2];
        if (!isInt(pos) || pos < -1) throw new PatchError(at + ".2", "at must be -1 or a non-negative integer");
        var limit = op.length === 5 ? op[4] : null;
        if (limit !== null && !isInt(limit)) throw new PatchError(at + ".4", "a limit must be an integer");
        var entry = fullEntry(ctx, op[3], width, at + ".3", depth + 1);
        if (entries.has(key)) { entries.set(key, entry); return; }
        entries.set(key, entry);
        keys.splice(pos === -1 ? keys.length : Math.min(pos, keys.length), 0, key);
        if (limit !== null) {
          var kept = limit >= 0 ? keys.slice(0, limit) : keys.slice(keys.length + limit < 0 ? 0 : keys.length + limit);
          if (kept.length < keys.length) {
            var keep = new Set(kept);
            keys.forEach(function (k) { if (!keep.has(k)) entries.delete(k); });
            keys = kept;
          }
        }
      } else {
        throw new PatchError(at, "not a stream operation: " + describe(op) + " of kind " + JSON.stringify(kind));
      }
    });
    return { kind: "stream", template_id: current.template_id, keys: keys, entries: entries };
  }

  function staticsOf(templates, node, path) {
    var id = node.s;
    if (!isInt(id)) throw new PatchError(path + ".s", "expected a template id, got " + describe(id));
    var statics = templates.get(id);
    if (statics === undefined) throw new PatchError(path + ".s", "template id " + id + " was never sent in t");
    return [id, statics];
  }

  function full(ctx, node, path, depth) {
    var found = staticsOf(ctx.templates, node, path), id = found[0], width = found[1].length - 1;
    if (has(node, "x")) {
      var extraX = Object.keys(node).filter(function (k) { return k !== "s" && k !== "x"; }).sort();
      if (extraX.length) throw new PatchError(path + "." + extraX[0], "unknown key in a new stream");
      return streamOps(ctx, { kind: "stream", template_id: id, keys: [], entries: new Map() }, node.x, path + ".x", depth);
    }
    if (!has(node, "e")) {
      if (Object.keys(node).length !== width + 1) {
        throw new PatchError(path, "a new node of template " + id + " needs keys 0.." + (width - 1));
      }
      return { kind: "node", template_id: id, values: dynamics(ctx, null, width, node, path, depth, "s") };
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
      entries.set(key, fullEntry(ctx, entriesIn[i], width, path + ".e." + i, depth));
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

  function fullEntry(ctx, entry, width, path, depth) {
    if (!isObject(entry)) throw new PatchError(path, "expected an entry object, got " + describe(entry));
    if (Object.keys(entry).length !== width) {
      throw new PatchError(path, "a new entry needs keys 0.." + (width - 1) + ", got " + Object.keys(entry).length + " keys");
    }
    return dynamics(ctx, null, width, entry, path, depth, null);
  }

  function dynamics(ctx, current, width, changes, path, depth, skip) {
    var values = current ? current.slice() : new Array(width).fill(null);
    Object.keys(changes).forEach(function (key) {
      if (key === skip) return;
      var index = parseIndex(key, width, path);
      values[index] = value(ctx, values[index], changes[key], path + "." + key, depth + 1);
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

  function compChanges(ctx, current, changes, path, depth) {
    var templates = ctx.templates;
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
      entries.set(insert[0], fullEntry(ctx, insert[2], width, path + ".i." + i + ".2", depth + 1));
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
      entries.set(key, dynamics(ctx, entry, width, change, path + ".u." + key, depth + 1, null));
    });
    return { kind: "comp", template_id: current.template_id, keys: keys, entries: entries, positional: current.positional };
  }

  /** The HTML the client shows for `state` (§4.6): what client_html returns in Python.
   *  A missing component, a component inside itself, or nesting deeper than
   *  MAX_RENDER_DEPTH renders empty. */
  var MAX_RENDER_DEPTH = 256;
  function toHtml(state) {
    if (!state.root) return "";
    var out = [], w = { templates: state.templates, components: state.components || new Map(), inside: new Set() };
    writeValues(w, state.templates.get(state.root.template_id), state.root.values, out, 0);
    return out.join("");
  }

  function writeValues(w, statics, values, out, depth) {
    out.push(statics[0]);
    for (var i = 0; i < values.length; i++) {
      var v = values[i];
      if (typeof v === "string") {
        out.push(v);
      } else if (depth >= MAX_RENDER_DEPTH) {
        // too deep: empty
      } else if (typeof v === "number") {
        var c = w.components.get(v);
        if (c !== undefined && !w.inside.has(v)) {
          w.inside.add(v);
          writeValues(w, w.templates.get(c.template_id), c.values, out, depth + 1);
          w.inside.delete(v);
        }
      } else if (v.kind === "node") {
        writeValues(w, w.templates.get(v.template_id), v.values, out, depth + 1);
      } else {
        var st = w.templates.get(v.template_id);
        for (var k = 0; k < v.keys.length; k++) writeValues(w, st, v.entries.get(v.keys[k]), out, depth + 1);
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
   *  a checkbox's tick, follows the server even when focused). The morph records in
   *  `opts.added` the nodes it inserted and in `opts.updated` the hooked elements
   *  (`lf-hook`) it changed, for the hook lifecycle (section 5). */
  function morph(root, html, opts) {
    var template = document.createElement("template");
    template.innerHTML = html;
    return morphChildren(root, template.content, opts);
  }

  /** Returns whether anything under `from` changed. */
  function morphChildren(from, to, opts) {
    var byId = new Map(), changed = false;
    for (var c = from.firstElementChild; c; c = c.nextElementSibling) if (c.id) byId.set(c.id, c);
    var cur = from.firstChild, next = to.firstChild, skips = opts.skips;
    var stay = skips ? stayingKept(from, to, opts.painter, skips) : null;   // section 2d
    while (next) {
      var following = next.nextSibling, match = null;
      if (skips && next.nodeType === 1 && next.hasAttribute("data-lf-skip")) {
        // A placeholder of an unchanged element (section 2c): the live one, as it is.
        var kept = opts.painter.els.get(Number(next.getAttribute("data-lf-id")));
        if (!kept) throw new PaintMiss();
        if (kept === cur) cur = cur.nextSibling;
        else if (stay && !stay.off && stay.has(kept) && passOver(cur, kept, stay)) cur = kept.nextSibling;
        else { from.insertBefore(kept, cur); changed = true; if (stay && stay.has(kept)) stay.off = true; }
        next = following;
        continue;
      }
      if (skips && cur && cur.nodeType === 1 && cur.hasAttribute("data-lf-id") &&
          skips.has(Number(cur.getAttribute("data-lf-id")))) {
        // Never reuse an element a placeholder will claim: insert the new node instead.
        match = null;
      } else if (next.nodeType === 1 && next.id) {
        var found = byId.get(next.id);
        if (found && found.tagName === next.tagName && found.parentNode === from) match = found;
      } else if (cur && cur.nodeType === next.nodeType &&
                 (cur.nodeType !== 1 || (cur.tagName === next.tagName && !cur.id))) {
        match = cur;
      } else if (skips && cur && next.nodeType === 1) {
        // A partial paint: an empty text dynamic leaves no node, so look past text for
        // the element (inserting anew would lose what data-lf-keep keeps).
        for (var ahead = cur.nextSibling; ahead && ahead.nodeType !== 1; ahead = ahead.nextSibling) { /* text */ }
        if (ahead && ahead.tagName === next.tagName && !ahead.id && !next.id &&
            !(ahead.hasAttribute("data-lf-id") && skips.has(Number(ahead.getAttribute("data-lf-id"))))) {
          match = ahead;
        }
      }
      if (match) {
        if (stay) stay.claimed.add(match);
        if (match === cur) cur = cur.nextSibling; else { from.insertBefore(match, cur); changed = true; }
        if (morphNode(match, next, opts)) changed = true;
      } else {
        if (skips && next.nodeType === 1) {
          if (next.hasAttribute("data-lf-keep") || next.querySelector("[data-lf-keep]")) throw new PaintMiss();
          resolveSkips(next, opts);
          if (cur && cur.parentNode !== from) throw new PaintMiss();   // reparented: rare
        }
        from.insertBefore(next, cur);
        if (opts.added) opts.added.push(next);
        changed = true;
      }
      next = following;
    }
    while (cur) { var gone = cur; cur = cur.nextSibling; from.removeChild(gone); changed = true; }
    if (stay && passedOver(from, stay)) changed = true;
    return changed;
  }

  /** Placeholders inside a subtree inserted whole: put the live elements in their place. */
  function resolveSkips(node, opts) {
    Array.prototype.forEach.call(node.querySelectorAll("[data-lf-skip]"), function (placeholder) {
      var kept = opts.painter.els.get(Number(placeholder.getAttribute("data-lf-id")));
      if (!kept) throw new PaintMiss();
      placeholder.parentNode.replaceChild(kept, placeholder);
    });
  }

  /** Returns whether `a` (or anything under it) changed. */
  function morphNode(a, b, opts) {
    if (a.nodeType !== 1) {
      if (a.nodeValue === b.nodeValue) return false;
      a.nodeValue = b.nodeValue;
      return true;
    }
    // A live child's container (section 12): its content is the child's, painted from
    // the child's own renders; the parent's never touches it (it is always empty there).
    if (a.hasAttribute("data-lf-child") && b.getAttribute("data-lf-child") === a.getAttribute("data-lf-child")) return false;
    // An element waiting for the answer to its lf-disable-with event keeps what the
    // client showed; the answer (settle, then a render) brings the server's version.
    if (a.__lfLock) { a.__lfLock.stale = true; return false; }
    if (a.getAttribute("lf-update") === "ignore") {
      if (opts.beforeUpdate && a.hasAttribute("lf-hook")) opts.beforeUpdate(a);
      var kept = morphIgnored(a, b);
      if (kept && opts.updated && a.hasAttribute("lf-hook")) opts.updated.push(a);
      return kept;
    }
    var oldValue = a.getAttribute("value"), oldChecked = a.hasAttribute("checked");
    if (opts.beforeUpdate && a.hasAttribute("lf-hook")) opts.beforeUpdate(a);
    var attrs = morphAttributes(a, b, opts), changed = attrs.changed, keep = attrs.keep;
    // JS commands' sticky state (section 4) outlives the server's attributes.
    if (a.__lfSticky) applySticky(a);
    var tag = a.tagName;
    // A field keeps what the user typed unless the server changed its value, or the
    // server answers a submit of its form (opts.force); a focused field only then.
    var forced = !!(opts.force && a.form === opts.force) ||
                 !!(opts.answered && opts.answered.indexOf(a) >= 0);
    var focused = a === document.activeElement;
    if (tag === "TEXTAREA") {
      var text = b.textContent;
      var edited = a.defaultValue !== text;
      if (edited) { a.defaultValue = text; changed = true; }
      if (forced || (!focused && edited)) a.value = text;
      return changed;
    }
    // data-lf-keep: the server's list inside did not change (section 2c); keep the children.
    if (tag !== "INPUT" && !keep && morphChildren(a, b, opts)) changed = true;
    if (keep && opts.painter && b.hasAttribute("data-lf-order") &&
        reorderKept(a, opts.painter, opts.painter.orders[Number(b.getAttribute("data-lf-order"))])) {
      changed = true;
    }
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
    if (changed && opts.updated && a.hasAttribute("lf-hook")) opts.updated.push(a);
    return changed;
  }

  /** Make `a`'s attributes those of `b` (but data-lf-keep, which only says to keep `a`'s
   *  children): {changed, keep}. By name (getAttributeNames, getAttribute), never through
   *  `attributes[i]`: each Attr node that reads makes is kept by its element, for `a` the
   *  live one, and a DAG's patch morphs some sixty elements of a dozen attributes. */
  function morphAttributes(a, b, opts) {
    var names = b.getAttributeNames(), changed = false, keep = false, i, name, v;
    var ownCount = a.attributes.length, shared = 0;
    for (i = 0; i < names.length; i++) {
      name = names[i];
      if (name === "data-lf-keep") { keep = true; continue; }
      if (name === "data-lf-order") continue;   // section 2d: read by morphNode, never kept
      v = b.getAttribute(name);
      var was = a.getAttribute(name);
      if (was !== null) shared += 1;
      if (was !== v) {
        a.setAttribute(name, v);
        changed = true;
        if (name === "data-lf-id" && opts.painter) opts.painter.els.set(Number(v), a);
      }
    }
    if (shared < ownCount) {
      // `a` has attributes `b` has not: remove them.
      var own = a.getAttributeNames();
      for (i = 0; i < own.length; i++) {
        if (!b.hasAttribute(own[i])) { a.removeAttribute(own[i]); changed = true; }
      }
    }
    return { changed: changed, keep: keep };
  }

  /** lf-update="ignore": the client owns the element's content and attributes; only
   *  its data-* attributes follow the server (as Phoenix's phx-update="ignore"). */
  function morphIgnored(a, b) {
    var changed = false, i, attr;
    for (i = a.attributes.length - 1; i >= 0; i--) {
      attr = a.attributes[i];
      if (attr.name.indexOf("data-") === 0 && !b.hasAttribute(attr.name)) { a.removeAttribute(attr.name); changed = true; }
    }
    for (i = 0; i < b.attributes.length; i++) {
      attr = b.attributes[i];
      if (attr.name.indexOf("data-") === 0 && a.getAttribute(attr.name) !== attr.value) {
        a.setAttribute(attr.name, attr.value);
        changed = true;
      }
    }
    return changed;
  }

  // ------------------------------------------ 2b. sticky state of JS commands

  // A JS command that changes an element (show/hide, classes, attributes) records an
  // operation on it; the morph runs them again after it set the server's attributes,
  // so the client's change survives patches of that element (Phoenix's sticky ops).
  // An element the morph replaces starts fresh, as in Phoenix.
  function putSticky(el, name, state, op) {
    var ops = el.__lfSticky || (el.__lfSticky = {});
    ops[name] = { state: state, op: op };
    op(el);
  }

  function getSticky(el, name, fallback) {
    var ops = el.__lfSticky;
    return ops && ops[name] ? ops[name].state : fallback;
  }

  function applySticky(el) {
    var ops = el.__lfSticky;
    for (var name in ops) if (has(ops, name)) ops[name].op(el);
  }

  // ------------------------------------------------- 2c. partial paint

  // A patch re-renders only what it changed (ADR 0086). Every node whose template has
  // one root element and sits in element content (not in an attribute, not in raw text)
  // carries `data-lf-id="N"` on that element, N kept by the node's values from patch to
  // patch. After a merge the painter compares the new tree with the old one by identity
  // (the merge leaves unchanged parts the very same objects): a node whose own text
  // changed is re-rendered and morphed in its element; its unchanged id'd children are
  // written as placeholders `<tag data-lf-id="N" data-lf-skip>` that the morph replaces
  // by the live element; an unchanged keyed list that is the only content of its element
  // is written as `data-lf-keep` on that element (its children stay). A change it cannot
  // place climbs to the nearest id'd ancestor, at worst the root. Anything unexpected (an
  // element not found, HTML that does not parse to one element) falls back to a full
  // render, which is always right.

  function Painter() {
    this.ids = new WeakMap();   // values array of a node or an entry -> its data-lf-id
    this.els = new Map();       // data-lf-id -> element
    this.next = 1;
    this.shapes = new WeakMap();   // a template's statics -> shape (see shapeOf)
    this.changed = new Set();   // values arrays and lists changed by this patch
    this.kept = new Set();      // lists changed only inside entries painted in place
    this.skips = new Set();     // ids written as placeholders by this paint
    this.fresh = new Set();     // nodes, entries and lists this patch created (not on the page)
    this.pending = new Set();   // ids of the regions this paint morphs on their own
    this.live = 0;              // elements known after the last full scan
    this.comps = new Map();     // live components (cid -> node) of the state being written
    this.inside = new Set();    // cids being written (a component inside itself writes empty)
    this.unsound = new Set();   // ids whose raw HTML does not parse to one element (see checkRaws)
    this.raws = [];             // id'd nodes written with raw HTML in them, to check
    this.rawOpen = 0;           // raw values written not yet claimed by an id'd node
    this.rewrote = false;       // this paint re-renders an unsound node
    this.slotShapes = new WeakMap();   // a template's statics -> where its values sit (section 2e)
    this.reordered = new Map(); // lists only re-ordered (section 2d) -> their entries' ids
    this.orders = [];           // the id lists written as data-lf-order="N" by this paint
    this.dirty = new Map();     // values array -> indexes of the values that make visit re-render it
  }

  /** A partial paint met what only a full render can fix (an element gone, a kept list
   *  whose element would be created anew); thrown through the morph, caught by render. */
  function PaintMiss() { this.message = "the partial paint cannot place this patch"; }

  /** What the painter needs of a template: `tag`, its root element's tag name (null
   *  when it has not exactly one root element), `head`, where the tag name ends in
   *  statics[0]; per dynamic, `content` (it sits in element content) and `sole` (it is
   *  the only content of its element, whose start tag ends the static before it).
   *  Kept by the statics, not the id: after a full render (a rejoin, a resync) the
   *  server numbers its templates anew, and an id may name other statics. */
  Painter.prototype.shapeOf = function (templates, tid) {
    var statics = templates.get(tid), shape = this.shapes.get(statics);
    if (shape) return shape;
    var n = statics.length - 1, marked = statics[0], i;
    for (i = 0; i < n; i++) marked += "<!--lf:" + i + "-->" + statics[i + 1];
    var template = document.createElement("template");
    template.innerHTML = marked;
    var frag = template.content, content = new Array(n).fill(false), sole = new Array(n).fill(false);
    var walker = document.createTreeWalker(frag, NodeFilter.SHOW_COMMENT), c;
    while ((c = walker.nextNode())) {
      var m = /^lf:(\d+)$/.exec(c.data);
      if (!m || Number(m[1]) >= n) continue;
      i = Number(m[1]);
      content[i] = true;   // a comment: element content (an attribute or raw text keeps it as text)
      var parent = c.parentNode;
      sole[i] = parent !== frag && parent.childNodes.length === 1 && /(^|[^\/])>$/.test(statics[i]) &&
                statics[i + 1].slice(0, 2) === "</";
    }
    var tag = null, head = 0, found = /^<([a-zA-Z][a-zA-Z0-9-]*)(?=[\s>\/])/.exec(statics[0]);
    if (found && frag.childNodes.length === 1 && frag.firstChild.nodeType === 1 &&
        frag.firstChild.tagName === found[1].toUpperCase()) {
      tag = found[1].toLowerCase();
      head = found[0].length;
    }
    shape = { tag: tag, head: head, content: content, sole: sole };
    this.shapes.set(statics, shape);
    return shape;
  };

  /** Write node `values` of template `tid` (its root element tagged `id`, 0 for none).
   *  `partial`: write unchanged id'd children as placeholders and keep unchanged lists. */
  Painter.prototype.write = function (templates, tid, values, id, out, partial) {
    var statics = templates.get(tid), shape = this.shapeOf(templates, tid);
    var from = out.length, open = this.rawOpen;
    this.rawOpen = 0;
    if (id && this.unsound.has(id)) this.rewrote = true;
    if (id) out.push(statics[0].slice(0, shape.head) + ' data-lf-id="' + id + '"' + statics[0].slice(shape.head));
    else out.push(statics[0]);
    for (var i = 0; i < values.length; i++) {
      var v = values[i];
      if (typeof v === "string") {
        out.push(v);
        if (shape.content[i] && v.indexOf("<") >= 0) this.rawOpen += 1;   // raw HTML (escaped text has no "<")
      } else if (typeof v === "number") {
        this.writeComponent(templates, v, shape.content[i], out, partial);
      } else if (v.kind === "node") {
        this.writeChild(templates, v.template_id, v.values, shape.content[i], out, partial && !this.fresh.has(v.values));
      } else if (partial && shape.sole[i] && !this.fresh.has(v) && (!this.changed.has(v) || this.kept.has(v))) {
        var last = out[out.length - 1], order = this.reordered.get(v);
        out[out.length - 1] = last.slice(0, -1) + " data-lf-keep" +
          (order ? ' data-lf-order="' + (this.orders.push(order) - 1) + '"' : "") + ">";
      } else {
        var inside = partial && !this.fresh.has(v);
        for (var k = 0; k < v.keys.length; k++) {
          var entry = v.entries.get(v.keys[k]);
          this.writeChild(templates, v.template_id, entry, shape.content[i], out, inside && !this.fresh.has(entry));
        }
      }
      out.push(statics[i + 1]);
    }
    this.claimRaw(id, out, from, open);
  };

  Painter.prototype.writeChild = function (templates, tid, values, inContent, out, partial) {
    var shape = this.shapeOf(templates, tid);
    if (!inContent || !shape.tag) { this.write(templates, tid, values, 0, out, partial); return; }
    var id = this.ids.get(values);
    // Unchanged, or changed and painted in its own region: its element stays as it is.
    if (partial && id && (!this.changed.has(values) || this.pending.has(id)) && this.els.has(id)) {
      out.push("<" + shape.tag + ' data-lf-id="' + id + '" data-lf-skip></' + shape.tag + ">");
      this.skips.add(id);
      return;
    }
    if (!id) { id = this.next++; this.ids.set(values, id); }
    this.write(templates, tid, values, id, out, partial);
  };

  /** A live component's slot (live-diff.md §7): its node, written where the slot is, as
   *  toHtml does (missing, inside itself, or nested past MAX_RENDER_DEPTH components:
   *  empty). Its element keeps its data-lf-id, so a change of the component alone is
   *  painted as its own region (see paint). */
  Painter.prototype.writeComponent = function (templates, cid, inContent, out, partial) {
    var c = this.comps.get(cid);
    if (c === undefined || this.inside.has(cid) || this.inside.size >= MAX_RENDER_DEPTH) return;
    this.inside.add(cid);
    try {
      this.writeChild(templates, c.template_id, c.values, inContent, out, partial && !this.fresh.has(c.values));
    } finally {
      this.inside.delete(cid);
    }
  };

  /** The HTML of the whole tree, every id'd element tagged (a full render). */
  Painter.prototype.fullHtml = function (state) {
    if (!state.root) return "";
    this.comps = state.components || new Map();
    this.changed.clear(); this.kept.clear(); this.skips.clear(); this.fresh.clear(); this.pending.clear();
    this.raws = []; this.rawOpen = 0;
    this.reordered.clear(); this.orders = [];
    var out = [];
    this.write(state.templates, state.root.template_id, state.root.values, 0, out, false);
    return out.join("");
  };

  /** Remember the id'd elements under `node` (and `node` itself). */
  Painter.prototype.register = function (node) {
    if (node.nodeType !== 1) return;
    var self = this;
    if (node.hasAttribute("data-lf-id")) this.els.set(Number(node.getAttribute("data-lf-id")), node);
    Array.prototype.forEach.call(node.querySelectorAll("[data-lf-id]"), function (el) {
      self.els.set(Number(el.getAttribute("data-lf-id")), el);
    });
  };

  Painter.prototype.rescan = function (root) {
    this.els.clear();
    this.register(root);
    this.live = this.els.size;
    this.unsound.clear();
    this.checkRaws();   // what this full render wrote
  };

  /** Compare node values (same template) old -> new; returns true when the node itself
   *  must be re-rendered. Pushes the id'd descendants it can paint in place. */
  Painter.prototype.visit = function (templates, tid, before, after, regions) {
    if (before === after) return false;
    this.changed.add(after);
    var shape = this.shapeOf(templates, tid), dirty = [];   // the values that make it so
    for (var i = 0; i < after.length; i++) {
      var a = before[i], b = after[i];
      if (a === b) continue;   // also the same component: its own change is its region (paint)
      if (typeof a === "number" || typeof b === "number") {
        dirty.push(i);         // another component, or a component in place of a node
        var nc = typeof b === "number" ? this.comps.get(b) : undefined;
        if (nc !== undefined) this.fresh.add(nc.values);
        else if (typeof b !== "string" && typeof b !== "number") this.fresh.add(b.kind === "node" ? b.values : b);
        continue;
      }
      if (typeof a === "string" || typeof b === "string" || a.kind !== b.kind || a.template_id !== b.template_id) {
        dirty.push(i);
        if (typeof b !== "string") this.fresh.add(b.kind === "node" ? b.values : b);
      } else if (b.kind === "node") {
        if (!this.child(templates, b.template_id, a.values, b.values, shape.content[i], regions)) dirty.push(i);
      } else {
        this.changed.add(b);
        var same = a.keys === b.keys || (a.keys.length === b.keys.length &&
                   a.keys.every(function (k, j) { return k === b.keys[j]; }));
        var inPlace = same && shape.content[i];
        var reorder = !same && shape.sole[i] && shape.content[i] && this.shapeOf(templates, b.template_id).tag;
        for (var k = 0; k < b.keys.length; k++) {
          var ea = a.entries.get(b.keys[k]), eb = b.entries.get(b.keys[k]);
          if (ea === undefined) { this.fresh.add(eb); reorder = false; continue; }
          if (ea === eb) continue;
          if (!this.child(templates, b.template_id, ea, eb, shape.content[i], regions)) inPlace = reorder = false;
        }
        if (reorder) reorder = this.reorderOf(b);
        // Re-ordered: its element's parent is written again, the list as data-lf-order.
        if (reorder) { this.kept.add(b); this.reordered.set(b, reorder); dirty.push(i); }
        else if (inPlace) this.kept.add(b); else dirty.push(i);
      }
    }
    if (!dirty.length) return false;
    this.dirty.set(after, dirty);   // read by paintValues (section 2e)
    return true;
  };

  /** A changed child node: painted in place when it has its own element (pushed as a
   *  region), else it tells its parent whether the parent must re-render. */
  Painter.prototype.child = function (templates, tid, before, after, inContent, regions) {
    var id = inContent && this.shapeOf(templates, tid).tag ? this.ids.get(before) : undefined;
    if (id === undefined) return !this.visit(templates, tid, before, after, regions);
    this.ids.set(after, id);
    if (this.visit(templates, tid, before, after, regions)) {
      // Painted in its own element; an ancestor painted too writes it as a placeholder.
      regions.push({ id: id, tid: tid, values: after, before: before });
      this.pending.add(id);
    }
    return true;
  };

  /** Paint the change from `before` to `after` into `root`; false when only a full
   *  render can (the caller then does one). */
  Painter.prototype.paint = function (root, before, after, opts) {
    if (!before.root || !after.root || before.root.template_id !== after.root.template_id) return false;
    var templates = after.templates;
    this.changed.clear(); this.kept.clear(); this.skips.clear(); this.fresh.clear(); this.pending.clear();
    this.raws = []; this.rawOpen = 0; this.rewrote = false;
    this.reordered.clear(); this.orders = []; this.dirty.clear();
    this.comps = after.components || new Map();
    var regions = [];
    if (this.visit(templates, after.root.template_id, before.root.values, after.root.values, regions)) {
      regions.unshift(null);   // the root itself, first (its children's regions keep their elements)
    }
    if (!this.componentRegions(templates, before.components || new Map(), regions)) return false;
    opts.skips = this.skips;
    opts.painter = this;
    var template = document.createElement("template"), start = 0, r;
    if (regions[0] === null) {
      var top = [];
      this.write(templates, after.root.template_id, after.root.values, 0, top, true);
      if (this.rewrote) return false;
      template.innerHTML = top.join("");
      morphChildren(root, template.content, opts);
      start = 1;
    }
    // The other regions are written, then parsed together (one parse per namespace, not
    // one per region: a busy DAG paints about ten nodes a patch), then morphed in order.
    var els = [], htmls = [], placed = [], missing = false;
    for (r = start; r < regions.length; r++) {
      var region = regions[r], out = [], el = this.els.get(region.id);
      if (!el) { missing = true; continue; }
      if (this.paintValues(templates, region, el)) continue;   // section 2e
      this.write(templates, region.tid, region.values, region.id, out, true);
      placed.push(region);
      els.push(el);
      htmls.push(out.join(""));
    }
    var fresh = !missing && !this.rewrote ? parseRegions(els, htmls) : null;
    if (!fresh) return false;
    for (r = 0; r < els.length; r++) {
      if (!root.contains(els[r])) return false;
      morphNode(els[r], fresh[r], opts);
    }
    var self = this;
    opts.added.forEach(function (node) { self.register(node); });
    if (this.els.size > 4096 && this.els.size > 4 * this.live) this.prune(root);
    this.checkRaws();
    return true;
  };

  // A region's HTML is parsed where its element lives: an element of an inline SVG (a
  // DAG's node, an edge) or of MathML parsed at the top of a <template> would be an HTML
  // element (tag "G", not "g"), never matching the page's; every patch of such a region
  // then fell back to a full render. It is parsed inside an <svg> (a <math>) instead.
  var FOREIGN_ROOTS = { "http://www.w3.org/2000/svg": "svg", "http://www.w3.org/1998/Math/MathML": "math" };

  /** The one element `html` parses to in `el`'s namespace, or null when it is not one
   *  element of `el`'s tag (the caller then renders in full). */
  function parseRegion(template, el, html) {
    var wrap = has(FOREIGN_ROOTS, el.namespaceURI) ? FOREIGN_ROOTS[el.namespaceURI] : null;
    template.innerHTML = wrap ? "<" + wrap + ">" + html + "</" + wrap + ">" : html;
    var holder = wrap ? template.content.firstChild : template.content;
    if (!holder || (wrap && (holder !== template.content.lastChild || holder.nodeType !== 1))) return null;
    var fresh = holder.firstChild;
    if (!fresh || fresh !== holder.lastChild || fresh.nodeType !== 1 || fresh.tagName !== el.tagName ||
        fresh.namespaceURI !== el.namespaceURI) {
      return null;
    }
    return fresh;
  }

  // Regions parsed together are separated by this comment; a region whose HTML does not
  // parse to exactly one element between separators makes the paint decline (a full
  // render then), as parseRegion does for one.
  var REGION_SEPARATOR = "lf-region";

  /** The element each of `htmls` parses to in the namespace of the matching one of `els`
   *  (one parse per namespace), or null when one is not one element of its element's
   *  tag (the caller then renders in full). */
  function parseRegions(els, htmls) {
    var fresh = new Array(els.length), groups = new Map(), i;
    if (els.length === 1) {
      fresh[0] = parseRegion(document.createElement("template"), els[0], htmls[0]);
      return fresh[0] ? fresh : null;
    }
    for (i = 0; i < els.length; i++) {
      var ns = els[i].namespaceURI, group = groups.get(ns);
      if (!group) { group = []; groups.set(ns, group); }
      group.push(i);
    }
    var ok = true;
    groups.forEach(function (members, ns) {
      if (!ok) return;
      var wrap = has(FOREIGN_ROOTS, ns) ? FOREIGN_ROOTS[ns] : null;
      var html = members.map(function (m) { return htmls[m]; }).join("<!--" + REGION_SEPARATOR + "-->");
      var template = document.createElement("template");
      template.innerHTML = wrap ? "<" + wrap + ">" + html + "</" + wrap + ">" : html;
      var holder = wrap ? template.content.firstChild : template.content;
      if (!holder || (wrap && (holder !== template.content.lastChild || holder.nodeType !== 1))) { ok = false; return; }
      var k = 0, node = holder.firstChild;
      while (ok && k < members.length) {
        var el = els[members[k]];
        if (!node || node.nodeType !== 1 || node.tagName !== el.tagName || node.namespaceURI !== el.namespaceURI) {
          ok = false;
          break;
        }
        fresh[members[k]] = node;
        node = node.nextSibling;
        k += 1;
        if (k < members.length) {
          if (!node || node.nodeType !== 8 || node.data !== REGION_SEPARATOR) { ok = false; break; }
          node = node.nextSibling;
        }
      }
      if (node) ok = false;   // more than the regions: one parsed to more than one node
    });
    return ok ? fresh : null;
  }

  // Raw HTML (a Markup value) that closes its element early, holds the region separator
  // or breaks out of an inline SVG does not parse back to one element of its node's tag:
  // as a region it makes the paint decline, and a full render puts on the page what it
  // parses to, stray nodes beside the element included. Painting that node in place
  // later would leave them there. So each id'd node written with raw HTML in it (its own
  // or an id-less child's) is parsed alone once on the page; one that does not parse to
  // one element is unsound, and a paint that would re-render it declines: the full
  // render, which removes what its last HTML left, checks anew what it wrote.

  /** Record node `id` (its HTML out[from..]) when raw HTML was written in it; an
   *  id-less node hands its raw values on to its parent (`open`: the parent's so far). */
  Painter.prototype.claimRaw = function (id, out, from, open) {
    if (!id) { this.rawOpen += open; return; }
    if (this.rawOpen) this.raws.push({ id: id, out: out, from: from, to: out.length });
    this.rawOpen = open;
  };

  /** Parse alone each node recorded by claimRaw, now on the page; mark the unsound.
   *  A region this paint parsed (pending) is one element already. */
  Painter.prototype.checkRaws = function () {
    var template = null;
    for (var i = 0; i < this.raws.length; i++) {
      var rec = this.raws[i], el = this.els.get(rec.id);
      if (!el || this.pending.has(rec.id)) continue;
      template = template || document.createElement("template");
      if (!parseRegion(template, el, rec.out.slice(rec.from, rec.to).join(""))) this.unsound.add(rec.id);
    }
    this.raws = [];
  };

  /** Each live component the patch changed (it was on the page, its node is new) is
   *  painted in its own element, whatever its parent did; false when one has no element
   *  of its own (a full render then places it). */
  Painter.prototype.componentRegions = function (templates, beforeComps, regions) {
    var self = this, placed = true;
    this.comps.forEach(function (node, cid) {
      var old = beforeComps.get(cid);
      if (!placed || old === undefined || old === node) return;
      var id = self.ids.get(old.values);
      if (id === undefined || !self.els.has(id)) { placed = false; return; }
      self.ids.set(node.values, id);
      if (old.template_id !== node.template_id) {
        self.fresh.add(node.values);   // another template: written anew in its element
      } else if (!self.visit(templates, node.template_id, old.values, node.values, regions)) {
        return;                        // only its own id'd children changed: their regions
      }
      regions.push({ id: id, tid: node.template_id, values: node.values });
      self.pending.add(id);
    });
    return placed;
  };

  /** Forget elements that left the page (a long-lived page with much churn). */
  Painter.prototype.prune = function (root) {
    var self = this;
    this.els.forEach(function (el, id) { if (!root.contains(el)) self.els.delete(id); });
    this.live = this.els.size;
  };

  // ------------------------------------------ 2d. fewest moves for kept elements

  // A partial paint writes each unchanged entry of a keyed list as a placeholder, and the
  // walk above puts the live element there. Moving every element that is not where the
  // walk stands would move k elements for one row that went k places down (a re-sort
  // after one price changed: hundreds of rows, each then styled and laid out again).
  // Instead the kept elements on a longest increasing run of their old positions stay
  // where they are and the walk steps over the others, which their own placeholders
  // move later: n - LIS moves, the fewest (as morphdom and Phoenix do). The walk only
  // steps over kept elements still to move and id'd elements (found by id wherever they
  // are); anything else between (text, an unkeyed element a later node may reuse) makes
  // it move as before, for the rest of this element.

  /** The kept elements (placeholders' live elements) of `to` that stay put, or null when
   *  fewer than two are among `from`'s children. Its `moving` holds every kept element,
   *  `passed` the id'd elements the walk stepped over, `claimed` those a node matched. */
  function stayingKept(from, to, painter, skips) {
    if (skips.size < 2) return null;   // a patch that wrote no list of placeholders
    var seen = new Set(), order = [], c, i;
    for (c = to.firstChild; c; c = c.nextSibling) {
      if (c.nodeType !== 1 || !c.hasAttribute("data-lf-skip")) continue;
      var el = painter.els.get(Number(c.getAttribute("data-lf-id")));
      if (!el || seen.has(el)) return null;   // the walk throws, or moves it twice
      seen.add(el);
      order.push(el);
    }
    if (order.length < 2) return null;
    var position = new Map();
    for (c = from.firstChild, i = 0; c; c = c.nextSibling, i++) if (seen.has(c)) position.set(c, i);
    var kept = [], seq = [];   // in the new order, with their old positions
    for (i = 0; i < order.length; i++) {
      var p = position.get(order[i]);
      if (p !== undefined) { kept.push(order[i]); seq.push(p); }
    }
    if (kept.length < 2) return null;
    var stay = new Set(), run = longestIncreasing(seq);
    for (i = 0; i < run.length; i++) stay.add(kept[run[i]]);
    stay.moving = seen;
    stay.off = false;   // set once the walk met what it may not step over: it moves from then on
    stay.passed = [];
    stay.claimed = new Set();
    return stay;
  }

  /** Whether the walk may step from `cur` over to `kept`: every node between is a kept
   *  element that moves later, or an id'd element (only ever matched by id, wherever it
   *  is; one left unmatched is removed at the end, by passedOver). */
  function passOver(cur, kept, stay) {
    var ids = [];
    for (var n = cur; n !== kept; n = n.nextSibling) {
      if (!n || stay.has(n)) return false;
      if (stay.moving.has(n)) continue;
      if (n.nodeType !== 1 || !n.id) return false;
      ids.push(n);
    }
    for (var i = 0; i < ids.length; i++) stay.passed.push(ids[i]);
    return true;
  }

  /** Remove the id'd elements the walk stepped over that no node claimed; whether any. */
  function passedOver(from, stay) {
    var removed = false;
    for (var i = 0; i < stay.passed.length; i++) {
      var el = stay.passed[i];
      if (el.parentNode === from && !stay.claimed.has(el) && !stay.moving.has(el)) {
        from.removeChild(el);
        removed = true;
      }
    }
    return removed;
  }

  // A keyed list whose entries only moved or left (none new), each entry with an element
  // of its own, alone in its element: that element keeps its children (data-lf-keep)
  // and is told the new order of its entries' ids (data-lf-order="N", N indexing the
  // paint's `orders`); reorderKept then moves the n − LIS elements off the longest
  // increasing run and removes the ones that left. No placeholder is written or parsed
  // (a re-sort of 1 000 rows wrote and parsed 1 000 of them). Anything unexpected (an
  // element missing, a stranger among the children) is a PaintMiss: a full render.

  /** The ids of `list`'s entries in its order, or null when one has no id or element. */
  Painter.prototype.reorderOf = function (list) {
    var ids = new Array(list.keys.length);
    for (var k = 0; k < list.keys.length; k++) {
      var id = this.ids.get(list.entries.get(list.keys[k]));
      if (id === undefined || !this.els.has(id)) return null;
      ids[k] = id;
    }
    return ids;
  };

  /** Put `el`'s children in the order of the elements named by `ids` (painter ids): the
   *  fewest moves; children not named leave. Returns whether anything changed. */
  function reorderKept(el, painter, ids) {
    if (!ids) throw new PaintMiss();
    var wanted = new Array(ids.length), named = new Set(), i, c;
    for (i = 0; i < ids.length; i++) {
      var e = painter.els.get(ids[i]);
      if (!e || e.parentNode !== el || named.has(e)) throw new PaintMiss();
      wanted[i] = e;
      named.add(e);
    }
    var position = new Map(), changed = false, gone = [];
    for (c = el.firstChild, i = 0; c; c = c.nextSibling) {
      if (named.has(c)) position.set(c, i++);
      else if (c.nodeType === 1) gone.push(c);
      else throw new PaintMiss();   // text among the entries: not this list's shape
    }
    for (i = 0; i < gone.length; i++) { el.removeChild(gone[i]); changed = true; }
    var seq = wanted.map(function (e) { return position.get(e); });
    var run = longestIncreasing(seq), stays = new Set();
    for (i = 0; i < run.length; i++) stays.add(wanted[run[i]]);
    // From the end: each element that moves goes just before the one after it.
    var after = null;
    for (i = wanted.length - 1; i >= 0; i--) {
      var w = wanted[i];
      if (!stays.has(w)) { el.insertBefore(w, after); changed = true; }
      after = w;
    }
    return changed;
  }

  /** Indexes into `values` (distinct numbers) of one longest increasing run, in order. */
  function longestIncreasing(values) {
    var tails = [], tailAt = [], parent = new Array(values.length), i;
    for (i = 0; i < values.length; i++) {
      var v = values[i], lo = 0, hi = tails.length;
      while (lo < hi) { var mid = (lo + hi) >> 1; if (tails[mid] < v) lo = mid + 1; else hi = mid; }
      tails[lo] = v;
      tailAt[lo] = i;
      parent[i] = lo > 0 ? tailAt[lo - 1] : -1;
    }
    var run = new Array(tails.length), k = tails.length ? tailAt[tails.length - 1] : -1;
    for (i = tails.length - 1; i >= 0; i--) { run[i] = k; k = parent[k]; }
    return run;
  }

  // ------------------------------------------ 2e. values painted in place

  // A changed node whose changed values are all text, each inside a quoted attribute
  // value or the only content of its element, is painted by setting those attributes
  // and texts on its live element: no HTML written, parsed or morphed (ADR 0127; a DAG
  // node whose step moved on changes its status, its line of facts and its tooltip).
  // Anything else takes the region's usual paint: a value that is a node, a list or raw
  // HTML; a template with a value elsewhere (between other content, in a tag, in raw
  // text); a form field, a hooked, ignored, locked or sticky element; text whose parse
  // would not give it back as it is (an entity other than the escapes, a CR, a NUL).

  var SLOT_MARK = /<!--lf:(\d+)-->/;
  var RAW_MARK = /[<"']/;
  var NOT_SET_IN_PLACE = /^(id|value|checked|selected|lf-update|lf-hook|data-lf-.*)$/;
  var NO_TEXT_IN_PLACE = { PRE: 1, LISTING: 1, TEXTAREA: 1, TABLE: 1, TBODY: 1, THEAD: 1, TFOOT: 1,
                           TR: 1, COLGROUP: 1, SELECT: 1, OPTION: 1, SCRIPT: 1, STYLE: 1 };
  var FIELDS = { INPUT: 1, TEXTAREA: 1, SELECT: 1, OPTION: 1 };
  var ESCAPES = { "&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": "\"", "&#39;": "'", "&#x27;": "'", "&#34;": "\"" };

  /** Text `s` as the HTML parser reads it back, or null when that is not sure. */
  function unescapeText(s) {
    if (/[\r\0]/.test(s)) return null;
    if (s.indexOf("&") < 0) return s;
    var out = s.replace(/&(amp|lt|gt|quot|#39|#x27|#34);/g, function (e) { return ESCAPES[e]; });
    var rest = s.replace(/&(amp|lt|gt|quot|#39|#x27|#34);/g, "");
    return /&[#a-zA-Z0-9]/.test(rest) ? null : out;
  }

  /** Where each value of a template's statics sits, parsed in namespace `ns`: per value,
   *  its slots ({path, tag, attr, parts} or {path, tag, text}); null when a value sits
   *  anywhere else. Kept by the statics (as shapeOf), per namespace. */
  Painter.prototype.slotsOf = function (statics, ns) {
    var byNs = this.slotShapes.get(statics);
    if (!byNs) { byNs = new Map(); this.slotShapes.set(statics, byNs); }
    if (byNs.has(ns)) return byNs.get(ns);
    var n = statics.length - 1, marked = statics[0], i;
    for (i = 0; i < n; i++) marked += "<!--lf:" + i + "-->" + statics[i + 1];
    var wrap = has(FOREIGN_ROOTS, ns) ? FOREIGN_ROOTS[ns] : null;
    var template = document.createElement("template");
    template.innerHTML = wrap ? "<" + wrap + ">" + marked + "</" + wrap + ">" : marked;
    var holder = wrap ? template.content.firstChild : template.content, slots = null;
    if (holder && holder.childNodes.length === 1 && holder.firstChild.nodeType === 1) {
      slots = new Array(n);
      for (i = 0; i < n; i++) slots[i] = [];
      if (!collectSlots(holder.firstChild, [], slots)) slots = null;
      else for (i = 0; i < n; i++) if (!slots[i].length) { slots = null; break; }
      if (!slots) slots = rootSlots(holder.firstChild, n);
    }
    byNs.set(ns, slots);
    return slots;
  };

  /** A template whose values do not all sit where they can be set (a node, a list or
   *  text between other content: the run's section, a heading with its badge) still has
   *  the values in its root element's attributes set in place (its `data-status`): per
   *  value, the root's attribute slots, or null (not placeable; a change of it declines).
   *  Only the root: values between other content shift the element children below them,
   *  so no path under the root holds; the root's own attributes are where they are. A
   *  value in the root's tag itself (`<button{off}>`) leaves nothing placeable. */
  function rootSlots(el, n) {
    var slots = new Array(n), found = false, i;
    for (i = 0; i < n; i++) slots[i] = [];
    if (!collectAttrSlots(el, [], slots)) return null;
    for (i = 0; i < n; i++) {
      if (slots[i].length) found = true; else slots[i] = null;
    }
    return found ? slots : null;
  }

  /** The values in `el`'s attribute values, pushed to `slots` ({path, tag, attr, parts});
   *  false when a value sits in the tag itself (an attribute's name). */
  function collectAttrSlots(el, path, slots) {
    var names = el.getAttributeNames(), i;
    for (i = 0; i < names.length; i++) {
      if (names[i].indexOf("lf:") >= 0 || names[i].indexOf("<") >= 0) return false;   // a value in the tag
      var v = el.getAttribute(names[i]);
      if (v.indexOf("<!--lf:") < 0) continue;
      var parts = v.split(SLOT_MARK);   // static, index, static, index, ..., static
      for (var k = 1; k < parts.length; k += 2) {
        var at = Number(parts[k]);
        if (at >= slots.length) return false;
        parts[k] = at;
        slots[at].push({ path: path, tag: el.tagName, attr: names[i], parts: parts });
      }
    }
    return true;
  }

  function collectSlots(el, path, slots) {
    var m;
    if (!collectAttrSlots(el, path, slots)) return false;
    var index = 0;
    for (var c = el.firstChild; c; c = c.nextSibling) {
      if (c.nodeType === 8) {
        m = /^lf:(\d+)$/.exec(c.data);
        if (!m || Number(m[1]) >= slots.length) continue;
        // Only the element's one child: its text is the value's, whatever else is there.
        if (el.childNodes.length !== 1 || has(NO_TEXT_IN_PLACE, el.tagName)) return false;
        slots[Number(m[1])].push({ path: path, tag: el.tagName, text: true });
      } else if (c.nodeType === 3 && c.data.indexOf("lf:") >= 0 && /<!--lf:\d+-->/.test(c.data)) {
        return false;   // in raw text (a title, a textarea): not a node of its own
      } else if (c.nodeType === 1) {
        if (!collectSlots(c, path.concat([index]), slots)) return false;
        index += 1;
      }
    }
    return true;
  }

  /** Paint `region` (changed from region.before) by setting attributes and texts on its
   *  live element `el`; false, having changed nothing, when it cannot. */
  Painter.prototype.paintValues = function (templates, region, el) {
    var before = region.before, after = region.values;
    if (!before || this.unsound.has(region.id) || !this.slotShapes) return false;
    var slots = this.slotsOf(templates.get(region.tid), el.namespaceURI);
    if (!slots || before.length !== after.length) return false;
    // The values that made visit re-render the node; the others changed inside children
    // painted in their own elements (or lists kept), which this leaves to them.
    var dirty = this.dirty.get(after);
    if (!dirty) return false;
    var ops = [], i, k, d;
    // Raw HTML among the values on the page (escaped text has no "<" and no quote) may
    // have put nodes or attributes inside the element that its template does not place
    // ("</text>stray" in a <text>): only a morph takes them away.
    for (i = 0; i < before.length; i++) if (typeof before[i] === "string" && RAW_MARK.test(before[i])) return false;
    for (d = 0; d < dirty.length; d++) {
      i = dirty[d];
      if (typeof before[i] !== "string" || typeof after[i] !== "string" || !slots[i]) return false;
      for (k = 0; k < slots[i].length; k++) {
        var slot = slots[i][k], target = el;
        for (var p = 0; p < slot.path.length && target; p++) {
          if (!inPlaceOk(target)) return false;
          target = target.children[slot.path[p]];
        }
        if (!target || target.tagName !== slot.tag || !inPlaceOk(target) || has(FIELDS, target.tagName)) return false;
        if (slot.text) {
          if (after[i].indexOf("<") >= 0) return false;   // raw HTML
          var text = unescapeText(after[i]);
          if (text === null) return false;
          ops.push([target, null, text]);
        } else {
          if (NOT_SET_IN_PLACE.test(slot.attr)) return false;
          var value = "";
          for (var j = 0; j < slot.parts.length; j++) {
            // A value with a raw quote (raw HTML: escaped text has none) would end the
            // attribute when parsed: the region path gives what the parse makes of it.
            var piece = j % 2 ? unescapeText(typeof after[slot.parts[j]] === "string" &&
                                             !/["']/.test(after[slot.parts[j]]) ? after[slot.parts[j]] : "\0")
                              : slot.parts[j];
            if (piece === null) return false;
            value += piece;
          }
          ops.push([target, slot.attr, value]);
        }
      }
    }
    for (k = 0; k < ops.length; k++) {
      var op = ops[k];
      if (op[1] === null) { if (op[0].textContent !== op[2]) op[0].textContent = op[2]; }
      else if (op[0].getAttribute(op[1]) !== op[2]) op[0].setAttribute(op[1], op[2]);
    }
    return true;
  };

  function inPlaceOk(el) {
    return !el.__lfLock && !el.__lfSticky && !el.hasAttribute("lf-hook") &&
           !el.hasAttribute("lf-update") && !el.hasAttribute("data-lf-child");
  }

  // ------------------------------------------ 2f. templates prepared while idle

  // A template's shape (shapeOf) and where its values sit (slotsOf) are parsed at its
  // first use, in the patch that uses it: about 70 us a template, a few of them when a
  // panel first opens. Templates that arrive before their use (a view's preload, ADR
  // 0133) are prepared when the page is idle instead, so that patch parses none; so are
  // the value slots of templates a render used (the first patch that sets values in
  // place no longer parses them). The namespace is guessed from the root tag (an SVG
  // element's in SVG); a wrong guess only leaves that template's slots to be parsed at
  // its first use, as before.
  var SVG_ROOT = /^<(g|path|text|tspan|rect|circle|ellipse|line|polyline|polygon|use)[\s>\/]/;
  var IDLE_SLICE_MS = 4;

  Painter.prototype.prepare = function (templates) {
    var self = this, ids = [];
    templates.forEach(function (statics, id) { if (!self.slotShapes.has(statics)) ids.push(id); });
    if (!ids.length) return;
    var later = global.requestIdleCallback || function (f) { return setTimeout(f, 50); };
    function work(deadline) {
      var until = performance.now() + IDLE_SLICE_MS;
      while (ids.length && (deadline && deadline.timeRemaining ? deadline.timeRemaining() > 1 : performance.now() < until)) {
        var id = ids.shift(), statics = templates.get(id);
        if (self.slotShapes.has(statics)) continue;
        self.shapeOf(templates, id);
        self.slotsOf(statics, SVG_ROOT.test(statics[0]) ? "http://www.w3.org/2000/svg" : "http://www.w3.org/1999/xhtml");
      }
      if (ids.length) later(work);
    }
    later(work);
  };

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
  // An event's loading state (lf-loading, aria-busy) goes on once it has waited this long
  // for its answer (ADR 0130): a class set in the click's task makes the browser paint a
  // frame of the page before it reads an answer that came back in a few ms (on a
  // 1 000-row table, 3-10 ms that the answer waited behind). 100 ms is the limit under
  // which a response feels instant and needs no feedback; a faster answer shows none.
  var LOADING_DELAY_MS = 100;

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

  // -- live components (specs/live-wire.md §5): an element's lf-target names the
  //    component (its cid, what the component renders as {myself}) its events go to;
  //    the server answers a target it does not know with an error frame.

  function componentTarget(el) {
    var target = el && el.getAttribute ? el.getAttribute("lf-target") : null;
    return target ? target : null;
  }

  /** `options.hooks`: {Name: hook object} for lf-hook="Name" (section 5). The page
   *  starts one client with `window.lightflowLiveOptions` (set it in a script that runs
   *  before lightflow-live.js, e.g. in the view's `head`). */
  function LiveSocket(root, options) {
    var data = root.dataset;
    options = options || {};
    this.hooks = isObject(options.hooks) ? options.hooks : {};
    this.uploaders = isObject(options.uploaders) ? options.uploaders : {};   // section 8, external
    this.hooked = new Map();    // element -> hook instance
    this.handlers = [];         // [event, callback] from hooks' handleEvent
    this.root = root;
    this.url = new URL(data.lfSocket, global.location.href);
    this.url.protocol = this.url.protocol === "https:" ? "wss:" : "ws:";
    this.base = data.lfBase || "";
    this.view = data.lfView;
    this.session = data.lfSession;
    this.token = data.lfToken;
    this.flash = data.lfFlash || null;   // a signed flash token for the next join (live-wire §13)
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
    this.pending = new Map();   // submit ref -> {el, form, at, shown, ...}
    this.loadingTimer = null;   // shows the loading state of events waiting LOADING_DELAY_MS
    this.timers = new Map();    // debounced element -> timeout id
    this.painter = new Painter();
    this.staleLocks = false;    // a locked element missed a patch: next render is full
    this.initTransports(options);   // section 10
    this.bind();
    this.bindMore();
    this.bindParity();   // section 11
    this.connect();
    var self = this;
    setInterval(function () { self.heartbeat(); }, HEARTBEAT_MS / 3);
  }

  LiveSocket.prototype.status = function (name) {
    var list = this.root.classList, was = this.root.getAttribute("data-lf-status");
    if (name === "disconnected" && was === "connected") this.hooksSay("disconnected");
    if (name === "connected" && was === "disconnected") this.reconnecting = true;
    ["lf-connected", "lf-disconnected", "lf-closed"].forEach(function (c) { list.toggle(c, c === "lf-" + name); });
    this.root.setAttribute("data-lf-status", name);
    if (was !== name && (name === "connected" || (name === "disconnected" && was === "connected"))) {
      this.statusBindings(name);
    }
  };

  LiveSocket.prototype.connect = function () {
    // Which transport (WebSocket, SSE, long-polling) and its fallback: section 10.
    this.attach(this.openTransport());
  };

  /** Make `ws` (a WebSocket, or a fallback that looks like one) this page's connection. */
  LiveSocket.prototype.attach = function (ws) {
    var self = this;
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
      if (self.fallBack(ws)) return;   // it never got a welcome: the next transport (section 10)
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
    var mount = { token: this.token, params: params };
    if (this.flash) mount.flash = this.flash;
    this.joinSeq = this.instruction({ op: "mount", id: this.session, target: this.view,
                                      params: mount });
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
      case "welcome": this.welcomed(); this.join(); break;
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
    // A join an on_mount hook halted renders nothing and redirects: go before painting.
    if (view.nav && view.nav.kind === "redirect") { this.closing = true; this.follow(view.nav); return; }
    var saved = this.everJoined ? this.captureForms() : [];
    try {
      this.state = applyPatch(emptyState(), view.d);
    } catch (e) {
      console.error("lightflow: cannot apply the full render", e);
      if (this.ws) this.ws.close();
      return;
    }
    this.session = view.session || this.session;
    this.render(view.ref ? this.settle(view.ref, view.rp) : null, true);
    this.painter.prepare(this.state.templates);   // section 2f
    this.joined = true;
    this.everJoined = true;
    this.attempt = 0;
    this.joinSeq = null;
    this.flash = null;          // shown by this render; a rejoin does not show it again
    try { global.sessionStorage.removeItem(RELOAD_KEY); } catch (e) { /* no storage */ }
    this.status("connected");
    if (view.title) document.title = view.title;
    this.recoverForms(saved);
    if (this.reconnecting) { this.reconnecting = false; this.hooksSay("reconnected"); }
    this.deliverEvents(view.e);
    if (view.nav) this.follow(view.nav);
    this.emit("lf:joined", { ref: view.ref || null });
  };

  LiveSocket.prototype.onPatch = function (diff) {
    if (!this.joined) return;   // waiting for a Render: it replaces everything
    var settled = diff.ref ? this.settle(diff.ref, diff.rp) : null, before = this.state;
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
    if (diff.d || settled) this.render(settled, false, before);
    if (diff.d && diff.d.t) this.painter.prepare(this.state.templates);   // section 2f
    if (diff.title) document.title = diff.title;
    this.deliverEvents(diff.e);
    if (diff.nav) this.follow(diff.nav);
    this.emit("lf:patched", { ref: diff.ref || null });
  };

  LiveSocket.prototype.onShutdown = function (ins) {
    this.joined = false;
    if (this.budgetWait) return;  // a join refused for a tenant budget: its retry is set
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
    if (frame.code === "over_budget" && this.onOverBudget(frame)) return;
    if (this.joinSeq !== null && frame.ref === this.joinSeq) {
      // The Mount itself was refused (token, view, params): retrying the same join can
      // only be refused again, so the page must be loaded anew.
      this.reload(frame.code + ": " + frame.message);
      return;
    }
    if (frame.ref !== undefined && frame.ref !== null) this.settle(String(frame.ref));
    console.warn("lightflow: " + frame.code + ": " + frame.message);
    this.emit("lf:error", { code: frame.code, message: frame.message, path: frame.path || null,
                            ref: frame.ref === undefined || frame.ref === null ? null : String(frame.ref) });
  };

  /** Show the state: morph the page, then the hooks' lifecycle (a full render looks
   *  for hooks in the whole root, a patch only in what it added). */
  LiveSocket.prototype.render = function (settled, full, before) {
    var self = this, beforeUpdate = function (el) {
      var hook = self.hooked.get(el);
      if (hook) callHook(hook, "beforeUpdate");
    };
    var opts = { force: settled ? settled.form : null, answered: settled ? settled.els : null,
                 added: [], updated: [], beforeUpdate: beforeUpdate };
    // A submit's answer sets its form's fields, an answered field follows the server:
    // both need every field visited, so they take a full render (not the hot path).
    var fields = settled && (settled.form || settled.els.some(function (el) {
      return el.tagName === "INPUT" || el.tagName === "SELECT" || el.tagName === "TEXTAREA";
    }));
    var painted = false;
    if (!full && !fields && before && !this.staleLocks) {
      try {
        painted = this.painter.paint(this.root, before, this.state, opts);
      } catch (e) {
        if (!(e instanceof PaintMiss)) throw e;
      }
    }
    if (!painted) {
      opts = { force: opts.force, answered: opts.answered, added: [], updated: [], beforeUpdate: beforeUpdate };
      morph(this.root, this.painter.fullHtml(this.state), opts);
      this.painter.rescan(this.root);
      this.staleLocks = false;
      if (!full) opts.added = [this.root];   // look for new hooks everywhere
    }
    this.pending.forEach(function (p) {
      if (!p.shown) return;
      if (!p.quiet) p.el.classList.add("lf-loading");
      p.loading.forEach(function (el) { el.classList.add("lf-loading"); });
    });
    this.runHooks(full ? [this.root] : opts.added, opts.updated);
    this.watchViewport(full || !painted ? null : opts.added);
    return painted;
  };

  LiveSocket.prototype.emit = function (name, detail) {
    this.root.dispatchEvent(new CustomEvent(name, { detail: detail, bubbles: true }));
  };

  // -- events and loading states

  /** Send `event`; returns its ref (the frame's seq), or null when not joined.
   *  `opts.quiet`: no loading state (a hook's pushEvent); `opts.loading`: more elements
   *  in the loading state; `opts.done(ref)`: called when the answer arrives;
   *  `opts.passive`: the event does not set the element's value (focus, blur, window
   *  keys), so its answer does not make the element follow the server (settle). */
  LiveSocket.prototype.push = function (el, event, payload, form, opts) {
    opts = opts || {};
    if (!this.joined) return null;
    var submit = { op: "submit", event: event, payload: payload, ref: String(this.seqOut + 1) };
    var target = opts.target || componentTarget(el);   // JS.push(target=...) first
    if (target !== null) submit.target = target;
    var seq = this.instruction(submit);
    if (seq === null) return null;
    var entry = { el: el, form: form || null, quiet: !!opts.quiet, loading: opts.loading || [],
                  locks: [], done: opts.done || null, passive: !!(opts.passive || opts.quiet),
                  at: Date.now(), shown: false };
    // No loading state yet (LOADING_DELAY_MS): the DOM is left as it is until the answer.
    if (!entry.quiet || entry.loading.length) this.loadingLater(LOADING_DELAY_MS);
    var locks = el.hasAttribute("lf-disable-with") ? [el] : [];
    if (el.tagName === "FORM") locks = Array.prototype.slice.call(el.querySelectorAll("[lf-disable-with]"));
    locks.forEach(function (other) { if (!other.__lfLock) { lock(other); entry.locks.push(other); } });
    this.pending.set(String(seq), entry);
    return seq;
  };

  /** End the loading state of every event up to `ref`; returns what they were sent by
   *  ({form: a submitted form or null, els: the elements}), or null if none was pending.
   *  `replies`: the envelope's ``rp`` (EventReply payloads by ref), handed to `done`. */
  LiveSocket.prototype.settle = function (ref, replies) {
    var upto = Number(ref), form = null, els = [], self = this;
    this.pending.forEach(function (p, key) {
      if (Number(key) > upto) return;
      if (p.shown && !p.quiet) {
        p.el.classList.remove("lf-loading");
        p.el.removeAttribute("aria-busy");
      }
      if (p.shown) p.loading.forEach(function (other) { other.classList.remove("lf-loading"); });
      p.locks.forEach(function (el) { if (unlock(el)) self.staleLocks = true; });
      if (p.done) afterPatch(p.done, key, replyOf(replies, key));
      if (!p.passive) els.push(p.el);
      if (p.form) form = p.form;
    });
    this.pending.forEach(function (p, key, map) { if (Number(key) <= upto) map.delete(key); });
    return els.length ? { form: form, els: els } : null;
  };

  /** Run `showLoading` in `ms` (unless it is already due sooner). */
  LiveSocket.prototype.loadingLater = function (ms) {
    if (this.loadingTimer !== null) return;   // it reschedules itself for the rest
    var self = this;
    this.loadingTimer = setTimeout(function () { self.loadingTimer = null; self.showLoading(); }, ms);
  };

  /** Put the loading state on the events that have waited LOADING_DELAY_MS for their
   *  answer; come back for the ones that have not waited so long yet. */
  LiveSocket.prototype.showLoading = function () {
    var now = Date.now(), next = null;
    this.pending.forEach(function (p) {
      if (p.shown || (p.quiet && !p.loading.length)) return;
      var due = p.at + LOADING_DELAY_MS;
      if (due > now) { next = next === null ? due : Math.min(next, due); return; }
      p.shown = true;
      if (!p.quiet) {
        p.el.classList.add("lf-loading");
        p.el.setAttribute("aria-busy", "true");
      }
      p.loading.forEach(function (other) { other.classList.add("lf-loading"); });
    });
    if (next !== null) this.loadingLater(next - now);
  };

  LiveSocket.prototype.bind = function () {
    var self = this, root = this.root;
    function inside(el) { return el && root.contains(el); }
    document.addEventListener("click", function (e) {
      self.clickAway(e.target);
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
      throttled(el, "click", function () {
        self.run(el, el.getAttribute("lf-click"), function () { return attrValues(el); });
      }, false);
    });
    document.addEventListener("submit", function (e) {
      var form = e.target;
      if (!inside(form) || !form.hasAttribute("lf-submit")) return;
      e.preventDefault();
      clearTimeout(self.timers.get(form));   // a pending debounced change is superseded
      Array.prototype.forEach.call(form.elements, function (el) { markUsed(self, el); });
      self.run(form, form.getAttribute("lf-submit"), function () { return formValues(form); }, form);
    });
    function changed(e) {
      var el = e.target, host = el.closest && el.closest("[lf-change]");
      if (!inside(host)) return;
      // Text fields report "input" as the user types; toggles and selects report
      // "change" (they fire both, so each kind listens to one).
      var toggle = el.type === "checkbox" || el.type === "radio" || el.tagName === "SELECT";
      if ((e.type === "change") !== toggle) return;
      markUsed(self, el);
      var debounce = el.getAttribute("lf-debounce") || host.getAttribute("lf-debounce") || "";
      if (debounce === "blur") return;   // sent when the field loses focus (bindMore)
      var delay = Number(debounce || 0);
      clearTimeout(self.timers.get(host));
      if (delay > 0) {
        self.timers.set(host, setTimeout(function () { self.sendChange(host, el); }, delay));
      } else if (el.hasAttribute("lf-throttle") || host.hasAttribute("lf-throttle")) {
        throttled(el.hasAttribute("lf-throttle") ? el : host, "change", function () { self.sendChange(host, el); }, true);
      } else {
        self.sendChange(host, el);
      }
    }
    document.addEventListener("input", changed);
    document.addEventListener("change", changed);
    ["keydown", "keyup"].forEach(function (kind) {
      document.addEventListener(kind, function (e) {
        var el = e.target.closest && e.target.closest("[lf-" + kind + "]");
        if (!inside(el)) return;
        var only = el.getAttribute("lf-key");
        if (only && only !== e.key) return;
        throttled(el, kind, function () {
          self.run(el, el.getAttribute("lf-" + kind), function () {
            var payload = attrValues(el);
            payload.key = e.key;
            if ("value" in el) payload.value = el.value;
            return payload;
          });
        }, false);
      });
    });
    global.addEventListener("popstate", function () {
      var url = new URL(global.location.href);
      if (self.viewOf(url) === self.view) self.patchTo(url, false); else self.navigate(url, false);
    });
  };

  /** The lf-change event of `host` for a change of field `el` (JS commands allowed). */
  LiveSocket.prototype.sendChange = function (host, el) {
    var self = this;
    this.run(host, host.getAttribute("lf-change"), function () {
      var values = host.tagName === "FORM" ? formValues(host) : {};
      if (host.tagName !== "FORM" && el.name) values[el.name] = el.type === "checkbox" ? el.checked : el.value;
      values._target = el.name || "";
      if (host.tagName === "FORM") addUnused(self, host, values);
      return values;
    }, host.tagName === "FORM" ? host : null);
  };

  // -- form recovery (after a rejoin the new session learns what the forms hold)

  // Form recovery (Phoenix's phx-auto-recover): a form with an id and lf-change sends its
  // change event again after a rejoin; lf-auto-recover="ev" sends ev instead (also on a
  // form without lf-change), lf-auto-recover="ignore" recovers nothing.
  LiveSocket.prototype.captureForms = function () {
    var forms = this.root.querySelectorAll("form[id][lf-change], form[id][lf-auto-recover]");
    return Array.prototype.filter.call(forms, function (form) {
      return form.getAttribute("lf-auto-recover") !== "ignore";
    }).map(function (form) {
      var event = form.getAttribute("lf-auto-recover") || form.getAttribute("lf-change");
      return { id: form.id, event: event, values: formValues(form) };
    }).filter(function (s) { return !!s.event; });
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
    this.flash = nav.flash || null;   // the next view's mount shows the flash (live-wire §13)
    var target = new URL(this.base + "/" + encodeURIComponent(nav.to) + (query ? "?" + query : ""), url);
    if (nav.replace) global.history.replaceState({}, "", target.href);
    this.navigate(target, !nav.replace);
  };

  /** Run JS commands (the text JS(...) renders) as if an event on `el` ran them. */
  LiveSocket.prototype.execJS = function (el, text) { execJS(this, el, text, null, 0); };

  // ---------------------------------------------------------------- 4. JS commands

  // A binding attribute whose value starts with "[" holds JS commands (built in Python
  // by lightflow_actors.live.JS, specs/live-wire.md §12): [[kind, args], ...], run here
  // on the event with no round trip; `push` among them sends the binding's event.
  var JS_PARSED = new Map(), JS_MAX_DEPTH = 8, DEFAULT_TIME_MS = 200;

  function parseCommands(text) {
    var found = JS_PARSED.get(text);
    if (found) return found;
    var list;
    try { list = JSON.parse(text); } catch (e) { list = null; }
    if (!Array.isArray(list) || !list.every(function (c) {
      return Array.isArray(c) && c.length === 2 && typeof c[0] === "string" && isObject(c[1]);
    })) {
      console.warn("lightflow: not a JS command list: " + text.slice(0, 80));
      list = [];
    }
    if (JS_PARSED.size > 512) JS_PARSED.clear();
    JS_PARSED.set(text, list);
    return list;
  }

  /** The elements a command applies to: the source element, a document selector, or
   *  {closest: sel} / {inner: sel} relative to the source. */
  function targetsOf(source, to) {
    try {
      if (to === undefined || to === null) return [source];
      if (typeof to === "string") return Array.prototype.slice.call(document.querySelectorAll(to));
      if (isObject(to) && typeof to.closest === "string") {
        var near = source.closest(to.closest);
        return near ? [near] : [];
      }
      if (isObject(to) && typeof to.inner === "string") {
        return Array.prototype.slice.call(source.querySelectorAll(to.inner));
      }
    } catch (e) { /* an invalid selector */ }
    console.warn("lightflow: JS command target not found or invalid: " + JSON.stringify(to));
    return [];
  }

  function isVisible(el) {
    return global.getComputedStyle(el).display !== "none" && !el.hidden;
  }

  function classList(names) { return Array.isArray(names) ? names.filter(function (n) { return typeof n === "string" && n; }) : []; }
  function triple(t) { return Array.isArray(t) && t.length === 3 ? t.map(classList) : null; }
  function timeOf(args) { return isInt(args.time) && args.time >= 0 ? args.time : DEFAULT_TIME_MS; }
  function nextFrame(fn) { global.requestAnimationFrame(fn); }

  /** Sticky class changes: remember what the client added and removed relative to the
   *  server's classes, so a patch of the element keeps them (Phoenix's algorithm). */
  function changeClasses(el, adds, removes) {
    var prev = getSticky(el, "classes", [[], []]);
    var keepAdds = adds.filter(function (n) { return prev[0].indexOf(n) < 0 && !el.classList.contains(n); });
    var keepRemoves = removes.filter(function (n) { return prev[1].indexOf(n) < 0 && el.classList.contains(n); });
    var newAdds = prev[0].filter(function (n) { return removes.indexOf(n) < 0; }).concat(keepAdds);
    var newRemoves = prev[1].filter(function (n) { return adds.indexOf(n) < 0; }).concat(keepRemoves);
    putSticky(el, "classes", [newAdds, newRemoves], function (cur) {
      newRemoves.forEach(function (n) { cur.classList.remove(n); });
      newAdds.forEach(function (n) { cur.classList.add(n); });
    });
  }

  function changeAttrs(el, sets, removes) {
    var prev = getSticky(el, "attrs", [[], []]);
    var setNames = sets.map(function (s) { return s[0]; });
    var newSets = prev[0].filter(function (s) { return removes.indexOf(s[0]) < 0 && setNames.indexOf(s[0]) < 0; }).concat(sets);
    var newRemoves = prev[1].filter(function (n) { return setNames.indexOf(n) < 0; })
      .concat(removes.filter(function (n) { return prev[1].indexOf(n) < 0; }));
    putSticky(el, "attrs", [newSets, newRemoves], function (cur) {
      newRemoves.forEach(function (n) { cur.removeAttribute(n); });
      newSets.forEach(function (s) { cur.setAttribute(s[0], s[1]); });
    });
  }

  /** Run a transition [running, start, end] for `time` ms: start classes, then the
   *  running and end ones on the next frames, all taken off when it ends. */
  function runTransition(el, t, time, done) {
    var running = t[0], start = t[1], end = t[2];
    start.concat(running).forEach(function (n) { el.classList.add(n); });
    nextFrame(function () {
      nextFrame(function () {
        start.forEach(function (n) { el.classList.remove(n); });
        end.forEach(function (n) { el.classList.add(n); });
      });
    });
    setTimeout(function () {
      running.concat(end).forEach(function (n) { el.classList.remove(n); });
      if (done) done();
    }, time);
  }

  function setDisplay(el, shown, display) {
    putSticky(el, "toggle", shown, function (cur) {
      cur.style.display = shown ? (display || "block") : "none";
    });
    el.dispatchEvent(new CustomEvent(shown ? "lf:show" : "lf:hide", { bubbles: true }));
  }

  function showOrHide(el, show, display, t, time) {
    if (!t) { setDisplay(el, show, display); return; }
    if (show) {
      setDisplay(el, true, display);
      runTransition(el, t, time, null);
    } else {
      runTransition(el, t, time, function () { setDisplay(el, false, display); });
    }
  }

  var COMMANDS = {
    show: function (ctx, el, a) { if (!isVisible(el)) showOrHide(el, true, a.display, triple(a.transition), timeOf(a)); },
    hide: function (ctx, el, a) { if (isVisible(el)) showOrHide(el, false, a.display, triple(a.transition), timeOf(a)); },
    toggle: function (ctx, el, a) {
      var shown = isVisible(el);
      showOrHide(el, !shown, a.display, triple(shown ? a.outs : a.ins), timeOf(a));
    },
    add_class: function (ctx, el, a) { withTransition(el, a, function () { changeClasses(el, classList(a.names), []); }); },
    remove_class: function (ctx, el, a) { withTransition(el, a, function () { changeClasses(el, [], classList(a.names)); }); },
    toggle_class: function (ctx, el, a) {
      withTransition(el, a, function () {
        var names = classList(a.names);
        changeClasses(el, names.filter(function (n) { return !el.classList.contains(n); }),
                      names.filter(function (n) { return el.classList.contains(n); }));
      });
    },
    set_attr: function (ctx, el, a) {
      if (Array.isArray(a.attr) && typeof a.attr[0] === "string") changeAttrs(el, [[a.attr[0], String(a.attr[1])]], []);
    },
    remove_attr: function (ctx, el, a) { if (typeof a.attr === "string") changeAttrs(el, [], [a.attr]); },
    toggle_attr: function (ctx, el, a) {
      // [name, on] sets it when absent and removes it when present; [name, on, off]
      // switches between the two values.
      var t = a.attr;
      if (!Array.isArray(t) || typeof t[0] !== "string") return;
      var now = el.getAttribute(t[0]);
      if (t.length === 3) changeAttrs(el, [[t[0], String(now === String(t[1]) ? t[2] : t[1])]], []);
      else if (now === null) changeAttrs(el, [[t[0], String(t[1])]], []);
      else changeAttrs(el, [], [t[0]]);
    },
    transition: function (ctx, el, a) { var t = triple(a.transition); if (t) runTransition(el, t, timeOf(a), null); },
    dispatch: function (ctx, el, a) {
      var event = a.event === "click"
        ? new MouseEvent("click", { bubbles: a.bubbles !== false, cancelable: true })
        : new CustomEvent(String(a.event), { detail: a.detail || {}, bubbles: a.bubbles !== false });
      el.dispatchEvent(event);
    },
    push: function (ctx, el, a) {
      var payload = ctx.payload ? ctx.payload() : {};
      if (isObject(a.value)) Object.keys(a.value).forEach(function (k) { payload[k] = a.value[k]; });
      var extra = typeof a.loading === "string" ? targetsOf(el, a.loading) : [];
      var opts = { loading: extra, passive: !!(ctx.opts && ctx.opts.passive),
                   target: isInt(a.target) ? String(a.target) : null };
      ctx.socket.push(el, String(a.event), payload, ctx.form || null, opts);
    },
    navigate: function (ctx, el, a) { ctx.socket.goTo(String(a.href), !!a.replace, false); },
    patch: function (ctx, el, a) { ctx.socket.goTo(String(a.href), !!a.replace, true); },
    focus: function (ctx, el) { el.focus(); },
    focus_first: function (ctx, el) {
      var first = el.querySelector("a[href], button:not([disabled]), input:not([disabled]):not([type=hidden])," +
                                   " select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex='-1'])");
      if (first) first.focus();
    },
    push_focus: function (ctx, el) { pushFocus(el); },
    pop_focus: function () { popFocus(); },
    exec: function (ctx, el, a) {
      var text = typeof a.attr === "string" ? el.getAttribute(a.attr) : null;
      if (text) execJS(ctx.socket, el, text, ctx, (ctx.depth || 0) + 1);
    }
  };

  // -- 4b. the focus stack (JS.push_focus / JS.pop_focus; Phoenix's focus stack):
  // push_focus remembers an element (the button that opened a modal), pop_focus focuses
  // it again (when the modal closes). Bounded; an element a patch replaced since is
  // found again by its id.
  var FOCUS_STACK_MAX = 64;
  var focusStack = [];

  function pushFocus(el) {
    focusStack.push(el);
    if (focusStack.length > FOCUS_STACK_MAX) focusStack.shift();
  }

  function popFocus() {
    var el = focusStack.pop();
    if (!el) return;
    if (!el.isConnected && el.id) el = document.getElementById(el.id) || el;
    if (el.isConnected && typeof el.focus === "function") el.focus();
  }

  function withTransition(el, a, apply) {
    var t = triple(a.transition);
    if (t) runTransition(el, t, timeOf(a), apply); else apply();
  }

  /** Run the commands in `text` for an event on `source`. `ctx.payload()`: the
   *  binding's payload (for `push`), `ctx.form`: the form it submits or changes. */
  function execJS(socket, source, text, ctx, depth) {
    if ((depth || 0) > JS_MAX_DEPTH) { console.warn("lightflow: JS exec nested too deep"); return; }
    var run = { socket: socket, payload: ctx && ctx.payload, form: ctx && ctx.form,
                opts: ctx && ctx.opts, depth: depth || 0 };
    parseCommands(text).forEach(function (command) {
      var kind = command[0], args = command[1], fn = has(COMMANDS, kind) ? COMMANDS[kind] : null;
      if (!fn) { console.warn("lightflow: unknown JS command " + kind); return; }
      var targets = kind === "push" || kind === "navigate" || kind === "patch" || kind === "pop_focus"
        ? [source] : targetsOf(source, args.to);
      targets.forEach(function (el) { fn(run, el, args); });
    });
  }

  // ---------------------------------------------------------------- 5. hooks

  // lf-hook="Name" binds an element to the hook object registered under Name in the
  // client's options ({hooks: {Name: {mounted() {...}, ...}}}); the hook instance has
  // `el`, `liveSocket`, `pushEvent`, `handleEvent`, `removeHandleEvent`, `js()`.

  function makeHook(socket, el, name, def) {
    var hook = Object.create(def);
    hook.el = el;
    hook.liveSocket = socket;
    hook.__name = name;
    hook.__handlers = [];
    hook.pushEvent = function (event, payload, onReply) {
      return socket.pushHookEvent(el, event, payload || {}, onReply);
    };
    hook.handleEvent = function (event, callback) {
      var entry = [String(event), callback];
      hook.__handlers.push(entry);
      socket.handlers.push(entry);
      return entry;
    };
    hook.removeHandleEvent = function (entry) {
      hook.__handlers = hook.__handlers.filter(function (h) { return h !== entry; });
      socket.handlers = socket.handlers.filter(function (h) { return h !== entry; });
    };
    hook.pushEventTo = function (selectorOrTarget, event, payload, onReply) {   // section 11
      return socket.pushHookEventTo(el, selectorOrTarget, event, payload || {}, onReply);
    };
    hook.upload = function (name, files) { return socket.hookUpload(null, name, files); };
    hook.uploadTo = function (selectorOrTarget, name, files) {
      return socket.hookUpload(selectorOrTarget, name, files);
    };
    hook.js = function () {
      return { exec: function (text, target) { execJS(socket, target || el, text, null, 0); } };
    };
    return hook;
  }

  function callHook(hook, name) {
    if (typeof hook[name] !== "function") return;
    try { hook[name](); } catch (e) { console.error("lightflow: hook " + hook.__name + "." + name + " failed", e); }
  }

  /** After a morph: destroyed for hooked elements gone, mounted for new ones (in
   *  `scope`: the nodes added, or the whole root after a full render), updated for
   *  hooked elements the morph changed. */
  LiveSocket.prototype.runHooks = function (scope, updated) {
    var self = this, mounted = [];
    this.hooked.forEach(function (hook, el) {
      if (!self.root.contains(el) || el.getAttribute("lf-hook") !== hook.__name) {
        self.hooked.delete(el);
        hook.__handlers.forEach(function (h) { hook.removeHandleEvent(h); });
        callHook(hook, "destroyed");
      }
    });
    var appeared = [];
    scope.forEach(function (node) {
      if (node.nodeType !== 1) return;
      if (node.hasAttribute("lf-hook")) mounted.push(node);
      Array.prototype.push.apply(mounted, node.querySelectorAll("[lf-hook]"));
      if (node.hasAttribute("lf-mounted")) appeared.push(node);
      Array.prototype.push.apply(appeared, node.querySelectorAll("[lf-mounted]"));
    });
    // lf-mounted: commands run once per element, when it first shows on the page.
    appeared.forEach(function (el) {
      if (el.__lfMounted || !self.root.contains(el)) return;
      el.__lfMounted = true;
      self.run(el, el.getAttribute("lf-mounted"), function () { return attrValues(el); }, null, PASSIVE);
    });
    mounted.forEach(function (el) {
      if (self.hooked.has(el) || !self.root.contains(el)) return;
      var name = el.getAttribute("lf-hook"), def = self.hooks[name];
      if (!def) { console.warn("lightflow: no hook named " + name + " (pass it in the options' hooks)"); return; }
      var hook = makeHook(self, el, name, def);
      self.hooked.set(el, hook);
      callHook(hook, "mounted");
    });
    (updated || []).forEach(function (el) {
      var hook = self.hooked.get(el);
      if (hook && mounted.indexOf(el) < 0) callHook(hook, "updated");
    });
  };

  /** lf-connected / lf-disconnected: JS commands (or an event, once connected) run when
   *  the connection comes (back) or goes; run after the render on a join. */
  LiveSocket.prototype.statusBindings = function (name) {
    var self = this, attr = "lf-" + name;
    Array.prototype.forEach.call(this.root.querySelectorAll("[" + attr + "]"), function (el) {
      self.run(el, el.getAttribute(attr), function () { return attrValues(el); }, null, PASSIVE);
    });
  };

  LiveSocket.prototype.hooksSay = function (name) {
    this.hooked.forEach(function (hook) { callHook(hook, name); });
  };

  /** Events the server pushed (PushEvent): to hooks' handleEvent, then window. */
  LiveSocket.prototype.deliverEvents = function (events) {
    var self = this;
    if (!Array.isArray(events)) return;
    events.forEach(function (item) {
      if (!Array.isArray(item) || typeof item[0] !== "string") return;
      var name = item[0], payload = item[1];
      self.handlers.slice().forEach(function (h) {
        if (h[0] !== name) return;
        try { h[1](payload); } catch (e) { console.error("lightflow: handleEvent(" + name + ") failed", e); }
      });
      global.dispatchEvent(new CustomEvent("lf:" + name, { detail: payload }));
    });
  };

  // -- hook replies (EventReply): pushEvent's onReply and Promise get the handler's reply

  /** The reply to event `ref` in an envelope's ``rp`` (an object), or {} (no reply). */
  function replyOf(replies, ref) {
    if (!replies || typeof replies !== "object") return {};
    var reply = Object.prototype.hasOwnProperty.call(replies, ref) ? replies[ref] : null;
    return reply && typeof reply === "object" && !Array.isArray(reply) ? reply : {};
  }

  /** Call `fn(ref, reply)` once the frame being handled is applied (the patch that
   *  answers an event is on the page when its reply is read, as in Phoenix). */
  function afterPatch(fn, ref, reply) {
    var call = function () {
      try { fn(ref, reply); } catch (e) { console.error("lightflow: a reply callback failed", e); }
    };
    if (typeof queueMicrotask === "function") queueMicrotask(call);
    else global.setTimeout(call, 0);
  }

  /** A hook's pushEvent: `onReply(reply, ref)` and the returned Promise (resolved with
   *  the reply, {} when the handler returned none) once the event is answered; a
   *  Promise resolved with null when not joined (nothing was sent). */
  LiveSocket.prototype.pushHookEvent = function (el, event, payload, onReply) {
    var resolve = null, promise = typeof Promise === "function" ? new Promise(function (r) { resolve = r; }) : null;
    var ref = this.push(el, String(event), payload, null, {
      quiet: true,
      done: function (r, reply) {
        if (onReply) onReply(reply, r);
        if (resolve) resolve(reply);
      }
    });
    if (ref === null && resolve) resolve(null);
    return promise;
  };

  // ---------------------------------------------------------------- 6. bindings

  /** Throttle (lf-throttle="ms" on the element): the first event goes at once, then at
   *  most one per window; with `trailing` (changes: the last value matters) the last
   *  event of a window goes when it ends. */
  function throttled(el, key, fire, trailing) {
    var ms = Number(el.getAttribute("lf-throttle"));
    if (!(ms > 0)) { debounced(el, key, fire); return; }
    var windows = el.__lfThrottle || (el.__lfThrottle = {}), open = windows[key];
    if (open) { if (trailing) open.pending = fire; return; }
    fire();
    var state = windows[key] = { pending: null };
    setTimeout(function () {
      delete windows[key];
      if (state.pending) throttled(el, key, state.pending, trailing);
    }, ms);
  }

  /** Debounce (lf-debounce="ms" on a click or key binding; lf-change has its own, per
   *  form): only the last event of a burst goes, `ms` after it. */
  function debounced(el, key, fire) {
    var ms = Number(el.getAttribute("lf-debounce"));
    if (!(ms > 0)) { fire(); return; }
    var timers = el.__lfDebounce || (el.__lfDebounce = {});
    clearTimeout(timers[key]);
    timers[key] = setTimeout(function () { delete timers[key]; fire(); }, ms);
  }

  /** lf-disable-with="text": while the event is in flight the element is disabled and
   *  shows `text`; the answer puts it back (and the morph then applies the server's). */
  function lock(el) {
    if (el.__lfLock) return;
    var text = el.getAttribute("lf-disable-with");
    var input = el.tagName === "INPUT";
    el.__lfLock = { html: input ? el.value : el.innerHTML, disabled: el.disabled };
    if (input) el.value = text; else el.textContent = text;
    el.disabled = true;
  }

  /** Returns whether a patch skipped the element while it was locked. */
  function unlock(el) {
    var saved = el.__lfLock;
    if (!saved) return false;
    el.__lfLock = null;
    if (el.tagName === "INPUT") el.value = saved.html; else el.innerHTML = saved.html;
    el.disabled = saved.disabled;
    return !!saved.stale;
  }

  var PASSIVE = { passive: true };

  /** Run a binding: JS commands (a value starting with "["), or an event to push. */
  LiveSocket.prototype.run = function (el, spec, payload, form, opts) {
    if (!spec) return;
    if (spec.charAt(0) === "[") {
      execJS(this, el, spec, { payload: function () { return payload(); }, form: form || null, opts: opts }, 0);
    } else {
      this.push(el, spec, payload(), form || null, opts);
    }
  };

  /** Live patch or navigation to `href` (JS.patch / JS.navigate). */
  LiveSocket.prototype.goTo = function (href, replace, samePage) {
    var url = new URL(href, global.location.href);
    if (replace) global.history.replaceState({}, "", url.href);
    if (samePage) this.patchTo(url, !replace); else this.navigate(url, !replace);
  };

  /** Bindings added to Phoenix parity: focus/blur, window keys, click-away, window
   *  focus/blur (bind() calls this once). */
  LiveSocket.prototype.bindMore = function () {
    var self = this, root = this.root;
    function inside(el) { return el && el.nodeType === 1 && root.contains(el); }
    function fieldPayload(el) {
      var payload = attrValues(el);
      if ("value" in el && el.tagName !== "BUTTON") payload.value = el.value;
      return payload;
    }
    document.addEventListener("focus", function (e) {
      var el = e.target;
      if (inside(el) && el.hasAttribute("lf-focus")) {
        self.run(el, el.getAttribute("lf-focus"), function () { return fieldPayload(el); }, null, PASSIVE);
      }
    }, true);
    document.addEventListener("blur", function (e) {
      var el = e.target;
      if (!inside(el)) return;
      if (el.hasAttribute("lf-blur")) {
        self.run(el, el.getAttribute("lf-blur"), function () { return fieldPayload(el); }, null, PASSIVE);
      }
      var host = el.closest("[lf-change]");
      if (host && (el.getAttribute("lf-debounce") || host.getAttribute("lf-debounce")) === "blur") {
        self.sendChange(host, el);
      }
    }, true);
    function windowKey(kind) {
      return function (e) {
        Array.prototype.forEach.call(root.querySelectorAll("[lf-window-" + kind + "]"), function (el) {
          var only = el.getAttribute("lf-key");
          if (only && only !== e.key) return;
          throttled(el, "window-" + kind, function () {
            self.run(el, el.getAttribute("lf-window-" + kind), function () {
              var payload = attrValues(el);
              payload.key = e.key;
              return payload;
            }, null, PASSIVE);
          }, false);
        });
      };
    }
    global.addEventListener("keydown", windowKey("keydown"));
    global.addEventListener("keyup", windowKey("keyup"));
    ["focus", "blur"].forEach(function (kind) {
      global.addEventListener(kind, function (e) {
        if (e.target !== global) return;
        Array.prototype.forEach.call(root.querySelectorAll("[lf-window-" + kind + "]"), function (el) {
          self.run(el, el.getAttribute("lf-window-" + kind), function () { return attrValues(el); }, null, PASSIVE);
        });
      });
    });
  };

  /** lf-click-away: a click outside a visible element with the binding runs it
   *  (before the click's own binding, so a menu opened by this click stays open). */
  LiveSocket.prototype.clickAway = function (target) {
    var self = this;
    Array.prototype.forEach.call(this.root.querySelectorAll("[lf-click-away]"), function (el) {
      if (el.contains(target) || !isVisible(el)) return;
      self.run(el, el.getAttribute("lf-click-away"), function () { return attrValues(el); }, null, PASSIVE);
    });
  };

  // ---------------------------------------------------------------- 7. forms: used inputs

  // A field the user has not typed into or changed yet is "unused": a change event of its
  // form carries `_unused_<name>` for it, so the view shows its errors only once touched
  // (Phoenix's used_input?). A submit uses every field of its form.
  function markUsed(socket, el) {
    if (!socket.usedInputs) socket.usedInputs = new WeakSet();
    socket.usedInputs.add(el);
  }

  function addUnused(socket, form, values) {
    var used = socket.usedInputs;
    Array.prototype.forEach.call(form.elements, function (el) {
      var type = el.type;
      if (!el.name || el.disabled || type === "submit" || type === "button" || type === "reset" ||
          type === "file" || (used && used.has(el))) return;
      values["_unused_" + el.name] = "";
    });
  }

  // ---------------------------------------------------------------- 8. uploads

  // Files chosen in an input[lf-upload] go to the session over the socket (specs/live-wire.md
  // §14). The preflight event lf:upload lists them; the input the server renders again names
  // in data-lf-ready the refs it waits for; each of those files goes in base64 chunks of
  // data-lf-chunk bytes (lf:chunk events), one at a time per file, the next once the answer
  // to the previous one arrives. Progress, errors and cancel are the server's, in the view.
  function Uploads(socket) {
    this.socket = socket;
    this.entries = new Map();   // "upload\u0000ref" -> {upload, ref, file, offset, inflight, size, started}
    this.previews = new Map();  // "upload ref" -> object URL of the chosen file (img[data-lf-preview])
    this.nextRef = 0;
    var self = this, root = socket.root;
    document.addEventListener("change", function (e) {
      var input = e.target;
      if (input && input.tagName === "INPUT" && input.type === "file" &&
          input.hasAttribute("lf-upload") && root.contains(input)) self.choose(input);
    });
    root.addEventListener("lf:patched", function (e) {
      self.answered(e.detail.ref);
      self.showPreviews();
      self.pump();
      self.release();
    });
    root.addEventListener("lf:joined", function (e) {
      // A render answering held-back events keeps the session; any other is a new session
      // that knows nothing of the files: they must be chosen again.
      if (e.detail.ref) self.answered(e.detail.ref); else self.entries.clear();
      self.showPreviews();
      self.pump();
      self.release();
    });
    root.addEventListener("lf:error", function (e) { self.failed(e.detail.ref); self.release(); });
    // A submit of a form whose files are still going up waits for them (as Phoenix's
    // does), so the view's handler can consume every file the user chose. Capture phase:
    // this runs before the submit binding and stops it.
    document.addEventListener("submit", function (e) {
      var form = e.target;
      if (!root.contains(form) || !form.hasAttribute("lf-submit") || !self.busy(form)) return;
      e.preventDefault();
      e.stopImmediatePropagation();
      self.waiting = form;
      form.classList.add("lf-loading");
      self.pump();   // files that wait for the submit (data-lf-auto="false") go now
    }, true);
    this.waiting = null;
  }

  /** Whether a file chosen in one of `form`'s upload inputs is not all sent yet. */
  Uploads.prototype.busy = function (form) {
    var busy = false;
    this.entries.forEach(function (entry) {
      if (busy || entry.offset >= entry.size && entry.inflight === null) return;
      Array.prototype.forEach.call(form.querySelectorAll('input[lf-upload="' + entry.upload + '"]'), function (input) {
        if (uploadOwner(input) === entry.target) busy = true;
      });
    });
    return busy;
  };

  /** Send the submit that waited for its files, once they are all up (or refused). */
  Uploads.prototype.release = function () {
    var form = this.waiting;
    if (!form || this.busy(form)) return;
    this.waiting = null;
    form.classList.remove("lf-loading");
    if (this.socket.root.contains(form)) form.requestSubmit();
  };

  /** The live component an upload input belongs to (its lf-target; "" for the view's):
   *  a component's upload is a field of the component's state. */
  function uploadOwner(input) { return input.getAttribute("lf-target") || ""; }

  Uploads.prototype.send = function (event, payload, target) {
    var socket = this.socket;
    if (!socket.joined) return null;
    var submit = { op: "submit", event: event, payload: payload, ref: String(socket.seqOut + 1) };
    if (target) submit.target = target;
    return socket.instruction(submit);
  };

  Uploads.prototype.choose = function (input) {
    var upload = input.getAttribute("lf-upload"), target = uploadOwner(input), self = this, entries = [];
    // A new choice replaces the files of this upload not sent yet (the server does the same).
    this.entries.forEach(function (entry, key, map) {
      if (entry.upload === upload && entry.target === target) map.delete(key);
    });
    this.previews.forEach(function (url, key, map) {
      if (key.split(" ")[0] === upload) { global.URL.revokeObjectURL(url); map.delete(key); }
    });
    var chosen = Array.prototype.map.call(input.files || [], function (file) {
      var ref = String(self.nextRef++);
      entries.push({ ref: ref, name: file.name, size: file.size, type: file.type || "" });
      return { upload: upload, target: target, ref: ref, file: file, offset: 0, size: file.size,
               inflight: null, started: false };
    });
    if (!chosen.length) return;
    var seq = this.send("lf:upload", { upload: upload, entries: entries }, target);
    if (seq === null) return;
    chosen.forEach(function (entry) {
      entry.inflight = seq;
      self.entries.set(upload + "\u0000" + entry.ref, entry);
      self.previews.set(upload + " " + entry.ref, global.URL.createObjectURL(entry.file));
    });
  };

  /** Show each chosen file in its img[data-lf-preview="upload ref"] (live_img_preview). */
  Uploads.prototype.showPreviews = function () {
    var previews = this.previews;
    Array.prototype.forEach.call(this.socket.root.querySelectorAll("img[data-lf-preview]"), function (img) {
      var url = previews.get(img.getAttribute("data-lf-preview"));
      if (url && img.getAttribute("src") !== url) img.setAttribute("src", url);
    });
  };

  Uploads.prototype.answered = function (ref) {
    if (!ref) return;
    var upto = Number(ref);
    this.entries.forEach(function (entry) {
      if (entry.inflight !== null && entry.inflight > 0 && entry.inflight <= upto) {
        entry.offset += entry.sending || 0;
        entry.sending = 0;
        entry.inflight = null;
        entry.started = true;
      }
    });
  };

  Uploads.prototype.failed = function (ref) {
    if (!ref) return;
    var seq = Number(ref);
    this.entries.forEach(function (entry, key, map) { if (entry.inflight === seq) map.delete(key); });
  };

  /** Send the next chunk of every file the server waits for and no chunk of which is in flight. */
  Uploads.prototype.pump = function () {
    var self = this, ready = new Map();
    Array.prototype.forEach.call(this.socket.root.querySelectorAll("input[lf-upload]"), function (input) {
      // data-lf-auto="false": sent only once its form is submitted (the submit waits).
      var manual = input.getAttribute("data-lf-auto") === "false";
      var external = null;
      if (input.hasAttribute("data-lf-external")) {
        try { external = JSON.parse(input.getAttribute("data-lf-external")); } catch (e) { external = null; }
        if (!isObject(external)) external = null;
      }
      ready.set(uploadOwner(input) + "\u0000" + input.getAttribute("lf-upload"), {
        external: external,
        refs: (input.getAttribute("data-lf-ready") || "").split(" ").filter(Boolean),
        chunk: Number(input.getAttribute("data-lf-chunk")) || 32768,
        hold: manual && !(self.waiting && self.waiting.contains(input))
      });
    });
    this.entries.forEach(function (entry, key, map) {
      if (entry.inflight !== null) return;
      var input = ready.get(entry.target + "\u0000" + entry.upload);
      // An external upload: the entry's uploader sends the file to its URL (below).
      var meta = input && input.external && !entry.external && has(input.external, entry.ref)
        ? input.external[entry.ref] : undefined;
      if (meta !== undefined && !input.hold && input.refs.indexOf(entry.ref) >= 0) {
        self.external(entry, meta);
        return;
      }
      if (!input || input.refs.indexOf(entry.ref) < 0 || entry.offset >= entry.size) {
        if (entry.started) map.delete(key);   // done, refused or cancelled
        return;
      }
      if (input.hold) return;
      entry.inflight = -1;                     // reading the slice
      var end = Math.min(entry.offset + input.chunk, entry.size);
      entry.file.slice(entry.offset, end).arrayBuffer().then(function (buffer) {
        if (map.get(key) !== entry) return;    // cancelled or chosen again meanwhile
        var seq = self.send("lf:chunk", { upload: entry.upload, entry: entry.ref, offset: entry.offset,
                                          data: base64(buffer) }, entry.target);
        entry.sending = seq === null ? 0 : buffer.byteLength;
        entry.inflight = seq;
      }, function () { map.delete(key); });
    });
  };

  /** External uploads (Phoenix's `external:`, specs/live-wire.md §14): the client's
   *  `uploaders[meta.uploader]([entry], onViewError)` sends the file where `meta` says
   *  (a presigned URL) and reports through `entry.progress(percent)` and
   *  `entry.error()`, which go to the session as lf:progress. */
  Uploads.prototype.external = function (entry, meta) {
    var self = this, last = -1, over = false;
    entry.inflight = "external";
    entry.external = true;
    entry.started = true;
    var report = function (payload) {
      payload.upload = entry.upload;
      payload.entry = entry.ref;
      self.send("lf:progress", payload, entry.target);
    };
    var finish = function () { over = true; entry.inflight = null; entry.offset = entry.size; };
    var handle = {
      file: entry.file, meta: meta, ref: entry.ref, upload: entry.upload,
      progress: function (n) {
        n = Math.max(0, Math.min(100, Math.floor(Number(n) || 0)));
        if (over || n <= last) return;
        last = n;
        if (n === 100) finish();
        report({ progress: n });
      },
      error: function () {
        if (over) return;
        finish();
        report({ failed: true });
      }
    };
    var uploader = isObject(meta) ? this.socket.uploaders[meta.uploader] : undefined;
    if (typeof uploader !== "function") {
      console.warn("lightflow: no uploader named " + (isObject(meta) ? meta.uploader : "?") +
                   " (pass it in the options' uploaders)");
      handle.error();
      return;
    }
    try { uploader([handle], function () { /* onViewError: the page has no view errors */ }); }
    catch (e) { console.error("lightflow: uploader " + meta.uploader + " failed", e); handle.error(); }
  };

  function base64(buffer) {
    var bytes = new Uint8Array(buffer), parts = [];
    for (var i = 0; i < bytes.length; i += 0x8000) {
      parts.push(String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000)));
    }
    return global.btoa(parts.join(""));
  }

  // ---------------------------------------------------------------- 8b. viewport bindings

  // lf-viewport-top="ev" / lf-viewport-bottom="ev" on a container (a stream's, for
  // infinite scroll; Phoenix's phx-viewport-top/bottom): when its first (last) element
  // child scrolls into view, the binding runs with the container's lf-value-* and the
  // child's `id`. An IntersectionObserver watches the edge children; the report it
  // gives when it starts watching an element is not a scroll, so it fires nothing (a
  // list that fits the page loads nothing by itself, as in Phoenix). After each render
  // the edges are looked for again (a stream insert moves them).

  /** `added`: the elements a painted patch added (null: a full render, look everywhere). */
  LiveSocket.prototype.watchViewport = function (added) {
    if (typeof global.IntersectionObserver !== "function") return;
    var self = this, vp = this.viewport;
    if (!vp) {
      if (added && !added.length) return;   // nothing new and nothing watched
      vp = this.viewport = { containers: 0, watched: new Map(),
        io: new global.IntersectionObserver(function (entries) { self.onViewport(entries); }) };
    }
    if (!vp.containers && added && !added.length) return;
    var want = new Map();
    var containers = this.root.querySelectorAll("[lf-viewport-top], [lf-viewport-bottom]");
    vp.containers = containers.length;
    Array.prototype.forEach.call(containers, function (c) {
      [["top", c.firstElementChild], ["bottom", c.lastElementChild]].forEach(function (pair) {
        var child = pair[1];
        if (!child || !c.hasAttribute("lf-viewport-" + pair[0])) return;
        var edges = want.get(child) || [];
        edges.push([c, pair[0]]);
        want.set(child, edges);
      });
    });
    vp.watched.forEach(function (rec, child) {
      if (!want.has(child)) { vp.io.unobserve(child); vp.watched.delete(child); }
    });
    want.forEach(function (edges, child) {
      var rec = vp.watched.get(child);
      if (rec) { rec.edges = edges; return; }
      vp.watched.set(child, { edges: edges, seen: false, inside: false });
      vp.io.observe(child);
    });
  };

  LiveSocket.prototype.onViewport = function (entries) {
    var self = this, watched = this.viewport.watched;
    entries.forEach(function (entry) {
      var child = entry.target, rec = watched.get(child);
      if (!rec) return;
      var was = rec.inside, first = !rec.seen;
      rec.inside = entry.isIntersecting;
      rec.seen = true;
      if (first || was || !rec.inside || !self.joined) return;
      rec.edges.forEach(function (edge) {
        var c = edge[0], spec = c.getAttribute("lf-viewport-" + edge[1]);
        if (!spec || !self.root.contains(c)) return;
        self.run(c, spec, function () {
          var payload = attrValues(c);
          if (child.id) payload.id = child.id;
          return payload;
        }, null, PASSIVE);
      });
    });
  };

  // ---------------------------------------------------------------- 9. tenant budgets
  // An over_budget error (specs/live-wire.md §16) says when to try again (retry_after,
  // seconds). A refused join is tried again then, never by reloading (a new page would
  // be refused the same way); a refused event is reported like any error (lf:error) and
  // as lf:over-budget, and is not sent again (the user acts again if it still matters).
  LiveSocket.prototype.onOverBudget = function (frame) {
    var wait = Math.max(0.05, frame.retry_after || 1) * 1000;
    this.emit("lf:over-budget", { message: frame.message, retryAfter: wait / 1000,
                                  join: this.joinSeq !== null && frame.ref === this.joinSeq });
    if (this.joinSeq === null || frame.ref !== this.joinSeq) return false;
    var self = this;
    this.joinSeq = null;
    this.budgetWait = true;
    this.status("disconnected");
    console.warn("lightflow: " + frame.message);
    setTimeout(function () {
      self.budgetWait = false;
      if (self.ws && self.ws.readyState === 1 && !self.joined) self.join();
    }, wait * (1 + Math.random() / 4));
    return true;
  };

  // ------------------------------------------ 11. page loading, capture click, trigger action,
  //                                               a hook's pushEventTo / upload / uploadTo
  // Phoenix parity (specs/live-wire.md §12b). Kept apart: it wraps push, navigate and
  // render rather than editing them.
  //  * Page loading: window gets "lf:page-loading-start" and "lf:page-loading-stop"
  //    (CustomEvent, detail {kind, to?, target?}) around the first join (kind "initial"),
  //    a live navigation ("redirect", Phoenix's name for it) and an event of an element
  //    carrying lf-page-loading ("element", until its answer): what a top bar listens to.
  //  * lf-capture-click="ev": a click inside the element sends ev in the capture phase,
  //    before any handler below it can stop the click.
  //  * lf-trigger-action on a form: once a render leaves it set (any value but "false"),
  //    the form is submitted over plain HTTP to its action (a login form that must set
  //    a cookie); it is submitted again only after the attribute was cleared.

  LiveSocket.prototype.pageLoading = function (phase, detail) {
    var loading = this.loadingPages || (this.loadingPages = []);
    if (phase === "start") {
      loading.push(detail);
    } else {
      var at = loading.indexOf(detail);
      if (at < 0) return;
      loading.splice(at, 1);
    }
    global.dispatchEvent(new CustomEvent("lf:page-loading-" + phase, { detail: detail }));
  };

  LiveSocket.prototype.bindParity = function () {
    var self = this, root = this.root;
    var initial = { kind: "initial", to: global.location.href };
    this.pageLoading("start", initial);
    var joinedOnce = function () {
      // Every page load a join ends (the initial one, live navigations) stops here.
      (self.loadingPages || []).filter(function (d) { return d.kind !== "element"; })
        .forEach(function (d) { self.pageLoading("stop", d); });
    };
    root.addEventListener("lf:joined", joinedOnce);
    document.addEventListener("click", function (e) {
      var el = e.target && e.target.closest && e.target.closest("[lf-capture-click]");
      if (!el || !root.contains(el)) return;
      self.run(el, el.getAttribute("lf-capture-click"), function () { return attrValues(el); });
    }, true);
  };

  var pushBase = LiveSocket.prototype.push;
  LiveSocket.prototype.push = function (el, event, payload, form, opts) {
    if (!el || !el.hasAttribute || !el.hasAttribute("lf-page-loading")) {
      return pushBase.call(this, el, event, payload, form, opts);
    }
    var self = this, detail = { kind: "element", target: el }, done = opts && opts.done;
    var withStop = {};
    Object.keys(opts || {}).forEach(function (k) { withStop[k] = opts[k]; });
    withStop.done = function (ref, reply) {
      self.pageLoading("stop", detail);
      if (done) done(ref, reply);
    };
    var seq = pushBase.call(this, el, event, payload, form, withStop);
    if (seq !== null) this.pageLoading("start", detail);
    return seq;
  };

  var navigateBase = LiveSocket.prototype.navigate;
  LiveSocket.prototype.navigate = function (url, push) {
    if (this.viewOf(url) !== null && this.ws && this.ws.readyState === 1) {
      this.pageLoading("start", { kind: "redirect", to: url.href });
    }
    return navigateBase.call(this, url, push);
  };

  var renderBase = LiveSocket.prototype.render;
  LiveSocket.prototype.render = function (settled, full, before) {
    var painted = renderBase.call(this, settled, full, before);
    Array.prototype.forEach.call(this.root.querySelectorAll("form"), function (form) {
      var on = form.hasAttribute("lf-trigger-action") && form.getAttribute("lf-trigger-action") !== "false";
      if (!on) { form.__lfTriggered = false; return; }
      if (form.__lfTriggered) return;
      form.__lfTriggered = true;
      HTMLFormElement.prototype.submit.call(form);   // no submit event: not lf-submit again
    });
    return painted;
  };

  /** The lf-target values of what `selectorOrTarget` names: a cid (number or decimal
   *  text) is itself; a selector gives, per element it matches in the root, the closest
   *  lf-target (a component) or "" (the view), without repeats. */
  LiveSocket.prototype.targetsOf = function (selectorOrTarget) {
    if (isInt(selectorOrTarget) || (typeof selectorOrTarget === "string" && /^[1-9][0-9]{0,9}$/.test(selectorOrTarget))) {
      return [String(selectorOrTarget)];
    }
    var root = this.root, out = [];
    Array.prototype.forEach.call(document.querySelectorAll(String(selectorOrTarget)), function (el) {
      if (!root.contains(el)) return;
      var owner = el.closest("[lf-target]"), target = owner && root.contains(owner) ? owner.getAttribute("lf-target") : "";
      if (out.indexOf(target) < 0) out.push(target);
    });
    return out;
  };

  /** A hook's pushEventTo: `event` to each target `selectorOrTarget` names (see
   *  targetsOf); `onReply(reply, ref)` per answer; a Promise of every reply. */
  LiveSocket.prototype.pushHookEventTo = function (el, selectorOrTarget, event, payload, onReply) {
    var self = this;
    var sends = this.targetsOf(selectorOrTarget).map(function (target) {
      return new Promise(function (resolve) {
        var ref = self.push(el, String(event), payload, null, {
          quiet: true,
          target: target === "" ? null : target,
          done: function (r, reply) { if (onReply) onReply(reply, r); resolve(reply); }
        });
        if (ref === null) resolve(null);
      });
    });
    return Promise.all(sends);
  };

  /** A hook's upload / uploadTo: `files` (an array or FileList) become the choice of the
   *  input[lf-upload=name] (inside what `scope` names, or anywhere in the root), as if
   *  the user chose them there: preflight, chunks and progress as for a choice. */
  LiveSocket.prototype.hookUpload = function (scope, name, files) {
    var root = this.root, inputs = [];
    var selector = 'input[type=file][lf-upload="' + String(name).replace(/["\\]/g, "\\$&") + '"]';
    if (scope === null) {
      inputs = Array.prototype.slice.call(root.querySelectorAll(selector));
    } else {
      this.targetsOf(scope).forEach(function (target) {
        Array.prototype.forEach.call(root.querySelectorAll(selector), function (input) {
          var owner = input.closest("[lf-target]");
          if ((owner ? owner.getAttribute("lf-target") : "") === target) inputs.push(input);
        });
      });
    }
    var input = inputs[0], uploads = global.lightflowLive && global.lightflowLive.uploads;
    if (!input || !uploads) { console.warn("lightflow: no upload input named " + name); return false; }
    var chosen = new DataTransfer();
    Array.prototype.forEach.call(files || [], function (file) { chosen.items.add(file); });
    input.files = chosen.files;
    uploads.choose(input);
    return true;
  };

  // ---------------------------------------------------------------- 12. live children
  //
  // A live child (live_render, specs/live-wire.md §18) is a view with its own session on
  // this socket: its container <div id="x" data-lf-child="x"> is empty in the parent's
  // HTML, and its Render and Patch envelopes carry "child": its path ("x", or "x/y" for
  // a grandchild). The client keeps each child's state apart, paints it into its
  // container (the parent's morph never enters one), sends the events of elements
  // inside a child with target "<path>" or "<path>/<cid>", and asks a child whose patch
  // does not merge for a full render with Render {view: {child: path}}.

  /** The path of the live child `el` is in ("" for the page's view). */
  LiveSocket.prototype.childPathOf = function (el) {
    var ids = [];
    for (var node = el && el.parentElement ? el.closest("[data-lf-child]") : null;
         node && this.root.contains(node) && node !== this.root;
         node = node.parentElement ? node.parentElement.closest("[data-lf-child]") : null) {
      ids.unshift(node.getAttribute("data-lf-child"));
    }
    return ids.join("/");
  };

  /** The container of the child at `path` on the page, or null. */
  LiveSocket.prototype.childContainer = function (path) {
    var scope = this.root, ids = path.split("/");
    for (var i = 0; i < ids.length && scope; i++) {
      var found = null;
      Array.prototype.some.call(scope.querySelectorAll("[data-lf-child]"), function (el) {
        if (el.getAttribute("data-lf-child") === ids[i]) { found = el; return true; }
        return false;
      });
      scope = found;
    }
    return scope;
  };

  var childPushBase = LiveSocket.prototype.push;
  LiveSocket.prototype.push = function (el, event, payload, form, opts) {
    var path = this.childPathOf(el);
    if (!path) return childPushBase.call(this, el, event, payload, form, opts);
    var routed = {};
    Object.keys(opts || {}).forEach(function (k) { routed[k] = opts[k]; });
    var cid = (opts && opts.target) || componentTarget(el);
    routed.target = cid !== null && cid !== undefined && cid !== "" ? path + "/" + cid : path;
    var seq = childPushBase.call(this, el, event, payload, form, routed);
    var entry = seq === null ? null : this.pending.get(String(seq));
    if (entry) entry.child = path;   // only the child's answers settle it
    return seq;
  };

  /** A view's answer (its ref) ends the loading states of its own events up to that ref,
   *  not those of another view on the page still waiting for theirs. */
  var childSettleBase = LiveSocket.prototype.settle;
  LiveSocket.prototype.settle = function (ref, replies, path) {
    if (!this.children) return childSettleBase.call(this, ref, replies);
    var mine = path || "", others = [], self = this;
    this.pending.forEach(function (p, key) { if ((p.child || "") !== mine) others.push([key, p]); });
    others.forEach(function (kv) { self.pending.delete(kv[0]); });
    try {
      return childSettleBase.call(this, ref, replies);
    } finally {
      others.forEach(function (kv) { self.pending.set(kv[0], kv[1]); });
    }
  };

  var childErrorBase = LiveSocket.prototype.onError;
  LiveSocket.prototype.onError = function (frame) {
    var ref = frame.ref === undefined || frame.ref === null ? null : String(frame.ref);
    var entry = ref !== null ? this.pending.get(ref) : null;
    if (entry && entry.child) this.settle(ref, null, entry.child);   // a child's event refused
    return childErrorBase.call(this, frame);
  };

  var childInstructionBase = LiveSocket.prototype.onInstruction;
  LiveSocket.prototype.onInstruction = function (ins) {
    var env = ins.op === "render" ? ins.view : ins.op === "patch" ? ins.diff : null;
    if (env && typeof env.child === "string") { this.onChild(ins.op, env); return; }
    childInstructionBase.call(this, ins);
  };

  LiveSocket.prototype.onChild = function (op, env) {
    if (!this.children) this.children = new Map();
    var path = env.child, child = this.children.get(path);
    if (op === "render") {
      if (env.nav && env.nav.kind === "redirect") { this.closing = true; this.follow(env.nav); return; }
      try {
        child = { state: applyPatch(emptyState(), env.d || {}), el: null };
      } catch (e) {
        console.error("lightflow: cannot apply the full render of live child " + path, e);
        return;
      }
      this.children.set(path, child);
    } else {
      if (!child || child.waiting) return;   // its Render is on the way: it replaces all
      if (env.d) {
        try {
          child.state = applyPatch(child.state, env.d);
        } catch (e) {
          console.warn("lightflow: live child " + path + ": " + e.message);
          child.waiting = true;
          this.instruction({ op: "render", view: { child: path } });
          return;
        }
      }
    }
    if (env.ref) this.settle(env.ref, env.rp, path);
    this.paintChild(path, child, op === "render");
    if (env.title) document.title = env.title;
    this.deliverEvents(env.e);
    if (env.nav) this.follow(env.nav);
    this.emit("lf:child", { child: path, op: op, ref: env.ref || null });
  };

  /** Paint the child at `path` into its container (a new container gets it whole). */
  LiveSocket.prototype.paintChild = function (path, child, full) {
    var el = this.childContainer(path);
    if (!el) { this.children.delete(path); return; }   // it left the page: the server stops it
    var opts = { added: [], updated: [] }, fresh = full || el !== child.el;
    morph(el, toHtml(child.state), opts);
    child.el = el;
    child.waiting = false;
    this.runHooks(fresh ? [el] : opts.added, opts.updated);
    this.repaintChildren(path);
  };

  /** After a render of the view (or of the child `under`): a child whose container is new
   *  (the morph made it anew) gets its HTML again; one whose container left is dropped. */
  LiveSocket.prototype.repaintChildren = function (under) {
    if (!this.children) return;
    var self = this, prefix = under ? under + "/" : "";
    this.children.forEach(function (child, path) {
      if (path.indexOf(prefix) !== 0 || path.slice(prefix.length).indexOf("/") >= 0) return;
      var el = self.childContainer(path);
      if (!el) { self.children.delete(path); return; }
      if (el !== child.el || !el.firstChild) self.paintChild(path, child, true);
    });
  };

  var childRenderBase = LiveSocket.prototype.render;
  LiveSocket.prototype.render = function (settled, full, before) {
    var painted = childRenderBase.call(this, settled, full, before);
    this.repaintChildren("");
    return painted;
  };

  /** Form recovery after a rejoin is the page's view's: a form inside a child is not
   *  sent again (the child is mounted again after the page, with its own state). */
  var childCaptureBase = LiveSocket.prototype.captureForms;
  LiveSocket.prototype.captureForms = function () {
    var self = this, saved = childCaptureBase.call(this);
    if (!this.children) return saved;
    return saved.filter(function (s) { return !self.childPathOf(document.getElementById(s.id)); });
  };

  /** The live children the page shows now: their paths (for tests and tools). */
  LiveSocket.prototype.liveChildren = function () {
    return this.children ? Array.from(this.children.keys()) : [];
  };

  // ------------------------------------------ 12b. sticky live children
  //
  // A sticky child (live_render(..., sticky=True), specs/live-wire.md §18b, ADR 0126)
  // belongs to the connection: a live navigation replaces the page's view, not it. Its
  // container carries data-lf-sticky. When a render of the page (the next view's first
  // render after a navigation, a rejoin, or a patch of the layout) replaces that
  // container, the live element is put back in place of the new empty one with all it
  // holds, before the hooks' lifecycle runs: its hooks are neither destroyed nor mounted
  // again, and an <audio> in it keeps playing (it is moved within one task, never left
  // out of the document). A page that shows no such container drops it (the server
  // stops that child).

  /** The sticky containers of the page's own view (not inside another child), by id. */
  LiveSocket.prototype.stickyContainers = function () {
    var found = new Map();
    Array.prototype.forEach.call(this.root.querySelectorAll("[data-lf-sticky][data-lf-child]"), function (el) {
      var outer = el.parentElement ? el.parentElement.closest("[data-lf-child]") : null;
      if (!outer) found.set(el.getAttribute("data-lf-child"), el);
    });
    return found;
  };

  /** Put the sticky elements `kept` back where the page's new render placed their ids. */
  LiveSocket.prototype.keepSticky = function (kept) {
    var fresh = this.stickyContainers(), moved = false;
    kept.forEach(function (el, id) {
      var now = fresh.get(id);
      if (!now || now === el || el.contains(now) || now.contains(el)) return;
      now.parentNode.replaceChild(el, now);
      moved = true;
    });
    if (moved && this.painter) this.painter.rescan(this.root);
  };

  var stickyRenderBase = LiveSocket.prototype.render;
  LiveSocket.prototype.render = function (settled, full, before) {
    if (!this.children || !this.children.size) return stickyRenderBase.call(this, settled, full, before);
    this.stickyKept = this.stickyContainers();
    try {
      return stickyRenderBase.call(this, settled, full, before);
    } finally {
      this.stickyKept = null;
    }
  };

  // The page's render morphs, then runs the hooks: the sticky elements go back in between.
  var stickyHooksBase = LiveSocket.prototype.runHooks;
  LiveSocket.prototype.runHooks = function (scope, updated) {
    var kept = this.stickyKept;
    if (kept && kept.size) {
      this.stickyKept = null;   // once per render
      this.keepSticky(kept);
    }
    return stickyHooksBase.call(this, scope, updated);
  };


  // ------------------------------------------ 10. transports: WebSocket, SSE, long-polling
  // specs/live-wire.md §17, ADR 0101. A page tries a WebSocket; when none gets a welcome
  // (a proxy refuses the upgrade, or accepts it and passes nothing) within FALLBACK_MS, it
  // falls back to server-sent events down + POSTs up, then to long-polling. Each fallback
  // is an object that looks like a WebSocket to LiveSocket (readyState, send, close,
  // onopen/onmessage/onclose), so frames, sequence numbers, acks, heartbeats, held
  // patches and reconnects are the same over all three. As Phoenix's LongPoll fallback,
  // a fallback that worked while the WebSocket never did is remembered for the tab
  // (sessionStorage), so the next page starts there; unlike Phoenix, the page keeps
  // probing for a WebSocket (UPGRADE_MS, doubling to UPGRADE_MAX_MS) and moves to it
  // once one is welcomed: make before break, then the view joins over it.
  // Options (window.lightflowLiveOptions): transport ("websocket" | "sse" | "longpoll":
  // where to start), fallbackMs, upgradeMs (0: never probe).

  var TRANSPORTS = ["websocket", "sse", "longpoll"];
  var TRANSPORT_KEY = "lightflow:transport";
  var FALLBACK_MS = 2500, UPGRADE_MS = 10000, UPGRADE_MAX_MS = 300000;
  var UPLINK_BATCH = 64;      // frames in one POST (the server's max_post_frames)

  LiveSocket.prototype.initTransports = function (options) {
    var usable = TRANSPORTS.filter(function (kind) {
      return kind === "websocket" ? typeof global.WebSocket === "function"
        : kind === "sse" ? typeof global.EventSource === "function" : typeof global.fetch === "function";
    });
    var remembered = null;
    try { remembered = global.sessionStorage.getItem(TRANSPORT_KEY); } catch (e) { /* no storage */ }
    var first = TRANSPORTS.indexOf(options.transport) >= 0 ? options.transport : remembered;
    this.transports = usable;
    this.transport = usable.indexOf(first) >= 0 ? first : usable[0];
    this.fallbackMs = typeof options.fallbackMs === "number" ? options.fallbackMs : FALLBACK_MS;
    this.upgradeMs = typeof options.upgradeMs === "number" ? options.upgradeMs : UPGRADE_MS;
    this.upgradeDelay = this.upgradeMs;
    this.upgradeTimer = null;
    this.websocketWorked = false;   // a WebSocket was welcomed on this page
    this.isWelcomed = false;
    this.fallbackTimer = null;
    // A WebSocket's close reaches the server as the page goes; an HTTP connection says
    // so (DELETE, keepalive), or its session would linger until the heartbeat timeout.
    var self = this;
    global.addEventListener("pagehide", function () {
      if (self.ws instanceof HttpConnection) self.ws.close();
    });
  };

  /** A new connection of the current transport (armed to fall back without a welcome). */
  LiveSocket.prototype.openTransport = function () {
    var self = this, kind = this.transport, ws;
    this.isWelcomed = false;
    if (kind === "websocket") {
      ws = new WebSocket(this.url.href);
    } else {
      var url = new URL(this.base + (kind === "sse" ? "/sse" : "/poll"), global.location.href).href;
      ws = kind === "sse" ? new EventStreamSocket(url) : new LongPollSocket(url);
    }
    clearTimeout(this.fallbackTimer);
    this.fallbackTimer = setTimeout(function () {
      if (ws === self.ws && !self.isWelcomed && self.fallBack(ws)) console.warn("lightflow: no welcome over " + kind + " in " + self.fallbackMs + " ms");
    }, this.fallbackMs);
    return ws;
  };

  /** `ws` ended or stalled before its welcome: open the next transport at once and say
   *  true; false when this was the last one (the caller reconnects with backoff, and
   *  that attempt starts from the first transport again: the server may just be down). */
  LiveSocket.prototype.fallBack = function (ws) {
    if (this.isWelcomed || ws !== this.ws) return false;
    clearTimeout(this.fallbackTimer);
    var at = this.transports.indexOf(this.transport);
    if (at + 1 >= this.transports.length) {
      this.transport = this.transports[0];
      return false;
    }
    this.transport = this.transports[at + 1];
    ws.onclose = ws.onmessage = null;
    try { ws.close(); } catch (e) { /* already closed */ }
    this.attach(this.openTransport());
    return true;
  };

  /** The server's welcome arrived over the current transport. */
  LiveSocket.prototype.welcomed = function () {
    this.isWelcomed = true;
    clearTimeout(this.fallbackTimer);
    this.root.setAttribute("data-lf-transport", this.transport);
    try {
      if (this.transport === "websocket") global.sessionStorage.removeItem(TRANSPORT_KEY);
      else if (!this.websocketWorked) global.sessionStorage.setItem(TRANSPORT_KEY, this.transport);
    } catch (e) { /* no storage */ }
    if (this.transport === "websocket") { this.websocketWorked = true; return; }
    this.scheduleUpgrade();
  };

  LiveSocket.prototype.scheduleUpgrade = function () {
    var self = this;
    if (!this.upgradeMs || this.upgradeTimer !== null || this.transport === "websocket" ||
        this.transports[0] !== "websocket") return;
    this.upgradeTimer = setTimeout(function () { self.upgradeTimer = null; self.probe(); }, this.upgradeDelay);
  };

  /** Try a WebSocket beside the fallback: hello, and a welcome within fallbackMs. */
  LiveSocket.prototype.probe = function () {
    var self = this, done = false, ws, timer;
    if (this.transport === "websocket" || this.closing || !this.ws) return;
    function failed() {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (ws) { ws.onclose = ws.onmessage = null; try { ws.close(); } catch (e) { /* gone */ } }
      self.upgradeDelay = Math.min(self.upgradeDelay * 2, UPGRADE_MAX_MS);
      self.scheduleUpgrade();
    }
    try { ws = new WebSocket(this.url.href); } catch (e) { failed(); return; }
    timer = setTimeout(failed, this.fallbackMs);
    ws.onopen = function () { ws.send(JSON.stringify({ kind: "hello", v: 1, seq: 1, versions: [1] })); };
    ws.onclose = failed;
    ws.onmessage = function (event) {
      var frame = null;
      try { frame = JSON.parse(event.data); } catch (e) { /* not a frame */ }
      if (done) return;
      if (!frame || frame.kind !== "welcome") { failed(); return; }
      done = true;
      clearTimeout(timer);
      self.upgradeTo(ws, 0);
    };
  };

  /** Move to the welcomed WebSocket `ws` once no event waits for an answer over the old
   *  transport (at most 2 s), then join the view over it and close the old one. */
  LiveSocket.prototype.upgradeTo = function (ws, waited) {
    var self = this;
    if (ws.readyState !== 1 || this.closing || !this.ws) {
      ws.onclose = ws.onmessage = null;
      if (ws.readyState === 1) ws.close();
      this.scheduleUpgrade();
      return;
    }
    if (this.pending.size && waited < 2000) {
      setTimeout(function () { self.upgradeTo(ws, waited + 50); }, 50);
      return;
    }
    var old = this.ws, from = this.transport;
    this.transport = "websocket";
    this.upgradeDelay = this.upgradeMs;
    this.attach(ws);
    this.seqOut = 1;                  // the probe's hello
    this.lastIn = this.lastOut = Date.now();
    this.welcomed();
    old.onclose = old.onmessage = null;
    old.close();
    this.joined = false;
    this.join();
    this.emit("lf:transport", { transport: "websocket", from: from });
  };

  /** POSTs of frames for an SSE or long-poll connection: one at a time, in order (the
   *  server refuses a sequence number that does not increase), batched meanwhile. */
  function Uplink(conn) {
    this.conn = conn;
    this.queue = [];
    this.busy = false;
  }

  Uplink.prototype.send = function (text) {
    this.queue.push(text);
    this.flush();
  };

  Uplink.prototype.flush = function () {
    var self = this, conn = this.conn;
    if (this.busy || !this.queue.length || conn.readyState !== 1) return;
    var body = this.queue.splice(0, UPLINK_BATCH).join("\n");
    this.busy = true;
    global.fetch(conn.endpoint(), { method: "POST", body: body, credentials: "same-origin",
                                    headers: { "Content-Type": "application/x-ndjson" },
                                    signal: conn.aborter.signal }).then(function (response) {
      self.busy = false;
      if (response.status !== 204) { conn.ended(); return; }
      self.flush();
    }, function () { self.busy = false; conn.ended(); });
  };

  /** What the two HTTP transports share: the connection id, the uplink, the end. */
  function HttpConnection(url) {
    this.url = url;
    this.conn = null;
    this.readyState = 0;
    this.onopen = this.onmessage = this.onclose = null;
    this.aborter = new AbortController();
    this.uplink = new Uplink(this);
  }

  HttpConnection.prototype.endpoint = function (extra) {
    var url = new URL(this.url);
    url.searchParams.set("conn", this.conn);
    if (extra) Object.keys(extra).forEach(function (k) { url.searchParams.set(k, extra[k]); });
    return url.href;
  };

  HttpConnection.prototype.opened = function (conn) {
    this.conn = conn;
    this.readyState = 1;
    if (this.onopen) this.onopen({});
  };

  HttpConnection.prototype.send = function (text) {
    if (this.readyState === 1) this.uplink.send(text);
  };

  /** Leave: tell the server (its transport actor and session stop at once), then end. */
  HttpConnection.prototype.close = function () {
    if (this.readyState === 3) return;
    if (this.conn !== null) {
      global.fetch(this.endpoint(), { method: "DELETE", credentials: "same-origin", keepalive: true })
        .catch(function () { /* the server will time it out */ });
    }
    this.ended();
  };

  HttpConnection.prototype.ended = function () {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.aborter.abort();
    this.stop();
    var self = this;
    setTimeout(function () { if (self.onclose) self.onclose({}); }, 0);   // as a WebSocket: later
  };

  HttpConnection.prototype.stop = function () {};

  /** Server-sent events down (`GET {base}/sse`), POSTs up. */
  function EventStreamSocket(url) {
    HttpConnection.call(this, url);
    var self = this, es = new EventSource(url);   // same origin: the cookies go with it
    this.es = es;
    es.addEventListener("lf-conn", function (e) {
      var conn = null;
      try { conn = JSON.parse(e.data).conn; } catch (x) { /* not ours */ }
      if (typeof conn === "string" && self.readyState === 0) self.opened(conn); else self.ended();
    });
    es.onmessage = function (e) { if (self.readyState === 1 && self.onmessage) self.onmessage({ data: e.data }); };
    es.addEventListener("lf-close", function () { self.ended(); });
    // EventSource would reconnect by itself, to a new connection without a join: the
    // page reconnects instead (a new connection and a rejoin, as for a WebSocket).
    es.onerror = function () { self.ended(); };
  }
  EventStreamSocket.prototype = Object.create(HttpConnection.prototype);
  EventStreamSocket.prototype.stop = function () { this.es.close(); };

  /** Long polls down (`GET {base}/poll?conn=…&since=…`), POSTs up. `since` is the
   *  position of the next frame wanted: a poll answer lost on the way is asked for again
   *  and comes again; a second failure in a row ends the connection. */
  function LongPollSocket(url) {
    HttpConnection.call(this, url);
    var self = this;
    this.since = 0;
    this.failures = 0;
    global.fetch(url, { method: "POST", credentials: "same-origin", signal: this.aborter.signal })
      .then(function (response) { return response.status === 200 ? response.json() : Promise.reject(response.status); })
      .then(function (body) {
        if (self.readyState !== 0) return;
        self.opened(body.conn);
        self.poll();
      }, function () { self.ended(); });
  }
  LongPollSocket.prototype = Object.create(HttpConnection.prototype);

  LongPollSocket.prototype.poll = function () {
    var self = this;
    if (this.readyState !== 1) return;
    global.fetch(this.endpoint({ since: String(this.since) }),
                 { credentials: "same-origin", cache: "no-store", signal: this.aborter.signal })
      .then(function (response) {
        return response.status === 200 ? response.json() : Promise.reject(response.status);
      })
      .then(function (body) {
        if (self.readyState !== 1) return;
        self.failures = 0;
        self.since = body.next;
        (body.frames || []).forEach(function (text) {
          if (self.readyState === 1 && self.onmessage) self.onmessage({ data: text });
        });
        if (body.close) self.ended(); else self.poll();
      }, function (status) {
        if (self.readyState !== 1) return;
        // 410: the server forgot the connection; 400, 403: it will not take this poll.
        if (typeof status === "number" || ++self.failures > 1) { self.ended(); return; }
        setTimeout(function () { self.poll(); }, 100);
      });
  };

  function start() {
    var root = document.querySelector("[data-lf-root]");
    if (root && !global.lightflowLive) {
      var socket = new LiveSocket(root, global.lightflowLiveOptions);
      global.lightflowLive = { socket: socket, merge: merge, uploads: new Uploads(socket) };
    }
  }
  // Painter and morph are exported for the tests that hold partial paints to full renders.
  global.LightflowLive = { LiveSocket: LiveSocket, merge: merge, Painter: Painter, morph: morph,
                           PaintMiss: PaintMiss, longestIncreasing: longestIncreasing };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})(typeof window !== "undefined" ? window : globalThis);
