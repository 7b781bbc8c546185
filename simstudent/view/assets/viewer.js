/* simstudent viewer: a static page over data/index.js and one data/s/<n>.js per stream.
   Routes (location.hash): #/streams?filters, #/stream/<n>, #/summary, #/compare/<problem>?blind=1 */
(function () {
  'use strict';
  var S = window.SIMVIEW = {};
  var st = { index: null, streams: {}, pending: {}, shown: 200, revealed: {} };
  var VERDICT = { N: 'no_error', L: 'logical', R: 'runtime', C: 'compile', P: 'recorded_correct',
                  F: 'recorded_incorrect', '?': 'unknown' };
  var LABEL = { no_error: 'no error', logical: 'logical error', runtime: 'runtime error', compile: 'compile error',
                recorded_correct: 'correct (recorded)', recorded_incorrect: 'incorrect (recorded)', unknown: 'not graded' };
  var FILTERS = ['problem', 'persona', 'outcome', 'error', 'origin'];
  var PAGE = 200, SAMPLE = 8;

  // ------------------------------------------------------------ helpers
  function el(tag, attrs, kids) {
    var e = document.createElement(tag);
    if (attrs) for (var k in attrs) {
      if (attrs[k] == null) continue;
      if (k === 'text') e.textContent = attrs[k];
      else if (k.slice(0, 2) === 'on') e.addEventListener(k.slice(2), attrs[k]);
      else e.setAttribute(k, attrs[k]);
    }
    (kids || []).forEach(function (c) { if (c != null) e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c); });
    return e;
  }
  function svg(tag, attrs, kids) {
    var e = document.createElementNS('http://www.w3.org/2000/svg', tag);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    (kids || []).forEach(function (c) { e.appendChild(c); });
    return e;
  }
  function app() { return document.getElementById('app'); }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }
  function pct(x) { return x == null ? '–' : (100 * x).toFixed(0) + ' %'; }
  function num(x, d) { return x == null ? '–' : (+x).toFixed(d == null ? 1 : d); }
  function fmtTime(iso) { return iso ? iso.replace('T', ' ').replace(/(\.\d+)?(\+00:00|Z)$/, ' UTC') : ''; }
  // minutes: whole minutes only (blind mode: some real logs record the minute, not the second)
  function gap(a, b, minutes) {
    if (!a || !b) return '';
    var s = Math.round((Date.parse(b) - Date.parse(a)) / 1000);
    if (!isFinite(s)) return '';
    if (minutes) return s < 60 ? '+<1 min' : '+' + Math.floor(s / 60) + ' min';
    if (s < 60) return '+' + s + ' s';
    if (s < 3600) return '+' + Math.floor(s / 60) + ' min ' + (s % 60) + ' s';
    return '+' + Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' min';
  }
  function parseHash() {
    var h = location.hash.replace(/^#\/?/, ''), q = {}, i = h.indexOf('?');
    if (i >= 0) {
      h.slice(i + 1).split('&').forEach(function (kv) {
        var p = kv.split('='); if (p[0]) q[decodeURIComponent(p[0])] = decodeURIComponent(p[1] || '');
      });
      h = h.slice(0, i);
    }
    return { parts: h.split('/').filter(Boolean).map(decodeURIComponent), q: q };
  }
  function query(obj) {
    var out = [];
    for (var k in obj) if (obj[k]) out.push(encodeURIComponent(k) + '=' + encodeURIComponent(obj[k]));
    return out.length ? '?' + out.join('&') : '';
  }
  function rng(seed) {  // mulberry32: the blind shuffle is the same on every load
    var a = seed >>> 0;
    return function () {
      a = (a + 0x6D2B79F5) >>> 0; var t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1); t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }
  function hashStr(s) { var h = 2166136261; for (var i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619); return h >>> 0; }
  function shuffled(list, seed) {
    var a = list.slice(), r = rng(seed);
    for (var i = a.length - 1; i > 0; i--) { var j = Math.floor(r() * (i + 1)); var t = a[i]; a[i] = a[j]; a[j] = t; }
    return a;
  }
  function strip(letters, coarse) {
    var s = el('span', { 'class': 'strip', title: 'one square per attempt' });
    for (var i = 0; i < letters.length; i++) {
      var c = letters[i];
      if (coarse) c = (c === 'N' || c === 'P') ? 'P' : (c === '?' ? '?' : 'F');
      s.appendChild(el('i', { 'class': 'v-' + c, title: LABEL[VERDICT[c]] }));
    }
    return s;
  }
  function chip(text, cls, title) { return el('span', { 'class': 'chip ' + (cls || ''), text: text, title: title }); }
  function setNav(name) {
    ['streams', 'summary', 'compare'].forEach(function (n) {
      document.getElementById('nav-' + n).className = n === name ? 'active' : '';
    });
  }
  function uniq(key) {
    var seen = {};
    st.index.streams.forEach(function (r) { seen[r[key]] = 1; });
    return Object.keys(seen).sort();
  }

  // ------------------------------------------------------------ data
  S.fail = function (msg) {
    clear(app()).appendChild(el('p', { 'class': 'error', id: 'load-error', text: msg }));
  };
  S.index = function (data) {
    st.index = data;
    document.title = data.title;
    window.addEventListener('hashchange', route);
    route();
    // For the browser test and for people: when the first view was on screen.
    window.SIMVIEW_READY_MS = performance.now();
    document.body.setAttribute('data-ready', '1');
  };
  S.stream = function (n, data) {
    st.streams[n] = data;
    var cbs = st.pending[n] || [];
    delete st.pending[n];
    cbs.forEach(function (cb) { cb(data); });
  };
  function loadStream(n, cb) {
    if (st.streams[n]) { cb(st.streams[n]); return; }
    if (st.pending[n]) { st.pending[n].push(cb); return; }
    st.pending[n] = [cb];
    var s = el('script', { src: 'data/s/' + n + '.js' });
    s.onerror = function () { S.fail('could not load data/s/' + n + '.js'); };
    document.head.appendChild(s);
  }

  // ------------------------------------------------------------ routes
  function route() {
    var h = parseHash(), p = h.parts;
    if (p[0] === 'stream' && p.length > 1) return viewStream(+p[1], h.q);
    if (p[0] === 'summary') return viewSummary();
    if (p[0] === 'compare') return viewCompare(p[1], h.q);
    return viewStreams(h.q);
  }

  function matches(r, f) {
    return (!f.problem || r.k === f.problem) && (!f.persona || r.pe === f.persona) &&
      (!f.outcome || r.out === f.outcome) && (!f.origin || r.o === f.origin) &&
      (!f.error || r.v.indexOf(f.error) >= 0);
  }
  function filtered(f) { return st.index.streams.filter(function (r) { return matches(r, f); }); }

  function filterSelect(name, label, values, current, labels) {
    var sel = el('select', { id: 'f-' + name, 'data-filter': name });
    sel.appendChild(el('option', { value: '', text: 'all' }));
    values.forEach(function (v) {
      var o = el('option', { value: v, text: labels ? labels[v] || v : v });
      if (v === current) o.selected = true;
      sel.appendChild(o);
    });
    return el('label', null, [label + ' ', sel]);
  }

  function viewStreams(q) {
    setNav('streams');
    var f = {}; FILTERS.forEach(function (k) { f[k] = q[k] || ''; });
    var rows = filtered(f), root = clear(app());
    var letters = uniq('v').join('').split('').filter(function (c, i, a) { return a.indexOf(c) === i; });
    var errLabels = {}; letters.forEach(function (c) { errLabels[c] = LABEL[VERDICT[c]]; });
    var bar = el('div', { 'class': 'bar', id: 'filters' }, [
      filterSelect('problem', 'Problem', uniq('k'), f.problem),
      filterSelect('persona', 'Persona', uniq('pe'), f.persona),
      filterSelect('outcome', 'Final outcome', uniq('out'), f.outcome),
      filterSelect('error', 'Has error type', Object.keys(VERDICT).filter(function (c) { return letters.indexOf(c) >= 0; }), f.error, errLabels),
      uniq('o').length > 1 ? filterSelect('origin', 'Origin', uniq('o'), f.origin) : null,
      el('a', { href: '#/streams', id: 'clear-filters', text: 'clear filters' })
    ]);
    bar.addEventListener('change', function (ev) {
      var name = ev.target.getAttribute('data-filter'); if (!name) return;
      f[name] = ev.target.value; st.shown = PAGE;
      location.hash = '#/streams' + query(f);
    });
    root.appendChild(bar);
    root.appendChild(el('p', { id: 'count', 'class': 'meta', text: rows.length + ' of ' + st.index.streams.length + ' streams' }));
    var tbody = el('tbody', { id: 'stream-rows' });
    var table = el('table', { id: 'streams' }, [el('thead', null, [el('tr', null,
      ['Student', 'Persona', 'Problem', 'Origin', 'Attempts', 'Verdicts', 'Outcome', 'Stop reason', 'Started'].map(function (t) { return el('th', { text: t }); }))]), tbody]);
    var shown = Math.min(rows.length, st.shown);
    var frag = document.createDocumentFragment();
    for (var i = 0; i < shown; i++) {
      var r = rows[i];
      frag.appendChild(el('tr', { 'data-n': r.n }, [
        el('td', null, [el('a', { href: '#/stream/' + r.n + query(f), 'class': 'stream-link', text: r.s })]),
        el('td', { text: r.pe }), el('td', { text: r.p }),
        el('td', { 'class': 'origin-' + r.o, text: r.o }), el('td', { 'class': 'num', text: r.a }),
        el('td', null, [strip(r.v)]), el('td', { text: r.out }), el('td', { text: r.stop || '' }),
        el('td', { 'class': 'muted', text: fmtTime(r.t0) })]));
    }
    tbody.appendChild(frag);
    root.appendChild(table);
    if (rows.length > shown) {
      root.appendChild(el('p', null, [el('button', { id: 'more', text: 'show ' + Math.min(PAGE, rows.length - shown) + ' more',
        onclick: function () { st.shown += PAGE; viewStreams(q); } })]));
    }
    root.appendChild(legend());
  }

  function legend() {
    var l = el('p', { 'class': 'legend muted' });
    Object.keys(VERDICT).forEach(function (c) {
      l.appendChild(el('span', null, [el('span', { 'class': 'strip' }, [el('i', { 'class': 'v-' + c })]), ' ' + LABEL[VERDICT[c]]]));
    });
    return l;
  }

  // ------------------------------------------------------------ one stream
  function diffPre(text) {
    var pre = el('pre', { 'class': 'diff' });
    text.split('\n').forEach(function (line) {
      var c = line.slice(0, 2) === '@@' ? 'hunk' : (line[0] === '+' && line.slice(0, 3) !== '+++') ? 'add'
        : (line[0] === '-' && line.slice(0, 3) !== '---') ? 'del' : null;
      pre.appendChild(c ? el('span', { 'class': c, text: line }) : document.createTextNode(line + '\n'));
    });
    return pre;
  }

  // opts.blind: no ids, absolute times, hints, feedback or truncation (the things only one
  // side has); opts.coarse: verdicts as pass/fail only.
  function attemptCard(a, prev, opts) {
    opts = opts || {};
    var v = opts.coarse ? (a.correct ? 'recorded_correct' : (a.correct === false ? 'recorded_incorrect' : 'unknown')) : a.verdict;
    var head = el('h3', null, ['Attempt ' + (a.index + 1),
      el('span', { 'class': 'when', text: opts.blind ? gap(prev && prev.timestamp, a.timestamp, true) : fmtTime(a.timestamp) + (prev ? '  ' + gap(prev.timestamp, a.timestamp) : '') }),
      chip(opts.coarse ? (a.correct ? 'passes' : 'fails') : LABEL[v], 'v-' + v, 'verdict')]);
    if (!opts.coarse && a.total != null) head.appendChild(chip(a.passed + '/' + a.total + ' tests passed', 'light'));
    if (!opts.blind && a.submitted) head.appendChild(chip('submitted', 'light'));
    if (!opts.blind && a.truncated) head.appendChild(chip('truncated', 'warn', 'generation hit the token limit (finish_reason "length")'));
    if (!opts.blind && a.given) head.appendChild(chip('real prefix', 'light', 'copied from the real student, not generated'));
    var card = el('div', { 'class': 'attempt b-' + v, 'data-index': a.index }, [head]);
    if (!opts.blind && a.hint) card.appendChild(el('div', { 'class': 'hint', text: 'Tutor hint: ' + a.hint }));
    var body = el('div');
    var showDiff = a.diff != null;
    function render() {
      clear(body);
      body.appendChild(showDiff ? (a.diff ? diffPre(a.diff) : el('p', { 'class': 'muted', text: '(same code as the previous attempt)' }))
        : el('pre', { 'class': 'code', text: a.code || '(empty)' }));
    }
    if (a.diff != null) {
      head.appendChild(el('button', { 'class': 'toggle-code', text: 'code / diff', onclick: function () { showDiff = !showDiff; render(); } }));
    }
    render();
    card.appendChild(body);
    if (!opts.coarse && a.feedback) {  // in blind mode only when both sides were graded
      card.appendChild(el('details', null, [el('summary', { text: 'autograder feedback' }), el('pre', { 'class': 'feedback', text: a.feedback })]));
    }
    return card;
  }

  function timeline(data, opts) {
    var box = el('div', { 'class': 'timeline' });
    data.attempts.forEach(function (a, i) { box.appendChild(attemptCard(a, i ? data.attempts[i - 1] : null, opts)); });
    return box;
  }

  function viewStream(n, q) {
    setNav('streams');
    var row = st.index.streams[n], root = clear(app());
    if (!row) { root.appendChild(el('p', { 'class': 'error', text: 'no stream ' + n })); return; }
    var f = {}; FILTERS.forEach(function (k) { f[k] = q[k] || ''; });
    var rows = filtered(f), pos = rows.indexOf(row);
    var nav = el('p', { 'class': 'bar' }, [el('a', { href: '#/streams' + query(f), id: 'back', text: '← all streams' })]);
    if (pos > 0) nav.appendChild(el('a', { href: '#/stream/' + rows[pos - 1].n + query(f), id: 'prev', text: '‹ previous' }));
    if (pos >= 0 && pos < rows.length - 1) nav.appendChild(el('a', { href: '#/stream/' + rows[pos + 1].n + query(f), id: 'next', text: 'next ›' }));
    root.appendChild(nav);
    root.appendChild(el('h2', { text: row.s + ' — ' + row.p }));
    root.appendChild(el('p', { 'class': 'meta', id: 'stream-meta' }, [
      el('span', { 'class': 'origin-' + row.o, text: row.o }), ' · persona ' + row.pe + ' · ' + row.a + ' attempts · outcome ' + row.out +
      (row.stop ? ' · stopped: ' + row.stop : '') + ' · from ' + st.index.sources[row.src]]));
    var holder = el('div', { id: 'timeline', text: 'loading…' });
    root.appendChild(holder);
    loadStream(n, function (data) {
      var now = parseHash().parts; if (now[0] !== 'stream' || +now[1] !== n) return;  // navigated away meanwhile
      clear(holder).appendChild(timeline(data, {}));
      holder.setAttribute('data-loaded', '1');
    });
  }

  // ------------------------------------------------------------ summary
  var COLOURS = { no_error: '#2e7d32', logical: '#d68a00', runtime: '#c62828', compile: '#7b1fa2',
                  recorded_correct: '#66bb6a', recorded_incorrect: '#8d6e63', unknown: '#bdbdbd' };
  function mixBar(mix) {
    var w = 160, x = 0, g = svg('svg', { width: w, height: 14, 'class': 'mix' });
    Object.keys(COLOURS).forEach(function (k) {
      if (!mix[k]) return;
      var r = svg('rect', { x: x, y: 0, width: mix[k] * w, height: 14, fill: COLOURS[k] });
      r.appendChild(svg('title', {}, [document.createTextNode(LABEL[k] + ': ' + pct(mix[k]))]));
      g.appendChild(r); x += mix[k] * w;
    });
    return g;
  }
  function histogram(counts) {
    var w = 12, h = 30, max = Math.max.apply(null, counts.concat([1]));
    var g = svg('svg', { width: counts.length * w, height: h + 11, 'class': 'hist' });
    counts.forEach(function (c, i) {
      var bh = Math.round(h * c / max);
      var r = svg('rect', { x: i * w + 1, y: h - bh, width: w - 2, height: bh, fill: '#546e7a' });
      r.appendChild(svg('title', {}, [document.createTextNode((i < 9 ? i + 1 : '10+') + ' attempts: ' + c + ' streams')]));
      g.appendChild(r);
    });
    g.appendChild(svg('text', { x: 0, y: h + 10 }, [document.createTextNode('1')]));
    g.appendChild(svg('text', { x: counts.length * w - 16, y: h + 10 }, [document.createTextNode('10+')]));
    return g;
  }
  function viewSummary() {
    setNav('summary');
    var root = clear(app());
    root.appendChild(el('p', { 'class': 'meta', text: 'Per problem: streams, attempts per stream (mean, median; histogram 1…10+), ' +
      'the share of streams whose last attempt passes every test, and the verdicts of all attempts.' }));
    var tbody = el('tbody');
    st.index.summary.forEach(function (row) {
      ['simulated', 'real'].forEach(function (origin, j) {
        var s = row[origin]; if (!s) return;
        tbody.appendChild(el('tr', { 'data-problem': row.problem }, [
          el('td', null, j === 0 || !row.simulated ? [el('a', { href: '#/streams' + query({ problem: row.problem }), 'class': 'problem-link', text: row.problem })] : []),
          el('td', { 'class': 'origin-' + origin }, [el('a', { href: '#/streams' + query({ problem: row.problem, origin: origin }), text: origin })]),
          el('td', { 'class': 'num', text: s.streams }), el('td', { 'class': 'num', text: s.attempts }),
          el('td', { 'class': 'num', text: num(s.mean_attempts) + ' (' + num(s.median_attempts, 1) + ')' }),
          el('td', null, [histogram(s.attempt_hist)]),
          el('td', { 'class': 'num pass-rate', text: pct(s.pass_rate) }),
          el('td', null, [mixBar(s.error_mix)]),
          el('td', null, row.simulated && row.real && j === 0 ? [el('a', { href: '#/compare/' + encodeURIComponent(row.problem), 'class': 'compare-link', text: 'side by side' })] : [])]));
      });
    });
    root.appendChild(el('table', { id: 'summary' }, [el('thead', null, [el('tr', null,
      ['Problem', 'Origin', 'Streams', 'Attempts', 'Attempts per stream', 'Histogram', 'Final pass rate', 'Verdict mix', ''].map(function (t) { return el('th', { text: t }); }))]), tbody]));
    root.appendChild(legend());
  }

  // ------------------------------------------------------------ side by side / blind
  function compareCard(r, label, opts) {
    var card = el('div', { 'class': 'card', 'data-n': opts.blind ? null : r.n, 'data-origin': opts.blind ? null : r.o });
    var title = el('h4', null, [el('span', { 'class': 'card-label', text: label })]);
    if (opts.blind) {
      var who = el('span', { 'class': 'who' });
      var reveal = function () {
        st.revealed[r.n] = 1;
        clear(who).appendChild(el('span', { 'class': 'revealed origin-' + r.o, text: r.o === 'real' ? 'real student ' + r.s : 'simulated (' + r.pe + ')' }));
        card.setAttribute('data-revealed', r.o);
      };
      who.appendChild(el('button', { 'class': 'reveal', text: 'reveal', onclick: reveal }));
      title.appendChild(who);
      if (st.revealed[r.n]) reveal();
    } else {
      title.appendChild(el('span', { 'class': 'muted', text: r.o === 'real' ? 'real' : r.pe }));
    }
    card.appendChild(title);
    card.appendChild(el('p', { 'class': 'meta' }, [strip(r.v, opts.coarse), ' ' + r.a + (r.a === 1 ? ' attempt' : ' attempts')]));
    var box = el('div');
    card.appendChild(el('button', { 'class': 'open', text: 'show attempts', onclick: function (ev) {
      ev.target.disabled = true;
      loadStream(r.n, function (data) { box.appendChild(timeline(data, opts)); card.setAttribute('data-loaded', '1'); });
    } }));
    card.appendChild(box);
    return card;
  }
  function viewCompare(problem, q) {
    setNav('compare');
    var root = clear(app()), paired = st.index.paired;
    if (!paired.length) {
      root.appendChild(el('p', { id: 'no-pairs', text: 'No problem has both simulated and real streams. Give a real dataset ' +
        'for the same problems too, e.g.: simstudent view runs/cohort ../shared/data/itap --out view' }));
      return;
    }
    if (paired.indexOf(problem) < 0) problem = paired[0];
    var blind = q.blind === '1';
    var sel = el('select', { id: 'compare-problem' }, paired.map(function (p) {
      var o = el('option', { value: p, text: p }); if (p === problem) o.selected = true; return o;
    }));
    sel.addEventListener('change', function () { location.hash = '#/compare/' + encodeURIComponent(sel.value) + query({ blind: blind ? '1' : '' }); });
    var box = el('input', { type: 'checkbox', id: 'blind' }); box.checked = blind;
    box.addEventListener('change', function () { location.hash = '#/compare/' + encodeURIComponent(problem) + query({ blind: box.checked ? '1' : '' }); });
    root.appendChild(el('div', { 'class': 'bar' }, [el('label', null, ['Problem ', sel]), el('label', null, [box, ' blind mode (hide which stream is simulated; reveal on click)'])]));
    var seed = hashStr(problem);
    var pick = function (origin) {
      return shuffled(st.index.streams.filter(function (r) { return r.k === problem && r.o === origin; }), seed + origin.length).slice(0, SAMPLE);
    };
    var sim = pick('simulated'), real = pick('real');
    // Blind comparisons show only what both sides have: verdicts as pass/fail unless every stream was graded.
    var coarse = !sim.concat(real).every(function (r) { return r.g; });
    if (!blind) {
      root.appendChild(el('div', { 'class': 'cols', id: 'compare' }, [
        el('div', { id: 'col-simulated' }, [el('h3', { 'class': 'origin-simulated', text: 'Simulated (' + sim.length + ')' })].concat(sim.map(function (r) { return compareCard(r, r.s, {}); }))),
        el('div', { id: 'col-real' }, [el('h3', { 'class': 'origin-real', text: 'Real (' + real.length + ')' })].concat(real.map(function (r) { return compareCard(r, r.s, {}); })))]));
      return;
    }
    var mixed = shuffled(sim.concat(real), seed ^ 0x5bd1e995);
    root.appendChild(el('p', { 'class': 'meta' }, ['Which of these students are simulated? ' + (coarse ? 'Verdicts are shown as passes / fails only, since the real log records no more. ' : ''),
      el('button', { id: 'reveal-all', text: 'reveal all', onclick: function () {
        Array.prototype.forEach.call(document.querySelectorAll('#blind-grid .reveal'), function (b) { b.click(); });
      } })]));
    root.appendChild(el('div', { 'class': 'grid', id: 'blind-grid' }, mixed.map(function (r, i) {
      return compareCard(r, 'Student ' + String.fromCharCode(65 + (i % 26)) + (i >= 26 ? Math.floor(i / 26) : ''), { blind: true, coarse: coarse });
    })));
  }
})();
