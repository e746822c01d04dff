"""The report page's inline CSS and script (no request leaves the page: see report.py)."""

from __future__ import annotations

from .report_svg import MIN_SCALE

CSS = """
:root{--fg:#1f2933;--muted:#6b7785;--line:#d9e0e6;--bg:#fbfcfd}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;color:var(--fg);background:var(--bg)}
header{padding:18px 28px;border-bottom:1px solid var(--line);background:#fff}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:26px 0 8px}
main{padding:0 28px 40px}.muted{color:var(--muted)}.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin-top:10px}.card{background:#fff;border:1px solid var(--line);border-radius:8px;padding:8px 14px}
.card b{display:block;font-size:18px}.scroll{overflow:auto;border:1px solid var(--line);border-radius:8px;background:#fff;padding:6px;max-height:70vh}
svg text{font-family:system-ui,Helvetica,Arial,sans-serif}.dag .t1{font-size:12px;font-weight:600;text-anchor:middle}
.dag .t2{font-size:10px;fill:#455a64;text-anchor:middle}.edge{fill:none;stroke:#90a4ae;stroke-width:1.2}
.node rect,.bar{cursor:pointer}.hl rect:not(.band),rect.hl{stroke-width:3;filter:drop-shadow(0 0 3px #1565c0)}
.gantt .tick{stroke:#eceff1}.gantt .tl{font-size:10px;fill:var(--muted);text-anchor:middle}
.gantt .sl{font-size:10px;fill:var(--muted);text-anchor:end}.gantt .bl{font-size:10px;pointer-events:none}
table{border-collapse:collapse;width:100%;background:#fff}th,td{border-bottom:1px solid var(--line);padding:4px 8px;text-align:left;white-space:nowrap;vertical-align:top}
th{position:sticky;top:0;background:#f3f6f8;cursor:pointer;user-select:none}th.sorted-asc::after{content:" \\25B2"}th.sorted-desc::after{content:" \\25BC"}
td.num{text-align:right;font-variant-numeric:tabular-nums}tr.hl td{background:#e3f2fd}
td.params,td.combos{white-space:normal;min-width:10em;max-width:26em;font-size:12px}
td.params .kv{display:inline-block;margin-right:8px;white-space:nowrap}td.params b{font-weight:600}
td.combos .req{color:#2e7d32;white-space:nowrap}
.pill{border:1px solid;border-radius:10px;padding:0 7px;font-size:12px}
input[type=search]{padding:5px 9px;border:1px solid var(--line);border-radius:6px;width:280px;margin-bottom:8px}
#dag-box.fit svg{max-width:100%;height:auto}button{font:inherit;font-size:12px;padding:1px 8px;border:1px solid var(--line);border-radius:6px;background:#fff;cursor:pointer}
button.on{background:#e3f2fd;border-color:#90caf9}#dag-views{margin-left:6px}
.legend{margin:4px 0}.legend span{display:inline-block;margin-right:10px;font-size:12px}.legend i{display:inline-block;width:12px;height:12px;border:1px solid;border-radius:3px;vertical-align:-2px;margin-right:4px}
"""

_JS = """
(function(){
  function cellValue(td){var v=td.getAttribute('data-v');if(v!==null){return parseFloat(v);}return td.textContent.trim().toLowerCase();}
  document.querySelectorAll('table.sortable').forEach(function(table){
    table.querySelectorAll('th').forEach(function(th,col){
      th.addEventListener('click',function(){
        var asc=!th.classList.contains('sorted-asc');
        table.querySelectorAll('th').forEach(function(h){h.classList.remove('sorted-asc','sorted-desc');});
        th.classList.add(asc?'sorted-asc':'sorted-desc');
        var body=table.tBodies[0];var rows=Array.prototype.slice.call(body.rows);
        rows.sort(function(a,b){var x=cellValue(a.cells[col]),y=cellValue(b.cells[col]);return (x<y?-1:x>y?1:0)*(asc?1:-1);});
        rows.forEach(function(r){body.appendChild(r);});
      });
    });
  });
  var filter=document.getElementById('filter');
  if(filter){filter.addEventListener('input',function(){
    var q=filter.value.toLowerCase();
    document.querySelectorAll('#jobs tbody tr').forEach(function(tr){tr.style.display=tr.textContent.toLowerCase().indexOf(q)>=0?'':'none';});
  });}
  // a job lights up everywhere it appears, and its rule's box in the rule graph; a rule's box lights up its jobs
  function mark(el,on){
    var key=el.getAttribute('data-key'),rule=el.getAttribute('data-rule'),isRule=el.classList.contains('rule-node');
    document.querySelectorAll('[data-key]').forEach(function(x){
      var hit=isRule?x.getAttribute('data-rule')===rule:(x.getAttribute('data-key')===key||(x.classList.contains('rule-node')&&x.getAttribute('data-rule')===rule));
      if(hit){x.classList.toggle('hl',on);}
    });
  }
  document.querySelectorAll('.node,.bar,#jobs tbody tr').forEach(function(el){
    el.addEventListener('mouseenter',function(){mark(el,true);});
    el.addEventListener('mouseleave',function(){mark(el,false);});
  });
  var box=document.getElementById('dag-box'),fit=document.getElementById('fit'),caption=document.getElementById('dag-caption');
  var views={},current=null,auto='';
  if(box){box.querySelectorAll('svg.dag').forEach(function(s){views[s.getAttribute('data-view')]=s;});}
  function avail(){return box.clientWidth-14;}
  function natural(v){return views[v].width.baseVal.value;}
  function readable(v){return natural(v)*MIN_SCALE<=avail();}
  function show(v,fitted){
    current=v;
    Object.keys(views).forEach(function(k){views[k].style.display=k===v?'':'none';});
    box.classList.toggle('fit',fitted);
    if(fit){fit.textContent=fitted?'actual size':'fit to width';fit.style.display=natural(v)>avail()?'':'none';}
    document.querySelectorAll('#dag-views button').forEach(function(b){b.classList.toggle('on',b.getAttribute('data-view')===v);});
    if(caption){caption.textContent=views[v].getAttribute('data-caption')+(v==='rules'?auto:'');}
  }
  if(box&&Object.keys(views).length){
    var asked=/(?:^#|&)dag=(jobs|rules)/.exec(location.hash),first;
    if(asked&&views[asked[1]]){first=asked[1];}
    else if(views.jobs&&readable('jobs')){first='jobs';}
    else{
      first='rules';
      if(views.jobs){auto=' The '+views.jobs.getAttribute('data-count')+' jobs would be drawn at '+Math.round(100*avail()/natural('jobs'))+
        '% of their size to fit this panel, too small to read: switch to one box per job to see them at full size.';}
    }
    show(first,readable(first));
    document.querySelectorAll('#dag-views button').forEach(function(b){
      b.addEventListener('click',function(){var v=b.getAttribute('data-view');show(v,readable(v));});
    });
    if(fit){fit.addEventListener('click',function(){show(current,!box.classList.contains('fit'));});}
  }
  // a self-check the browser test reads back: what was actually laid out
  var dag=current?views[current]:null,scale=dag?dag.getBoundingClientRect().width/dag.viewBox.baseVal.width:0;
  document.documentElement.setAttribute('data-rendered', JSON.stringify({
    bars: document.querySelectorAll('svg.gantt rect.bar').length,
    nodes: dag ? dag.querySelectorAll('.node').length : 0,
    rows: document.querySelectorAll('#jobs tbody tr').length,
    dagWidth: dag ? Math.round(dag.getBoundingClientRect().width) : 0,
    dagView: current, dagScale: Math.round(scale*1000)/1000, panelWidth: box ? avail() : 0
  }));
})();
"""

JS = _JS.replace("MIN_SCALE", repr(MIN_SCALE))
