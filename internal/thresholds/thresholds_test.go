package thresholds

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/tallyhq/tally/metrics"
)

func TestParseExpression(t *testing.T) {
	tests := []struct {
		in      string
		agg     string
		p       float64
		op      Operator
		bound   float64
		wantErr string // substring; "" = valid
	}{
		// every aggregation
		{in: "count==3", agg: "count", op: Equal, bound: 3},
		{in: "rate<0.01", agg: "rate", op: Less, bound: 0.01},
		{in: "value==7", agg: "value", op: Equal, bound: 7},
		{in: "avg<200", agg: "avg", op: Less, bound: 200},
		{in: "min>=0", agg: "min", op: GreaterEqual, bound: 0},
		{in: "max<=400", agg: "max", op: LessEqual, bound: 400},
		{in: "med == 20", agg: "med", op: Equal, bound: 20},
		{in: "p(95)<500", agg: "p(95)", p: 95, op: Less, bound: 500},
		{in: "p(99.9) < 1000", agg: "p(99.9)", p: 99.9, op: Less, bound: 1000},
		{in: "p( 50 )==20", agg: "p(50)", p: 50, op: Equal, bound: 20},
		{in: "p(0)>1", agg: "p(0)", p: 0, op: Greater, bound: 1},
		{in: "p(100)>1", agg: "p(100)", p: 100, op: Greater, bound: 1},
		// every operator, whitespace optional
		{in: "count!=4", agg: "count", op: NotEqual, bound: 4},
		{in: "count===3", agg: "count", op: StrictEqual, bound: 3},
		{in: "count>3", agg: "count", op: Greater, bound: 3},
		{in: "  count   >   3  ", agg: "count", op: Greater, bound: 3},
		{in: "count\t<=\t3", agg: "count", op: LessEqual, bound: 3},
		// float literals
		{in: "avg<1e3", agg: "avg", op: Less, bound: 1000},
		{in: "avg<-2.5", agg: "avg", op: Less, bound: -2.5},
		{in: "avg<.5", agg: "avg", op: Less, bound: 0.5},
		{in: "avg<+7", agg: "avg", op: Less, bound: 7},
		{in: "avg<0x1p4", agg: "avg", op: Less, bound: 16},
		{in: "avg<Inf", agg: "avg", op: Less, bound: math.Inf(1)},
		// errors
		{in: "count >>> 3", wantErr: "not a number"},
		{in: "count => 3", wantErr: "unknown aggregation"},
		{in: "count 3", wantErr: "no comparison operator"},
		{in: "", wantErr: "no comparison operator"},
		{in: "<3", wantErr: "missing aggregation"},
		{in: "count<", wantErr: "not a number"},
		{in: "count<abc", wantErr: "not a number"},
		{in: "p95<3", wantErr: "unknown aggregation"},
		{in: "p(95<3", wantErr: "unknown aggregation"},
		{in: "p(x)<3", wantErr: "invalid percentile"},
		{in: "p(101)<3", wantErr: "invalid percentile"},
		{in: "p(-1)<3", wantErr: "invalid percentile"},
		{in: "p(NaN)<3", wantErr: "invalid percentile"},
		{in: "mean<3", wantErr: "unknown aggregation"},
		{in: "COUNT<3", wantErr: "unknown aggregation"},
		{in: "count<3 4", wantErr: "not a number"},
		{in: "count<=>3", wantErr: "not a number"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			e, err := ParseExpression(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseExpression(%q) error = %v, want one containing %q", tc.in, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseExpression(%q): %v", tc.in, err)
			}
			if e.AggName != tc.agg || e.Percentile != tc.p || e.Op != tc.op || e.Bound != tc.bound || e.Source != tc.in {
				t.Errorf("ParseExpression(%q) = %+v", tc.in, e)
			}
		})
	}
}

func TestParseKey(t *testing.T) {
	tests := []struct {
		in      string
		name    string
		tags    map[string]string
		wantErr string
	}{
		{in: "http_reqs", name: "http_reqs"},
		{in: "  http_reqs ", name: "http_reqs"},
		{in: "http_req_duration{scenario:race,expected_response:true}", name: "http_req_duration",
			tags: map[string]string{"scenario": "race", "expected_response": "true"}},
		{in: "http_reqs{ status : 200 }", name: "http_reqs", tags: map[string]string{"status": "200"}},
		{in: `http_reqs{"status":'200'}`, name: "http_reqs", tags: map[string]string{"status": "200"}},
		{in: "http_reqs{ 'status' : \" 200 \" }", name: "http_reqs", tags: map[string]string{"status": "200"}},
		{in: "group_duration{group:::login}", name: "group_duration", tags: map[string]string{"group": "::login"}},
		{in: "group_duration{group:::outer::inner}", name: "group_duration", tags: map[string]string{"group": "::outer::inner"}},
		{in: "http_reqs{url:http://h:8080/x}", name: "http_reqs", tags: map[string]string{"url": "http://h:8080/x"}},
		{in: "http_reqs{group:}", name: "http_reqs", tags: map[string]string{"group": ""}},
		{in: "http_reqs {status:200}", name: "http_reqs", tags: map[string]string{"status": "200"}},
		{in: "", wantErr: "empty metric name"},
		{in: "{status:200}", wantErr: "empty metric name"},
		{in: "http_reqs{}", wantErr: "empty tag selector"},
		{in: "http_reqs{ }", wantErr: "empty tag selector"},
		{in: "http_reqs{status:200", wantErr: `must end with "}"`},
		{in: "http_reqs}", wantErr: `"}" without "{"`},
		{in: "http_reqs{status200}", wantErr: `has no ":"`},
		{in: "http_reqs{status:200,}", wantErr: `has no ":"`},
		{in: "http_reqs{:200}", wantErr: "empty key"},
		{in: "http_reqs{a:1,a:2}", wantErr: "filtered twice"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			name, tags, err := ParseKey(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseKey(%q) error = %v, want %q", tc.in, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseKey(%q): %v", tc.in, err)
			}
			if name != tc.name || !tags.Equal(metrics.NewTagSet(tc.tags)) {
				t.Errorf("ParseKey(%q) = %q %v, want %q %v", tc.in, name, tags.Map(), tc.name, tc.tags)
			}
		})
	}
}

func TestParseObjectForm(t *testing.T) {
	sets, warnings, err := Parse(map[string]json.RawMessage{
		"errors": json.RawMessage(`[{"threshold":"count<3","abortOnFail":true,"delayAbortEval":"10s","abortOnFial":1},
			"count<10", {"threshold":"rate<1","delayAbortEval":1500}]`),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "abortOnFial") {
		t.Errorf("warnings = %q, want one about abortOnFial", warnings)
	}
	th := sets[0].Thresholds
	if len(th) != 3 {
		t.Fatalf("%d thresholds, want 3", len(th))
	}
	if !th[0].AbortOnFail || th[0].DelayAbortEval != 10*time.Second || th[0].Source != "count<3" {
		t.Errorf("object entry = %+v", th[0])
	}
	if th[1].AbortOnFail || th[1].Source != "count<10" || string(th[1].Raw) != `"count<10"` {
		t.Errorf("string entry = %+v", th[1])
	}
	if th[2].DelayAbortEval != 1500*time.Millisecond {
		t.Errorf("numeric delayAbortEval = %v, want 1.5s", th[2].DelayAbortEval)
	}
}

func TestResolve(t *testing.T) {
	reg := metrics.NewRegistry()
	metrics.RegisterBuiltin(reg)
	reg.MustNew("level", metrics.Gauge)
	tests := []struct {
		key, expr string
		wantErr   string
	}{
		{"http_reqs", "count>0", ""},
		{"http_reqs", "rate>0", ""},
		{"http_reqs", "avg>0", "not valid for a counter"},
		{"http_reqs", "value>0", "not valid for a counter"},
		{"level", "value>0", ""},
		{"level", "count>0", "not valid for a gauge"},
		{"checks", "rate>0", ""},
		{"checks", "count>0", "not valid for a rate"},
		{"http_req_duration", "p(99)<1", ""},
		{"http_req_duration", "count>0", "not valid for a trend"},
		{"http_req_duration", "rate>0", "not valid for a trend"},
		{"http_req_duration{status:200}", "med<1", ""},
		{"nope", "count>0", `no metric called "nope"`},
		{"nope{a:b}", "count>0", `no metric called "nope"`},
	}
	for _, tc := range tests {
		t.Run(tc.key+" "+tc.expr, func(t *testing.T) {
			list, _ := json.Marshal([]string{tc.expr})
			sets, _, err := Parse(map[string]json.RawMessage{tc.key: list})
			if err != nil {
				t.Fatal(err)
			}
			err = Resolve(sets, reg)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Resolve: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), tc.key) {
				t.Fatalf("Resolve error = %v, want one containing %q and the key", err, tc.wantErr)
			}
		})
	}
}

// Evaluation against hand-computed values.
func TestEvaluate(t *testing.T) {
	counter := &metrics.CounterSink{}
	for _, v := range []float64{1, 2, 3, 4} { // sum 10 over 4 s → 2.5/s
		counter.Add(metrics.Sample{Value: v})
	}
	gauge := &metrics.GaugeSink{}
	for _, v := range []float64{7, 3, 9, 4} {
		gauge.Add(metrics.Sample{Value: v})
	}
	rate := &metrics.RateSink{}
	for _, v := range []float64{1, 0, 1, 0, 5} { // 3/5 = 0.6
		rate.Add(metrics.Sample{Value: v})
	}
	trend := &metrics.TrendSink{}
	for i := 1; i <= 10; i++ { // avg 5.5, med 5.5, p(90) 9.1, p(95) 9.55
		trend.AddValue(float64(i))
	}
	elapsed := 4 * time.Second
	tests := []struct {
		typ  metrics.MetricType
		sink metrics.Sink
		expr string
		ok   bool
		v    float64
	}{
		{metrics.Counter, counter, "count==10", true, 10},
		{metrics.Counter, counter, "count>10", false, 10},
		{metrics.Counter, counter, "rate==2.5", true, 2.5},
		{metrics.Counter, counter, "rate<2", false, 2.5},
		{metrics.Gauge, gauge, "value==4", true, 4},
		{metrics.Gauge, gauge, "value>4", false, 4},
		{metrics.Rate, rate, "rate==0.6", true, 0.6},
		{metrics.Rate, rate, "rate>=0.61", false, 0.6},
		{metrics.Trend, trend, "avg==5.5", true, 5.5},
		{metrics.Trend, trend, "min==1", true, 1},
		{metrics.Trend, trend, "max==10", true, 10},
		{metrics.Trend, trend, "med==5.5", true, 5.5},
		{metrics.Trend, trend, "p(90)<9.1", false, 9.1},
		{metrics.Trend, trend, "p(90)<=9.1", true, 9.1},
		{metrics.Trend, trend, "p(95)>9.56", false, 9.55},
		{metrics.Trend, trend, "p(0)==1", true, 1},
		{metrics.Trend, trend, "p(100)===10", true, 10},
		{metrics.Trend, trend, "p(50)>=5.5", true, 5.5},
	}
	reg := metrics.NewRegistry()
	names := map[metrics.MetricType]string{metrics.Counter: "c_metric", metrics.Gauge: "g_metric", metrics.Rate: "r_metric", metrics.Trend: "t_metric"}
	for typ, n := range names {
		reg.MustNew(n, typ)
	}
	for _, tc := range tests {
		t.Run(tc.expr, func(t *testing.T) {
			list, _ := json.Marshal([]string{tc.expr})
			sets, _, err := Parse(map[string]json.RawMessage{names[tc.typ]: list})
			if err == nil {
				err = Resolve(sets, reg)
			}
			if err != nil {
				t.Fatal(err)
			}
			ok, v, evaluated := sets[0].Thresholds[0].Evaluate(tc.typ, tc.sink, elapsed, false)
			if !evaluated || ok != tc.ok || math.Abs(v-tc.v) > 1e-12 {
				t.Errorf("Evaluate = ok %v, value %v, evaluated %v; want %v, %v", ok, v, evaluated, tc.ok, tc.v)
			}
		})
	}
}

func TestEvaluateEmpty(t *testing.T) {
	reg := metrics.NewRegistry()
	reg.MustNew("c_m", metrics.Counter)
	reg.MustNew("r_m", metrics.Rate)
	reg.MustNew("t_m", metrics.Trend)
	tests := []struct {
		key, expr string
		typ       metrics.MetricType
		finalOK   bool
	}{
		{"c_m", "count<1", metrics.Counter, true},
		{"c_m", "count>0", metrics.Counter, false},
		{"r_m", "rate>0.99", metrics.Rate, true}, // empty Rate passes
		{"r_m", "rate==0", metrics.Rate, true},
		{"t_m", "p(95)<1", metrics.Trend, true},
		{"t_m", "avg>0", metrics.Trend, false},
	}
	for _, tc := range tests {
		t.Run(tc.key+tc.expr, func(t *testing.T) {
			list, _ := json.Marshal([]string{tc.expr})
			sets, _, _ := Parse(map[string]json.RawMessage{tc.key: list})
			if err := Resolve(sets, reg); err != nil {
				t.Fatal(err)
			}
			th := sets[0].Thresholds[0]
			if _, _, evaluated := th.Evaluate(tc.typ, nil, time.Second, false); evaluated {
				t.Error("periodic pass evaluated an empty metric")
			}
			if _, _, evaluated := th.Evaluate(tc.typ, metrics.NewSink(tc.typ), time.Second, false); evaluated {
				t.Error("periodic pass evaluated an empty sink")
			}
			ok, _, evaluated := th.Evaluate(tc.typ, nil, time.Second, true)
			if !evaluated || ok != tc.finalOK {
				t.Errorf("final pass = %v (evaluated %v), want %v", ok, evaluated, tc.finalOK)
			}
		})
	}
}

func BenchmarkParseExpression(b *testing.B) {
	for b.Loop() {
		_, _ = ParseExpression("p(99.9) < 1000")
	}
}
