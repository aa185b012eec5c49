package metrics

// Names of the built-in metrics.
const (
	VUsName               = "vus"
	VUsMaxName            = "vus_max"
	IterationsName        = "iterations"
	IterationDurationName = "iteration_duration"
	DroppedIterationsName = "dropped_iterations"
	ChecksName            = "checks"
	GroupDurationName     = "group_duration"
	HTTPReqsName          = "http_reqs"
	HTTPReqFailedName     = "http_req_failed"
	HTTPReqDurationName   = "http_req_duration"
	HTTPReqBlockedName    = "http_req_blocked"
	HTTPReqConnectingName = "http_req_connecting"
	HTTPReqTLSName        = "http_req_tls_handshaking"
	HTTPReqSendingName    = "http_req_sending"
	HTTPReqWaitingName    = "http_req_waiting"
	HTTPReqReceivingName  = "http_req_receiving"
	DataSentName          = "data_sent"
	DataReceivedName      = "data_received"
)

// Builtin holds the metrics every run registers, in k6's order.
type Builtin struct {
	VUs               *Metric
	VUsMax            *Metric
	Iterations        *Metric
	IterationDuration *Metric
	DroppedIterations *Metric
	Checks            *Metric
	GroupDuration     *Metric

	HTTPReqs              *Metric
	HTTPReqFailed         *Metric
	HTTPReqDuration       *Metric
	HTTPReqBlocked        *Metric
	HTTPReqConnecting     *Metric
	HTTPReqTLSHandshaking *Metric
	HTTPReqSending        *Metric
	HTTPReqWaiting        *Metric
	HTTPReqReceiving      *Metric

	DataSent     *Metric
	DataReceived *Metric
}

// RegisterBuiltin registers the built-in metrics in r and returns them.
func RegisterBuiltin(r *Registry) *Builtin {
	return &Builtin{
		VUs:               r.MustNew(VUsName, Gauge),
		VUsMax:            r.MustNew(VUsMaxName, Gauge),
		Iterations:        r.MustNew(IterationsName, Counter),
		IterationDuration: r.MustNew(IterationDurationName, Trend, Time),
		DroppedIterations: r.MustNew(DroppedIterationsName, Counter),
		Checks:            r.MustNew(ChecksName, Rate),
		GroupDuration:     r.MustNew(GroupDurationName, Trend, Time),

		HTTPReqs:              r.MustNew(HTTPReqsName, Counter),
		HTTPReqFailed:         r.MustNew(HTTPReqFailedName, Rate),
		HTTPReqDuration:       r.MustNew(HTTPReqDurationName, Trend, Time),
		HTTPReqBlocked:        r.MustNew(HTTPReqBlockedName, Trend, Time),
		HTTPReqConnecting:     r.MustNew(HTTPReqConnectingName, Trend, Time),
		HTTPReqTLSHandshaking: r.MustNew(HTTPReqTLSName, Trend, Time),
		HTTPReqSending:        r.MustNew(HTTPReqSendingName, Trend, Time),
		HTTPReqWaiting:        r.MustNew(HTTPReqWaitingName, Trend, Time),
		HTTPReqReceiving:      r.MustNew(HTTPReqReceivingName, Trend, Time),

		DataSent:     r.MustNew(DataSentName, Counter, Data),
		DataReceived: r.MustNew(DataReceivedName, Counter, Data),
	}
}
