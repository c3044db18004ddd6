package report

const pageHTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>faultline: {{.Scenario}} {{.Verdict}}</title>
<style>
body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1000px; color: #222; padding: 0 1em; }
h1 { font-size: 1.5em; margin-bottom: .2em; }
h2 { font-size: 1.15em; margin-top: 2em; border-bottom: 1px solid #ddd; }
.verdict { display: inline-block; padding: .25em .8em; border-radius: 4px; font-weight: bold; color: #fff; font-size: 1.3em; }
.valid { background: #2e8b57; } .invalid { background: #d62728; } .unknown { background: #e69f00; } .not { background: #777; }
table { border-collapse: collapse; margin: .5em 0; }
td, th { border: 1px solid #ddd; padding: .2em .6em; text-align: left; vertical-align: top; }
th { background: #f5f5f5; }
pre { background: #f7f7f7; padding: .7em; overflow-x: auto; font-size: 13px; white-space: pre-wrap; }
.muted { color: #777; } .err { color: #d62728; font-weight: bold; }
.status-violated { color: #d62728; font-weight: bold; } .status-held { color: #2ca02c; }
.matrix td { text-align: center; min-width: 1.6em; }
svg { max-width: 100%; height: auto; }
</style></head><body>
<h1>{{.Scenario}}</h1>
<div class="muted">{{.Description}}</div>
<p><span id="verdict" class="verdict {{if eq .Verdict "NOT CHECKED"}}not{{else}}{{lower .Verdict}}{{end}}">{{.Verdict}}</span>
&nbsp; run {{.RunID}}, seed {{.Seed}}, report written {{.Generated}}</p>
{{with .Expectation}}<p id="expectation">expected: {{.Expected}}: {{if .Met}}<span class="status-held">met</span>{{else}}<span class="status-violated">NOT MET</span> ({{.Why}}){{end}}</p>{{end}}
{{if .Error}}<p class="err">The run stopped: {{.Error}}</p>{{end}}
{{if .Result.Note}}<p>{{.Result.Note}}</p>{{end}}
<table>
{{if .System}}<tr><th>system</th><td>{{.System}}</td></tr>{{end}}
{{if .Placement}}<tr><th>reached by</th><td>{{.Placement}}</td></tr>{{end}}
<tr><th>operations</th><td>{{.Result.Counts.OK}} ok, {{.Result.Counts.Fail}} fail, {{.Result.Counts.Info}} info (unknown outcome)</td></tr>
<tr><th>faults injected</th><td>{{.Result.Counts.Faults}}</td></tr>
<tr><th>checked</th><td>{{len .Result.Keys}} keys in {{ms .Result.DurationMS}} (budget {{ms .Result.BudgetMS}})</td></tr>
</table>

<h2>Guarantees</h2>
{{if .Result.Guarantees}}<p id="boundary">{{.Result.Boundary}}</p>
<table id="guarantees"><tr><th>guarantee</th><th>claimed</th><th>status</th><th>what the history shows</th></tr>
{{range .Result.Guarantees}}<tr class="{{.Status}}"><td>{{.Guarantee}}</td><td>{{if .Claimed}}claimed{{end}}</td><td class="status-{{.Status}}">{{.Status}}</td><td>
{{if .Total}}<div>{{.Total}} violations{{if gt .Total (len .Violations)}}, the first {{len .Violations}}:{{else}}:{{end}}</div>{{end}}
{{range .Violations}}<pre>{{.String}}</pre>{{end}}
{{if .Note}}<div class="muted">{{.Note}}</div>{{end}}
{{if .Scope}}<div class="muted">scope: {{.Scope}}</div>{{end}}</td></tr>
{{end}}</table>
{{with .Result.Staleness}}<h3>Staleness</h3><p>{{.String}}</p>
{{if .Worst}}<table><tr><th>key</th><th>node</th><th>missed an update acknowledged</th><th>read, and the update it missed</th></tr>
{{range .Worst}}<tr><td>{{.Key}}</td><td>{{.Node}}</td><td>{{printf "%.1f" .ByMS}} ms before it began</td><td><pre>{{.Read}}
missed {{.Missed}}</pre></td></tr>{{end}}</table>{{end}}{{end}}
{{with .Result.Convergence}}<h3>Convergence after the heal</h3><p>{{.String}}</p>
{{if .Note}}<p class="muted">{{.Note}}</p>{{end}}
{{range .Divergences}}<pre>{{.String}}</pre>{{end}}{{end}}
{{else}}<p class="muted">No guarantee was examined.</p>{{end}}

<h2>Outcomes</h2>
{{if .Outcomes}}<table id="outcomes"><tr><th>operation</th><th>node</th><th>ok</th><th>fail</th><th>info (unknown)</th><th>why not ok</th></tr>
{{range .Outcomes}}<tr><td>{{.F}}</td><td>{{.Node}}</td><td>{{.OK}}</td><td>{{.Fail}}</td><td>{{.Info}}</td><td>{{.Why}}</td></tr>
{{end}}</table>{{else}}<p class="muted">No operation completed.</p>{{end}}

<h2>Keys (linearizability)</h2>
{{if .Result.Keys}}<table><tr><th>key</th><th>verdict</th><th>operations checked</th><th>why</th></tr>
{{range .Result.Keys}}<tr><td>{{.Key}}</td><td>{{.Verdict}}</td><td>{{.Operations}}</td><td>
{{if .Explanation}}<pre>{{.Explanation.String}}</pre>{{end}}
{{range .Anomalies}}<div>{{.}}</div>{{end}}
{{if .Visualization}}<a href="{{.Visualization}}">porcupine visualization</a>{{end}}
{{if .Note}}<div class="muted">{{.Note}}</div>{{end}}</td></tr>
{{end}}</table>{{else}}<p class="muted">No key was checked.</p>{{end}}

<h2>Faults, latency and throughput</h2>
<p class="muted">Every time on this page, in the history, the explanations, results.json and replay.yaml counts from the workload's start (0 s), the zero of the scenario's nemesis timeline. The charts share one time axis; shaded: while a fault was in force.</p>
{{.Charts}}
{{if .Gantt}}<table id="faults"><tr><th>applied</th><th>healed</th><th>fault</th>{{if .Leaders}}<th>leader when it began</th>{{end}}<th>heal</th><th></th></tr>
{{range .Faults}}<tr><td>{{secs .Start}}{{if .Confirmed}} <span class="muted">(confirmed {{secs .Confirmed}})</span>{{end}}</td><td>{{secs .End}}{{if .HealConfirmed}} <span class="muted">(confirmed {{secs .HealConfirmed}})</span>{{end}}</td><td>{{.Label}}</td>{{if $.Leaders}}<td>{{or .Leader "none named"}}</td>{{end}}<td>{{.Healed}}</td><td><a href="timeline.html#t={{printf "%.2f" .Start}}">timeline</a></td></tr>{{end}}
</table>{{else}}<p class="muted">No faults were injected.</p>{{end}}
{{if not .Leaders}}<p class="muted">No leader was recorded: the system's definition says no way to ask who leads (leader:, docs/systems.md), or the history is not of a faultline run.</p>{{end}}
<p>{{if .Timeline}}<span class="err">timeline.html not written: {{.Timeline}}</span>{{else}}<a href="timeline.html">The timeline of every operation</a>, a lane per client, a page at a time.{{end}}</p>

<h2>Connectivity observed by the probes</h2>
{{range .Matrices}}<h3>{{.Label}} <span class="muted">at {{secs .At}}</span></h3>
{{range .Probes}}<table class="matrix"><tr><th>{{.Probe}}: from \ to</th>{{range .Nodes}}<th>{{.}}</th>{{end}}</tr>
{{range .Rows}}<tr>{{range $i, $c := .}}{{if eq $i 0}}<th>{{$c}}</th>{{else}}<td>{{$c}}</td>{{end}}{{end}}</tr>{{end}}
</table>{{end}}
{{else}}<p class="muted">No network fault was probed.</p>{{end}}

<h2>Logs and files</h2>
<ul>{{range .Logs}}<li><a href="{{.}}">{{.}}</a></li>{{end}}
<li><a href="timeline.html">timeline.html</a>: every operation, a lane per client</li><li><a href="history.jsonl">history.jsonl</a></li><li><a href="results.json">results.json</a></li><li><a href="scenario.yaml">scenario.yaml</a></li><li><a href="replay.yaml">replay.yaml</a>: the faults this run applied, every random choice resolved, each beside the fault as written; run them again with <code>faultline replay {{.Dir}}</code> (add <code>-as-written</code> to apply each as written, resolved again)</li></ul>

<h2>Scenario as run</h2>
<pre>{{printf "%s" .ScenarioYAML}}</pre>
</body></html>
`
