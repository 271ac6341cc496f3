// The graph page's "expand": fetch a node's one-hop neighbourhood (/graph/<id>.json?hops=1,
// the signed-in user's view, the API's data) and add what is new to the SVG drawn by the
// server. Every text goes in through textContent and every element through createElementNS:
// data never becomes markup.
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";
  var RADIUS = 120; // px from the expanded node to what it adds
  var svg = document.getElementById("graph-svg");
  if (!svg) {
    return;
  }
  var nodesLayer = svg.querySelector("g.nodes");
  var edgesLayer = svg.querySelector("g.edges");
  var status = document.getElementById("graph-status");
  var count = document.getElementById("graph-count");
  var TLP = {
    clear: "tlp-clear", white: "tlp-clear", green: "tlp-green",
    amber: "tlp-amber", "amber+strict": "tlp-amber", red: "tlp-red"
  };

  function say(text) {
    if (status) {
      status.textContent = text;
    }
  }

  // by attribute comparison, not a CSS selector built from data
  function findNode(id) {
    var all = nodesLayer.querySelectorAll("g.node");
    for (var i = 0; i < all.length; i++) {
      if (all[i].getAttribute("data-id") === id) {
        return all[i];
      }
    }
    return null;
  }

  function hasEdge(edge) {
    var all = edgesLayer.querySelectorAll("g.edge");
    for (var i = 0; i < all.length; i++) {
      var g = all[i];
      if (g.getAttribute("data-source") === edge.source &&
          g.getAttribute("data-target") === edge.target &&
          g.getAttribute("data-label") === edge.label) {
        return true;
      }
    }
    return false;
  }

  function el(name, attrs, text) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attrs).forEach(function (key) {
      node.setAttribute(key, String(attrs[key]));
    });
    if (text !== undefined) {
      node.textContent = text;
    }
    return node;
  }

  function cut(text, size) {
    return text.length <= size ? text : text.slice(0, size - 1) + "\u2026";
  }

  function addNode(node, x, y, hop) {
    var css = TLP[node.tlp] || "tlp-none";
    var g = el("g", {
      "class": "node hop-" + Math.min(hop, 3) + " " + css + " added",
      "data-id": node.id, "data-x": x, "data-y": y, "data-hop": hop
    });
    var open = el("a", {"class": "open", href: "/objects/" + encodeURIComponent(node.id)});
    open.appendChild(el("title", {}, node.type + ": " + node.label + " (TLP " + node.tlp + ")"));
    open.appendChild(el("circle", {cx: x, cy: y, r: 14}));
    var text = node.label === node.type ? node.type : node.type + ": " + node.label;
    open.appendChild(el("text", {"class": "label", x: x, y: y + 30, "text-anchor": "middle"},
      cut(text, 40)));
    var expand = el("a", {
      "class": "expand", href: "/graph/" + encodeURIComponent(node.id), "data-expand": node.id
    });
    expand.appendChild(el("text", {x: x, y: y + 44, "text-anchor": "middle"}, "expand"));
    g.appendChild(open);
    g.appendChild(expand);
    nodesLayer.appendChild(g);
    return g;
  }

  function addEdge(edge) {
    var a = findNode(edge.source);
    var b = findNode(edge.target);
    if (!a || !b || hasEdge(edge)) {
      return;
    }
    var x1 = Number(a.getAttribute("data-x")), y1 = Number(a.getAttribute("data-y"));
    var x2 = Number(b.getAttribute("data-x")), y2 = Number(b.getAttribute("data-y"));
    var g = el("g", {
      "class": "edge added", "data-source": edge.source, "data-target": edge.target,
      "data-label": edge.label
    });
    g.appendChild(el("line", {x1: x1, y1: y1, x2: x2, y2: y2, "marker-end": "url(#graph-arrow)"}));
    g.appendChild(el("text", {
      x: ((x1 + x2) / 2).toFixed(1), y: ((y1 + y2) / 2 - 4).toFixed(1), "text-anchor": "middle"
    }, edge.label));
    edgesLayer.appendChild(g);
  }

  // grow the view box so that what was added beyond the edge is still seen
  function fit(x, y) {
    var box = svg.viewBox.baseVal;
    var pad = 160;
    var left = Math.min(box.x, x - pad), top = Math.min(box.y, y - pad);
    var right = Math.max(box.x + box.width, x + pad), bottom = Math.max(box.y + box.height, y + pad);
    svg.setAttribute("viewBox", [left, top, right - left, bottom - top].join(" "));
    svg.setAttribute("width", String(Math.round(right - left)));
    svg.setAttribute("height", String(Math.round(bottom - top)));
  }

  function expand(id, origin) {
    say("Expanding\u2026");
    fetch("/graph/" + encodeURIComponent(id) + ".json?hops=1", {
      credentials: "same-origin", headers: {Accept: "application/json"}
    }).then(function (response) {
      return response.json().then(function (body) {
        if (!response.ok) {
          throw new Error(body && body.error ? body.error : "HTTP " + response.status);
        }
        return body;
      });
    }).then(function (graph) {
      var cx = Number(origin.getAttribute("data-x")), cy = Number(origin.getAttribute("data-y"));
      var hop = Number(origin.getAttribute("data-hop")) + 1;
      var fresh = graph.nodes.filter(function (n) { return !findNode(n.id); });
      fresh.forEach(function (node, i) {
        var angle = 2 * Math.PI * i / fresh.length - Math.PI / 4;
        var x = Math.round(cx + RADIUS * Math.cos(angle)), y = Math.round(cy + RADIUS * Math.sin(angle));
        addNode(node, x, y, hop);
        fit(x, y);
      });
      graph.edges.forEach(addEdge);
      if (count) {
        count.textContent = String(nodesLayer.querySelectorAll("g.node").length);
      }
      say(fresh.length === 0 ? "Nothing new around this object." :
        "Added " + fresh.length + " object" + (fresh.length === 1 ? "" : "s") +
        (graph.capped ? " (cut at the graph's limit)." : "."));
    }).catch(function (err) {
      say("Could not expand: " + err.message);
    });
  }

  svg.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest("a.expand") : null;
    if (!link) {
      return;
    }
    event.preventDefault();
    var node = link.parentNode;
    expand(link.getAttribute("data-expand"), node);
  });
})();
